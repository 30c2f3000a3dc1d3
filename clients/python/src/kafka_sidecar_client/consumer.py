"""The consume loop: deliver each message to the job's callback and ack it.

Delivery is at-least-once. An ack leaves only after the callback for that
message returned, and a message whose callback never ran is never acked, so
the sidecar redelivers it later.

Shutdown starts when the controller's stop flag is set, or when the sidecar sends
DRAINING (which also sets the controller's stop flag, so long callbacks can
see it). The current callback finishes, its ack is sent, no further message
is processed, the request side is closed (the sidecar then commits what was
acked and ends the call), and the stream is read to its end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from kafka_sidecar_client._proto import pb
from kafka_sidecar_client.client import ConsumeStream, SidecarClient
from kafka_sidecar_client.controller import StreamController
from kafka_sidecar_client.messages import MessageProcessor, describe_message, process_message

# How long read() waits before the loop re-checks its stop conditions. Stop
# requests also wake read() at once; this bounds the delay if a wake-up is
# lost.
_POLL_INTERVAL_S = 0.5
# Extra time after the sidecar's drain timeout to wait for the end of the
# call once the request side is closed.
_CLOSE_MARGIN_S = 5.0
# Error acks logged at WARNING per interval; the rest are counted.
_ERROR_LOG_INTERVAL_S = 1.0


@dataclass
class ConsumeStats:
    """Counters of one consume run."""

    received: int = 0
    processed: int = 0
    succeeded: int = 0
    errors: int = 0
    retries: int = 0
    unprocessed: int = 0
    ack_frames: int = 0
    started: float = field(default_factory=time.monotonic)

    def elapsed_s(self) -> float:
        """Return the seconds since the run started."""
        return time.monotonic() - self.started

    def rate(self) -> float:
        """Return processed messages per second since the run started."""
        elapsed = self.elapsed_s()
        return self.processed / elapsed if elapsed > 0 else 0.0

    def as_metrics(self) -> dict[str, Any]:
        """Return the counters as a result's ``metrics``."""
        return {
            "processed": self.processed,
            "succeeded": self.succeeded,
            "errors": self.errors,
            "retries": self.retries,
            "received": self.received,
            "unprocessed": self.unprocessed,
            "elapsed_s": round(self.elapsed_s(), 3),
            "rate": round(self.rate(), 1),
        }


@dataclass
class ConsumeOutcome:
    """Final state of a consume run: counters, stop reason and gRPC status."""

    stats: ConsumeStats
    stop_reason: str
    status_code: grpc.StatusCode | None
    status_details: str
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


class AckSender:
    """Collects acks and sends several per request frame.

    The loop thread adds an ack after each callback and flushes after each
    batch. A timer thread also flushes every ``interval_s`` while acks are
    pending, so that acks of finished messages reach the sidecar while a long
    callback is still running.
    """

    def __init__(self, stream: ConsumeStream, interval_s: float = 0.05, max_per_frame: int = 500) -> None:
        """Start the timer thread for ``stream``."""
        self._stream = stream
        self._interval_s = interval_s
        self._max_per_frame = max_per_frame
        self._condition = threading.Condition()
        self._pending: list[Any] = []
        self._closed = False
        self.frames_sent = 0
        self._thread = threading.Thread(target=self._run_timer, name="consume-ack-sender", daemon=True)
        self._thread.start()

    def add(self, ack: Any) -> None:
        """Queue one ack for the next frame."""
        with self._condition:
            self._pending.append(ack)
            if len(self._pending) == 1:
                # Starts the timer for this frame; later acks join it.
                self._condition.notify_all()

    def flush(self) -> None:
        """Send every pending ack now."""
        with self._condition:
            self._send_pending_locked()

    def close(self) -> None:
        """Send what is pending and stop the timer thread. Idempotent."""
        with self._condition:
            if self._closed:
                return
            self._send_pending_locked()
            self._closed = True
            self._condition.notify_all()
        self._thread.join()

    def _send_pending_locked(self) -> None:
        # Runs under _condition, so frames leave in the order acks were added.
        while self._pending:
            frame = self._pending[: self._max_per_frame]
            del self._pending[: self._max_per_frame]
            try:
                self._stream.send_acks(frame)
            except RuntimeError:
                # The request side is already closed; nothing more can be sent.
                self._pending.clear()
                return
            self.frames_sent += 1

    def _run_timer(self) -> None:
        with self._condition:
            while not self._closed:
                if not self._pending:
                    self._condition.wait()
                    continue
                # Let more acks join the frame for one interval, unless a
                # flush() from the loop thread sends them first.
                deadline = time.monotonic() + self._interval_s
                while not self._closed and self._pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._send_pending_locked()
                        break
                    self._condition.wait(remaining)


