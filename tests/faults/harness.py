"""Processes, test data and the final accounting of the fault scenarios.

A `FaultRun` owns everything one scenario starts: sidecars on Unix sockets in
a temporary directory, job processes (tests/faults/job.py) and their record
files. It produces messages with unique payload ids through confluent-kafka,
injects faults by PID and waits on conditions with deadlines. At the end it
counts lost and duplicate messages from the record files and compares the
group's committed offsets with the topic's end offsets. `close()` ends every
process it started, by PID, also after a failure.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from support import REPO_ROOT, wait_until
from support.broker import KafkaTestClient, TestBroker, unique_name
from support.sidecar import SidecarProcess

T = TypeVar("T")

JOB_SCRIPT = Path(__file__).resolve().parent / "job.py"


def sidecar_executable() -> Path:
    """Return the sidecar to test: SIDECAR_EXECUTABLE, else build/sidecar/kafka-sidecar."""
    override = os.environ.get("SIDECAR_EXECUTABLE")
    if override:
        return Path(override).resolve()
    return REPO_ROOT / "build" / "sidecar" / "kafka-sidecar"


# Group settings for scenarios that kill a sidecar: its member leaves the
# group only when the broker's session timeout expires. 6000 ms is the
# broker's default group.min.session.timeout.ms.
SHORT_SESSION = ("session.timeout.ms=6000", "heartbeat.interval.ms=1000")


@dataclass
class ScenarioResult:
    """One row of the fault matrix."""

    name: str
    produced: int = 0
    processed: int = 0
    lost: int = 0
    duplicates: int = 0
    duplicate_bound: int = 0
    committed_equals_end: bool | None = None
    # "ok", "FAILED", "not implemented" or "not available".
    status: str = "ok"
    detail: str = ""
    seconds: float = 0.0
    checks: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether the scenario ran and met every check."""
        return self.status == "ok"


@dataclass(frozen=True)
class Record:
    """One record line of a job: a message it acked, or an assignment event.

    For an assignment (A) or revocation (R) line, `topic` contains the
    comma-separated "topic/partition" names, `payload` the job's monotonic
    time in seconds, and `partition` and `offset` are -1.
    """

    kind: str
    topic: str
    partition: int
    offset: int
    payload: str
    attempt: int


class ManagedSidecar:
    """A sidecar on a fixed socket path that can be killed and started again."""

    def __init__(self, run: FaultRun, name: str, args: Sequence[str]) -> None:
        """Describe the sidecar; `start()` runs it."""
        self.run = run
        self.name = name
        self.args = list(args)
        self.socket_path = run.socket_dir / f"{name}.sock"
        self.generation = 0
        self.process: SidecarProcess | None = None
        self.exit_codes: list[int] = []

    @property
    def address(self) -> str:
        """GRPC target of the socket, the same across restarts."""
        return f"unix://{self.socket_path}"

    def start(self, timeout_s: float = 30.0) -> ManagedSidecar:
        """Start a new process on the socket and wait until it serves."""
        self.generation += 1
        process = SidecarProcess(
            self.run.log_dir / f"{self.name}-{self.generation}",
            bootstrap_servers=self.run.bootstrap_servers,
            args=["--listen-unix", str(self.socket_path), *self.args],
            executable=self.run.executable,
            listen_unix=False,
        )
        self.process = process
        self.run.sidecars.append(process)
        process.start(timeout_s=timeout_s)
        return self

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the running process by its PID."""
        assert self.process is not None
        self.process.signal(sig)

    def wait(self, timeout_s: float) -> int:
        """Wait for the process to exit and record its exit code."""
        assert self.process is not None
        code = self.process.wait(timeout_s)
        self.exit_codes.append(code)
        return code

    def stderr(self) -> str:
        """Return the log of the current process."""
        return self.process.stderr() if self.process is not None else ""


class ManagedJob:
    """A job process (tests/faults/job.py) that can be killed and started again.

    Every start writes a new record file, so the record lines of a killed
    process stay for the accounting.
    """

    def __init__(self, run: FaultRun, name: str, sidecar: ManagedSidecar, options: Sequence[str]) -> None:
        """Describe the job; `start()` runs it."""
        self.run = run
        self.name = name
        self.sidecar = sidecar
        self.options = list(options)
        self.generation = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.records_path: Path | None = None
        self.exit_codes: list[int] = []

    def start(self) -> ManagedJob:
        """Start a new job process against the sidecar's socket."""
        self.generation += 1
        self.records_path = self.run.records_dir / f"{self.name}-{self.generation}.tsv"
        log_path = self.run.log_dir / f"{self.name}-{self.generation}.log"
        command = [
            sys.executable,
            str(JOB_SCRIPT),
            "--address",
            self.sidecar.address,
            "--records",
            str(self.records_path),
            "--client-name",
            self.name,
            *self.options,
        ]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.run.jobs.append(self.process)
        # The job logs "started" once its SIGTERM handler is installed. A
        # SIGTERM before that would end it with the default action.
        process = self.process
        wait_until(
            lambda: b"started" in log_path.read_bytes() or process.poll() is not None,
            timeout_s=30,
            description=f"job {self.name} to install its signal handlers",
        )
        if process.poll() is not None:
            raise RuntimeError(
                f"job {self.name} exited with {process.returncode} at startup: "
                f"{log_path.read_text(errors='replace')[-2000:]}"
            )
        return self

    @property
    def pid(self) -> int:
        """PID of the current process."""
        assert self.process is not None
        return self.process.pid

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the current process by its PID."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def wait(self, timeout_s: float) -> int:
        """Wait for the current process to exit and record its exit code."""
        assert self.process is not None
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"job {self.name} (pid {self.process.pid}) still running after {timeout_s:g} s"
            ) from None
        self.exit_codes.append(code)
        return code

    def records(self) -> list[Record]:
        """Record lines of the current process."""
        return read_records([self.records_path]) if self.records_path else []


