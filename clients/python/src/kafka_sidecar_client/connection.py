"""Kafka connection settings, their validation, and the KafkaConnection artifact."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka_sidecar_client._proto import pb
from kafka_sidecar_client.secret import Secret, reveal

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

_SASL_SETTINGS = ("sasl_mechanism", "sasl_username", "sasl_password")
_SSL_SETTINGS = ("ssl_ca_location", "ssl_cert_location", "ssl_key_location", "ssl_key_password")
_STRING_SETTINGS = (
    "bootstrap_servers",
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_ca_location",
    "ssl_cert_location",
    "ssl_key_location",
    "ssl_key_password",
)
SECRET_SETTINGS = frozenset({"sasl_password", "ssl_key_password"})

# librdkafka property names whose values are secrets (passwords, inline
# keys, OAuth client secrets, JAAS configs). Their values stay out of the
# derived connection id.
_SECRET_PROPERTY = re.compile(r"password|secret|token|jaas|credential|\.pem$|^ssl\.key$", re.IGNORECASE)

_BROKER = re.compile(r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\],]+)):(?P<port>\d{1,5})$")


def is_secret_property(name: str) -> bool:
    """Return whether a librdkafka property's value is a secret."""
    return bool(_SECRET_PROPERTY.search(name))


def validate_bootstrap_servers(value: str) -> str:
    """Check a ``host:port[,host:port]`` list and return it without spaces.

    Raises:
        ValueError: Naming the first invalid entry.
    """
    entries = [entry.strip() for entry in value.split(",")]
    for entry in entries:
        match = _BROKER.match(entry)
        if not match or not 0 < int(match.group("port")) < 65536:
            raise ValueError(
                f"Invalid bootstrap_servers entry {entry!r}: expected host:port "
                "(port 1-65535), e.g. broker1:9092,broker2:9092 or [::1]:9092."
            )
    return ",".join(entries)


