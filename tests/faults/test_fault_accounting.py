"""The fault harness's accounting reports lost and duplicate messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import FaultRun, ScenarioResult, read_records, sidecar_executable


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture
def run(tmp_path: Path) -> Iterator[FaultRun]:
    if not sidecar_executable().is_file():
        pytest.skip(f"{sidecar_executable()} not found: build it with `make build`")
    # No topic is created, so the accounting makes no broker call.
    fault_run = FaultRun("accounting", "127.0.0.1:9", seed=1, keep_dir=tmp_path / "run")
    yield fault_run
    fault_run.close(passed=True)


def test_accounting_reports_lost_and_duplicates(run: FaultRun) -> None:
    run.produced = ["id-1", "id-2", "id-3"]
    _write(run.records_dir / "job-1.tsv", ["P\tt\t0\t0\tid-1\t1", "P\tt\t0\t1\tid-2\t1"])
    _write(run.records_dir / "job-2.tsv", ["P\tt\t0\t1\tid-2\t1", "E\tt\t0\t2\tid-3\t1"])

    result = run.account(ScenarioResult(name="accounting", duplicate_bound=0))

    assert result.produced == 3
    assert result.processed == 2
    assert result.lost == 1
    assert result.duplicates == 1
    assert "1 produced messages never processed" in result.checks
    assert "1 duplicates exceed the bound 0" in result.checks


def test_accounting_counts_dead_lettered_as_not_lost(run: FaultRun) -> None:
    run.produced = ["id-1", "poison-2"]
    run.dead_lettered = {"poison-2"}
    _write(run.records_dir / "job-1.tsv", ["P\tt\t0\t0\tid-1\t1"])

    result = run.account(ScenarioResult(name="accounting"))

    assert result.lost == 0
    assert result.checks == []


def test_read_records_skips_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "job.tsv"
    path.write_text("P\tt\t1\t5\tid-1\t2\nA\t12.5\tt/0,t/1\nP\tt\t1\t6\tid-", encoding="utf-8")

    records = read_records([path])

    assert [(r.kind, r.partition, r.offset, r.payload) for r in records] == [
        ("P", 1, 5, "id-1"),
        ("A", -1, -1, "12.5"),
    ]
