"""Run the fault scenarios and print the matrix.

Usage: python tests/faults/matrix.py [--size full|reduced] [--only 1,2,...]
    [--seed N] [--keep DIR]

The broker comes from KAFKA_BOOTSTRAP_SERVERS (scripts/test-faults.sh starts
one); scenarios that restart a broker start their own. Exit code 0 when
every implemented scenario passed or reported its feature as not available,
1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ScenarioResult, run_scenario
from scenarios import FULL, REDUCED, SCENARIOS, Scenario, Size

COLUMNS = (
    ("#", 3),
    ("scenario", 26),
    ("produced", 8),
    ("processed", 9),
    ("lost", 4),
    ("dups", 5),
    ("dup bound", 9),
    ("committed=end", 13),
    ("result", 15),
    ("time", 6),
)


def run_one(scenario: Scenario, size: Size, bootstrap: str, seed: int, keep: Path | None) -> ScenarioResult:
    """Run one scenario at `size`, or return its "not implemented" row."""
    if scenario.body is None:
        return ScenarioResult(name=scenario.name, status="not implemented")
    return run_scenario(
        scenario.name,
        partial(scenario.body, size=size),
        None if scenario.needs_own_broker else bootstrap,
        seed=seed + scenario.number,
        keep_root=keep,
    )


def format_row(number: int, result: ScenarioResult) -> str:
    """One table line for `result`."""
    ran = result.status in ("ok", "FAILED")
    committed = {True: "yes", False: "NO", None: "-"}[result.committed_equals_end]
    cells = (
        str(number),
        result.name,
        str(result.produced) if ran else "-",
        str(result.processed) if ran else "-",
        str(result.lost) if ran else "-",
        str(result.duplicates) if ran else "-",
        str(result.duplicate_bound) if ran else "-",
        committed,
        result.status,
        f"{result.seconds:.0f}s",
    )
    return "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True)).rstrip()


def format_table(rows: list[tuple[int, ScenarioResult]]) -> str:
    """The matrix with a header, one line per scenario, then each row's detail."""
    header = "  ".join(name.ljust(width) for name, width in COLUMNS).rstrip()
    lines = [header, "-" * len(header)]
    lines += [format_row(number, result) for number, result in rows]
    lines.append("")
    lines += [f"{number:>2}. {result.name}: {result.detail}" for number, result in rows if result.detail]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the selected scenarios, print the table; return the exit code."""
    parser = argparse.ArgumentParser(description="Run the fault matrix against the real broker.")
    parser.add_argument("--size", choices=("full", "reduced"), default="full")
    parser.add_argument("--only", default="", help="comma-separated scenario numbers or names")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--keep", type=Path, help="keep logs and records of every scenario here")
    args = parser.parse_args(argv)

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        print("KAFKA_BOOTSTRAP_SERVERS is not set: run scripts/test-faults.sh", file=sys.stderr)
        return 2
    size = FULL if args.size == "full" else REDUCED
    requested = {item.strip() for item in args.only.split(",") if item.strip()}
    selected = [s for s in SCENARIOS if not requested or str(s.number) in requested or s.name in requested]

    rows: list[tuple[int, ScenarioResult]] = []
    for scenario in selected:
        print(f"fault matrix: running {scenario.number}. {scenario.name}", file=sys.stderr, flush=True)
        result = run_one(scenario, size, bootstrap, args.seed, args.keep)
        print(f"fault matrix: {format_row(scenario.number, result)}", file=sys.stderr, flush=True)
        rows.append((scenario.number, result))

    print(format_table(rows))
    failed = [result.name for _, result in rows if result.status == "FAILED"]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
