"""End-to-end test of the review job: a review interrupted by SIGTERM is redelivered."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
from support import REPO_ROOT, wait_until

_JOB_DIR = REPO_ROOT / "examples" / "orders_job"
sys.path.insert(0, str(_JOB_DIR))

import generate_orders  # noqa: E402


def _start_review_job(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as stderr:
        return subprocess.Popen(
            [sys.executable, str(_JOB_DIR / "review_job.py"), "--log-level", "DEBUG"],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def _reviewed_ids(database: Path) -> list[str]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return [row[0] for row in connection.execute("SELECT event_id FROM order_reviews").fetchall()]


def test_review_interrupted_by_sigterm_is_redelivered(
    kafka, new_topic, unique_group, sidecar_factory, tmp_path
):
    topic = new_topic(partitions=1)
    records = generate_orders.build_records(200, seed=11, malformed_ratio=0.0, duplicate_ratio=0.0)
    delivered = kafka.produce(
        topic, [record.value for record in records], keys=[record.key for record in records]
    )
    offset_of = {
        record.event_id: result.offset for record, result in zip(records, delivered, strict=True)
    }
    sidecar = sidecar_factory()
    database = tmp_path / "reviews.duckdb"
    env = {
        "KAFKA__SIDECAR_ADDRESS": sidecar.address,
        "ORDERS__INPUT_TOPIC": topic,
        "REVIEW__GROUP_ID": unique_group,
        "REVIEW__DUCKDB_PATH": str(database),
        # Long enough that SIGTERM always lands inside the second review.
        "REVIEW__STEPS": "2",
        "REVIEW__STEP_S": "2.0",
    }

    first_log = tmp_path / "first.log"
    job = _start_review_job(env, first_log)
    try:
        wait_until(
            lambda: first_log.read_text().count("reviewing EVT-") >= 2,
            timeout_s=60,
            description="the second review to start",
        )
    finally:
        job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=60) == 0, first_log.read_text()

    interrupted = re.search(r"left for redelivery: (EVT-\d+)", first_log.read_text())
    assert interrupted is not None, first_log.read_text()
    interrupted_id = interrupted.group(1)
    committed = kafka.committed_offsets(unique_group, topic)
    assert committed[0] is not None
    assert committed[0] <= offset_of[interrupted_id]
    assert interrupted_id not in _reviewed_ids(database)

    second_log = tmp_path / "second.log"
    job = _start_review_job(env, second_log)
    try:
        wait_until(
            lambda: f"reviewed {interrupted_id}" in second_log.read_text(),
            timeout_s=60,
            description=f"the review of {interrupted_id} after redelivery",
        )
    finally:
        job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=60) == 0, second_log.read_text()
    assert _reviewed_ids(database).count(interrupted_id) == 1