def read_records(paths: Sequence[Path]) -> list[Record]:
    """Parse record files written by job.py; a torn last line is skipped."""
    records: list[Record] = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if parts[0] in ("P", "E") and len(parts) == 6:
                records.append(
                    Record(parts[0], parts[1], int(parts[2]), int(parts[3]), parts[4], int(parts[5]))
                )
            elif parts[0] in ("A", "R") and len(parts) == 3:
                records.append(Record(parts[0], parts[2], -1, -1, parts[1], 0))
    return records


class FaultRun:
    """Everything one scenario starts, and its accounting.

    Not thread-safe: use it from one thread.
    """

    def __init__(
        self,
        name: str,
        bootstrap_servers: str,
        *,
        seed: int,
        executable: Path | None = None,
        keep_dir: Path | None = None,
    ) -> None:
        """Create the scenario's directories and Kafka client.

        Args:
            name: Scenario name, used in topic, group and file names.
            bootstrap_servers: The broker under test.
            seed: Seed of the random delays and orders, printed with failures.
            executable: Sidecar executable; default `sidecar_executable()`.
            keep_dir: Where logs and records go; default a new temporary
                directory that is deleted when the scenario passed.
        """
        self.name = name
        self.bootstrap_servers = bootstrap_servers
        self.seed = seed
        self.random = random.Random(seed)
        self.executable = executable or sidecar_executable()
        if not self.executable.is_file():
            raise FileNotFoundError(f"{self.executable} not found: build it with `make build`")
        self.base_dir = keep_dir or Path(tempfile.mkdtemp(prefix=f"faults-{name}-"))
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = self.base_dir / "logs"
        self.records_dir = self.base_dir / "records"
        self.log_dir.mkdir(exist_ok=True)
        self.records_dir.mkdir(exist_ok=True)
        # Unix socket paths are limited to 107 bytes, so sockets get a short
        # directory of their own.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="faults-"))
        self.kafka = KafkaTestClient(bootstrap_servers)
        self.sidecars: list[SidecarProcess] = []
        self.jobs: list[subprocess.Popen[bytes]] = []
        self.topic = ""
        self.group = unique_name(f"faults-{name}")
        self.produced: list[str] = []
        # Payload ids that must be processed; None means every produced one.
        self.expected: set[str] | None = None
        # Payload ids found on a dead-letter topic; they count as not lost.
        self.dead_lettered: set[str] = set()
        # A broker that only this scenario uses, for scenarios that restart it.
        self.broker: TestBroker | None = None
        self._inline_records = self.records_dir / "inline.tsv"

    # ---- setup -------------------------------------------------------------

    def create_topic(self, partitions: int) -> str:
        """Create the scenario's topic."""
        self.topic = self.kafka.create_topic(unique_name(f"faults-{self.name}"), partitions)
        return self.topic

    def produce(self, count: int) -> list[str]:
        """Produce `count` messages whose values are unique payload ids."""
        start = len(self.produced)
        ids = [f"{self.name}-{index:07d}" for index in range(start, start + count)]
        self.kafka.produce(self.topic, ids, keys=[str(index) for index in range(start, start + count)])
        self.produced.extend(ids)
        return ids

    def produce_values(self, values: Sequence[str], partition: int | None = None) -> None:
        """Produce messages with the given unique payload ids."""
        self.kafka.produce(self.topic, list(values), keys=list(values), partition=partition)
        self.produced.extend(values)

    def record_processed(self, messages: Sequence[object]) -> None:
        """Record messages processed in this process, before they are acked."""
        if not messages:
            return
        with open(self._inline_records, "a", encoding="utf-8") as records:
            records.writelines(
                f"P\t{m.topic}\t{m.partition}\t{m.offset}\t{m.value.decode()}\t{m.attempt}\n"  # type: ignore[attr-defined]
                for m in messages
            )

    def sidecar(self, name: str, *args: str) -> ManagedSidecar:
        """Start a sidecar with `args` added to its command line."""
        return ManagedSidecar(self, name, args).start()

    def job(self, name: str, sidecar: ManagedSidecar, *options: str) -> ManagedJob:
        """Start a job process on the scenario's topic and group."""
        return ManagedJob(
            self, name, sidecar, ["--topic", self.topic, "--group", self.group, *options]
        ).start()

    # ---- observation -------------------------------------------------------

    def records(self) -> list[Record]:
        """Every record line of every job process of the scenario."""
        return read_records(sorted(self.records_dir.glob("*.tsv")))

    def processed_ids(self) -> list[str]:
        """Payload ids of the messages acked with success, one per ack."""
        return [record.payload for record in self.records() if record.kind == "P"]

    def received_unacked(self, job: ManagedJob) -> int:
        """Messages a --never-ack job received (its N record lines)."""
        if job.records_path is None or not job.records_path.exists():
            return 0
        return sum(1 for line in job.records_path.read_text().splitlines() if line.startswith("N\t"))

    @staticmethod
    def sidecar_log_has(sidecar: ManagedSidecar, pattern: str) -> bool:
        """Whether the sidecar's current log matches the regular expression."""
        return re.search(pattern, sidecar.stderr()) is not None

    def expected_ids(self) -> set[str]:
        """Payload ids that must be processed."""
        return set(self.produced) if self.expected is None else self.expected

    def complete(self) -> bool:
        """Whether every expected id was processed and the commits reached the end."""
        return self.expected_ids() <= set(self.processed_ids()) and self.committed_equals_end()

    def wait_processed(self, count: int, timeout_s: float) -> None:
        """Wait until at least `count` distinct payload ids were processed."""
        wait_until(
            lambda: len(set(self.processed_ids())) >= count,
            timeout_s=timeout_s,
            interval_s=0.05,
            description=f"{count} processed messages in scenario {self.name}",
        )

    def pause_random(self, max_s: float) -> float:
        """Sleep a seeded random time up to `max_s` before a fault; return it."""
        delay = self.random.uniform(0, max_s)
        time.sleep(delay)
        return delay

    def committed_equals_end(self) -> bool:
        """Whether the group's committed offsets equal the topic's end offsets."""
        end = self.kafka.end_offsets(self.topic)
        committed = self.kafka.committed_offsets(self.group, self.topic)
        # An empty partition has nothing to commit, so no commit matches it.
        return all(
            committed.get(partition) == offset or (offset == 0 and committed.get(partition) is None)
            for partition, offset in end.items()
        )

    def wait_complete(self, timeout_s: float) -> None:
        """Wait until every produced id was processed and the commits reached the end."""
        expected = self.expected_ids()
        wait_until(
            lambda: expected <= set(self.processed_ids()),
            timeout_s=timeout_s,
            interval_s=0.1,
            description=f"all {len(expected)} produced messages processed",
        )
        wait_until(
            self.committed_equals_end,
            timeout_s=timeout_s,
            interval_s=0.1,
            description="committed offsets equal to the end offsets",
        )

    def account(self, result: ScenarioResult) -> ScenarioResult:
        """Fill produced, processed, lost, duplicates and the commit check."""
        processed = self.processed_ids()
        counts = Counter(processed)
        result.produced = len(self.produced)
        result.processed = len(counts)
        result.lost = len(set(self.produced) - set(counts) - self.dead_lettered)
        result.duplicates = len(processed) - len(counts)
        if self.topic:
            result.committed_equals_end = self.committed_equals_end()
        if result.lost:
            result.checks.append(f"{result.lost} produced messages never processed")
        if result.duplicates > result.duplicate_bound:
            result.checks.append(f"{result.duplicates} duplicates exceed the bound {result.duplicate_bound}")
        if result.committed_equals_end is False:
            result.checks.append("committed offsets differ from the end offsets")
        return result

    # ---- teardown ----------------------------------------------------------

    def close(self, passed: bool) -> None:
        """End every process the scenario started, by PID, and clean up."""
        for process in self.jobs:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        for sidecar in self.sidecars:
            sidecar.stop(timeout_s=15)
        self.kafka.close()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        if passed:
            shutil.rmtree(self.base_dir, ignore_errors=True)


