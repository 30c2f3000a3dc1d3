"""Security misconfigurations fail fast with a message a user can act on.

Each test starts the sidecar with one mistake against the secure broker and
checks that it exits with code 2 well within its connection timeout, and
that the message names the brokers, the mechanism and the user (never the
secret) and the cause.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from kafka_sidecar_client import SidecarClient
from kafka_sidecar_client._proto import pb
from kafka_sidecar_client.client import SidecarError
from kafka_sidecar_client.datapy import run_mod
from secure_cases import write_secret

# The fixture's sidecars use --connect-timeout-ms 8000.
_CONNECT_TIMEOUT_S = 8.0
_WRONG_PASSWORD = "Wr0ng-canary-password-7f3a"


def _start_failing(
    factory, args: list[str], env: dict[str, str] | None = None
) -> tuple[str, float]:
    """Start a sidecar that must fail its connection test; return its log and run time."""
    started = time.monotonic()
    sidecar = factory(args=args, env=env or {}, wait_serving=False)
    assert sidecar.wait(timeout_s=_CONNECT_TIMEOUT_S + 10) == 2, sidecar.stderr()
    elapsed = time.monotonic() - started
    return sidecar.stderr(), elapsed


def _critical_line(log: str) -> str:
    lines = [line for line in log.splitlines() if "\tCRITICAL\t" in line]
    assert lines, f"no CRITICAL line in the log:\n{log[-2000:]}"
    return lines[-1]


def test_wrong_password_says_authentication_failed(
    secure_broker, secure_sidecar_factory, tmp_path: Path
) -> None:
    password_file = write_secret(tmp_path, "password", _WRONG_PASSWORD)
    log, elapsed = _start_failing(
        secure_sidecar_factory,
        [
            "--bootstrap-servers",
            secure_broker["sasl_ssl"],
            "--security-protocol",
            "SASL_SSL",
            "--sasl-mechanism",
            "PLAIN",
            "--sasl-username",
            secure_broker["username"],
            "--sasl-password-file",
            str(password_file),
            "--ssl-ca-location",
            secure_broker["ca"],
        ],
    )
    message = _critical_line(log)
    assert "authentication failed" in message
    assert secure_broker["sasl_ssl"] in message
    assert "PLAIN" in message
    assert f"user {secure_broker['username']}" in message
    assert _WRONG_PASSWORD not in log
    assert elapsed < _CONNECT_TIMEOUT_S


def test_wrong_password_in_connect_returns_unauthenticated(
    secure_broker, secure_sidecar_factory
) -> None:
    sidecar = secure_sidecar_factory(
        args=["--bootstrap-servers", secure_broker["plaintext"]]
    )
    params = {
        "sidecar_address": sidecar.address,
        "bootstrap_servers": secure_broker["sasl_plaintext"],
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_username": secure_broker["username"],
        "sasl_password": _WRONG_PASSWORD,
    }
    started = time.monotonic()
    result = run_mod("kafka_connector", params)
    assert time.monotonic() - started < _CONNECT_TIMEOUT_S
    assert result["status"] == "error"
    errors = str(result["errors"])
    assert "authentication failed" in errors
    assert (
        secure_broker["sasl_plaintext"] in errors
        and f"user {secure_broker['username']}" in errors
    )
    assert _WRONG_PASSWORD not in errors + repr(result) + sidecar.stderr()

    with SidecarClient(sidecar.address) as client:
        settings = pb.ConnectionSettings(
            bootstrap_servers=secure_broker["sasl_plaintext"],
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username=secure_broker["username"],
            sasl_password=_WRONG_PASSWORD,
        )
        with pytest.raises(SidecarError) as raised:
            client.connect("wrong-password", settings)
    assert raised.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert "authentication failed" in str(raised.value)
    assert _WRONG_PASSWORD not in str(raised.value)


def test_wrong_scram_password_fails_on_kafka_39(
    scram_broker, secure_sidecar_factory
) -> None:
    # The SCRAM round trips on the Kafka 3.9.1 broker prove something only if
    # that broker checks the SCRAM password.
    sidecar = secure_sidecar_factory(
        args=["--bootstrap-servers", scram_broker["plaintext"]]
    )
    result = run_mod(
        "kafka_connector",
        {
            "sidecar_address": sidecar.address,
            "bootstrap_servers": scram_broker["sasl_plaintext"],
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_username": scram_broker["username"],
            "sasl_password": _WRONG_PASSWORD,
        },
    )
    assert result["status"] == "error"
    errors = str(result["errors"])
    assert "authentication failed" in errors
    assert "SCRAM-SHA-256" in errors
    assert f"user {scram_broker['username']}" in errors
    assert _WRONG_PASSWORD not in errors + repr(result) + sidecar.stderr()


def test_untrusted_ca_says_tls_verification_failed(
    secure_broker, secure_sidecar_factory
) -> None:
    log, elapsed = _start_failing(
        secure_sidecar_factory,
        [
            "--bootstrap-servers",
            secure_broker["ssl"],
            "--security-protocol",
            "SSL",
            "--ssl-ca-location",
            secure_broker["other_ca"],
        ],
    )
    message = _critical_line(log)
    assert "TLS verification failed" in message
    assert secure_broker["ssl"] in message
    assert secure_broker["other_ca"] in message
    assert elapsed < _CONNECT_TIMEOUT_S


def test_missing_client_certificate_says_broker_requires_one(
    secure_broker, secure_sidecar_factory
) -> None:
    log, elapsed = _start_failing(
        secure_sidecar_factory,
        [
            "--bootstrap-servers",
            secure_broker["mtls"],
            "--security-protocol",
            "SSL",
            "--ssl-ca-location",
            secure_broker["ca"],
        ],
    )
    message = _critical_line(log)
    assert "requires a client certificate" in message
    assert "ssl_cert_location" in message
    assert secure_broker["mtls"] in message
    assert elapsed < _CONNECT_TIMEOUT_S


def test_wrong_key_password_says_so(
    secure_broker, secure_sidecar_factory, tmp_path: Path
) -> None:
    key_password_file = write_secret(tmp_path, "key-password", _WRONG_PASSWORD)
    log, elapsed = _start_failing(
        secure_sidecar_factory,
        [
            "--bootstrap-servers",
            secure_broker["mtls"],
            "--security-protocol",
            "SSL",
            "--ssl-ca-location",
            secure_broker["ca"],
            "--ssl-cert-location",
            secure_broker["client_cert"],
            "--ssl-key-location",
            secure_broker["client_encrypted_key"],
        ],
        env={"KAFKA_SSL_KEY_PASSWORD_FILE": str(key_password_file)},
    )
    message = _critical_line(log)
    assert "key password is wrong" in message
    assert (
        secure_broker["client_encrypted_key"] in message
        and "ssl_key_password" in message
    )
    assert _WRONG_PASSWORD not in log
    assert elapsed < _CONNECT_TIMEOUT_S


def test_missing_certificate_file_names_path_and_setting(
    secure_broker, secure_sidecar_factory, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-client.crt"
    log, _ = _start_failing(
        secure_sidecar_factory,
        [
            "--bootstrap-servers",
            secure_broker["mtls"],
            "--security-protocol",
            "SSL",
            "--ssl-ca-location",
            secure_broker["ca"],
            "--ssl-cert-location",
            str(missing),
            "--ssl-key-location",
            secure_broker["client_key"],
        ],
    )
    message = _critical_line(log)
    assert "ssl_cert_location (set by --ssl-cert-location)" in message
    assert str(missing) in message
    assert "No such file or directory" in message


def test_job_connections_are_refused_when_disabled(
    secure_broker, secure_sidecar_factory
) -> None:
    sidecar = secure_sidecar_factory(
        args=["--bootstrap-servers", secure_broker["plaintext"]],
        env={"SIDECAR_ALLOW_JOB_CONNECTIONS": "false"},
    )
    params = {
        "sidecar_address": sidecar.address,
        "bootstrap_servers": secure_broker["sasl_plaintext"],
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_username": secure_broker["username"],
        "sasl_password": secure_broker["password"],
    }
    refused = run_mod("kafka_connector", params)
    assert refused["status"] == "error"
    assert "allow_job_connections=false" in str(refused["errors"])
    assert secure_broker["password"] not in repr(refused) + sidecar.stderr()

    with (
        SidecarClient(sidecar.address) as client,
        pytest.raises(SidecarError) as raised,
    ):
        client.connect(
            "job", pb.ConnectionSettings(bootstrap_servers=secure_broker["plaintext"])
        )
    assert raised.value.code == grpc.StatusCode.PERMISSION_DENIED

    default = run_mod("kafka_connector", {"sidecar_address": sidecar.address})
    assert default["status"] == "success", default["errors"]


def test_host_name_mismatch_says_tls_verification_failed(
    secure_broker, secure_sidecar_factory
) -> None:
    log, elapsed = _start_failing(
        secure_sidecar_factory,
        [
            "--bootstrap-servers",
            secure_broker["wrong_host"],
            "--security-protocol",
            "SSL",
            "--ssl-ca-location",
            secure_broker["ca"],
        ],
    )
    message = _critical_line(log)
    assert "TLS verification failed" in message
    assert "does not name the broker's host" in message
    assert secure_broker["wrong_host"] in message
    assert elapsed < _CONNECT_TIMEOUT_S