def validate_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Normalize and check connection settings before any call to the sidecar.

    Only the settings' consistency is checked. PEM files are read by the
    sidecar, in its own container, so their paths are not checked here.

    Args:
        settings: bootstrap_servers, security_protocol, sasl_*, ssl_* (str or
            Secret for the passwords) and additional_config (dict).

    Returns:
        The settings with empty values removed, security_protocol and
        sasl_mechanism upper-cased, additional_config values as strings.

    Raises:
        ValueError: One message naming every invalid setting and the accepted values.
    """
    problems: list[str] = []
    normalized: dict[str, Any] = {}
    for name in _STRING_SETTINGS:
        value = settings.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, Secret):
            if name not in SECRET_SETTINGS:
                problems.append(f"Setting {name} must be a str, got Secret.")
                continue
            if value:
                normalized[name] = value
            continue
        if not isinstance(value, str):
            problems.append(f"Setting {name} must be a str, got {type(value).__name__}.")
            continue
        if value.strip():
            normalized[name] = value if name in SECRET_SETTINGS else value.strip()

    if "bootstrap_servers" in normalized:
        try:
            normalized["bootstrap_servers"] = validate_bootstrap_servers(normalized["bootstrap_servers"])
        except ValueError as error:
            problems.append(str(error))

    protocol = normalized.get("security_protocol", "PLAINTEXT").upper()
    if protocol not in SECURITY_PROTOCOLS:
        problems.append(
            f"Invalid security_protocol {normalized['security_protocol']!r}. "
            f"Accepted values: {', '.join(SECURITY_PROTOCOLS)}."
        )
    normalized["security_protocol"] = protocol
    if protocol in SECURITY_PROTOCOLS:
        problems.extend(_protocol_consistency_problems(protocol, normalized))

    additional = settings.get("additional_config") or {}
    if not isinstance(additional, Mapping):
        problems.append(f"Setting additional_config must be a dict, got {type(additional).__name__}.")
    else:
        converted: dict[str, str] = {}
        for key, value in additional.items():
            if not isinstance(key, str) or not key.strip():
                problems.append(f"additional_config has an invalid property name {key!r}.")
                continue
            if isinstance(value, bool):
                converted[key.strip()] = "true" if value else "false"
            elif isinstance(value, (str, int, float, Secret)):
                converted[key.strip()] = reveal(value) if isinstance(value, Secret) else str(value)
            else:
                problems.append(
                    f"additional_config property {key} must be a str, number or bool, "
                    f"got {type(value).__name__}."
                )
        if converted:
            normalized["additional_config"] = converted

    if problems:
        raise ValueError(" ".join(problems))
    return normalized


def _protocol_consistency_problems(protocol: str, normalized: dict[str, Any]) -> list[str]:
    """Check that SASL and SSL settings fit the security protocol; may upper-case sasl_mechanism."""
    problems: list[str] = []
    if protocol.startswith("SASL_"):
        mechanism = normalized.get("sasl_mechanism", "").upper()
        if not mechanism:
            problems.append(
                f"Missing sasl_mechanism for security_protocol {protocol}. "
                f"Accepted values: {', '.join(SASL_MECHANISMS)}."
            )
        elif mechanism not in SASL_MECHANISMS:
            problems.append(
                f"Invalid sasl_mechanism {normalized['sasl_mechanism']!r}. "
                f"Accepted values: {', '.join(SASL_MECHANISMS)}."
            )
        else:
            normalized["sasl_mechanism"] = mechanism
        for name in ("sasl_username", "sasl_password"):
            if name not in normalized:
                problems.append(f"Missing {name}: security_protocol {protocol} requires it.")
    else:
        for name in _SASL_SETTINGS:
            if name in normalized:
                problems.append(
                    f"Setting {name} needs security_protocol SASL_PLAINTEXT or SASL_SSL, "
                    f"but security_protocol is {protocol}. Change the protocol or remove {name}."
                )

    if protocol in ("SSL", "SASL_SSL"):
        has_cert = "ssl_cert_location" in normalized
        has_key = "ssl_key_location" in normalized
        if has_cert != has_key:
            problems.append(
                "Mutual TLS needs both ssl_cert_location and ssl_key_location. "
                f"Only {'ssl_cert_location' if has_cert else 'ssl_key_location'} is set."
            )
        if "ssl_key_password" in normalized and not has_key:
            problems.append("Setting ssl_key_password needs ssl_key_location.")
    else:
        for name in _SSL_SETTINGS:
            if name in normalized:
                problems.append(
                    f"Setting {name} needs security_protocol SSL or SASL_SSL, "
                    f"but security_protocol is {protocol}. Change the protocol or remove {name}."
                )
    return problems


def derive_connection_id(settings: Mapping[str, Any]) -> str:
    """Return a stable connection id from the non-secret settings.

    The same settings always give the same id, so a job that restarts
    reuses the connection it registered before. Passwords and secret
    librdkafka properties are left out of the hash.
    """
    public = {
        name: settings[name] for name in _STRING_SETTINGS if name in settings and name not in SECRET_SETTINGS
    }
    additional = settings.get("additional_config") or {}
    public["additional_config"] = {
        key: ("<secret>" if is_secret_property(key) else value) for key, value in sorted(additional.items())
    }
    digest = hashlib.sha256(json.dumps(public, sort_keys=True).encode("utf-8")).hexdigest()
    return f"conn-{digest[:16]}"


def settings_message(settings: Mapping[str, Any]) -> Any:
    """Build the ``ConnectionSettings`` message from validated settings."""
    message = pb.ConnectionSettings()
    for name in _STRING_SETTINGS:
        if name in settings:
            setattr(message, name, reveal(settings[name]))
    for key, value in (settings.get("additional_config") or {}).items():
        message.additional_config[key] = value
    return message


@dataclass(frozen=True)
class Broker:
    """One broker of the cluster, as the metadata request reported it."""

    id: int
    host: str
    port: int


@dataclass(frozen=True)
class Topic:
    """One topic of the cluster; ``error`` is empty unless the broker reported one."""

    name: str
    partition_count: int
    error: str = ""


@dataclass(frozen=True)
class KafkaConnection:
    """A connection registered in the sidecar: the ``connection`` artifact of kafka_connector.

    It contains no secret: passwords went to the sidecar in the Connect call and
    were not kept. Consumers and producers use ``connection_id`` and
    ``sidecar_address``.
    """

    connection_id: str
    sidecar_address: str
    bootstrap_servers: str
    security_protocol: str
    brokers: tuple[Broker, ...] = field(default=())
    topics: tuple[Topic, ...] = field(default=())
    controller_id: int = -1

    @classmethod
    def from_info(cls, info: Any, sidecar_address: str) -> KafkaConnection:
        """Build the artifact from a ``ConnectionInfo`` message."""
        return cls(
            connection_id=info.connection_id,
            sidecar_address=sidecar_address,
            bootstrap_servers=info.bootstrap_servers,
            security_protocol=info.security_protocol or "PLAINTEXT",
            brokers=tuple(Broker(b.id, b.host, b.port) for b in info.brokers),
            topics=tuple(Topic(t.name, t.partition_count, t.error) for t in info.topics),
            controller_id=info.controller_id,
        )

    @property
    def is_default(self) -> bool:
        """Whether this is the sidecar's own default connection (id "")."""
        return self.connection_id == ""

    def topic_names(self) -> list[str]:
        """Return the names of the topics the metadata request listed."""
        return [topic.name for topic in self.topics]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly summary (no secrets exist to leave out)."""
        return {
            "connection_id": self.connection_id,
            "sidecar_address": self.sidecar_address,
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "brokers": [f"{b.host}:{b.port}" for b in self.brokers],
            "topics": self.topic_names(),
            "controller_id": self.controller_id,
        }

    def __repr__(self) -> str:
        """Summarize the connection without listing every topic."""
        name = self.connection_id or "<default>"
        return (
            f"KafkaConnection(connection_id={name!r}, sidecar_address={self.sidecar_address!r}, "
            f"bootstrap_servers={self.bootstrap_servers!r}, "
            f"security_protocol={self.security_protocol!r}, brokers={len(self.brokers)}, "
            f"topics={len(self.topics)})"
        )

    __str__ = __repr__


def connection_target(connection: Any) -> tuple[str, str]:
    """Return (connection_id, sidecar_address) of a ``connection`` parameter.

    Accepts a KafkaConnection, any object with those two attributes, or a
    dict with those two keys.

    Raises:
        ValueError: When ``connection`` has neither form.
    """
    if isinstance(connection, Mapping):
        connection_id = connection.get("connection_id")
        address = connection.get("sidecar_address")
    else:
        connection_id = getattr(connection, "connection_id", None)
        address = getattr(connection, "sidecar_address", None)
    if not isinstance(connection_id, str) or not isinstance(address, str):
        raise ValueError(
            "Parameter 'connection' must be the 'connection' artifact of kafka_connector "
            f"(a KafkaConnection), got {type(connection).__name__}."
        )
    return connection_id, address
