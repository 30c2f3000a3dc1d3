"""Secrets never reach repr, str, results or logs."""

from __future__ import annotations

import copy
import io
import logging
import pickle
from pathlib import Path
from typing import Any

import pytest
from fake_sidecar import FakeSidecarServer

from kafka_sidecar_client import KafkaConnection, Secret
from kafka_sidecar_client.connection import validate_settings
from kafka_sidecar_client.datapy import run_mod
from kafka_sidecar_client.logs import TabDelimitedFormatter

PASSWORD = "s3cr3t-Pa55"
KEY_PASSWORD = "k3y-Pa55"
INLINE_SECRET = "oauth-cl1ent-s3cret"


def sasl_params(address: str) -> dict[str, Any]:
    return {
        "sidecar_address": address,
        "bootstrap_servers": "b:9092",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_username": "job",
        "sasl_password": PASSWORD,
        "ssl_cert_location": "/c.pem",
        "ssl_key_location": "/k.pem",
        "ssl_key_password": KEY_PASSWORD,
        "additional_config": {"sasl.oauthbearer.client.secret": INLINE_SECRET},
    }


def assert_no_secret(text: str) -> None:
    for secret in (PASSWORD, KEY_PASSWORD, INLINE_SECRET):
        assert secret not in text


def test_secret_repr_and_str_hide_value() -> None:
    secret = Secret(PASSWORD)

    assert repr(secret) == "Secret('***')"
    assert str(secret) == "***"
    assert f"{secret}" == "***"
    assert secret.reveal() == PASSWORD
    assert copy.deepcopy(secret) is secret
    assert_no_secret(repr({"password": secret}))


def test_secret_refuses_pickling() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(PASSWORD))


def test_secret_from_file(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(PASSWORD + "\n", encoding="utf-8")

    assert Secret.from_file(path).reveal() == PASSWORD


def test_result_and_artifact_hold_no_secret(
    fake_sidecar: FakeSidecarServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = run_mod("kafka_connector", sasl_params(fake_sidecar.address))

    assert result["status"] == "success", result["errors"]
    connection = result["artifacts"]["connection"]
    assert_no_secret(repr(result))
    assert_no_secret(str(connection))
    assert_no_secret(repr(connection))
    assert_no_secret(repr(vars(connection) if hasattr(connection, "__dict__") else connection.to_dict()))
    assert_no_secret(repr(connection.to_dict()))
    assert_no_secret(caplog.text)
    # The secrets did reach the sidecar, which needs them.
    settings = fake_sidecar.servicer.connect_requests[0].settings
    assert settings.sasl_password == PASSWORD
    assert settings.additional_config["sasl.oauthbearer.client.secret"] == INLINE_SECRET


def test_failed_connect_holds_no_secret(
    fake_sidecar: FakeSidecarServer, caplog: pytest.LogCaptureFixture
) -> None:
    import grpc

    caplog.set_level(logging.DEBUG)
    fake_sidecar.servicer.connect_reply = lambda request: (
        grpc.StatusCode.UNAUTHENTICATED,
        "brokers b:9092: SASL authentication failed",
    )
    result = run_mod("kafka_connector", sasl_params(fake_sidecar.address))

    assert result["exit_code"] == 30
    assert_no_secret(repr(result))
    assert_no_secret(caplog.text)


def test_validation_errors_hold_no_secret(
    fake_sidecar: FakeSidecarServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    params = sasl_params(fake_sidecar.address)
    params["security_protocol"] = "PLAINTEXT"
    result = run_mod("kafka_connector", params)

    assert result["exit_code"] == 20
    assert "sasl_password" in repr(result)
    assert_no_secret(repr(result))
    assert_no_secret(caplog.text)


def test_wrong_type_secret_not_echoed(fake_sidecar: FakeSidecarServer) -> None:
    result = run_mod(
        "kafka_connector",
        {"sidecar_address": fake_sidecar.address, "bootstrap_servers": "b:9092", "sasl_password": 12345678},
    )

    message = result["errors"][0]["message"]
    assert message == "Parameter 'sasl_password' must be str or Secret, got int."
    assert "12345678" not in repr(result)


def test_invalid_secret_choice_not_echoed() -> None:
    with pytest.raises(ValueError) as caught:
        validate_settings({"bootstrap_servers": "b:9092", "sasl_password": Secret(PASSWORD)})

    assert_no_secret(str(caught.value))


def test_connection_has_no_secret_fields() -> None:
    fields = set(KafkaConnection.__dataclass_fields__)

    assert not {name for name in fields if "password" in name or "secret" in name}


def test_formatter_masks_secret_keys_in_extra() -> None:
    record = logging.LogRecord("datapy", logging.INFO, __file__, 1, "Starting mod", None, None)
    record.params = {
        "sasl_password": PASSWORD,
        "nested": {"ssl_key_password": KEY_PASSWORD, "user": "job"},
        "wrapped": Secret(INLINE_SECRET),
    }
    line = TabDelimitedFormatter().format(record)

    assert_no_secret(line)
    assert '"user": "job"' in line


def test_consumer_logs_hold_no_secret(fake_sidecar: FakeSidecarServer) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TabDelimitedFormatter())
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        result = run_mod("kafka_connector", sasl_params(fake_sidecar.address))
    finally:
        logging.getLogger().removeHandler(handler)

    assert result["status"] == "success"
    assert "Registering connection" in stream.getvalue()
    assert_no_secret(stream.getvalue())
