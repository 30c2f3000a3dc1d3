"""Dead-letter topic: poison messages go to it before their offset is committed."""

from __future__ import annotations

import grpc
from consume_helpers import ERROR, StreamLog, ack, read_messages, read_to_end, subscribe
from kafka_sidecar_client._proto import pb


def test_poison_message_is_dead_lettered_then_committed(
    client, kafka, new_topic, unique_group
):
    topic = new_topic(partitions=1)
    dead_letter_topic = new_topic(partitions=1)
    kafka.produce(topic, ["good"])
    kafka.produce(
        topic, [b"{not json\xff"], keys=[b"order-7"], headers={"trace-id": b"t-1"}
    )
    kafka.produce(topic, ["after"])

    stream = client.consume(
        subscribe(
            topic,
            unique_group,
            on_error=pb.ON_ERROR_CONTINUE,
            dead_letter_topic=dead_letter_topic,
        )
    )
    log = StreamLog()
    messages = read_messages(stream, log, 3)
    stream.send_acks(
        [ack(messages[0]), ack(messages[1], ERROR, "bad json"), ack(messages[2])]
    )

    # Once the commit has passed offset 1, the dead-letter record must be in
    # its topic. The unit tests check that the commit waits for the write.
    kafka.wait_for_committed(unique_group, topic, {0: 3})
    records = kafka.read_records(dead_letter_topic, 1)
    assert len(records) == 1
    record = records[0]
    assert record.key == b"order-7"
    assert record.value == b"{not json\xff"
    headers = dict(record.headers)
    assert record.headers[0] == ("trace-id", b"t-1"), "original headers come first"
    assert headers["dlq.original.topic"] == topic.encode()
    assert headers["dlq.original.partition"] == b"0"
    assert headers["dlq.original.offset"] == b"1"
    assert headers["dlq.error"] == b"bad json"
    assert headers["dlq.attempts"] == b"1"
    assert int(headers["dlq.timestamp"]) > 0

    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details


def test_retry_dead_letters_after_last_attempt(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    dead_letter_topic = new_topic(partitions=1)
    kafka.produce(topic, ["poison"])

    stream = client.consume(
        subscribe(
            topic,
            unique_group,
            on_error=pb.ON_ERROR_RETRY,
            max_retries=1,
            retry_backoff_ms=[50],
            dead_letter_topic=dead_letter_topic,
        )
    )
    log = StreamLog()
    first = read_messages(stream, log, 1)[0]
    stream.send_acks([ack(first, ERROR, "attempt 1")])
    second = read_messages(stream, log, 2)[1]
    assert second.attempt == 2
    stream.send_acks([ack(second, ERROR, "attempt 2")])

    kafka.wait_for_committed(unique_group, topic, {0: 1})
    headers = dict(kafka.read_records(dead_letter_topic, 1)[0].headers)
    assert headers["dlq.attempts"] == b"2"
    assert headers["dlq.error"] == b"attempt 2"
    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details


def test_missing_dead_letter_topic_commits_nothing(
    client, kafka, new_topic, unique_group
):
    topic = new_topic(partitions=1)
    kafka.produce(topic, ["poison"])
    missing = f"{topic}-no-such-dlq"

    stream = client.consume(
        subscribe(
            topic,
            unique_group,
            on_error=pb.ON_ERROR_CONTINUE,
            dead_letter_topic=missing,
        )
    )
    log = read_to_end(stream, StreamLog())
    assert stream.code == grpc.StatusCode.NOT_FOUND, stream.details
    assert missing in stream.details
    assert "create the topic" in stream.details
    assert log.messages == [], "no message is delivered without its dead-letter topic"
    assert kafka.committed_offsets(unique_group, topic) == {0: None}
