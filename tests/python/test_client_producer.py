"""kafka_producer against the fake sidecar."""

from __future__ import annotations

import json
import threading
from typing import Any

import duckdb
import grpc
import pandas as pd
import pytest
from fake_sidecar import DEFAULT_TIMEOUT_S, FakeSidecarServer, make_message

from kafka_sidecar_client import KafkaConnection, StreamController
from kafka_sidecar_client._proto import pb
from kafka_sidecar_client.datapy import run_mod
from kafka_sidecar_client.mods import kafka_consumer, kafka_producer


def connection_for(server: FakeSidecarServer) -> KafkaConnection:
    return KafkaConnection("conn-out", server.address, "127.0.0.1:9092", "PLAINTEXT")


def test_records_and_deliveries(fake_sidecar: FakeSidecarServer) -> None:
    result = kafka_producer.run(
        {
            "connection": connection_for(fake_sidecar),
            "topic": "accounts",
            "data": [{"id": "a1", "n": 1}, {"id": "a2", "n": 2}],
            "key_column": "id",
            "headers": {"source": "billing"},
            "flush_timeout_s": 2.5,
        }
    )

    assert result["status"] == "success", result["errors"]
    [request] = fake_sidecar.servicer.produce_requests
    assert request.connection_id == "conn-out"
    assert request.topic == "accounts"
    assert request.HasField("wait_for_delivery")
    assert request.wait_for_delivery is True
    assert request.timeout_ms == 2500
    assert [record.key for record in request.records] == [b"a1", b"a2"]
    assert [json.loads(record.value) for record in request.records] == [
        {"id": "a1", "n": 1},
        {"id": "a2", "n": 2},
    ]
    assert [(h.name, h.value) for h in request.records[0].headers] == [("source", b"billing")]
    assert result["metrics"]["records"] == 2
    assert result["metrics"]["delivered"] == 2
    assert result["metrics"]["failed"] == 0
    assert result["artifacts"]["deliveries"] == [
        {"index": 0, "partition": 0, "offset": 0, "error": None},
        {"index": 1, "partition": 0, "offset": 1, "error": None},
    ]


def test_no_flush_does_not_wait(fake_sidecar: FakeSidecarServer) -> None:
    result = kafka_producer.run(
        {
            "connection": connection_for(fake_sidecar),
            "topic": "t",
            "data": {"a": 1},
            "flush_after_send": False,
        }
    )

    assert result["status"] == "success"
    request = fake_sidecar.servicer.produce_requests[0]
    assert request.HasField("wait_for_delivery")
    assert request.wait_for_delivery is False
    assert result["metrics"]["delivery_confirmed"] is False


def test_partition_and_key_value(fake_sidecar: FakeSidecarServer) -> None:
    kafka_producer.run(
        {
            "connection": connection_for(fake_sidecar),
            "topic": "t",
            "data": ["x"],
            "value_format": "string",
            "key_value": "k",
            "partition": 1,
        }
    )

    record = fake_sidecar.servicer.produce_requests[0].records[0]
    assert (record.key, record.value, record.partition) == (b"k", b"x", 1)


def failing_second_record(request: Any) -> Any:
    return pb.ProduceResponse(
        results=[
            pb.RecordResult(partition=0, offset=10),
            pb.RecordResult(partition=-1, offset=-1, error="MSG_SIZE_TOO_LARGE: record too large"),
        ]
    )


def test_record_failure_with_raise_is_error(fake_sidecar: FakeSidecarServer) -> None:
    fake_sidecar.servicer.produce_reply = failing_second_record
    result = kafka_producer.run(
        {"connection": connection_for(fake_sidecar), "topic": "t", "data": [{"a": 1}, {"a": 2}]}
    )

    assert result["status"] == "error"
    assert result["exit_code"] == 30
    assert result["metrics"]["delivered"] == 1
    assert result["metrics"]["failed"] == 1
    assert "record 1: MSG_SIZE_TOO_LARGE: record too large" in result["errors"][0]["message"]
    assert result["artifacts"]["deliveries"][1] == {
        "index": 1,
        "partition": -1,
        "offset": -1,
        "error": "MSG_SIZE_TOO_LARGE: record too large",
    }


def test_record_failure_with_log_is_warning(fake_sidecar: FakeSidecarServer) -> None:
    fake_sidecar.servicer.produce_reply = failing_second_record
    result = kafka_producer.run(
        {
            "connection": connection_for(fake_sidecar),
            "topic": "t",
            "data": [{"a": 1}, {"a": 2}],
            "on_send_error": "log",
        }
    )

    assert result["status"] == "warning"
    assert result["exit_code"] == 10
    assert result["metrics"]["failed"] == 1


