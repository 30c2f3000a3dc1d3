"""The three on_error policies: continue, retry and stop."""

from __future__ import annotations

import grpc
from consume_helpers import (
    ERROR,
    StreamLog,
    ack,
    ack_all,
    read_messages,
    read_to_end,
    subscribe,
)
from kafka_sidecar_client._proto import pb


def test_continue_commits_past_failed_message(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    kafka.produce(topic, [f"m{index}" for index in range(5)])

    stream = client.consume(
        subscribe(topic, unique_group, on_error=pb.ON_ERROR_CONTINUE)
    )
    log = StreamLog()
    messages = read_messages(stream, log, 5)
    stream.send_acks(
        [
            ack(message, ERROR, "bad row") if message.offset == 2 else ack(message)
            for message in messages
        ]
    )

    kafka.wait_for_committed(unique_group, topic, {0: 5})
    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details
    assert len(log.messages) == 5, (
        "a message failed with on_error=continue was redelivered"
    )


def test_retry_redelivers_then_moves_on(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    kafka.produce(topic, ["first", "poison", "third"])

    stream = client.consume(
        subscribe(
            topic,
            unique_group,
            on_error=pb.ON_ERROR_RETRY,
            max_retries=2,
            retry_backoff_ms=[50, 100],
        )
    )
    log = StreamLog()
    messages = read_messages(stream, log, 3)
    stream.send_acks(
        [
            ack(messages[0]),
            ack(messages[1], ERROR, "attempt 1 failed"),
            ack(messages[2]),
        ]
    )
    kafka.wait_for_committed(unique_group, topic, {0: 1})

    for attempt in (2, 3):
        read_messages(stream, log, 3 + attempt - 1)
        retry = log.messages[-1]
        assert (retry.offset, retry.attempt, retry.value) == (1, attempt, b"poison")
        # Offset 2 was acked, but the commit stays behind the retrying message.
        assert kafka.committed_offsets(unique_group, topic) == {0: 1}
        stream.send_acks([ack(retry, ERROR, f"attempt {attempt} failed")])

    kafka.wait_for_committed(unique_group, topic, {0: 3})
    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details
    assert [message.offset for message in log.messages] == [0, 1, 2, 1, 1]


def test_retry_success_resolves_message(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    kafka.produce(topic, ["flaky"])

    stream = client.consume(
        subscribe(
            topic, unique_group, on_error=pb.ON_ERROR_RETRY, retry_backoff_ms=[20]
        )
    )
    log = StreamLog()
    first = read_messages(stream, log, 1)[0]
    stream.send_acks([ack(first, ERROR, "temporary")])
    retry = read_messages(stream, log, 2)[1]
    assert retry.attempt == 2
    assert retry.delivery_id != first.delivery_id
    stream.send_acks([ack(retry)])

    kafka.wait_for_committed(unique_group, topic, {0: 1})
    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details


def test_stop_ends_stream_without_committing_failed_message(
    client, kafka, new_topic, unique_group
):
    topic = new_topic(partitions=1)
    kafka.produce(topic, [f"m{index}" for index in range(6)])

    stream = client.consume(
        subscribe(topic, unique_group, on_error=pb.ON_ERROR_STOP, max_in_flight=6)
    )
    log = StreamLog()
    messages = read_messages(stream, log, 6)
    stream.send_acks([ack(message) for message in messages[:3]])
    kafka.wait_for_committed(unique_group, topic, {0: 3})
    # Offset 4 succeeds after offset 3 failed: it must not be committed either.
    stream.send_acks([ack(messages[4]), ack(messages[3], ERROR, "customer id missing")])

    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.ABORTED
    assert f"{topic}/0@3" in stream.details
    assert "customer id missing" in stream.details
    assert kafka.committed_offsets(unique_group, topic) == {0: 3}

    # The next member starts at the failed message.
    again = client.consume(subscribe(topic, unique_group))
    again_log = StreamLog()
    redelivered = read_messages(again, again_log, 3)
    assert [message.offset for message in redelivered] == [3, 4, 5]
    ack_all(again, redelivered)
    again.close_send()
    read_to_end(again, again_log)
    assert kafka.committed_offsets(unique_group, topic) == {0: 6}
