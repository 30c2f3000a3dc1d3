"""Fixtures for the security tests: a broker with TLS and SASL listeners.

The session starts one broker with `scripts/kafka-broker.sh start --secure`
on free ports in 39700-39799 and stops it at the end. Its PLAINTEXT listener
serves the test data client; the sidecar under test uses the secure ones.
"""

from __future__ import annotations

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
_PORT_RANGE = range(39700, 39793, 7)


@dataclass(frozen=True)
class SecureBroker:
    """Where the secure listeners are and what a client needs for them.

    Attributes:
        info: The broker's secure.json: listener addresses by protocol
            ("plaintext", "ssl", "mtls", "sasl_plaintext", "sasl_ssl"), the
            SASL user and password, the key password and the certificate paths.
    """

    info: dict[str, object]

    def __getitem__(self, key: str) -> str:
        return str(self.info[key])

    @property
    def secrets(self) -> list[str]:
        """Every secret value this broker's clients use."""
        return [self["password"], self["key_password"]]

    def __repr__(self) -> str:
        return f"SecureBroker(plaintext={self['plaintext']})"


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_base_port() -> int:
    for base in _PORT_RANGE:
        if all(_port_is_free(base + offset) for offset in range(7)):
            return base
    raise RuntimeError(
        "no 7 consecutive free ports in 39700-39799 on 127.0.0.1 for the secure broker"
    )


@pytest.fixture(scope="session")
def secure_broker() -> Iterator[SecureBroker]:
    """A broker with SSL, mutual TLS, SASL_PLAINTEXT and SASL_SSL listeners."""
    name = f"secure-pytest-{os.getpid()}"
    base = _free_base_port()
    command = [
        str(BROKER_SCRIPT),
        "start",
        "--secure",
        "--name",
        name,
        "--port",
        str(base),
        "--timeout",
        "90",
    ]
    started = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        if started.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed:\n{started.stdout}{started.stderr}"
            )
        info_path = REPO_ROOT / ".cache" / "kafka-broker" / name / "secure.json"
        yield SecureBroker(json.loads(info_path.read_text()))
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
