"""Every protocol and mechanism pair works end to end on the secure brokers.

Each pair runs twice: once as the sidecar's own default connection, once as
a connection that a job registers through kafka_connector. With a librdkafka
older than 2.6.1, the SCRAM pairs cannot authenticate to the Kafka 4.1.1
broker, so for them the tests check that the error names that cause and the
user. The SCRAM pairs also run against the Kafka 3.9.1 compatibility broker,
which accepts the SCRAM login of those librdkafka versions, so the sidecar's
SCRAM configuration is tested end to end whatever librdkafka it links.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka_sidecar_client.datapy import run_mod
from secure_cases import (
    CASES,
    FIRST_LIBRDKAFKA_WITH_KAFKA4_SCRAM,
    SCRAM_ADVICE,
    SCRAM_CASES,
    SECRET_SOURCES,
    Case,
    librdkafka_version,
    round_trip,
    sidecar_configuration,
)
from support.broker import KafkaTestClient, unique_name
from support.sidecar import SidecarProcess


def _assert_no_secret(texts: list[str], secrets: list[str]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a secret value appears in the output"


def _start_with_default_connection(
    case: Case, broker, factory, secret_dir: Path
) -> SidecarProcess:
    """Start a sidecar whose own connection is `case` on `broker`, without waiting."""
    args, env = sidecar_configuration(
        case.settings(broker), secret_dir, SECRET_SOURCES[case.id]
    )
    sidecar = factory(args=args, env=env, wait_serving=False)
    sidecar.wait_for_log(r"Starting kafka-sidecar")
    return sidecar


def _round_trip_on_default_connection(
    sidecar: SidecarProcess, broker, kafka: KafkaTestClient, topic: str
) -> None:
    """Run the round trip on the sidecar's own connection; check outputs for secrets."""
    sidecar.wait_serving()
    connected = run_mod("kafka_connector", {"sidecar_address": sidecar.address})
    assert connected["status"] == "success", connected["errors"]
    results = round_trip(
        connected["artifacts"]["connection"],
        topic,
        unique_name("group-secure"),
        kafka,
    )
    _assert_no_secret(
        [repr(result) for result in [connected, *results]], broker.secrets
    )
    _assert_no_secret([sidecar.stderr(), sidecar.stdout()], broker.secrets)


def _connect_job_connection(case: Case, broker, factory) -> tuple[SidecarProcess, dict]:
    """Start a sidecar on `broker`'s PLAINTEXT listener and register `case` on it."""
    sidecar = factory(args=["--bootstrap-servers", broker["plaintext"]])
    params = {
        "sidecar_address": sidecar.address,
        "connection_name": f"job-{case.id}",
        **case.settings(broker),
    }
    return sidecar, run_mod("kafka_connector", params)


def _round_trip_on_job_connection(
    case: Case,
    sidecar: SidecarProcess,
    connected: dict,
    broker,
    kafka: KafkaTestClient,
    topic: str,
) -> None:
    """Run the round trip on a registered connection; check outputs for secrets."""
    assert connected["status"] == "success", connected["errors"]
    connection = connected["artifacts"]["connection"]
    assert connection.connection_id == f"job-{case.id}"
    results = [
        connected,
        *round_trip(connection, topic, unique_name("group-secure"), kafka),
    ]
    _assert_no_secret(
        [
            sidecar.stderr(),
            sidecar.stdout(),
            *(repr(result) for result in results),
            str(results),
        ],
        broker.secrets,
    )


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_pair_works_as_sidecar_default_connection(
    case: Case,
    secure_broker,
    secure_kafka,
    secure_sidecar_factory,
    secure_topic,
    tmp_path: Path,
) -> None:
    sidecar = _start_with_default_connection(
        case, secure_broker, secure_sidecar_factory, tmp_path
    )
    scram_broken = (
        case.is_scram
        and librdkafka_version(sidecar) < FIRST_LIBRDKAFKA_WITH_KAFKA4_SCRAM
    )
    if not scram_broken:
        _round_trip_on_default_connection(
            sidecar, secure_broker, secure_kafka, secure_topic
        )
        return
    assert sidecar.wait(timeout_s=20) == 2
    log = sidecar.stderr()
    assert "authentication failed" in log
    assert f"user {secure_broker['username']}" in log
    assert case.mechanism in log
    assert secure_broker[case.listener] in log
    assert SCRAM_ADVICE in log
    _assert_no_secret([sidecar.stderr(), sidecar.stdout()], secure_broker.secrets)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_pair_works_through_kafka_connector(
    case: Case, secure_broker, secure_kafka, secure_sidecar_factory, secure_topic
) -> None:
    sidecar, connected = _connect_job_connection(
        case, secure_broker, secure_sidecar_factory
    )
    if not (
        case.is_scram
        and librdkafka_version(sidecar) < FIRST_LIBRDKAFKA_WITH_KAFKA4_SCRAM
    ):
        _round_trip_on_job_connection(
            case, sidecar, connected, secure_broker, secure_kafka, secure_topic
        )
        return
    assert connected["status"] == "error"
    errors = " ".join(str(error) for error in connected["errors"])
    assert "authentication failed" in errors
    assert f"user {secure_broker['username']}" in errors
    assert case.mechanism in errors
    assert secure_broker[case.listener] in errors
    assert SCRAM_ADVICE in errors
    _assert_no_secret(
        [sidecar.stderr(), sidecar.stdout(), repr(connected), str(connected)],
        secure_broker.secrets,
    )


@pytest.mark.parametrize("case", SCRAM_CASES, ids=[case.id for case in SCRAM_CASES])
def test_scram_on_kafka_39_as_default_connection(
    case: Case,
    scram_broker,
    scram_kafka,
    secure_sidecar_factory,
    scram_topic,
    tmp_path: Path,
) -> None:
    sidecar = _start_with_default_connection(
        case, scram_broker, secure_sidecar_factory, tmp_path
    )
    _round_trip_on_default_connection(sidecar, scram_broker, scram_kafka, scram_topic)


@pytest.mark.parametrize("case", SCRAM_CASES, ids=[case.id for case in SCRAM_CASES])
def test_scram_on_kafka_39_through_kafka_connector(
    case: Case, scram_broker, scram_kafka, secure_sidecar_factory, scram_topic
) -> None:
    sidecar, connected = _connect_job_connection(
        case, scram_broker, secure_sidecar_factory
    )
    _round_trip_on_job_connection(
        case, sidecar, connected, scram_broker, scram_kafka, scram_topic
    )
