"""Throughput benchmark of the sidecar against direct librdkafka clients.

scripts/bench.sh starts the broker and the sidecar and then runs this
program, which:

1. creates the input topic (3 partitions) and fills it with confluent-kafka;
2. consumes the whole topic once per configuration, each in a fresh consumer
   group. A run is timed from the first message received to the moment an
   independent confluent-kafka client sees the group's committed offsets
   equal the end offsets, which also shows that nothing was skipped;
3. produces records through the sidecar's Produce RPC and directly with
   confluent-kafka, and checks the topic's end offsets afterwards;
4. prints a table and writes it to the benchmark page.

Every run is bounded by ``--run-timeout``. Nothing here is a pass/fail
threshold on time: a run fails only when it does not finish or a check fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_sidecar_client import SidecarClient, StreamController
from kafka_sidecar_client._proto import pb
from kafka_sidecar_client.datapy import run_mod

PARTITIONS = 3
INPUT_TOPIC = "bench-input"
_REQUEST_TIMEOUT_S = 15.0
# Interval of the committed-offsets poll once a client has processed every
# message. It bounds how late the end of a run is seen.
_COMMIT_POLL_INTERVAL_S = 0.01
# Markers around the generated part of the benchmark page. Text outside them
# is kept when the page is rewritten.
RESULTS_START = "<!-- bench:results:start -->"
RESULTS_END = "<!-- bench:results:end -->"


class BenchError(Exception):
    """A run that did not finish or failed a check."""


@dataclass
class RunResult:
    """One row of the table."""

    kind: str
    name: str
    messages: int
    seconds: float | None
    check: str

    @property
    def ok(self) -> bool:
        """Whether the run finished and its checks passed."""
        return self.seconds is not None and self.check.startswith("ok")

    def rate(self) -> float | None:
        """Return messages per second, or None for a failed run."""
        return self.messages / self.seconds if self.seconds else None


# --- Kafka helpers (confluent-kafka, independent of the sidecar) ---------------


def create_topic(bootstrap: str, topic: str) -> None:
    """Create ``topic`` with PARTITIONS partitions and replication factor 1."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)],
        request_timeout=_REQUEST_TIMEOUT_S,
    )
    for future in futures.values():
        future.result(timeout=_REQUEST_TIMEOUT_S)


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Return the high watermark of every partition of ``topic``."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets-reader"})
    try:
        return {
            partition: reader.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=_REQUEST_TIMEOUT_S
            )[1]
            for partition in range(PARTITIONS)
        }
    finally:
        reader.close()


class CommitWatcher:
    """Reads a group's committed offsets without joining the group."""

    def __init__(self, bootstrap: str, group: str, topic: str, expected: dict[int, int]) -> None:
        """Open the reader; ``expected`` maps each partition to its end offset."""
        self._reader = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
        )
        self._partitions = [TopicPartition(topic, partition) for partition in sorted(expected)]
        self._expected = expected
        self.last_seen: dict[int, int] = {}

    def committed_equals_end(self) -> bool:
        """Fetch the committed offsets once and compare them with the end offsets."""
        committed = self._reader.committed(self._partitions, timeout=_REQUEST_TIMEOUT_S)
        self.last_seen = {tp.partition: tp.offset for tp in committed}
        return self.last_seen == self._expected

    def wait(self, deadline: float) -> float:
        """Poll until committed equals end; return the monotonic time it was seen.

        Raises:
            BenchError: When the deadline passes first.
        """
        while True:
            if self.committed_equals_end():
                return time.monotonic()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"committed offsets {self.last_seen} did not reach the end offsets "
                    f"{self._expected} before the run's deadline"
                )
            time.sleep(_COMMIT_POLL_INTERVAL_S)

    def close(self) -> None:
        """Close the reader."""
        self._reader.close()


def make_value(index: int, size: int) -> bytes:
    """Return an ASCII value of ``size`` bytes that starts with ``index``."""
    prefix = f"{index:010d}:".encode()
    return (prefix + b"x" * size)[:size]


