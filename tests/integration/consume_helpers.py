"""Helpers for tests that drive the sidecar's Consume stream directly.

They use the Python client's `SidecarClient` and the generated messages, so
a test controls exactly which delivery ids it acks and when.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka_sidecar_client._proto import pb

SUCCESS = pb.Ack.STATUS_SUCCESS
ERROR = pb.Ack.STATUS_ERROR


def subscribe(topic: str, group: str, **options: Any) -> Any:
    """Build a `Subscribe` for one topic; `options` are further Subscribe fields."""
    return pb.Subscribe(topics=[topic], group_id=group, **options)


def ack(message: Any, status: int = SUCCESS, error: str = "") -> Any:
    """Build the ack of one delivered message."""
    return pb.Ack(delivery_id=message.delivery_id, status=status, error=error)


def ack_all(stream: Any, messages: Iterable[Any]) -> None:
    """Acknowledge every message with success in one frame."""
    stream.send_acks([ack(message) for message in messages])


@dataclass
class StreamLog:
    """What one Consume stream has received so far."""

    messages: list[Any] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    ended: bool = False

    def event_types(self) -> list[int]:
        """Types of the events received, in order."""
        return [event.type for event in self.events]


def read_until(
    stream: Any,
    log: StreamLog,
    predicate: Any,
    *,
    timeout_s: float = 30.0,
    description: str,
) -> StreamLog:
    """Read responses into `log` until `predicate(log)` is true or the stream ends.

    Raises:
        TimeoutError: If the predicate was not true within `timeout_s`; the
            message includes what was received.
        AssertionError: If the stream ended first.
    """
    deadline = time.monotonic() + timeout_s
    while not predicate(log):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(
                f"timed out after {timeout_s:g} s waiting for {description}; received "
                f"{len(log.messages)} messages and events {log.event_types()}"
            )
        try:
            response = stream.read(timeout=min(remaining, 0.5))
        except TimeoutError:
            continue
        if response is None:
            log.ended = True
            raise AssertionError(
                f"stream ended ({stream.code}: {stream.details}) while waiting for {description}; "
                f"received {len(log.messages)} messages"
            )
        kind = response.WhichOneof("response")
        if kind == "messages":
            log.messages.extend(response.messages.messages)
        elif kind == "event":
            log.events.append(response.event)
    return log


def read_messages(
    stream: Any, log: StreamLog, count: int, timeout_s: float = 30.0
) -> list[Any]:
    """Read until `log` contains at least `count` messages and return them."""
    read_until(
        stream,
        log,
        lambda current: len(current.messages) >= count,
        timeout_s=timeout_s,
        description=f"{count} messages",
    )
    return log.messages


def read_to_end(stream: Any, log: StreamLog, timeout_s: float = 30.0) -> StreamLog:
    """Read until the stream ends; return the log."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"stream did not end within {timeout_s:g} s")
        try:
            response = stream.read(timeout=min(remaining, 0.5))
        except TimeoutError:
            continue
        if response is None:
            log.ended = True
            return log
        kind = response.WhichOneof("response")
        if kind == "messages":
            log.messages.extend(response.messages.messages)
        elif kind == "event":
            log.events.append(response.event)


def positions(messages: Iterable[Any]) -> list[tuple[int, int]]:
    """(partition, offset) of each message, sorted."""
    return sorted((message.partition, message.offset) for message in messages)