def test_call_failure_fails_every_record(fake_sidecar: FakeSidecarServer) -> None:
    fake_sidecar.servicer.produce_reply = lambda request: (
        grpc.StatusCode.NOT_FOUND,
        "unknown connection conn-out",
    )
    result = kafka_producer.run(
        {"connection": connection_for(fake_sidecar), "topic": "t", "data": [{"a": 1}] * 3}
    )

    assert result["exit_code"] == 30
    assert result["metrics"]["failed"] == 3
    assert "Produce failed: NOT_FOUND: unknown connection conn-out" in result["errors"][0]["message"]


def test_large_data_is_split_into_requests(fake_sidecar: FakeSidecarServer) -> None:
    result = kafka_producer.run(
        {"connection": connection_for(fake_sidecar), "topic": "t", "data": [{"i": i} for i in range(2500)]}
    )

    assert result["metrics"]["delivered"] == 2500
    assert [len(r.records) for r in fake_sidecar.servicer.produce_requests] == [1000, 1000, 500]
    assert [d["offset"] for d in result["artifacts"]["deliveries"]] == list(range(2500))


def test_dataframe_and_relation(fake_sidecar: FakeSidecarServer) -> None:
    frame = pd.DataFrame({"id": [1, 2], "name": ["x", "y"]})
    relation = duckdb.connect().sql("SELECT 3 AS id, 'z' AS name")
    for data in (frame, relation):
        result = run_mod(
            "kafka_producer",
            {"connection": connection_for(fake_sidecar), "topic": "t", "data": data, "key_column": "id"},
        )
        assert result["status"] == "success", result["errors"]

    records = [record for request in fake_sidecar.servicer.produce_requests for record in request.records]
    assert [record.key for record in records] == [b"1", b"2", b"3"]
    assert json.loads(records[2].value) == {"id": 3, "name": "z"}


def test_empty_data_is_warning(fake_sidecar: FakeSidecarServer) -> None:
    result = kafka_producer.run({"connection": connection_for(fake_sidecar), "topic": "t", "data": []})

    assert result["status"] == "warning"
    assert fake_sidecar.servicer.produce_requests == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"key_column": "id", "key_value": "k"}, "Set either key_column or key_value, not both."),
        ({"value_format": "avro"}, "Accepted values: json, string, bytes."),
        ({"data": [{"id": 1}, {"other": 2}], "key_column": "id"}, "Record 1 has no column 'id'"),
        ({"data": 5}, "Parameter 'data' must be a dict, a list of dicts"),
        ({"topic": ""}, "Parameter 'topic' must not be empty."),
        ({"on_send_error": "ignore"}, "Accepted values: raise, log."),
        ({"flush_timeout_s": "soon"}, "Parameter 'flush_timeout_s' must be float, got str 'soon'."),
    ],
)
def test_invalid_parameters(
    fake_sidecar: FakeSidecarServer, overrides: dict[str, Any], expected: str
) -> None:
    params = {"connection": connection_for(fake_sidecar), "topic": "t", "data": [{"id": 1}], **overrides}
    result = kafka_producer.run(params)

    assert result["exit_code"] == 20
    assert expected in " ".join(error["message"] for error in result["errors"])
    assert fake_sidecar.servicer.produce_requests == []


def test_produce_inside_callback_while_draining(fake_sidecar: FakeSidecarServer) -> None:
    """A callback still produces after the sidecar announced DRAINING, and its ack follows."""
    controller = StreamController(install_signal_handlers=False)
    produce_results: list[dict[str, Any]] = []
    callback_started = threading.Event()

    def processor(message: dict[str, Any]) -> dict[str, str]:
        callback_started.set()
        controller.wait(DEFAULT_TIMEOUT_S)
        result = run_mod(
            "kafka_producer",
            {
                "connection": connection_for(fake_sidecar),
                "topic": "out",
                "data": {"offset": message["offset"]},
            },
        )
        produce_results.append(result)
        if result["status"] != "success":
            return {"status": "error", "error": "produce failed"}
        return {"status": "success"}

    outcome: list[dict[str, Any]] = []
    consumer = threading.Thread(
        target=lambda: outcome.append(
            kafka_consumer.run(
                {
                    "connection": connection_for(fake_sidecar),
                    "topics": ["in"],
                    "group_id": "g",
                    "message_processor": processor,
                    "controller": controller,
                }
            )
        )
    )
    consumer.start()
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.send_messages(make_message(1, offset=77))
    # DRAINING before the callback starts would rightly leave the message unprocessed.
    assert callback_started.wait(DEFAULT_TIMEOUT_S)
    call.send_event(pb.Event.TYPE_DRAINING)
    call.wait_half_closed()
    call.finish()
    consumer.join(DEFAULT_TIMEOUT_S)

    assert not consumer.is_alive()
    assert produce_results[0]["status"] == "success"
    assert json.loads(fake_sidecar.servicer.produce_requests[0].records[0].value) == {"offset": 77}
    assert [(ack.delivery_id, ack.status) for ack in call.acks()] == [(1, pb.Ack.STATUS_SUCCESS)]
    assert outcome[0]["status"] == "success"