def run_scenario(
    name: str,
    body: Callable[[FaultRun, ScenarioResult], None],
    bootstrap_servers: str | None,
    *,
    seed: int,
    keep_root: Path | None = None,
) -> ScenarioResult:
    """Run one scenario body and return its row; failures become a FAILED row.

    Args:
        name: Scenario name.
        body: Drives the scenario; it fills the result's bound and checks and
            calls `run.account(result)`.
        bootstrap_servers: The broker under test, or None to start a broker
            for this scenario alone (named faults-NAME-PID, on a port from
            39600-39699) and stop it at the end.
        seed: Seed of the scenario's random choices.
        keep_root: When given, logs and records stay under keep_root/name;
            otherwise they are deleted after a passing scenario.
    """
    result = ScenarioResult(name=name)
    started = time.monotonic()
    keep_dir = keep_root / name if keep_root is not None else None
    broker: TestBroker | None = None
    run: FaultRun | None = None
    try:
        if bootstrap_servers is None:
            broker = TestBroker(f"faults-{name}-{os.getpid()}", free_fault_port())
            broker.start()
            bootstrap_servers = broker.bootstrap_servers
        run = FaultRun(name, bootstrap_servers, seed=seed, keep_dir=keep_dir)
        run.broker = broker
        body(run, result)
        if result.status == "ok" and result.checks:
            result.status = "FAILED"
    except NotAvailableError as exc:
        result.status = "not available"
        result.detail = str(exc)
    except Exception as exc:
        result.status = "FAILED"
        result.checks.append(f"{type(exc).__name__}: {exc}")
        if run is not None:
            try:
                run.account(result)
            except Exception as account_error:
                result.checks.append(f"accounting failed: {account_error}")
    finally:
        if run is not None:
            run.close(passed=result.status != "FAILED" and keep_dir is None)
        if broker is not None:
            broker.stop()
        result.seconds = time.monotonic() - started
    if result.status == "FAILED":
        where = f", files {run.base_dir}" if run is not None else ""
        result.detail = "; ".join(result.checks) + f" (seed {seed}{where})"
    return result


FAULT_PORTS = range(39600, 39700, 2)


def free_fault_port() -> int:
    """Return a port P in 39600-39699 on 127.0.0.1 with P and P + 1 free."""
    for port in FAULT_PORTS:
        if _port_free(port) and _port_free(port + 1):
            return port
    raise RuntimeError("no free port pair in 39600-39699 on 127.0.0.1 for a fault broker")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class NotAvailableError(Exception):
    """The sidecar does not support what the scenario needs (UNIMPLEMENTED)."""
