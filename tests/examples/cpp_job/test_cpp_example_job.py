"""End-to-end tests of the C++ example job (and so of the C++ client).

The job runs as a process against a real sidecar and broker. It consumes an
input topic, upper-cases each value and produces it to an output topic, and
acks a message only after its copy was delivered.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from support import REPO_ROOT, wait_until

JOB_EXECUTABLE = REPO_ROOT / "build" / "examples" / "cpp_job" / "cpp_example_job"


@pytest.fixture(scope="module")
def job_executable() -> Path:
    """Path of the built example job; skips the tests if it is not built."""
    if not JOB_EXECUTABLE.is_file():
        pytest.skip(f"{JOB_EXECUTABLE} not found: build it with `make build`")
    return JOB_EXECUTABLE


def _start_job(
    executable: Path, *, address: str, input_topic: str, output_topic: str, group: str, log: Path
) -> subprocess.Popen[bytes]:
    with open(log, "wb") as stderr:
        return subprocess.Popen(
            [
                str(executable),
                "--sidecar-address", address,
                "--input-topic", input_topic,
                "--output-topic", output_topic,
                "--group-id", group,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def _wait_exit(process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60.0) -> int:
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise AssertionError(f"job did not exit within {timeout_s} s:\n{log.read_text()}") from None


def test_job_transforms_every_message_and_stops_with_sidecar(
    job_executable, kafka, new_topic, unique_group, sidecar_factory, tmp_path
):
    input_topic = new_topic(partitions=3)
    output_topic = new_topic(partitions=1)
    values = [f"order-{index} placed" for index in range(60)] + [None]
    keys = [f"key-{index}" for index in range(61)]
    kafka.produce(input_topic, values, keys=keys, headers={"source": "test"})
    sidecar = sidecar_factory()
    log = tmp_path / "job.log"

    job = _start_job(
        job_executable,
        address=sidecar.address,
        input_topic=input_topic,
        output_topic=output_topic,
        group=unique_group,
        log=log,
    )
    try:
        kafka.wait_for_committed(unique_group, input_topic, kafka.end_offsets(input_topic), 60)
    finally:
        # Both containers of a pod receive SIGTERM at the same moment.
        job.send_signal(signal.SIGTERM)
        sidecar.signal(signal.SIGTERM)
    job_exit = _wait_exit(job, log)
    sidecar_exit = sidecar.wait(60)

    output = kafka.read_records(output_topic, len(values))
    by_key = {record.key: record for record in output}
    assert job_exit == 0, log.read_text()
    assert sidecar_exit == 0, sidecar.stderr()
    assert len(output) == len(values)
    assert by_key[b"key-7"].value == b"ORDER-7 PLACED"
    assert by_key[b"key-60"].value is None
    assert ("source", b"test") in by_key[b"key-7"].headers
    assert {record.value for record in output} == {
        value.upper().encode() if value is not None else None for value in values
    }


def test_job_stopped_mid_stream_loses_nothing(
    job_executable, kafka, new_topic, unique_group, sidecar_factory, tmp_path
):
    input_topic = new_topic(partitions=3)
    output_topic = new_topic(partitions=3)
    count = 600
    kafka.produce(
        input_topic,
        [f"value-{index}" for index in range(count)],
        keys=[f"key-{index}" for index in range(count)],
    )
    sidecar = sidecar_factory()
    first_log = tmp_path / "job-first.log"

    job = _start_job(
        job_executable,
        address=sidecar.address,
        input_topic=input_topic,
        output_topic=output_topic,
        group=unique_group,
        log=first_log,
    )
    try:
        # Stop the job while it is still working through the input.
        wait_until(
            lambda: sum(kafka.end_offsets(output_topic).values()) >= 50,
            timeout_s=60,
            description="the first transformed records",
        )
    finally:
        job.send_signal(signal.SIGTERM)
    assert _wait_exit(job, first_log) == 0, first_log.read_text()

    committed = kafka.committed_offsets(unique_group, input_topic)
    produced_so_far = sum(kafka.end_offsets(output_topic).values())
    inputs = kafka.read_records(input_topic, count)
    outputs = kafka.read_records(output_topic, produced_so_far)
    output_keys = {record.key for record in outputs}
    committed_keys = {
        record.key
        for record in inputs
        if committed.get(record.partition) is not None
        and record.offset < committed[record.partition]
    }
    assert committed_keys, f"nothing was committed before the stop: {committed}"
    assert len(committed_keys) < count, "the job finished before it was stopped"
    # A committed input without its output would be a lost message.
    assert committed_keys <= output_keys

    second_log = tmp_path / "job-second.log"
    job = _start_job(
        job_executable,
        address=sidecar.address,
        input_topic=input_topic,
        output_topic=output_topic,
        group=unique_group,
        log=second_log,
    )
    try:
        kafka.wait_for_committed(unique_group, input_topic, kafka.end_offsets(input_topic), 60)
    finally:
        job.send_signal(signal.SIGTERM)
    assert _wait_exit(job, second_log) == 0, second_log.read_text()

    total_output = sum(kafka.end_offsets(output_topic).values())
    final_keys = {record.key for record in kafka.read_records(output_topic, total_output)}
    assert final_keys == {f"key-{index}".encode() for index in range(count)}
