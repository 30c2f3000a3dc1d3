"""Invalid settings, unreachable brokers and protocol misuse fail clearly and commit nothing."""

from __future__ import annotations

import socket
import time

import grpc
import pytest
from consume_helpers import StreamLog, ack, read_messages, read_to_end, subscribe
from kafka_sidecar_client import SidecarError
from kafka_sidecar_client._proto import pb


def _unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("options", "setting", "value_shown"),
    [
        (
            {"args": ["--security-protocol", "PLAINTEXT_PLUS"]},
            "security_protocol",
            "PLAINTEXT_PLUS",
        ),
        ({"bootstrap_servers": None}, "bootstrap_servers", None),
        (
            {
                "args": [
                    "--security-protocol",
                    "SASL_PLAINTEXT",
                    "--sasl-mechanism",
                    "PLAIN",
                    "--sasl-password",
                    "pw",
                ]
            },
            "sasl_username",
            None,
        ),
        (
            {
                "args": [
                    "--security-protocol",
                    "SASL_PLAINTEXT",
                    "--sasl-mechanism",
                    "GSSAPI-X",
                ]
            },
            "sasl_mechanism",
            "GSSAPI-X",
        ),
        (
            {"args": ["--kafka-property", "fetch.wait.max.ms=soon"]},
            "fetch.wait.max.ms",
            "soon",
        ),
    ],
    ids=[
        "unknown-protocol",
        "missing-bootstrap",
        "sasl-without-user",
        "unknown-mechanism",
        "bad-property",
    ],
)
def test_invalid_settings_fail_fast(sidecar_factory, options, setting, value_shown):
    sidecar = sidecar_factory(wait_serving=False, **options)
    assert sidecar.wait(timeout_s=20) == 2
    output = sidecar.stderr()
    assert setting in output
    if value_shown is not None:
        assert value_shown in output


def test_unreachable_broker_fails_within_timeout(sidecar_factory):
    servers = f"127.0.0.1:{_unused_port()}"
    started = time.monotonic()
    sidecar = sidecar_factory(
        wait_serving=False,
        bootstrap_servers=servers,
        args=["--connect-timeout-ms", "2000"],
    )
    exit_code = sidecar.wait(timeout_s=30)
    elapsed = time.monotonic() - started

    assert exit_code == 2
    assert servers in sidecar.stderr()
    assert elapsed < 15, (
        f"startup failed only after {elapsed:.1f} s with a 2 s connect timeout"
    )


def test_connect_to_unreachable_broker_names_servers(client):
    servers = f"127.0.0.1:{_unused_port()}"
    with pytest.raises(SidecarError) as raised:
        client.connect(
            "unreachable",
            pb.ConnectionSettings(bootstrap_servers=servers),
            timeout_ms=2000,
        )
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert servers in str(raised.value)


def test_connect_rejects_unknown_property(client, kafka_bootstrap):
    settings = pb.ConnectionSettings(
        bootstrap_servers=kafka_bootstrap, additional_config={"no.such.property": "1"}
    )
    with pytest.raises(SidecarError) as raised:
        client.connect("bad-property", settings, timeout_ms=2000)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "no.such.property" in str(raised.value)


def test_unknown_delivery_id_rejected_without_commit(
    client, kafka, new_topic, unique_group
):
    topic = new_topic(partitions=1)
    kafka.produce(topic, ["a", "b"])

    stream = client.consume(subscribe(topic, unique_group, max_in_flight=2))
    log = StreamLog()
    messages = read_messages(stream, log, 2)
    unknown = max(message.delivery_id for message in messages) + 1000
    stream.send_acks([pb.Ack(delivery_id=unknown, status=pb.Ack.STATUS_SUCCESS)])
    read_to_end(stream, log)

    assert stream.code == grpc.StatusCode.INVALID_ARGUMENT
    assert str(unknown) in stream.details
    assert kafka.committed_offsets(unique_group, topic) == {0: None}


def test_ack_without_status_rejected(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    kafka.produce(topic, ["a"])

    stream = client.consume(subscribe(topic, unique_group))
    log = StreamLog()
    message = read_messages(stream, log, 1)[0]
    stream.send_acks([pb.Ack(delivery_id=message.delivery_id)])
    read_to_end(stream, log)

    assert stream.code == grpc.StatusCode.INVALID_ARGUMENT
    assert stream.details
    assert kafka.committed_offsets(unique_group, topic) == {0: None}


def test_second_subscribe_rejected(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    kafka.produce(topic, ["a"])

    stream = client.consume(subscribe(topic, unique_group))
    log = StreamLog()
    read_messages(stream, log, 1)
    stream.send(pb.ConsumeRequest(subscribe=subscribe(topic, unique_group)))
    read_to_end(stream, log)

    assert stream.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "subscribe" in stream.details.lower()
    assert kafka.committed_offsets(unique_group, topic) == {0: None}


@pytest.mark.parametrize(
    ("first_request", "field_named"),
    [
        (
            pb.ConsumeRequest(
                acks=pb.AckBatch(
                    acks=[pb.Ack(delivery_id=1, status=pb.Ack.STATUS_SUCCESS)]
                )
            ),
            "subscribe",
        ),
        (pb.ConsumeRequest(subscribe=pb.Subscribe(group_id="g")), "topics"),
        (pb.ConsumeRequest(subscribe=pb.Subscribe(topics=["t"])), "group_id"),
    ],
    ids=["acks-first", "no-topics", "no-group"],
)
def test_invalid_first_request_rejected(client, first_request, field_named):
    stream = client.consume(first_request)
    read_to_end(stream, StreamLog())
    assert stream.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field_named in stream.details


def test_ack_after_stream_closed_is_harmless(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    kafka.produce(topic, ["a", "b"])

    stream = client.consume(subscribe(topic, unique_group, max_in_flight=2))
    log = StreamLog()
    messages = read_messages(stream, log, 2)
    stream.send_acks([ack(messages[0])])
    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details
    with pytest.raises(RuntimeError):
        stream.send_acks([ack(messages[1])])
    assert kafka.committed_offsets(unique_group, topic) == {0: 1}
