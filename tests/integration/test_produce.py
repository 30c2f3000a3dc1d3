"""Produce through the sidecar: records land with their key, headers, value and partition."""

from __future__ import annotations

import json

import grpc
import pytest
from kafka_sidecar_client import SidecarError
from kafka_sidecar_client._proto import pb
from kafka_sidecar_client.datapy import run_mod


def test_produce_rpc_stores_records_as_sent(client, kafka, new_topic):
    topic = new_topic(partitions=2)
    records = [
        pb.ProduceRecord(
            key=b"k1",
            value=b"v1",
            headers=[pb.Header(name="source", value=b"test")],
            partition=1,
        ),
        pb.ProduceRecord(value=b"no key", partition=0),
        pb.ProduceRecord(
            key=b"tombstone", partition=0, headers=[pb.Header(name="null-header")]
        ),
    ]
    response = client.produce("", topic, records)

    assert [result.error for result in response.results] == ["", "", ""]
    assert [result.partition for result in response.results] == [1, 0, 0]
    assert sorted(
        result.offset for result in response.results if result.partition == 0
    ) == [0, 1]

    stored = {
        (record.partition, record.offset): record
        for record in kafka.read_records(topic, 3)
    }
    first = stored[(1, response.results[0].offset)]
    assert (first.key, first.value, first.headers) == (
        b"k1",
        b"v1",
        [("source", b"test")],
    )
    second = stored[(0, response.results[1].offset)]
    assert (second.key, second.value) == (None, b"no key")
    third = stored[(0, response.results[2].offset)]
    assert (third.key, third.value, third.headers) == (
        b"tombstone",
        None,
        [("null-header", None)],
    )


def test_produce_to_unknown_connection_fails(client, new_topic):
    topic = new_topic(partitions=1)
    with pytest.raises(SidecarError) as raised:
        client.produce("never-registered", topic, [pb.ProduceRecord(value=b"x")])
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    assert "never-registered" in str(raised.value)


def test_producer_mod_serializes_value_formats(sidecar, kafka, new_topic):
    connection = run_mod("kafka_connector", {"sidecar_address": sidecar.address})
    assert connection["status"] == "success", connection["errors"]
    conn = connection["artifacts"]["connection"]

    json_topic = new_topic(partitions=1)
    rows = [{"id": "c-1", "amount": 12.5}, {"id": "c-2", "amount": 3}]
    result = run_mod(
        "kafka_producer",
        {
            "connection": conn,
            "topic": json_topic,
            "data": rows,
            "key_column": "id",
            "headers": {"origin": "job"},
        },
    )
    assert result["status"] == "success", result["errors"]
    assert result["metrics"]["delivered"] == 2
    stored = kafka.read_records(json_topic, 2)
    assert [(record.key, json.loads(record.value)) for record in stored] == [
        (b"c-1", rows[0]),
        (b"c-2", rows[1]),
    ]
    assert stored[0].headers == [("origin", b"job")]

    text_topic = new_topic(partitions=1)
    result = run_mod(
        "kafka_producer",
        {
            "connection": conn,
            "topic": text_topic,
            "data": {"text": "héllo"},
            "value_column": "text",
            "value_format": "string",
            "key_value": "fixed",
        },
    )
    assert result["status"] == "success", result["errors"]
    stored = kafka.read_records(text_topic, 1)
    assert (stored[0].key, stored[0].value) == (b"fixed", "héllo".encode())

    bytes_topic = new_topic(partitions=1)
    result = run_mod(
        "kafka_producer",
        {
            "connection": conn,
            "topic": bytes_topic,
            "data": {"blob": b"\x00\x01\xfe"},
            "value_column": "blob",
            "value_format": "bytes",
        },
    )
    assert result["status"] == "success", result["errors"]
    assert kafka.read_records(bytes_topic, 1)[0].value == b"\x00\x01\xfe"
