"""Every protocol and mechanism pair works end to end on the secure broker.

Each pair runs twice: once as the sidecar's own default connection, once as
a connection that a job registers through kafka_connector. With a librdkafka
older than 2.6.1, the SCRAM pairs cannot authenticate to a Kafka 4 broker;
for them the tests check that the error says so and names the user.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka_sidecar_client.datapy import run_mod
from secure_cases import (
    CASES,
    FIRST_LIBRDKAFKA_WITH_KAFKA4_SCRAM,
    SCRAM_ADVICE,
    SECRET_SOURCES,
    Case,
    librdkafka_version,
    round_trip,
    sidecar_configuration,
)
from support.broker import unique_name


def _assert_no_secret(texts: list[str], secrets: list[str]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a secret value appears in the output"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_pair_works_as_sidecar_default_connection(
    case: Case,
    secure_broker,
    secure_kafka,
    secure_sidecar_factory,
    secure_topic,
    tmp_path: Path,
) -> None:
    args, env = sidecar_configuration(
        case.settings(secure_broker), tmp_path, SECRET_SOURCES[case.id]
    )
    sidecar = secure_sidecar_factory(args=args, env=env, wait_serving=False)
    sidecar.wait_for_log(r"Starting kafka-sidecar")
    scram_broken = (
        case.is_scram
        and librdkafka_version(sidecar) < FIRST_LIBRDKAFKA_WITH_KAFKA4_SCRAM
    )
    if scram_broken:
        assert sidecar.wait(timeout_s=20) == 2
        log = sidecar.stderr()
        assert "authentication failed" in log
        assert f"user {secure_broker['username']}" in log
        assert case.mechanism in log
        assert secure_broker[case.listener] in log
        assert SCRAM_ADVICE in log
    else:
        sidecar.wait_serving()
        connected = run_mod("kafka_connector", {"sidecar_address": sidecar.address})
        assert connected["status"] == "success", connected["errors"]
        results = round_trip(
            connected["artifacts"]["connection"],
            secure_topic,
            unique_name("group-secure"),
            secure_kafka,
        )
        _assert_no_secret(
            [repr(result) for result in [connected, *results]], secure_broker.secrets
        )
    _assert_no_secret([sidecar.stderr(), sidecar.stdout()], secure_broker.secrets)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_pair_works_through_kafka_connector(
    case: Case, secure_broker, secure_kafka, secure_sidecar_factory, secure_topic
) -> None:
    sidecar = secure_sidecar_factory(
        args=["--bootstrap-servers", secure_broker["plaintext"]]
    )
    params = {
        "sidecar_address": sidecar.address,
        "connection_name": f"job-{case.id}",
        **case.settings(secure_broker),
    }
    connected = run_mod("kafka_connector", params)
    if (
        case.is_scram
        and librdkafka_version(sidecar) < FIRST_LIBRDKAFKA_WITH_KAFKA4_SCRAM
    ):
        assert connected["status"] == "error"
        errors = " ".join(str(error) for error in connected["errors"])
        assert "authentication failed" in errors
        assert f"user {secure_broker['username']}" in errors
        assert case.mechanism in errors
        assert secure_broker[case.listener] in errors
        assert SCRAM_ADVICE in errors
        results = [connected]
    else:
        assert connected["status"] == "success", connected["errors"]
        connection = connected["artifacts"]["connection"]
        assert connection.connection_id == f"job-{case.id}"
        results = [
            connected,
            *round_trip(
                connection, secure_topic, unique_name("group-secure"), secure_kafka
            ),
        ]
    _assert_no_secret(
        [
            sidecar.stderr(),
            sidecar.stdout(),
            *(repr(result) for result in results),
            str(results),
        ],
        secure_broker.secrets,
    )