class ConsumerLoop:
    """Runs one Consume stream until shutdown; see the module docstring."""

    def __init__(
        self,
        *,
        client: SidecarClient,
        subscribe: Any,
        processor: MessageProcessor,
        controller: StreamController,
        logger: logging.Logger | logging.LoggerAdapter,
        drain_timeout_s: float = 30.0,
        log_summary_interval: int = 1000,
        ack_flush_interval_s: float = 0.05,
    ) -> None:
        """Prepare the loop; nothing is sent until ``run()``.

        Args:
            client: Client of the sidecar.
            subscribe: The ``Subscribe`` message for the stream.
            processor: The job's callback.
            controller: Stop flag; DRAINING from the sidecar also sets it.
            logger: Where lifecycle lines and summaries go.
            drain_timeout_s: The sidecar's drain timeout. After closing the
                request side the loop waits this long plus a margin for the
                call to end, then cancels it.
            log_summary_interval: Log a summary every this many processed
                messages; 0 logs only the final one.
            ack_flush_interval_s: Maximum time a finished message's ack waits
                before it is sent.
        """
        self._client = client
        self._subscribe = subscribe
        self._processor = processor
        self._controller = controller
        self._log = logger
        self._drain_timeout_s = drain_timeout_s
        self._log_summary_interval = log_summary_interval
        self._ack_flush_interval_s = ack_flush_interval_s
        self.stats = ConsumeStats()
        self._last_error_log = 0.0
        self._suppressed_error_logs = 0

    def run(self) -> ConsumeOutcome:
        """Consume until shutdown or until the sidecar ends the stream.

        Returns:
            The outcome; ``error`` is set when the stream failed.
        """
        topics = ", ".join(self._subscribe.topics)
        self._log.info(
            "Consuming %s as group %s through sidecar %s",
            topics,
            self._subscribe.group_id,
            self._client.address,
            extra={"topics": list(self._subscribe.topics), "group_id": self._subscribe.group_id},
        )
        stream = self._client.consume(self._subscribe, on_draining=self._on_draining)

        def wake(_reason: str) -> None:
            stream.wake()

        self._controller.add_stop_callback(wake)
        sender = AckSender(stream, self._ack_flush_interval_s)
        try:
            ended_by_sidecar = self._receive(stream, sender)
            sender.close()
            if not ended_by_sidecar:
                self._close_and_drain(stream)
        except BaseException:
            # KeyboardInterrupt from a second Ctrl+C, or a bug: acks of
            # finished callbacks still go out, the rest is redelivered later.
            sender.close()
            stream.cancel()
            raise
        finally:
            self._controller.remove_stop_callback(wake)
            self.stats.ack_frames = sender.frames_sent

        return self._outcome(stream, ended_by_sidecar)

    def _on_draining(self) -> None:
        self._controller.request_stop("the sidecar is draining")

    def _stop_pending(self, stream: ConsumeStream) -> bool:
        return self._controller.should_stop() or stream.draining or stream.ended

    def _receive(self, stream: ConsumeStream, sender: AckSender) -> bool:
        """Process responses until a stop; return True when the sidecar ended the call first."""
        while not self._controller.should_stop() and not stream.draining:
            try:
                response = stream.read(timeout=_POLL_INTERVAL_S)
            except TimeoutError:
                continue
            if response is None:
                return True
            kind = response.WhichOneof("response")
            if kind == "messages":
                self._process_batch(response.messages.messages, stream, sender)
            elif kind == "event":
                self._log_event(response.event)
        return False

    def _process_batch(self, messages: Sequence[Any], stream: ConsumeStream, sender: AckSender) -> None:
        self.stats.received += len(messages)
        for index, message in enumerate(messages):
            if self._stop_pending(stream):
                self.stats.unprocessed += len(messages) - index
                break
            if message.attempt > 1:
                self.stats.retries += 1
            ack, _ = process_message(self._processor, message)
            sender.add(ack)
            self._count(message, ack)
        sender.flush()

    def _count(self, message: Any, ack: Any) -> None:
        self.stats.processed += 1
        if ack.status == pb.Ack.STATUS_SUCCESS:
            self.stats.succeeded += 1
            self._log.debug("Processed %s", describe_message(message))
        else:
            self.stats.errors += 1
            self._log_error_ack(message, ack)
        interval = self._log_summary_interval
        if interval and self.stats.processed % interval == 0:
            self._log_summary()

    def _log_error_ack(self, message: Any, ack: Any) -> None:
        now = time.monotonic()
        if now - self._last_error_log < _ERROR_LOG_INTERVAL_S:
            self._suppressed_error_logs += 1
            return
        suppressed = self._suppressed_error_logs
        self._last_error_log = now
        self._suppressed_error_logs = 0
        self._log.warning(
            "Message %s (attempt %d) failed: %s%s",
            describe_message(message),
            message.attempt,
            ack.error,
            f" ({suppressed} more failures not logged)" if suppressed else "",
        )

    def _log_summary(self, final: bool = False) -> None:
        stats = self.stats
        self._log.info(
            "%s %d messages, Errors: %d, Rate: %.0f msg/s",
            "Finished after" if final else "Processed",
            stats.processed,
            stats.errors,
            stats.rate(),
            extra={"metrics": stats.as_metrics()},
        )

    def _log_event(self, event: Any) -> None:
        partitions = ", ".join(f"{p.topic}/{p.partition}" for p in event.partitions) or "none"
        if event.type == pb.Event.TYPE_SUBSCRIBED:
            self._log.info("Subscribed as group %s", self._subscribe.group_id)
        elif event.type == pb.Event.TYPE_PARTITIONS_ASSIGNED:
            self._log.info("Partitions assigned: %s", partitions)
        elif event.type == pb.Event.TYPE_PARTITIONS_REVOKED:
            self._log.info("Partitions revoked: %s", partitions)
        elif event.type == pb.Event.TYPE_DRAINING:
            self._log.info("The sidecar is draining: %s", event.detail or "no detail")
        else:
            self._log.debug("Ignoring event of unknown type %d", event.type)

    def _close_and_drain(self, stream: ConsumeStream) -> None:
        """Half-close, then read to the end; messages that arrive now stay unacked."""
        reason = self._controller.stop_reason or ("the sidecar is draining" if stream.draining else "stop")
        self._log.info("Stopping (%s): closing the stream after %d messages", reason, self.stats.processed)
        stream.close_send()
        deadline = time.monotonic() + self._drain_timeout_s + _CLOSE_MARGIN_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._log.error(
                    "The sidecar did not end the stream within %.0f s after it was closed; cancelling",
                    self._drain_timeout_s + _CLOSE_MARGIN_S,
                )
                stream.cancel()
                stream.wait_ended(_CLOSE_MARGIN_S)
                return
            try:
                response = stream.read(timeout=remaining)
            except TimeoutError:
                continue
            if response is None:
                return
            if response.WhichOneof("response") == "messages":
                count = len(response.messages.messages)
                self.stats.received += count
                self.stats.unprocessed += count
            else:
                self._log_event(response.event)

    def _outcome(self, stream: ConsumeStream, ended_by_sidecar: bool) -> ConsumeOutcome:
        self._log_summary(final=True)
        code = stream.code
        details = stream.details
        stop_reason = self._controller.stop_reason or "the sidecar ended the stream"
        outcome = ConsumeOutcome(self.stats, stop_reason, code, details)
        if self.stats.unprocessed:
            self._log.info(
                "%d received messages were not processed and will be redelivered",
                self.stats.unprocessed,
            )
        if code is None:
            outcome.error = "The Consume stream did not end after it was cancelled"
        elif code != grpc.StatusCode.OK:
            outcome.error = f"Consume stream ended with {code.name}: {details or 'no details'}"
        elif ended_by_sidecar:
            outcome.warnings.append("The sidecar ended the Consume stream before a stop was requested")
        return outcome
