"""End-to-end test of the orders job against the real sidecar and broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
from support import REPO_ROOT, wait_until

_JOB_DIR = REPO_ROOT / "examples" / "orders_job"
sys.path.insert(0, str(_JOB_DIR))

import generate_orders  # noqa: E402


def _start_orders_job(env: dict[str, str], result_file: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as stderr:
        return subprocess.Popen(
            [sys.executable, str(_JOB_DIR / "orders_job.py"), "--result-file", str(result_file)],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def _stop(job: subprocess.Popen[bytes], log: Path) -> None:
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=60) == 0, log.read_text()


def test_restarted_job_stores_each_event_once(
    kafka, new_topic, unique_group, sidecar_factory, tmp_path
):
    input_topic = new_topic(partitions=3)
    account_topic = new_topic(partitions=1)
    customer_topic = new_topic(partitions=1)
    records = generate_orders.build_records(
        400, seed=5, malformed_ratio=0.05, duplicate_ratio=0.02
    )
    manifest = generate_orders.summarize(records, input_topic, 5)
    kafka.produce(
        input_topic, [record.value for record in records], keys=[record.key for record in records]
    )
    sidecar = sidecar_factory()
    database = tmp_path / "orders.duckdb"
    env = {
        "KAFKA__SIDECAR_ADDRESS": sidecar.address,
        "ORDERS__INPUT_TOPIC": input_topic,
        "ORDERS__GROUP_ID": unique_group,
        "ORDERS__ACCOUNT_TOPIC": account_topic,
        "ORDERS__CUSTOMER_TOPIC": customer_topic,
        "ORDERS__DUCKDB_PATH": str(database),
    }

    first_log = tmp_path / "first.log"
    first_result = tmp_path / "first.json"
    job = _start_orders_job(env, first_result, first_log)
    try:
        wait_until(
            lambda: sum(kafka.end_offsets(account_topic).values()) >= 5,
            timeout_s=60,
            description="the first routed account events",
        )
    finally:
        _stop(job, first_log)
    first_processed = json.loads(first_result.read_text())["metrics"]["processed"]
    assert 0 < first_processed < len(records), "the first run was not stopped mid-stream"

    second_log = tmp_path / "second.log"
    second_result = tmp_path / "second.json"
    job = _start_orders_job(env, second_result, second_log)
    try:
        kafka.wait_for_committed(unique_group, input_topic, kafka.end_offsets(input_topic), 120)
    finally:
        _stop(job, second_log)

    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute("SELECT count(*) FROM order_events").fetchone()[0]
    expected_routed = manifest["expected_routed"]
    assert rows == manifest["unique_valid_events"]
    assert sum(kafka.end_offsets(account_topic).values()) == expected_routed["ACCOUNT_ADD"]
    assert sum(kafka.end_offsets(customer_topic).values()) == expected_routed["CUSTOMER_ADD"]
    second = json.loads(second_result.read_text())
    assert second["status"] == "success"
    assert first_processed + second["metrics"]["processed"] >= len(records)
