"""Batch and periodic commit strategies against the real broker."""

from __future__ import annotations

import time

import grpc
from consume_helpers import StreamLog, ack, read_messages, read_to_end, subscribe
from kafka_sidecar_client._proto import pb


def test_batch_commits_after_each_full_batch(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    kafka.produce(topic, [f"m{index}" for index in range(10)])

    stream = client.consume(
        subscribe(
            topic,
            unique_group,
            commit_strategy=pb.COMMIT_STRATEGY_BATCH,
            commit_batch_size=4,
        )
    )
    log = StreamLog()
    messages = read_messages(stream, log, 10)

    stream.send_acks([ack(message) for message in messages[:3]])
    stream.send_acks([ack(messages[3])])
    kafka.wait_for_committed(unique_group, topic, {0: 4})

    stream.send_acks([ack(message) for message in messages[4:7]])
    # Three resolved messages are below the batch size, so nothing moves.
    # The next full batch proves the loop ran past these acks.
    stream.send_acks([ack(messages[7])])
    kafka.wait_for_committed(unique_group, topic, {0: 8})

    stream.send_acks([ack(messages[8])])
    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details
    # The stream's end commits the incomplete batch; offset 9 was never acked.
    assert kafka.committed_offsets(unique_group, topic) == {0: 9}


def test_batch_commits_nothing_below_batch_size(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    kafka.produce(topic, [f"m{index}" for index in range(6)])

    stream = client.consume(
        subscribe(
            topic,
            unique_group,
            commit_strategy=pb.COMMIT_STRATEGY_BATCH,
            commit_batch_size=100,
        )
    )
    log = StreamLog()
    messages = read_messages(stream, log, 6)
    stream.send_acks([ack(message) for message in messages[:5]])
    # A per_message stream on the same topic would commit within
    # milliseconds; give the batch stream a full second to show it does not.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        assert kafka.committed_offsets(unique_group, topic) == {0: None}
        time.sleep(0.1)

    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details
    assert kafka.committed_offsets(unique_group, topic) == {0: 5}


def test_periodic_commits_on_interval(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    kafka.produce(topic, [f"m{index}" for index in range(6)])

    stream = client.consume(
        subscribe(
            topic,
            unique_group,
            commit_strategy=pb.COMMIT_STRATEGY_PERIODIC,
            commit_interval_ms=300,
        )
    )
    log = StreamLog()
    messages = read_messages(stream, log, 6)
    acked_at = time.monotonic()
    stream.send_acks([ack(message) for message in messages[:4]])
    kafka.wait_for_committed(unique_group, topic, {0: 4}, timeout_s=10)
    assert time.monotonic() - acked_at < 5, "the interval commit came far too late"

    stream.send_acks([ack(messages[4])])
    kafka.wait_for_committed(unique_group, topic, {0: 5}, timeout_s=10)

    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details
    assert kafka.committed_offsets(unique_group, topic) == {0: 5}, (
        "offset 5 was never acked, so the commit stays there"
    )
