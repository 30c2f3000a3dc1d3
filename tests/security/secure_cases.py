"""The protocol and mechanism pairs of the secure broker, and how to use each.

Each pair is configured two ways: as the sidecar's own default connection
(flags, environment variables and *_FILE secret files) and as kafka_connector
parameters of a job. Either way the same round trip runs: produce through
the sidecar, consume through the sidecar, and check the committed offsets
with an independent client.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka_sidecar_client import StreamController
from kafka_sidecar_client.datapy import run_mod
from support.broker import KafkaTestClient
from support.sidecar import SidecarProcess

# librdkafka before 2.6.1 sends a SCRAM proof that Kafka 4 brokers reject.
FIRST_LIBRDKAFKA_WITH_KAFKA4_SCRAM = (2, 6, 1)
SCRAM_ADVICE = "whose SCRAM exchange Kafka 4 brokers reject"


@dataclass(frozen=True)
class Case:
    """One way to reach the secure broker.

    Attributes:
        listener: Key of the listener address in secure.json.
        protocol: security_protocol.
        mechanism: sasl_mechanism, or None for the SSL listeners.
        mutual: Whether the client presents a certificate (mutual TLS).
    """

    listener: str
    protocol: str
    mechanism: str | None = None
    mutual: bool = False

    @property
    def id(self) -> str:
        """Test id, e.g. "SASL_SSL-SCRAM-SHA-256"."""
        if self.mechanism:
            return f"{self.protocol}-{self.mechanism}"
        return "SSL-mutual" if self.mutual else "SSL"

    @property
    def is_scram(self) -> bool:
        """Whether the case authenticates with SCRAM."""
        return bool(self.mechanism and self.mechanism.startswith("SCRAM"))

    def settings(self, broker: Any) -> dict[str, str]:
        """Connection settings by their snake_case names, secrets included."""
        settings = {
            "bootstrap_servers": broker[self.listener],
            "security_protocol": self.protocol,
        }
        if self.mechanism:
            settings.update(
                sasl_mechanism=self.mechanism,
                sasl_username=broker["username"],
                sasl_password=broker["password"],
            )
        if self.protocol in ("SSL", "SASL_SSL"):
            settings["ssl_ca_location"] = broker["ca"]
        if self.mutual:
            settings.update(
                ssl_cert_location=broker["client_cert"],
                ssl_key_location=broker["client_encrypted_key"],
                ssl_key_password=broker["key_password"],
            )
        return settings


# Where each case's sidecar reads its secrets (see sidecar_configuration).
# With librdkafka 2.0.2 only three pairs with a secret work on the Kafka 4.1.1
# broker, so the environment, *_FILE and config file sources go to them. The
# --X-file flag goes to SCRAM pairs and to
# test_wrong_password_says_authentication_failed. The SCRAM pairs work on the
# Kafka 3.9.1 broker, where their sources cover all four.
SECRET_SOURCES = {
    "SSL": 1,
    "SSL-mutual": 2,
    "SASL_PLAINTEXT-PLAIN": 0,
    "SASL_PLAINTEXT-SCRAM-SHA-256": 2,
    "SASL_PLAINTEXT-SCRAM-SHA-512": 0,
    "SASL_SSL-PLAIN": 3,
    "SASL_SSL-SCRAM-SHA-256": 1,
    "SASL_SSL-SCRAM-SHA-512": 3,
}

CASES = [
    Case("ssl", "SSL"),
    Case("mtls", "SSL", mutual=True),
    *[
        Case("sasl_plaintext", "SASL_PLAINTEXT", mechanism)
        for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    ],
    *[
        Case("sasl_ssl", "SASL_SSL", mechanism)
        for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    ],
]


# The pairs that also run against the Kafka 3.9.1 compatibility broker.
SCRAM_CASES = [case for case in CASES if case.is_scram]


def write_secret(directory: Path, name: str, value: str) -> Path:
    """Write a secret file as a mounted Secret would hold it (trailing newline)."""
    path = directory / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def sidecar_configuration(
    settings: dict[str, str], secret_dir: Path, variant: int
) -> tuple[list[str], dict[str, str]]:
    """Turn connection settings into sidecar flags and environment variables.

    With `variant` 3, every setting goes into a --config file, and each
    secret into a file named by the `<key>_file` key. Otherwise non-secret
    settings alternate between flags and environment variables, and each
    secret comes from a source that depends on `variant`: 0 a *_FILE
    variable, 1 a --X-file flag, 2 a plain environment variable.

    Returns:
        (flags, environment).
    """
    args: list[str] = []
    env: dict[str, str] = {}
    if variant == 3:
        lines = ["# written by the security tests"]
        for name, value in settings.items():
            if name in ("sasl_password", "ssl_key_password"):
                lines.append(f"{name}_file = {write_secret(secret_dir, name, value)}")
            else:
                lines.append(f"{name} = {value}")
        config = secret_dir / "sidecar.conf"
        config.write_text("\n".join(lines) + "\n")
        return ["--config", str(config)], env
    for index, (name, value) in enumerate(settings.items()):
        if name in ("sasl_password", "ssl_key_password"):
            env_name = f"KAFKA_{name.upper()}"
            if variant == 0:
                env[f"{env_name}_FILE"] = str(write_secret(secret_dir, name, value))
            elif variant == 1:
                args += [
                    f"--{name.replace('_', '-')}-file",
                    str(write_secret(secret_dir, name, value)),
                ]
            else:
                env[env_name] = value
        elif index % 2 == 0:
            args += [f"--{name.replace('_', '-')}", value]
        else:
            env[f"KAFKA_{name.upper()}"] = value
    return args, env


def round_trip(
    connection: Any, topic: str, group: str, kafka: KafkaTestClient
) -> list[dict[str, Any]]:
    """Produce three records and consume them through the sidecar.

    Checks that the consumer received exactly what was produced and that the
    group committed all three offsets, read with an independent client.

    Returns:
        The results of every run_mod call, for secret checks.
    """
    values = [f"secure-{uuid.uuid4().hex[:8]}-{n}" for n in range(3)]
    produced = run_mod(
        "kafka_producer",
        {
            "connection": connection,
            "topic": topic,
            "data": [{"v": value} for value in values],
            "value_column": "v",
            "value_format": "string",
        },
    )
    assert produced["status"] == "success", produced["errors"]

    controller = StreamController(install_signal_handlers=False)
    received: list[str] = []

    def process(message: dict[str, Any]) -> dict[str, str]:
        received.append(message["value"])
        if len(received) == len(values):
            controller.request_stop("all records received")
        return {"status": "success"}

    consumed = run_mod(
        "kafka_consumer",
        {
            "connection": connection,
            "topics": [topic],
            "group_id": group,
            "message_processor": process,
            "controller": controller,
        },
    )
    assert consumed["status"] == "success", consumed["errors"]
    assert received == values
    kafka.wait_for_committed(group, topic, {0: 3})
    return [produced, consumed]


_LIBRDKAFKA_VERSION = re.compile(r"with librdkafka (\d+)\.(\d+)\.(\d+)")


def librdkafka_version(sidecar: SidecarProcess) -> tuple[int, int, int]:
    """The librdkafka version the sidecar logged at startup."""
    match = _LIBRDKAFKA_VERSION.search(sidecar.stderr())
    assert match, (
        f"no librdkafka version in the sidecar log:\n{sidecar.stderr()[-2000:]}"
    )
    return (int(match[1]), int(match[2]), int(match[3]))