def fill_input(bootstrap: str, topic: str, count: int, size: int) -> float:
    """Produce ``count`` messages to ``topic``; return the seconds it took."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    started = time.monotonic()
    for index in range(count):
        while True:
            try:
                producer.produce(topic, key=str(index).encode(), value=make_value(index, size))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(_REQUEST_TIMEOUT_S * 4)
    if remaining:
        raise BenchError(f"{remaining} messages of the input were not delivered")
    return time.monotonic() - started


# --- Consume runs -------------------------------------------------------------


@dataclass
class ConsumeSetup:
    """Settings and end offsets shared by every consume run."""

    bootstrap: str
    sidecar_address: str
    topic: str
    messages: int
    end: dict[int, int]
    run_timeout_s: float
    run_index: int = 0

    def fresh_group(self, label: str) -> str:
        """Return a consumer group name no earlier run used."""
        self.run_index += 1
        return f"bench-{label}-{os.getpid()}-{self.run_index}"


def timed_consume(
    setup: ConsumeSetup,
    label: str,
    name: str,
    body: Callable[[str, CommitWatcher, float], tuple[float, float]],
) -> RunResult:
    """Run ``body`` in a fresh group and turn its (first, committed) times into a row.

    ``body(group, watcher, deadline)`` consumes the topic and returns the
    monotonic time of the first message and of the moment the watcher saw
    every offset committed.
    """
    group = setup.fresh_group(label)
    watcher = CommitWatcher(setup.bootstrap, group, setup.topic, setup.end)
    deadline = time.monotonic() + setup.run_timeout_s
    print(f"bench: consume {name} (group {group})", file=sys.stderr, flush=True)
    try:
        first, committed = body(group, watcher, deadline)
        # Read once more after the client closed: nothing may have moved.
        check = "ok" if watcher.committed_equals_end() else f"committed {watcher.last_seen}"
        return RunResult("consume", name, setup.messages, committed - first, check)
    except (BenchError, KafkaException, OSError, subprocess.SubprocessError) as error:
        print(f"bench: {name} failed: {error}", file=sys.stderr, flush=True)
        return RunResult("consume", name, setup.messages, None, f"failed: {error}")
    finally:
        watcher.close()


def consume_confluent(setup: ConsumeSetup) -> RunResult:
    """Consume with confluent-kafka in Python, committing synchronously after each batch."""

    def body(group: str, watcher: CommitWatcher, deadline: float) -> tuple[float, float]:
        consumer = Consumer(
            {
                "bootstrap.servers": setup.bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([setup.topic])
        count = 0
        first = 0.0
        try:
            while count < setup.messages:
                if time.monotonic() > deadline:
                    raise BenchError(f"consumed {count} of {setup.messages} messages before the deadline")
                batch = consumer.consume(num_messages=1000, timeout=0.5)
                if not batch:
                    continue
                if not first:
                    first = time.monotonic()
                for message in batch:
                    if message.error() is not None:
                        raise BenchError(f"consume error: {message.error()}")
                    count += 1
                consumer.commit(asynchronous=False)
            committed = watcher.wait(deadline)
        finally:
            consumer.close()
        return first, committed

    return timed_consume(setup, "confluent", "confluent-kafka Consumer (Python), commit per batch", body)


def consume_sidecar_stream(setup: ConsumeSetup, max_in_flight: int) -> RunResult:
    """Consume through the sidecar with SidecarClient, one ack frame per received batch."""

    def body(group: str, watcher: CommitWatcher, deadline: float) -> tuple[float, float]:
        client = SidecarClient(setup.sidecar_address)
        subscribe = pb.Subscribe(
            topics=[setup.topic],
            group_id=group,
            auto_offset_reset=pb.AUTO_OFFSET_RESET_EARLIEST,
            max_in_flight=max_in_flight,
            client_name="bench",
        )
        stream = client.consume(subscribe)
        count = 0
        first = 0.0
        try:
            while count < setup.messages:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BenchError(f"received {count} of {setup.messages} messages before the deadline")
                try:
                    response = stream.read(timeout=remaining)
                except TimeoutError:
                    continue
                if response is None:
                    raise BenchError(f"the stream ended with {stream.code}: {stream.details}")
                if response.WhichOneof("response") != "messages":
                    continue
                if not first:
                    first = time.monotonic()
                messages = response.messages.messages
                stream.send_acks(
                    [pb.Ack(delivery_id=m.delivery_id, status=pb.Ack.STATUS_SUCCESS) for m in messages]
                )
                count += len(messages)
            committed = watcher.wait(deadline)
            stream.close_send()
            if not stream.wait_ended(max(1.0, deadline - time.monotonic())):
                raise BenchError("the stream did not end after close_send()")
        finally:
            stream.cancel()
            client.close()
        return first, committed

    return timed_consume(
        setup,
        f"stream{max_in_flight}",
        f"sidecar, Python SidecarClient stream, max_in_flight {max_in_flight}",
        body,
    )


def consume_mod(setup: ConsumeSetup, max_in_flight: int | None) -> RunResult:
    """Consume through the kafka_consumer mod with a processor that only counts.

    ``max_in_flight`` None keeps the mod's default (500).
    """

    def body(group: str, watcher: CommitWatcher, deadline: float) -> tuple[float, float]:
        connection = run_mod("kafka_connector", {"sidecar_address": setup.sidecar_address})
        if connection["status"] == "error":
            raise BenchError(f"kafka_connector failed: {connection['errors']}")
        controller = StreamController(install_signal_handlers=False)
        all_processed = threading.Event()
        times: dict[str, float] = {}
        count = 0

        def process(_message: dict[str, Any]) -> dict[str, str]:
            nonlocal count
            if not count:
                times["first"] = time.monotonic()
            count += 1
            if count == setup.messages:
                all_processed.set()
            return {"status": "success"}

        def watch() -> None:
            # Stops the mod once every offset is committed or the deadline passed.
            try:
                if all_processed.wait(max(0.0, deadline - time.monotonic())):
                    times["committed"] = watcher.wait(deadline)
            except BenchError as error:
                print(f"bench: {error}", file=sys.stderr, flush=True)
            finally:
                controller.request_stop("benchmark run finished")

        thread = threading.Thread(target=watch, name="bench-commit-watch", daemon=True)
        thread.start()
        try:
            result = run_mod(
                "kafka_consumer",
                {
                    "connection": connection["artifacts"]["connection"],
                    "topics": [setup.topic],
                    "group_id": group,
                    "message_processor": process,
                    "controller": controller,
                    **({} if max_in_flight is None else {"max_in_flight": max_in_flight}),
                },
            )
        finally:
            controller.request_stop("benchmark run finished")
            thread.join(timeout=_REQUEST_TIMEOUT_S)
            controller.close()
        if result["status"] == "error":
            raise BenchError(f"kafka_consumer failed: {result['errors']}")
        if "committed" not in times:
            raise BenchError(f"processed {count} of {setup.messages} messages, not all committed")
        return times["first"], times["committed"]

    shown = max_in_flight or "default (the sidecar's, 1000)"
    name = f"sidecar, kafka_consumer mod, max_in_flight {shown}"
    return timed_consume(setup, f"mod{max_in_flight or ''}", name, body)


def consume_program(setup: ConsumeSetup, label: str, name: str, command: list[str]) -> RunResult:
    """Run a C++ benchmark program that prints its first and last message times.

    The program prints ``first_message_ns N`` and ``all_processed_ns N``
    (steady clock, the clock Python's ``time.monotonic`` reads on Linux),
    then waits for SIGTERM when it consumes through the sidecar, or exits
    after its final commit.
    """

    def body(group: str, watcher: CommitWatcher, deadline: float) -> tuple[float, float]:
        process = subprocess.Popen(
            [*command, "--group", group],
            stdout=subprocess.PIPE,
            text=True,
        )
        times: dict[str, float] = {}
        # Ends a program that hangs before it prints its last line, which
        # also ends the read loop below.
        killer = threading.Timer(max(0.0, deadline - time.monotonic()), process.kill)
        killer.start()
        try:
            for line in process.stdout or ():
                key, _, value = line.strip().partition(" ")
                if key in ("first_message_ns", "all_processed_ns"):
                    times[key] = int(value) / 1e9
                if key == "all_processed_ns":
                    break
            if "all_processed_ns" not in times:
                raise BenchError(
                    f"{command[0]} exited with code {process.wait()} before processing every message"
                )
            committed = watcher.wait(deadline)
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
            if code != 0:
                raise BenchError(f"{command[0]} exited with code {code}")
        finally:
            killer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        return times["first_message_ns"], committed

    return timed_consume(setup, label, name, body)


# --- Produce runs -------------------------------------------------------------


def timed_produce(
    bootstrap: str, topic: str, name: str, count: int, body: Callable[[str], None]
) -> RunResult:
    """Create ``topic``, run ``body(topic)`` and check that ``count`` records arrived."""
    create_topic(bootstrap, topic)
    print(f"bench: produce {name} (topic {topic})", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        body(topic)
    except (BenchError, KafkaException, OSError) as error:
        print(f"bench: {name} failed: {error}", file=sys.stderr, flush=True)
        return RunResult("produce", name, count, None, f"failed: {error}")
    seconds = time.monotonic() - started
    stored = sum(end_offsets(bootstrap, topic).values())
    check = "ok" if stored == count else f"{stored} records in the topic"
    return RunResult("produce", name, count, seconds, check)


def produce_sidecar(bootstrap: str, address: str, count: int, size: int, batch: int) -> RunResult:
    """Produce through the sidecar's Produce RPC in batches, waiting for delivery."""

    def body(topic: str) -> None:
        with SidecarClient(address) as client:
            for start in range(0, count, batch):
                records = [
                    pb.ProduceRecord(key=str(index).encode(), value=make_value(index, size))
                    for index in range(start, min(start + batch, count))
                ]
                response = client.produce("", topic, records, wait_for_delivery=True)
                failed = [result.error for result in response.results if result.error]
                if failed:
                    raise BenchError(f"{len(failed)} records failed, first: {failed[0]}")

    name = f"sidecar Produce RPC (Python), batches of {batch}, wait_for_delivery"
    return timed_produce(bootstrap, f"bench-produce-sidecar-{batch}", name, count, body)


def produce_confluent(bootstrap: str, count: int, size: int, batch: int | None) -> RunResult:
    """Produce with confluent-kafka directly; flush after each batch, or once at the end."""

    def body(topic: str) -> None:
        # The sidecar's producer is idempotent (acks=all) too.
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        errors: list[str] = []

        def on_delivery(error: Any, _message: Any) -> None:
            if error is not None:
                errors.append(str(error))

        for index in range(count):
            while True:
                try:
                    producer.produce(
                        topic, key=str(index).encode(), value=make_value(index, size), on_delivery=on_delivery
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            if batch and (index + 1) % batch == 0 and producer.flush(_REQUEST_TIMEOUT_S):
                raise BenchError("a batch was not delivered in time")
        if producer.flush(_REQUEST_TIMEOUT_S * 4):
            raise BenchError("records were not delivered in time")
        if errors:
            raise BenchError(f"{len(errors)} records failed, first: {errors[0]}")

    if batch:
        name = f"confluent-kafka Producer (Python), flush after every {batch}"
    else:
        name = "confluent-kafka Producer (Python), one flush at the end"
    return timed_produce(bootstrap, f"bench-produce-confluent-{batch or 'all'}", name, count, body)


# --- Report -------------------------------------------------------------------


def machine_description() -> dict[str, str]:
    """Return the facts about this machine that the page records."""
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        total_kib = int(next(line for line in meminfo if line.startswith("MemTotal:")).split()[1])
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{total_kib / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "load": " / ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def sidecar_build() -> str:
    """Describe the sidecar binary: its modification time and the repository's commit."""
    root = Path(__file__).resolve().parents[1]
    binary = root / "build" / "sidecar" / "kafka-sidecar"
    built = datetime.datetime.fromtimestamp(binary.stat().st_mtime, datetime.timezone.utc)
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return f"`build/sidecar/kafka-sidecar` built {built:%Y-%m-%d %H:%M} UTC, repository at commit {commit}"


def format_table(results: list[RunResult], size: int) -> str:
    """Return the results as a Markdown table."""
    lines = [
        "| run | messages | seconds | messages/s | MB/s | check |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for result in results:
        rate = result.rate()
        if rate is None:
            numbers = "- | - | -"
        else:
            numbers = f"{result.seconds:.2f} | {rate:,.0f} | {rate * size / 1e6:.1f}"
        lines.append(f"| {result.kind}: {result.name} | {result.messages:,} | {numbers} | {result.check} |")
    return "\n".join(lines)


def results_section(results: list[RunResult], args: argparse.Namespace, before: dict[str, str]) -> str:
    """Return the generated part of the benchmark page."""
    after = machine_description()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            RESULTS_START,
            f"Run on {date} by `scripts/bench.sh` ({args.messages:,} messages of {args.message_bytes} bytes "
            f"per consume run, {args.produce_messages:,} records per produce run).",
            "",
            f"Machine: {before['cpus']} CPUs ({before['cpu']}), {before['memory']} memory, "
            f"Linux {before['kernel']}. Load average (1/5/15 min) {before['load']} at the start "
            f"and {after['load']} at the end. Sidecar: {sidecar_build()}.",
            "",
            format_table(results, args.message_bytes),
            RESULTS_END,
        ]
    )


def write_doc(path: Path, section: str) -> None:
    """Replace the generated section of the page at ``path``, keeping the rest."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start = text.find(RESULTS_START)
    end = text.find(RESULTS_END)
    if start == -1 or end == -1:
        text = f"# Benchmarks\n\n{section}\n" if not text else f"{text.rstrip()}\n\n{section}\n"
    else:
        text = text[:start] + section + text[end + len(RESULTS_END) :]
    path.write_text(text, encoding="utf-8")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True, help="broker, e.g. 127.0.0.1:39800")
    parser.add_argument("--sidecar-address", required=True, help="e.g. unix:///abs/path/sidecar.sock")
    parser.add_argument("--messages", type=int, default=200_000, help="messages per consume run")
    parser.add_argument("--message-bytes", type=int, default=200, help="value size in bytes")
    parser.add_argument("--produce-messages", type=int, default=50_000, help="records per produce run")
    parser.add_argument("--run-timeout", type=float, default=120.0, help="bound of one run in seconds")
    parser.add_argument("--rdkafka-consume", help="the compiled bench/rdkafka_consume.cc")
    parser.add_argument("--client-consume", help="the compiled bench/client_consume.cc")
    parser.add_argument("--results", type=Path, help="write the rows as JSON here")
    parser.add_argument("--doc", type=Path, help="write the table into this Markdown page")
    args = parser.parse_args(argv)
    for name in ("messages", "message_bytes", "produce_messages"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.message_bytes < 11:
        parser.error(f"--message-bytes must be at least 11 (the index prefix), got {args.message_bytes}")
    return args


def main(argv: list[str]) -> int:
    """Run every configuration once; return 0 when all of them passed their checks."""
    args = parse_args(argv)
    before = machine_description()
    bootstrap = args.bootstrap_servers

    create_topic(bootstrap, INPUT_TOPIC)
    print(f"bench: producing {args.messages:,} messages to {INPUT_TOPIC}", file=sys.stderr, flush=True)
    fill_seconds = fill_input(bootstrap, INPUT_TOPIC, args.messages, args.message_bytes)
    end = end_offsets(bootstrap, INPUT_TOPIC)
    if sum(end.values()) != args.messages:
        raise BenchError(f"{INPUT_TOPIC} holds {sum(end.values())} messages, expected {args.messages}")
    print(f"bench: input produced in {fill_seconds:.2f} s, end offsets {end}", file=sys.stderr, flush=True)

    setup = ConsumeSetup(bootstrap, args.sidecar_address, INPUT_TOPIC, args.messages, end, args.run_timeout)
    results: list[RunResult] = []
    if args.rdkafka_consume:
        command = [
            args.rdkafka_consume,
            "--bootstrap-servers",
            bootstrap,
            "--topic",
            INPUT_TOPIC,
            "--messages",
            str(args.messages),
        ]
        results.append(consume_program(setup, "rdkafka", "librdkafka C API (C++), commit per batch", command))
    results.append(consume_confluent(setup))
    if args.client_consume:
        for max_in_flight in (1000, 5000):
            command = [
                args.client_consume,
                "--sidecar-address",
                args.sidecar_address,
                "--topic",
                INPUT_TOPIC,
                "--messages",
                str(args.messages),
                "--max-in-flight",
                str(max_in_flight),
            ]
            name = f"sidecar, C++ client library, max_in_flight {max_in_flight}"
            results.append(consume_program(setup, f"cpp{max_in_flight}", name, command))
    for max_in_flight in (1000, 5000):
        results.append(consume_sidecar_stream(setup, max_in_flight))
    for max_in_flight in (None, 5000):
        results.append(consume_mod(setup, max_in_flight))

    count, size = args.produce_messages, args.message_bytes
    for batch in (100, 1000):
        results.append(produce_sidecar(bootstrap, args.sidecar_address, count, size, batch))
    for batch in (100, 1000, None):
        results.append(produce_confluent(bootstrap, count, size, batch))

    table = format_table(results, size)
    print(table, flush=True)
    if args.results:
        args.results.write_text(
            json.dumps([asdict(result) for result in results], indent=2), encoding="utf-8"
        )
    if args.doc:
        write_doc(args.doc, results_section(results, args, before))
        print(f"bench: wrote {args.doc}", file=sys.stderr, flush=True)
    failed = [result.name for result in results if not result.ok]
    if failed:
        print(f"bench: {len(failed)} runs failed: {', '.join(failed)}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
