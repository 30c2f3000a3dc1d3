"""Parsing and field mapping of raw order events (the job's tMap step).

Upstream systems send camelCase JSON whose details vary: timestamps as
ISO 8601 in any zone or as epoch milliseconds, amounts as numbers or
strings, event types and currency codes in either case. ``map_event`` turns
one raw event into an ``OrderEvent`` with snake_case fields, a UTC timestamp,
a two-decimal amount and upper-case codes, or raises ``MalformedEventError``
naming the field at fault.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

# Payload fields each event type must carry, in the raw (camelCase) naming.
REQUIRED_PAYLOAD_FIELDS: dict[str, tuple[str, ...]] = {
    "CUSTOMER_ADD": ("customerId", "name", "email"),
    "ACCOUNT_ADD": ("accountId", "customerId", "currency"),
    "ORDER_CREATED": ("orderId", "accountId", "amount", "currency"),
    "PAYMENT_RECEIVED": ("orderId", "accountId", "amount", "currency"),
    "ORDER_SHIPPED": ("orderId", "accountId"),
    "ORDER_CANCELLED": ("orderId", "accountId"),
}

_ID_FIELDS = ("accountId", "customerId", "orderId")
_CENT = Decimal("0.01")
# Amounts must fit the DECIMAL(12, 2) column of the job's table.
_MAX_AMOUNT = Decimal("9999999999.99")
# Epoch milliseconds before 2000-01-01 or after 2100-01-01 are taken for a unit error.
_MIN_EPOCH_MS = 946_684_800_000
_MAX_EPOCH_MS = 4_102_444_800_000


class MalformedEventError(ValueError):
    """A record that is not a valid order event; the message names the field at fault."""


@dataclass(frozen=True)
class OrderEvent:
    """One normalised order event, as stored and routed by the job."""

    event_id: str
    event_type: str
    occurred_at: datetime  # UTC, without tzinfo, as DuckDB's TIMESTAMP stores it
    source: str | None
    account_id: str | None
    customer_id: str | None
    order_id: str | None
    amount: Decimal | None
    currency: str | None
    # Payload fields the mapping does not place in a column, as a JSON object.
    details: str
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-serialisable record sent to the output topics."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at.isoformat(timespec="milliseconds") + "Z",
            "source": self.source,
            "account_id": self.account_id,
            "customer_id": self.customer_id,
            "order_id": self.order_id,
            "amount": None if self.amount is None else str(self.amount),
            "currency": self.currency,
            "details": json.loads(self.details),
        }


def parse_event(value: str | bytes | None) -> dict[str, Any]:
    """Parse a message value into a JSON object.

    Raises:
        MalformedEventError: The value is missing, not UTF-8, not JSON, or not an object.
    """
    if value is None:
        raise MalformedEventError("value is null (a tombstone); expected a JSON object")
    if isinstance(value, bytes):
        raise MalformedEventError("value is not valid UTF-8; expected a JSON object")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise MalformedEventError(
            f"value is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    if not isinstance(parsed, dict):
        raise MalformedEventError(f"value is a JSON {type(parsed).__name__}; expected an object")
    return parsed


def _require_text(container: dict[str, Any], name: str, where: str) -> str:
    if name not in container or container[name] is None:
        raise MalformedEventError(f"{where}{name} is missing")
    value = container[name]
    if not isinstance(value, str) or not value.strip():
        raise MalformedEventError(f"{where}{name} is {value!r}; expected a non-empty string")
    return value.strip()


def _optional_text(container: dict[str, Any], name: str, where: str) -> str | None:
    if container.get(name) is None:
        return None
    return _require_text(container, name, where)


def normalize_timestamp(value: Any) -> datetime:
    """Convert epoch milliseconds or an ISO 8601 string to a naive UTC datetime.

    Raises:
        MalformedEventError: For other types, unparsable text, a string without
            a zone, or epoch milliseconds outside 2000-2100.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise MalformedEventError(
            f"occurredAt is {value!r}; expected epoch milliseconds or an ISO 8601 string"
        )
    if isinstance(value, int):
        if not _MIN_EPOCH_MS <= value < _MAX_EPOCH_MS:
            raise MalformedEventError(
                f"occurredAt is {value}; expected epoch milliseconds between 2000 and 2100"
            )
        moment = datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    else:
        text = value.strip()
        # Python before 3.11 does not accept the "Z" suffix.
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise MalformedEventError(
                f"occurredAt is {value!r}; expected an ISO 8601 timestamp such as "
                "2024-03-01T08:00:00.000+02:00"
            ) from None
        if moment.tzinfo is None:
            raise MalformedEventError(
                f"occurredAt is {value!r} without a zone; add Z or an offset such as +02:00"
            )
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def normalize_amount(value: Any) -> Decimal:
    """Convert a number or numeric string to a non-negative amount with two decimals.

    Raises:
        MalformedEventError: For other types, non-numeric text, a negative,
            infinite or too large amount.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MalformedEventError(f"payload.amount is {value!r}; expected a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise MalformedEventError(f"payload.amount is {value!r}; expected a finite number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise MalformedEventError(f"payload.amount is {value!r}; expected a number") from None
    if not amount.is_finite() or amount < 0 or amount > _MAX_AMOUNT:
        raise MalformedEventError(
            f"payload.amount is {value!r}; expected a number from 0 to {_MAX_AMOUNT}"
        )
    return amount.quantize(_CENT, rounding=ROUND_HALF_EVEN)


def normalize_currency(value: Any) -> str:
    """Upper-case a three-letter currency code.

    Raises:
        MalformedEventError: When the value is not three letters.
    """
    if not isinstance(value, str) or len(value.strip()) != 3 or not value.strip().isalpha():
        raise MalformedEventError(
            f"payload.currency is {value!r}; expected a three-letter code such as EUR"
        )
    return value.strip().upper()


def map_event(raw: dict[str, Any], topic: str, partition: int, offset: int) -> OrderEvent:
    """Validate one raw event and map it to an ``OrderEvent``.

    Args:
        raw: The parsed JSON object.
        topic: Source topic, kept for lineage.
        partition: Source partition.
        offset: Source offset.

    Raises:
        MalformedEventError: Naming the first field that is missing or invalid.
    """
    event_id = _require_text(raw, "eventId", "")
    event_type = _require_text(raw, "eventType", "").upper()
    if event_type not in REQUIRED_PAYLOAD_FIELDS:
        known = ", ".join(sorted(REQUIRED_PAYLOAD_FIELDS))
        raise MalformedEventError(
            f"eventType {raw['eventType']!r} is unknown; expected one of {known}"
        )
    if "occurredAt" not in raw:
        raise MalformedEventError("occurredAt is missing")
    occurred_at = normalize_timestamp(raw["occurredAt"])
    source = _optional_text(raw, "source", "")

    payload = raw.get("payload")
    if payload is None:
        raise MalformedEventError("payload is missing")
    if not isinstance(payload, dict):
        raise MalformedEventError(f"payload is a JSON {type(payload).__name__}; expected an object")
    for name in REQUIRED_PAYLOAD_FIELDS[event_type]:
        if payload.get(name) is None:
            raise MalformedEventError(f"payload.{name} is missing, which {event_type} requires")

    ids = {name: _optional_text(payload, name, "payload.") for name in _ID_FIELDS}
    amount = normalize_amount(payload["amount"]) if payload.get("amount") is not None else None
    currency = (
        normalize_currency(payload["currency"]) if payload.get("currency") is not None else None
    )
    mapped = {*_ID_FIELDS, "amount", "currency"}
    details = {name: value for name, value in payload.items() if name not in mapped}

    return OrderEvent(
        event_id=event_id,
        event_type=event_type,
        occurred_at=occurred_at,
        source=source,
        account_id=ids["accountId"],
        customer_id=ids["customerId"],
        order_id=ids["orderId"],
        amount=amount,
        currency=currency,
        details=json.dumps(details, sort_keys=True, separators=(",", ":")),
        kafka_topic=topic,
        kafka_partition=partition,
        kafka_offset=offset,
    )
