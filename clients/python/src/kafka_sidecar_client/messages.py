"""Conversion between protocol messages, the dicts a job's callback receives, and acks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kafka_sidecar_client._proto import pb

MessageProcessor = Callable[[dict[str, Any]], Any]

_EXPECTED_RETURN = "{'status': 'success'} or {'status': 'error', 'error': 'reason'}"
_MAX_SHOWN_CHARS = 500


def decode_bytes(data: bytes) -> str | bytes:
    """Return ``data`` decoded as UTF-8, or unchanged when it is not valid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def message_to_dict(message: Any) -> dict[str, Any]:
    """Return the dict a ``message_processor`` receives for one ``Message``.

    Keys: key, value (str when valid UTF-8, else bytes, None when null),
    topic, partition, offset, timestamp (Unix ms, -1 when the broker gave
    none), headers (name -> str, bytes or None; the last header wins when a
    name repeats), _raw_message (the protocol message, which also carries
    delivery_id and attempt).
    """
    headers: dict[str, str | bytes | None] = {}
    for header in message.headers:
        headers[header.name] = decode_bytes(header.value) if header.HasField("value") else None
    return {
        "key": decode_bytes(message.key) if message.HasField("key") else None,
        "value": decode_bytes(message.value) if message.HasField("value") else None,
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "timestamp": message.timestamp_ms,
        "headers": headers,
        "_raw_message": message,
    }


def describe_message(message: Any) -> str:
    """Return ``topic/partition@offset`` for logs."""
    return f"{message.topic}/{message.partition}@{message.offset}"


def _shorten(text: str) -> str:
    if len(text) <= _MAX_SHOWN_CHARS:
        return text
    return text[: _MAX_SHOWN_CHARS - 3] + "..."


def ack_for_return(delivery_id: int, returned: Any) -> Any:
    """Build the ``Ack`` for what a ``message_processor`` returned.

    ``{"status": "success"}`` is a success. ``{"status": "error", "error": X}``
    is an error with reason X. Anything else is an error whose reason names
    what was returned.
    """
    if isinstance(returned, Mapping):
        status = returned.get("status")
        if isinstance(status, str) and status.lower() == "success":
            return pb.Ack(delivery_id=delivery_id, status=pb.Ack.STATUS_SUCCESS)
        if isinstance(status, str) and status.lower() == "error":
            reason = returned.get("error")
            text = (
                str(reason)
                if reason not in (None, "")
                else "message_processor reported an error without a reason"
            )
            return pb.Ack(delivery_id=delivery_id, status=pb.Ack.STATUS_ERROR, error=_shorten(text))
    reason = f"message_processor returned {_shorten(repr(returned))}. Expected {_EXPECTED_RETURN}."
    return pb.Ack(delivery_id=delivery_id, status=pb.Ack.STATUS_ERROR, error=reason)


def ack_for_exception(delivery_id: int, error: BaseException) -> Any:
    """Build the error ``Ack`` for an exception a ``message_processor`` raised."""
    text = str(error)
    reason = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return pb.Ack(delivery_id=delivery_id, status=pb.Ack.STATUS_ERROR, error=_shorten(reason))


def process_message(processor: MessageProcessor, message: Any) -> tuple[Any, BaseException | None]:
    """Run ``processor`` on one message and return its ``Ack`` and any exception it raised.

    ``Exception`` subclasses become error acks. ``KeyboardInterrupt`` and
    ``SystemExit`` propagate, because they end the job.
    """
    try:
        returned = processor(message_to_dict(message))
    except Exception as error:
        return ack_for_exception(message.delivery_id, error), error
    return ack_for_return(message.delivery_id, returned), None
