"""Secrets stay out of --help, the startup configuration dump and trace logs.

The protocol pair tests check the logs and DataPy results of every working
path; these tests cover the remaining outputs with distinctive values.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from kafka_sidecar_client.datapy import run_mod
from secure_cases import write_secret


def _canary() -> str:
    return f"S3cr3t-canary-{uuid.uuid4()}"


def test_help_output_contains_no_secret(sidecar_executable: Path) -> None:
    password = _canary()
    completed = subprocess.run(
        [str(sidecar_executable), "--help", "--sasl-password", password],
        env={"KAFKA_SASL_PASSWORD": password, "KAFKA_SSL_KEY_PASSWORD": password},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0
    assert "--sasl-password-file" in completed.stdout
    assert password not in completed.stdout + completed.stderr


def test_trace_logs_and_configuration_dump_redact_every_secret(
    secure_broker, secure_sidecar_factory, tmp_path: Path
) -> None:
    extra_secret = _canary()
    sidecar = secure_sidecar_factory(
        args=[
            "--bootstrap-servers",
            secure_broker["sasl_ssl"],
            "--security-protocol",
            "SASL_SSL",
            "--sasl-mechanism",
            "PLAIN",
            "--sasl-username",
            secure_broker["username"],
            "--sasl-password",
            secure_broker["password"],
            "--ssl-ca-location",
            secure_broker["ca"],
            "--kafka-property",
            f"sasl.oauthbearer.config=principal={extra_secret}",
            # librdkafka's own debug output, including its configuration dump.
            "--kafka-property",
            "debug=conf,generic,broker,protocol,metadata",
        ],
    )
    connected = run_mod(
        "kafka_connector",
        {
            "sidecar_address": sidecar.address,
            "bootstrap_servers": secure_broker["mtls"],
            "security_protocol": "SSL",
            "ssl_ca_location": secure_broker["ca"],
            "ssl_cert_location": secure_broker["client_cert"],
            "ssl_key_location": secure_broker["client_encrypted_key"],
            "additional_config": {"debug": "conf,generic,broker,protocol"},
            "ssl_key_password_file": str(
                write_secret(tmp_path, "key-password", secure_broker["key_password"])
            ),
        },
    )
    assert connected["status"] == "success", connected["errors"]
    log = sidecar.stderr()
    assert "sasl_password=<redacted>" in log
    assert "sasl.oauthbearer.config=<redacted>" in log
    assert "CONF: [thrd:app]:" in log, "librdkafka's configuration dump is missing"
    assert "\tTRACE\t" in log or "\tDEBUG\t" in log, (
        "the sidecar did not log at trace or debug level"
    )
    outputs = [
        log,
        sidecar.stdout(),
        repr(connected),
        str(connected),
        repr(connected["artifacts"]["connection"]),
    ]
    for secret in [*secure_broker.secrets, extra_secret]:
        for output in outputs:
            assert secret not in output
