"""The DataPy mods against the real sidecar: connector, consumer and producer together."""

from __future__ import annotations

import json

from kafka_sidecar_client import StreamController
from kafka_sidecar_client.datapy import run_mod


def _connect(sidecar) -> object:
    result = run_mod("kafka_connector", {"sidecar_address": sidecar.address})
    assert result["status"] == "success", result["errors"]
    return result["artifacts"]["connection"]


def test_consumer_mod_acks_processed_messages_only(
    sidecar, kafka, new_topic, unique_group
):
    topic = new_topic(partitions=1)
    kafka.produce(topic, [json.dumps({"n": index}) for index in range(50)])
    connection = _connect(sidecar)

    seen: list[int] = []
    controller = StreamController(install_signal_handlers=False)

    def process(message: dict) -> dict:
        seen.append(json.loads(message["value"])["n"])
        if len(seen) == 30:
            controller.request_stop("test has seen 30 messages")
        return {"status": "success"}

    result = run_mod(
        "kafka_consumer",
        {
            "connection": connection,
            "topics": [topic],
            "group_id": unique_group,
            "message_processor": process,
            "controller": controller,
            "max_in_flight": 50,
        },
    )
    assert result["status"] == "success", result["errors"]
    assert result["metrics"]["processed"] == 30
    assert seen == list(range(30))
    kafka.wait_for_committed(unique_group, topic, {0: 30})

    rest: list[int] = []
    second_controller = StreamController(install_signal_handlers=False)

    def process_rest(message: dict) -> dict:
        rest.append(message["offset"])
        if len(rest) == 20:
            second_controller.request_stop("all messages seen")
        return {"status": "success"}

    result = run_mod(
        "kafka_consumer",
        {
            "connection": connection,
            "topics": [topic],
            "group_id": unique_group,
            "message_processor": process_rest,
            "controller": second_controller,
        },
    )
    assert result["status"] == "success", result["errors"]
    assert rest == list(range(30, 50))
    kafka.wait_for_committed(unique_group, topic, {0: 50})


def test_consumer_mod_stop_policy_returns_runtime_error(
    sidecar, kafka, new_topic, unique_group
):
    topic = new_topic(partitions=1)
    kafka.produce(topic, ["ok", "broken", "later"])
    connection = _connect(sidecar)

    def process(message: dict) -> dict:
        if message["value"] == "broken":
            raise ValueError("cannot parse order")
        return {"status": "success"}

    result = run_mod(
        "kafka_consumer",
        {
            "connection": connection,
            "topics": [topic],
            "group_id": unique_group,
            "message_processor": process,
            "on_error": "stop",
            "controller": StreamController(install_signal_handlers=False),
        },
    )
    assert result["status"] == "error"
    assert result["exit_code"] == 30
    assert any("cannot parse order" in str(error) for error in result["errors"])
    assert kafka.committed_offsets(unique_group, topic) == {0: 1}


def test_producer_mod_works_inside_consumer_callback(
    sidecar, kafka, new_topic, unique_group
):
    source = new_topic(partitions=1)
    target = new_topic(partitions=1)
    kafka.produce(source, ["alpha", "beta", "gamma"])
    connection = _connect(sidecar)
    controller = StreamController(install_signal_handlers=False)
    forwarded: list[str] = []

    def forward(message: dict) -> dict:
        result = run_mod(
            "kafka_producer",
            {
                "connection": connection,
                "topic": target,
                "data": {"v": message["value"].upper()},
                "value_column": "v",
                "value_format": "string",
            },
        )
        if result["status"] != "success":
            return {"status": "error", "error": str(result["errors"])}
        forwarded.append(message["value"])
        if len(forwarded) == 3:
            controller.request_stop("done")
        return {"status": "success"}

    result = run_mod(
        "kafka_consumer",
        {
            "connection": connection,
            "topics": [source],
            "group_id": unique_group,
            "message_processor": forward,
            "controller": controller,
        },
    )
    assert result["status"] == "success", result["errors"]
    assert [record.value for record in kafka.read_records(target, 3)] == [
        b"ALPHA",
        b"BETA",
        b"GAMMA",
    ]
    kafka.wait_for_committed(unique_group, source, {0: 3})
