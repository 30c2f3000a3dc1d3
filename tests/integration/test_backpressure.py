"""Backpressure: the in-flight window, ack latency and bounded memory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import grpc
import pytest
from consume_helpers import StreamLog, ack, read_messages, read_to_end, subscribe


def test_window_of_one_delivers_promptly(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=1)
    kafka.produce(topic, [f"m{index}" for index in range(40)])

    stream = client.consume(subscribe(topic, unique_group, max_in_flight=1))
    log = StreamLog()
    read_messages(stream, log, 1)
    started = time.monotonic()
    for index in range(40):
        message = read_messages(stream, log, index + 1)[index]
        assert message.offset == index
        stream.send_acks([ack(message)])
    kafka.wait_for_committed(unique_group, topic, {0: 40})
    elapsed = time.monotonic() - started
    # Each ack wakes the poll loop and the next message waits in the
    # sidecar's backlog; a refetch per message took about 0.5 s each.
    assert elapsed < 5.0, f"40 messages with max_in_flight=1 took {elapsed:.1f} s"

    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details


def test_window_bounds_unacked_deliveries(client, kafka, new_topic, unique_group):
    topic = new_topic(partitions=2)
    for partition in (0, 1):
        kafka.produce(topic, [f"m{index}" for index in range(30)], partition=partition)

    stream = client.consume(subscribe(topic, unique_group, max_in_flight=5))
    log = StreamLog()
    first = read_messages(stream, log, 5)
    # Nothing more arrives while five are unacked.
    with pytest.raises(TimeoutError):
        read_messages(stream, log, 6, timeout_s=1.5)
    assert len(log.messages) == 5

    stream.send_acks([ack(message) for message in first[:2]])
    read_messages(stream, log, 7)
    with pytest.raises(TimeoutError):
        read_messages(stream, log, 8, timeout_s=1.0)
    assert len(log.messages) == 7, "two acks free exactly two places"

    while len(log.messages) < 60:
        unacked = log.messages[len(log.messages) - 5 :]
        stream.send_acks([ack(message) for message in unacked])
        read_messages(stream, log, min(len(log.messages) + 5, 60))
    stream.send_acks([ack(message) for message in log.messages[-5:]])
    kafka.wait_for_committed(unique_group, topic, {0: 30, 1: 30})
    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("SIDECAR_MEASURE_RSS"),
    reason="set SIDECAR_MEASURE_RSS=1 to produce 200k messages and measure the RSS",
)
def test_rss_stays_bounded_when_job_stops_acking(
    sidecar, client, kafka, new_topic, unique_group
):
    topic = new_topic(partitions=1)
    payload = b"x" * 1024
    batch = 20_000
    for _ in range(10):  # 200k messages of 1 KiB
        kafka.produce(topic, [payload] * batch, timeout_s=120)

    baseline_kib = _rss_kib(sidecar.pid)
    stream = client.consume(subscribe(topic, unique_group, max_in_flight=1000))
    log = StreamLog()
    read_messages(stream, log, 1000, timeout_s=60)

    # The job acks nothing; sample the sidecar while the backlog fills and
    # fetching pauses.
    peak_kib = baseline_kib
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        peak_kib = max(peak_kib, _rss_kib(sidecar.pid))
        try:
            read_messages(stream, log, len(log.messages) + 1, timeout_s=0.5)
        except TimeoutError:
            pass
    print(
        f"sidecar RSS: {baseline_kib / 1024:.1f} MiB before the stream, "
        f"peak {peak_kib / 1024:.1f} MiB over 20 s with 1000 unacked of 200000 "
        f"1 KiB messages"
    )
    assert len(log.messages) == 1000, "nothing beyond max_in_flight is delivered"
    assert peak_kib - baseline_kib < 200 * 1024, (
        f"RSS grew by {(peak_kib - baseline_kib) / 1024:.0f} MiB"
    )
    stream.close_send()
    read_to_end(stream, log)
    assert kafka.committed_offsets(unique_group, topic) == {0: None}
