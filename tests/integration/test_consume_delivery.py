"""Every produced message reaches the job, and only acked offsets are committed."""

from __future__ import annotations

import grpc
from consume_helpers import (
    StreamLog,
    ack,
    ack_all,
    positions,
    read_messages,
    read_to_end,
    subscribe,
)


def test_all_messages_delivered_and_committed(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=3)
    produced = kafka.produce(
        topic,
        [f"value-{index}" for index in range(600)],
        keys=[f"k{index}" for index in range(600)],
    )

    stream = client.consume(subscribe(topic, unique_group, max_in_flight=200))
    log = StreamLog()
    delivered: list = []
    while len(delivered) < len(produced):
        before = len(log.messages)
        read_messages(stream, log, before + 1)
        new = log.messages[before:]
        ack_all(stream, new)
        delivered.extend(new)

    assert positions(delivered) == sorted(
        (record.partition, record.offset) for record in produced
    )
    assert len({message.delivery_id for message in delivered}) == len(delivered)
    end_offsets = kafka.end_offsets(topic)
    kafka.wait_for_committed(unique_group, topic, end_offsets)

    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details


def test_messages_keep_key_value_and_headers(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    kafka.produce(
        topic,
        ["plain", None, ""],
        keys=["key-a", None, ""],
        headers={"trace": b"\x00\xff", "origin": "test"},
    )

    stream = client.consume(subscribe(topic, unique_group))
    log = StreamLog()
    messages = read_messages(stream, log, 3)
    by_offset = {message.offset: message for message in messages}

    assert by_offset[0].key == b"key-a"
    assert by_offset[0].value == b"plain"
    assert not by_offset[1].HasField("key")
    assert not by_offset[1].HasField("value")
    assert by_offset[2].HasField("key")
    assert by_offset[2].key == b""
    assert by_offset[2].HasField("value")
    assert by_offset[2].value == b""
    headers = {header.name: header.value for header in by_offset[0].headers}
    assert headers == {"trace": b"\x00\xff", "origin": b"test"}
    assert by_offset[0].timestamp_ms > 0
    assert by_offset[0].attempt == 1

    ack_all(stream, messages)
    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details


def test_second_member_receives_only_unacked(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    kafka.produce(topic, [f"m{index}" for index in range(20)])

    first = client.consume(subscribe(topic, unique_group, max_in_flight=20))
    first_log = StreamLog()
    messages = read_messages(first, first_log, 20)
    by_offset = {message.offset: message for message in messages}
    # Offsets 0-9 in reverse order, then 12 and 15 past the gap at 10: the
    # commit may reach 10 and no further.
    first.send_acks([ack(by_offset[offset]) for offset in reversed(range(10))])
    first.send_acks([ack(by_offset[12]), ack(by_offset[15])])
    kafka.wait_for_committed(unique_group, topic, {0: 10})
    first.close_send()
    read_to_end(first, first_log)
    assert first.code == grpc.StatusCode.OK, first.details
    assert kafka.committed_offsets(unique_group, topic) == {0: 10}

    second = client.consume(subscribe(topic, unique_group, max_in_flight=20))
    second_log = StreamLog()
    redelivered = read_messages(second, second_log, 10)
    assert [message.offset for message in redelivered] == list(range(10, 20))
    ack_all(second, redelivered)
    kafka.wait_for_committed(unique_group, topic, {0: 20})
    second.close_send()
    read_to_end(second, second_log)
    assert [message.offset for message in second_log.messages] == list(range(10, 20))
