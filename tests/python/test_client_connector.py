"""kafka_connector against the fake sidecar, and its setting checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from fake_sidecar import FakeSidecarServer

from kafka_sidecar_client import KafkaConnection, Secret
from kafka_sidecar_client.connection import derive_connection_id, validate_settings
from kafka_sidecar_client.datapy import run_mod
from kafka_sidecar_client.mods import kafka_connector


def test_empty_bootstrap_checks_default_connection(fake_sidecar: FakeSidecarServer) -> None:
    result = kafka_connector.run({"sidecar_address": fake_sidecar.address, "timeout_ms": 1500})

    assert result["status"] == "success", result["errors"]
    [request] = fake_sidecar.servicer.check_requests
    assert request.connection_id == ""
    assert request.timeout_ms == 1500
    assert fake_sidecar.servicer.connect_requests == []
    connection = result["artifacts"]["connection"]
    assert isinstance(connection, KafkaConnection)
    assert connection.is_default
    assert connection.sidecar_address == fake_sidecar.address
    assert connection.topic_names() == ["orders"]
    assert result["metrics"] == {"brokers": 1, "topics": 1}


def test_connection_name_without_bootstrap_checks_that_connection(fake_sidecar: FakeSidecarServer) -> None:
    result = kafka_connector.run({"sidecar_address": fake_sidecar.address, "connection_name": "shared"})

    assert result["status"] == "success"
    assert fake_sidecar.servicer.check_requests[0].connection_id == "shared"


def test_settings_without_bootstrap_warn(fake_sidecar: FakeSidecarServer) -> None:
    result = kafka_connector.run(
        {"sidecar_address": fake_sidecar.address, "bootstrap_servers": "", "security_protocol": "SSL"}
    )

    assert result["status"] == "warning"
    assert result["exit_code"] == 10
    assert "security_protocol" in result["warnings"][0]["message"]


def test_address_from_environment(fake_sidecar: FakeSidecarServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SIDECAR_ADDRESS", fake_sidecar.address)
    result = kafka_connector.run({})

    assert result["status"] == "success", result["errors"]
    assert result["artifacts"]["connection"].sidecar_address == fake_sidecar.address


def test_bootstrap_registers_with_derived_id(fake_sidecar: FakeSidecarServer) -> None:
    params = {
        "sidecar_address": fake_sidecar.address,
        "bootstrap_servers": " broker1:9092, broker2:9093 ",
        "security_protocol": "sasl_ssl",
        "sasl_mechanism": "scram-sha-512",
        "sasl_username": "job",
        "sasl_password": "pa55word",
        "ssl_ca_location": "/etc/kafka/ca.pem",
        "additional_config": {"client.id": "billing", "enable.idempotence": True, "linger.ms": 5},
    }
    result = kafka_connector.run(params)

    assert result["status"] == "success", result["errors"]
    [request] = fake_sidecar.servicer.connect_requests
    settings = request.settings
    assert request.connection_id.startswith("conn-")
    assert request.timeout_ms == 10000
    assert settings.bootstrap_servers == "broker1:9092,broker2:9093"
    assert settings.security_protocol == "SASL_SSL"
    assert settings.sasl_mechanism == "SCRAM-SHA-512"
    assert settings.sasl_username == "job"
    assert settings.sasl_password == "pa55word"
    assert settings.ssl_ca_location == "/etc/kafka/ca.pem"
    assert dict(settings.additional_config) == {
        "client.id": "billing",
        "enable.idempotence": "true",
        "linger.ms": "5",
    }
    assert result["artifacts"]["connection"].connection_id == request.connection_id
    assert result["globals"]["connection_id"] == request.connection_id


def test_derived_id_is_stable_and_ignores_secrets() -> None:
    base = {
        "bootstrap_servers": "b:9092",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_username": "u",
    }
    first = derive_connection_id(validate_settings({**base, "sasl_password": "one"}))
    second = derive_connection_id(validate_settings({**base, "sasl_password": "two"}))
    other_user = derive_connection_id(
        validate_settings({**base, "sasl_username": "v", "sasl_password": "one"})
    )

    assert first == second
    assert first != other_user


def test_connection_name_is_used_as_id(fake_sidecar: FakeSidecarServer) -> None:
    result = kafka_connector.run(
        {"sidecar_address": fake_sidecar.address, "bootstrap_servers": "b:9092", "connection_name": "billing"}
    )

    assert result["status"] == "success"
    assert fake_sidecar.servicer.connect_requests[0].connection_id == "billing"


def test_password_file_is_read(fake_sidecar: FakeSidecarServer, tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("from-file\n", encoding="utf-8")
    result = kafka_connector.run(
        {
            "sidecar_address": fake_sidecar.address,
            "bootstrap_servers": "b:9092",
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "sasl_username": "u",
            "sasl_password_file": str(password_file),
        }
    )

    assert result["status"] == "success", result["errors"]
    assert fake_sidecar.servicer.connect_requests[0].settings.sasl_password == "from-file"


def test_unreadable_password_file(fake_sidecar: FakeSidecarServer, tmp_path: Path) -> None:
    result = kafka_connector.run(
        {
            "sidecar_address": fake_sidecar.address,
            "bootstrap_servers": "b:9092",
            "sasl_password_file": str(tmp_path / "absent"),
        }
    )

    assert result["exit_code"] == 20
    assert "Cannot read sasl_password_file" in result["errors"][0]["message"]


@pytest.mark.parametrize(
    ("code", "details"),
    [
        (grpc.StatusCode.UNAVAILABLE, "brokers b:9092: connection refused"),
        (grpc.StatusCode.UNAUTHENTICATED, "brokers b:9092: SASL authentication failed"),
        (grpc.StatusCode.INVALID_ARGUMENT, "additional_config: unknown property foo.bar"),
    ],
)
def test_grpc_error_becomes_result_error(
    fake_sidecar: FakeSidecarServer, code: grpc.StatusCode, details: str
) -> None:
    fake_sidecar.servicer.connect_reply = lambda request: (code, details)
    result = kafka_connector.run({"sidecar_address": fake_sidecar.address, "bootstrap_servers": "b:9092"})

    assert result["status"] == "error"
    assert result["exit_code"] == 30
    message = result["errors"][0]["message"]
    assert f"Connect failed: {code.name}: {details}" in message
    assert fake_sidecar.address in message
    assert "connection" not in result["artifacts"]


def test_unreachable_sidecar_is_runtime_error(tmp_path: Path) -> None:
    result = kafka_connector.run({"sidecar_address": f"unix://{tmp_path}/absent.sock", "timeout_ms": 100})

    assert result["exit_code"] == 30
    message = result["errors"][0]["message"]
    assert "CheckConnection failed" in message
    assert "DEADLINE_EXCEEDED" in message or "UNAVAILABLE" in message


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"security_protocol": "TLS"},
            "Invalid value 'TLS' for parameter 'security_protocol'. "
            "Accepted values: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL.",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password": "p"},
            "Missing sasl_mechanism for security_protocol SASL_SSL. "
            "Accepted values: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.",
        ),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "GSSAPI",
                "sasl_username": "u",
                "sasl_password": "p",
            },
            "Invalid value 'GSSAPI' for parameter 'sasl_mechanism'. "
            "Accepted values: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.",
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_password": "p"},
            "Missing sasl_username: security_protocol SASL_PLAINTEXT requires it.",
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_username": "u"},
            "Missing sasl_password: security_protocol SASL_PLAINTEXT requires it.",
        ),
        (
            {"sasl_username": "u"},
            "Setting sasl_username needs security_protocol SASL_PLAINTEXT or SASL_SSL, "
            "but security_protocol is PLAINTEXT.",
        ),
        (
            {"ssl_ca_location": "/ca.pem"},
            "Setting ssl_ca_location needs security_protocol SSL or SASL_SSL, "
            "but security_protocol is PLAINTEXT.",
        ),
        (
            {"security_protocol": "SSL", "ssl_cert_location": "/c.pem"},
            "Mutual TLS needs both ssl_cert_location and ssl_key_location. Only ssl_cert_location is set.",
        ),
        ({"bootstrap_servers": "broker1"}, "Invalid bootstrap_servers entry 'broker1': expected host:port"),
        ({"bootstrap_servers": "b:99999"}, "Invalid bootstrap_servers entry 'b:99999'"),
        ({"timeout_ms": -5}, "Parameter 'timeout_ms' must be >= 0, got -5."),
        ({"additional_config": {"a": [1]}}, "additional_config property a must be a str, number or bool"),
        ({"sidecar_address": "relative.sock"}, "Invalid sidecar address 'relative.sock'"),
    ],
)
def test_invalid_settings_named_before_any_call(
    fake_sidecar: FakeSidecarServer, settings: dict[str, Any], expected: str
) -> None:
    params = {"sidecar_address": fake_sidecar.address, "bootstrap_servers": "b:9092", **settings}
    result = kafka_connector.run(params)

    assert result["status"] == "error"
    assert result["exit_code"] == 20
    messages = [error["message"] for error in result["errors"]]
    assert any(expected in message for message in messages), messages
    assert fake_sidecar.servicer.connect_requests == []
    assert fake_sidecar.servicer.check_requests == []


def test_secret_wrapper_is_sent_revealed(fake_sidecar: FakeSidecarServer) -> None:
    result = run_mod(
        "kafka_connector",
        {
            "sidecar_address": fake_sidecar.address,
            "bootstrap_servers": "b:9092",
            "security_protocol": "SSL",
            "ssl_cert_location": "/c.pem",
            "ssl_key_location": "/k.pem",
            "ssl_key_password": Secret("key-pass"),
        },
    )

    assert result["status"] == "success", result["errors"]
    assert fake_sidecar.servicer.connect_requests[0].settings.ssl_key_password == "key-pass"
