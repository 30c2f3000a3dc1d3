"""Fixtures for the security tests: brokers with TLS and SASL listeners.

The session starts the Kafka 4.1.1 test broker with
`scripts/kafka-broker.sh start --secure` on free ports in 39700-39799. The
SCRAM tests also start a Kafka 3.9.1 compatibility broker on free ports in
39850-39899, once, when the first of them runs: librdkafka before 2.6.1
cannot log in with SCRAM to Kafka 4 brokers but can to Kafka 3.9 brokers.
Both stop at the end of the session. Their PLAINTEXT listeners serve the test
data client; the sidecar under test uses the secure ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import REPO_ROOT
from support.broker import KafkaTestClient, unique_name
from support.sidecar import SidecarProcess

BROKER_SCRIPT = REPO_ROOT / "scripts" / "kafka-broker.sh"
# A secure broker takes 7 consecutive ports.
_PORTS_PER_BROKER = 7
_PORT_RANGE = range(39700, 39800 - _PORTS_PER_BROKER + 1, _PORTS_PER_BROKER)
_SCRAM_BROKER_PORT_RANGE = range(
    39850, 39900 - _PORTS_PER_BROKER + 1, _PORTS_PER_BROKER
)


@dataclass(frozen=True)
class SecureBroker:
    """Where the secure listeners are and what a client needs for them.

    Attributes:
        info: The broker's secure.json: listener addresses by protocol
            ("plaintext", "ssl", "mtls", "sasl_plaintext", "sasl_ssl"), the
            SASL user and password, the key password and the certificate paths.
        kafka_version: The --kafka-version of the broker, "4.1" or "3.9".
    """

    info: dict[str, object]
    kafka_version: str = "4.1"

    def __getitem__(self, key: str) -> str:
        return str(self.info[key])

    @property
    def secrets(self) -> list[str]:
        """Every secret value this broker's clients use."""
        return [self["password"], self["key_password"]]

    def __repr__(self) -> str:
        return (
            f"SecureBroker(plaintext={self['plaintext']}, "
            f"kafka_version={self.kafka_version})"
        )


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_base_port(ports: range) -> int:
    for base in ports:
        if all(_port_is_free(base + offset) for offset in range(_PORTS_PER_BROKER)):
            return base
    raise RuntimeError(
        f"no {_PORTS_PER_BROKER} consecutive free ports in "
        f"{ports.start}-{ports.stop + _PORTS_PER_BROKER - 2} on 127.0.0.1 "
        "for a secure broker"
    )


@contextlib.contextmanager
def _running_secure_broker(
    name: str, ports: range, kafka_version: str
) -> Iterator[SecureBroker]:
    """Start a --secure broker, yield it, then stop it and delete its secrets."""
    base = _free_base_port(ports)
    command = [
        str(BROKER_SCRIPT),
        "start",
        "--secure",
        "--kafka-version",
        kafka_version,
        "--name",
        name,
        "--port",
        str(base),
        "--timeout",
        "90",
    ]
    try:
        # start generates certificates and formats the storage, then waits
        # up to --timeout for the broker. The extra 60 s bound the first two.
        started = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=150
        )
        if started.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed:\n{started.stdout}{started.stderr}"
            )
        info_path = REPO_ROOT / ".cache" / "kafka-broker" / name / "secure.json"
        yield SecureBroker(json.loads(info_path.read_text()), kafka_version)
    finally:
        subprocess.run(
            [str(BROKER_SCRIPT), "stop", "--name", name],
            capture_output=True,
            check=False,
        )
        # The broker's log stays for debugging. Its keys and the files that
        # contain passwords (secure.json, the JAAS lines in server.properties) go.
        broker_dir = REPO_ROOT / ".cache" / "kafka-broker" / name
        shutil.rmtree(broker_dir / "certs", ignore_errors=True)
        for secret_file in ("secure.json", "server.properties"):
            (broker_dir / secret_file).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def secure_broker() -> Iterator[SecureBroker]:
    """The Kafka 4.1.1 broker with SSL, mutual TLS, SASL_PLAINTEXT and SASL_SSL."""
    with _running_secure_broker(
        f"secure-pytest-{os.getpid()}", _PORT_RANGE, "4.1"
    ) as broker:
        yield broker


@pytest.fixture(scope="session")
def scram_broker() -> Iterator[SecureBroker]:
    """The Kafka 3.9.1 compatibility broker with the same listeners, for SCRAM."""
    with _running_secure_broker(
        f"secure-3.9-pytest-{os.getpid()}", _SCRAM_BROKER_PORT_RANGE, "3.9"
    ) as broker:
        yield broker


@pytest.fixture(scope="session")
def scram_kafka(scram_broker: SecureBroker) -> Iterator[KafkaTestClient]:
    """confluent-kafka client on the Kafka 3.9.1 broker's PLAINTEXT listener."""
    client = KafkaTestClient(scram_broker["plaintext"])
    yield client
    client.close()


@pytest.fixture
def scram_topic(request: pytest.FixtureRequest, scram_kafka: KafkaTestClient) -> str:
    """A new one-partition topic on the Kafka 3.9.1 broker."""
    return scram_kafka.create_topic(unique_name(f"topic-{request.node.name}"), 1)


@pytest.fixture(scope="session")
def secure_kafka(secure_broker: SecureBroker) -> Iterator[KafkaTestClient]:
    """confluent-kafka client on the secure broker's PLAINTEXT listener."""
    client = KafkaTestClient(secure_broker["plaintext"])
    yield client
    client.close()


@pytest.fixture
def secure_topic(request: pytest.FixtureRequest, secure_kafka: KafkaTestClient) -> str:
    """A new one-partition topic on the secure broker."""
    return secure_kafka.create_topic(unique_name(f"topic-{request.node.name}"), 1)


@pytest.fixture
def secure_sidecar_factory(
    sidecar_executable: Path, tmp_path: Path
) -> Iterator[Callable[..., SidecarProcess]]:
    """Factory of sidecars with a log level of trace, stopped after the test.

    Call it as `secure_sidecar_factory(args=[...], env={...}, wait_serving=True)`.
    The flags say which brokers to use; none is added.
    """
    started: list[SidecarProcess] = []

    def start(
        *, wait_serving: bool = True, timeout_s: float = 30.0, **options: object
    ) -> SidecarProcess:
        args = [
            "--log-level",
            "trace",
            "--connect-timeout-ms",
            "8000",
            *options.pop("args", []),
        ]  # type: ignore[misc]
        log_dir = tmp_path / f"sidecar-{len(started)}"
        sidecar = SidecarProcess(
            log_dir, executable=sidecar_executable, args=args, **options
        )  # type: ignore[arg-type]
        started.append(sidecar)
        return sidecar.start(wait_serving=wait_serving, timeout_s=timeout_s)

    yield start
    for sidecar in started:
        sidecar.stop()
