"""Print the outcome of a demo run and check it against what was produced.

It compares the generator's manifest with independent observations: end
offsets and committed offsets read from the broker with confluent-kafka, the
rows of the job's DuckDB file, the job's result file and the exit codes of
the job and the sidecar. Exit code 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from demo_kafka import open_group_reader, partition_offsets


@dataclass
class Check:
    """One line of the summary: what was expected, what was seen."""

    name: str
    expected: Any
    actual: Any
    passed: bool


def _parse_route(spec: str) -> tuple[str, str]:
    event_type, separator, topic = spec.partition("=")
    if not separator or not event_type or not topic:
        raise argparse.ArgumentTypeError(
            f"invalid route {spec!r}: expected EVENT_TYPE=TOPIC, e.g. ACCOUNT_ADD=account-events"
        )
    return event_type, topic


def _read_json(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    return json.loads(path.read_text())


def _count_rows(database: Path) -> tuple[int | None, dict[str, int]]:
    if not database.exists():
        return None, {}
    with duckdb.connect(str(database), read_only=True) as connection:
        total = connection.execute("SELECT count(*) FROM order_events").fetchone()[0]
        by_type = dict(
            connection.execute(
                "SELECT event_type, count(*) FROM order_events GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )
    return total, by_type


def collect_checks(args: argparse.Namespace) -> tuple[list[Check], dict[str, Any]]:
    """Gather the observations and compare them with the manifest."""
    manifest = _read_json(args.manifest)
    job_result = _read_json(args.job_result)
    metrics = job_result.get("metrics", {})
    reader = open_group_reader(args.bootstrap_servers, args.group)
    try:
        input_end, committed = partition_offsets(reader, args.input_topic)
        routed_end = {
            topic: sum(partition_offsets(reader, topic)[0].values()) for _, topic in args.route
        }
    finally:
        reader.close()
    rows, rows_by_type = _count_rows(args.duckdb)

    checks = [
        Check("records in the input topic", manifest.get("produced"), sum(input_end.values()),
              manifest.get("produced") == sum(input_end.values())),
        Check("messages processed by the job", f">= {manifest.get('produced')}",
              metrics.get("processed"),
              isinstance(metrics.get("processed"), int)
              and metrics["processed"] >= manifest.get("produced", 0)),
        Check("errors acked (malformed events)", manifest.get("malformed"), metrics.get("errors"),
              metrics.get("errors") == manifest.get("malformed")),
        Check("rows in DuckDB (unique valid events)", manifest.get("unique_valid_events"), rows,
              rows == manifest.get("unique_valid_events")),
    ]
    expected_routed = manifest.get("expected_routed", {})
    for event_type, topic in args.route:
        checks.append(
            Check(f"{event_type} records in {topic}", expected_routed.get(event_type),
                  routed_end[topic], routed_end[topic] == expected_routed.get(event_type))
        )
    checks += [
        Check(f"committed offsets of {args.group} on {args.input_topic}", input_end, committed,
              committed == input_end),
        Check("job exit code", 0, args.job_exit, args.job_exit == 0),
        Check("sidecar exit code", 0, args.sidecar_exit, args.sidecar_exit == 0),
    ]
    details = {
        "manifest": manifest,
        "job_metrics": metrics,
        "job_counts": job_result.get("job_counts", {}),
        "rows_by_type": rows_by_type,
    }
    return checks, details


def print_summary(checks: list[Check], details: dict[str, Any]) -> None:
    """Print the checks as an aligned table, then the details."""
    manifest = details["manifest"]
    print()
    print("Demo summary")
    print("============")

    print(
        f"produced {manifest.get('produced')} records "
        f"({manifest.get('malformed')} malformed by kind {manifest.get('malformed_by_kind')}, "
        f"{manifest.get('duplicates')} duplicates), seed {manifest.get('seed')}"
    )

    metrics = details["job_metrics"]
    if metrics:
        rate = ""
        if metrics.get("elapsed_s"):
            rate = f", {metrics.get('processed', 0) / metrics['elapsed_s']:.0f} msg/s"
        print(
            f"job: processed {metrics.get('processed')}, errors {metrics.get('errors')}, "
            f"retries {metrics.get('retries')}, elapsed {metrics.get('elapsed_s')} s{rate}"
        )
    if details["job_counts"]:
        print(f"job counts: {details['job_counts']}")
    if details["rows_by_type"]:
        print(f"DuckDB rows by event type: {details['rows_by_type']}")
    print()
    width = max(len(check.name) for check in checks)
    for check in checks:
        status = "ok  " if check.passed else "FAIL"
        line = f"{status}  {check.name:<{width}}  {check.actual}"
        if not check.passed:
            line += f"   (expected {check.expected})"
        print(line)
    failed = sum(not check.passed for check in checks)
    print()
    print("all checks passed" if not failed else f"{failed} of {len(checks)} checks failed")


def main(argv: list[str] | None = None) -> int:
    """Collect, print and judge the demo's outcome."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--group", required=True, help="the job's consumer group")
    parser.add_argument("--input-topic", required=True)
    parser.add_argument(
        "--route", type=_parse_route, action="append", default=[],
        metavar="EVENT_TYPE=TOPIC", help="a routed event type and its topic (repeatable)",
    )
    parser.add_argument("--manifest", type=Path, required=True, help="the generator's manifest")
    parser.add_argument("--duckdb", type=Path, required=True, help="the job's DuckDB file")
    parser.add_argument("--job-result", type=Path, help="the job's result file")
    parser.add_argument("--job-exit", type=int, required=True)
    parser.add_argument("--sidecar-exit", type=int, required=True)
    args = parser.parse_args(argv)

    checks, details = collect_checks(args)
    print_summary(checks, details)
    return 0 if all(check.passed for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
