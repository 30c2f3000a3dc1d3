"""A job process for the fault scenarios: consume through the sidecar, record, ack.

Usage: python job.py --address unix:///tmp/x/sidecar.sock --topic T --group G
    --records FILE [options]

For every message batch it appends one line per message to FILE, flushes and
fsyncs the file, and only then sends the acks of the batch. A record line is

    P <tab> topic <tab> partition <tab> offset <tab> payload id <tab> attempt

for a message acked with success, E for one acked with an error, N for one
received with --never-ack, and A or R <tab> monotonic seconds <tab>
partitions for an assignment or a revocation. So every acked message is on
disk before the sidecar can commit it, and the harness counts lost and
duplicate messages from these files alone.

SIGTERM or SIGINT, or the sidecar's DRAINING event, makes the job finish the
batch at hand, close its side of the stream, read the stream to its end and
exit 0. When the stream breaks for another reason (the sidecar was killed),
the job opens a new stream, retrying until --reconnect-timeout-s passes.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import Any, TextIO

import grpc

from kafka_sidecar_client import SidecarClient
from kafka_sidecar_client._proto import pb

# Delay between two attempts to open a stream while the sidecar is down.
_RECONNECT_DELAY_S = 0.2


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="sidecar gRPC target")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--records", required=True, help="append-only record file")
    parser.add_argument("--max-in-flight", type=int, default=100)
    parser.add_argument(
        "--work-ms-per-message",
        type=float,
        default=0.0,
        help="simulated processing time per message, in milliseconds",
    )
    parser.add_argument(
        "--never-ack",
        action="store_true",
        help="receive messages but never ack them and ignore DRAINING",
    )
    parser.add_argument(
        "--fail-prefix",
        default="",
        help="ack payloads starting with this prefix with an error",
    )
    parser.add_argument("--on-error", choices=("continue", "retry", "stop"), default="continue")
    parser.add_argument("--max-retries", type=int, default=3)
    parser.add_argument("--retry-backoff-ms", type=int, default=100)
    parser.add_argument("--dead-letter-topic", default="")
    parser.add_argument("--client-name", default="fault-job")
    parser.add_argument(
        "--reconnect-timeout-s",
        type=float,
        default=60.0,
        help="how long to retry opening a stream after it broke",
    )
    parser.add_argument(
        "--max-run-s",
        type=float,
        default=600.0,
        help="the job exits with code 3 after this many seconds",
    )
    return parser.parse_args(argv)


_ON_ERROR = {
    "continue": pb.ON_ERROR_CONTINUE,
    "retry": pb.ON_ERROR_RETRY,
    "stop": pb.ON_ERROR_STOP,
}


class Job:
    """State of one job process: its stop flag, record file and stream."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Open the record file in append mode."""
        self.args = args
        self.stop = threading.Event()
        self.records: TextIO = open(args.records, "a", encoding="utf-8")  # noqa: SIM115
        self.stream: Any = None
        self.stream_responded = False
        self.client: SidecarClient | None = None

    def request_stop(self, signum: int, _frame: object) -> None:
        """Signal handler: finish the current batch, then close the stream."""
        self.stop.set()
        stream = self.stream
        if stream is not None:
            stream.wake()
        log(f"received signal {signum}; closing the stream after the current batch")

    def subscribe(self) -> Any:
        """Build the Subscribe request from the command line."""
        args = self.args
        subscribe = pb.Subscribe(
            topics=[args.topic],
            group_id=args.group,
            max_in_flight=args.max_in_flight,
            on_error=_ON_ERROR[args.on_error],
            max_retries=args.max_retries,
            retry_backoff_ms=[args.retry_backoff_ms],
            client_name=args.client_name,
        )
        if args.dead_letter_topic:
            subscribe.dead_letter_topic = args.dead_letter_topic
        return subscribe

    def write_event(self, kind: str, event: Any) -> None:
        """Append an assignment (A) or revocation (R) line and fsync it."""
        partitions = ",".join(f"{tp.topic}/{tp.partition}" for tp in event.partitions)
        self.records.write(f"{kind}\t{time.monotonic():.3f}\t{partitions}\n")
        self.records.flush()
        os.fsync(self.records.fileno())

    def handle_batch(self, messages: Any) -> None:
        """Process one batch: write its record lines, fsync, then ack it."""
        args = self.args
        acks = []
        lines = []
        for message in messages:
            payload = message.value.decode("utf-8", errors="replace")
            failed = bool(args.fail_prefix) and payload.startswith(args.fail_prefix)
            kind = "E" if failed else "P"
            lines.append(
                f"{kind}\t{message.topic}\t{message.partition}\t{message.offset}\t"
                f"{payload}\t{message.attempt}\n"
            )
            acks.append(
                pb.Ack(
                    delivery_id=message.delivery_id,
                    status=pb.Ack.STATUS_ERROR if failed else pb.Ack.STATUS_SUCCESS,
                    error="payload marked to fail" if failed else "",
                )
            )
        if os.environ.get("FAULT_JOB_DEBUG"):
            log(f"batch of {len(lines)}")
        if args.never_ack:
            self.records.writelines("N" + line[1:] for line in lines)
            self.records.flush()
            return
        self.records.writelines(lines)
        self.records.flush()
        os.fsync(self.records.fileno())
        # The work happens after the record and before the ack, so a kill
        # during it leaves processed messages unacked, as in a real job.
        if args.work_ms_per_message > 0:
            time.sleep(args.work_ms_per_message * len(lines) / 1000.0)
        self.stream.send_acks(acks)

    def run_stream(self) -> grpc.StatusCode | None:
        """Consume on one stream until it ends; return its final status code."""
        self.stream = self.client.consume(self.subscribe())
        self.stream_responded = False
        closing = False
        while True:
            if self.stop.is_set() and not closing and not self.args.never_ack:
                self.stream.close_send()
                closing = True
            try:
                response = self.stream.read(timeout=0.5)
            except TimeoutError:
                continue
            if response is None:
                return self.stream.code
            self.stream_responded = True
            if response.WhichOneof("response") == "messages":
                batch, following = self.read_more(list(response.messages.messages))
                if not closing:
                    self.handle_batch(batch)
                if following is None:
                    return self.stream.code
                if following is False:
                    continue
                response = following
            self.handle_event(response.event)

    def read_more(self, batch: list[Any]) -> tuple[list[Any], Any]:
        """Add the messages that are already waiting to `batch`, up to the window.

        One record write, fsync and ack frame then covers them all.

        Returns:
            The batch, and what ended it: False when nothing more waited,
            None when the stream ended, or an event response to handle next.
        """
        while len(batch) < self.args.max_in_flight:
            try:
                response = self.stream.read(timeout=0)
            except TimeoutError:
                return batch, False
            if response is None:
                return batch, None
            if response.WhichOneof("response") != "messages":
                return batch, response
            batch.extend(response.messages.messages)
        return batch, False

    def handle_event(self, event: Any) -> None:
        """Record assignment changes; start closing on DRAINING."""
        if event.type == pb.Event.TYPE_PARTITIONS_ASSIGNED:
            self.write_event("A", event)
        elif event.type == pb.Event.TYPE_PARTITIONS_REVOKED:
            self.write_event("R", event)
        elif event.type == pb.Event.TYPE_DRAINING and not self.args.never_ack:
            log("sidecar is draining; closing the stream")
            self.stop.set()

    def run(self) -> int:
        """Consume until stopped, opening a new stream after a broken one; return the exit code."""
        deadline = time.monotonic() + self.args.max_run_s
        broken_since: float | None = None
        while time.monotonic() < deadline:
            if self.client is None:
                self.client = SidecarClient(self.args.address)
            code = self.run_stream()
            if self.stop.is_set():
                log(f"stream ended with {code}; exiting")
                return 0
            if code == grpc.StatusCode.OK:
                return 0
            now = time.monotonic()
            if broken_since is None or self.stream_responded:
                broken_since = now
            if now - broken_since > self.args.reconnect_timeout_s:
                log(f"no stream for {self.args.reconnect_timeout_s:g} s; last status {code}")
                return 4
            log(f"stream ended with {code} ({self.stream.details}); opening a new one")
            # A new channel after a sidecar restart, so gRPC does not wait
            # for its reconnect backoff of the old one.
            self.client.close()
            self.client = None
            self.stop.wait(_RECONNECT_DELAY_S)
        log(f"still running after --max-run-s {self.args.max_run_s:g}; exiting")
        return 3


def log(text: str) -> None:
    """Write one line to stderr, which the harness keeps as the job's log."""
    print(f"{time.strftime('%H:%M:%S')} job {os.getpid()}: {text}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    """Run the job; return its exit code."""
    job = Job(_parse_args(argv))
    signal.signal(signal.SIGTERM, job.request_stop)
    signal.signal(signal.SIGINT, job.request_stop)
    log("started")
    return job.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
