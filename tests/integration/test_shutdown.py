"""Shutdown and crashes: SIGTERM to the sidecar, SIGKILL to the job."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from consume_helpers import (
    StreamLog,
    ack,
    ack_all,
    read_messages,
    read_to_end,
    read_until,
    subscribe,
)
from kafka_sidecar_client import SidecarClient
from kafka_sidecar_client._proto import pb
from support import wait_until

JOBS = Path(__file__).parent / "jobs"


def _draining(log: StreamLog) -> bool:
    return pb.Event.TYPE_DRAINING in log.event_types()


def test_sigterm_accepts_ack_in_flight_and_exits_zero(
    sidecar_factory, kafka, new_topic, unique_group
):
    sidecar = sidecar_factory(args=["--shutdown-drain-timeout-s", "10"])
    topic = new_topic(partitions=1)
    kafka.produce(topic, [f"m{index}" for index in range(5)])

    with SidecarClient(sidecar.address) as client:
        stream = client.consume(subscribe(topic, unique_group, max_in_flight=5))
        log = StreamLog()
        messages = read_messages(stream, log, 5)
        stream.send_acks([ack(message) for message in messages[:4]])
        kafka.wait_for_committed(unique_group, topic, {0: 4})

        signaled = time.monotonic()
        sidecar.signal(signal.SIGTERM)
        read_until(
            stream, log, _draining, timeout_s=10, description="the DRAINING event"
        )
        # The job finishes its current message after the sidecar began draining.
        stream.send_acks([ack(messages[4])])
        stream.close_send()
        read_to_end(stream, log)

        assert stream.code == grpc.StatusCode.OK, stream.details
        assert sidecar.wait(timeout_s=15) == 0
        assert time.monotonic() - signaled < 10
    assert kafka.committed_offsets(unique_group, topic) == {0: 5}
    assert len(log.messages) == 5, (
        "the sidecar delivered messages after it began draining"
    )


def test_sigterm_with_unacked_messages_exits_at_deadline(
    sidecar_factory, kafka, new_topic, unique_group
):
    sidecar = sidecar_factory(args=["--shutdown-drain-timeout-s", "2"])
    topic = new_topic(partitions=1)
    kafka.produce(topic, ["a", "b", "c"])

    with SidecarClient(sidecar.address) as client:
        stream = client.consume(subscribe(topic, unique_group, max_in_flight=3))
        log = StreamLog()
        messages = read_messages(stream, log, 3)
        stream.send_acks([ack(messages[0])])
        kafka.wait_for_committed(unique_group, topic, {0: 1})

        signaled = time.monotonic()
        sidecar.signal(signal.SIGTERM)
        exit_code = sidecar.wait(timeout_s=20)
        elapsed = time.monotonic() - signaled

    assert exit_code == 1, "a drain forced by the deadline must exit non-zero"
    assert elapsed < 12, f"the sidecar took {elapsed:.1f} s with a 2 s drain timeout"
    assert "abandon" in sidecar.stderr().lower()
    assert kafka.committed_offsets(unique_group, topic) == {0: 1}

    restarted = sidecar_factory()
    with SidecarClient(restarted.address) as client:
        stream = client.consume(subscribe(topic, unique_group))
        log = StreamLog()
        redelivered = read_messages(stream, log, 2)
        assert [message.offset for message in redelivered] == [1, 2]
        ack_all(stream, redelivered)
        stream.close_send()
        read_to_end(stream, log)


def test_killed_job_leaves_unacked_uncommitted(
    sidecar, client, kafka, new_topic, unique_group, tmp_path
):
    topic = new_topic(partitions=1)
    kafka.produce(topic, [f"m{index}" for index in range(10)])

    stdout_path = tmp_path / "job.stdout"
    with open(stdout_path, "wb") as stdout:
        job = subprocess.Popen(
            [
                sys.executable,
                str(JOBS / "partial_ack_job.py"),
                sidecar.address,
                topic,
                unique_group,
                "4",
                "10",
            ],
            stdout=stdout,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: b"acked" in stdout_path.read_bytes() or job.poll() is not None,
            timeout_s=30,
            description="the job to ack its first messages",
        )
        assert job.poll() is None, stdout_path.read_text(errors="replace")
        kafka.wait_for_committed(unique_group, topic, {0: 4})
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=10)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait(timeout=10)

    stream = client.consume(subscribe(topic, unique_group))
    log = StreamLog()
    redelivered = read_messages(stream, log, 6)
    assert [message.offset for message in redelivered] == list(range(4, 10))
    assert kafka.committed_offsets(unique_group, topic) == {0: 4}
    ack_all(stream, redelivered)
    kafka.wait_for_committed(unique_group, topic, {0: 10})
    stream.close_send()
    read_to_end(stream, log)
