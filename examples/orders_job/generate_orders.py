"""Generate realistic order events and produce them to Kafka through the sidecar.

The events follow a small business timeline: customers are added, accounts
are opened for them, orders are created on accounts, paid, shipped or
cancelled. Their JSON varies the way upstream systems do (timestamps as
ISO 8601 with offsets or as epoch milliseconds, amounts as numbers or
strings, currency codes in either case), which the orders job normalises.

A few percent of the records are malformed: invalid JSON, JSON that is not an
object, a missing required field, or a field of the wrong type. A few valid
events are sent twice, as an upstream retry would. The same seed always
yields the same records, so demo runs are reproducible.

A manifest JSON file records what was produced, so a later check can compare
the job's results with the input.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

# Routed by the orders job to their own topics.
ROUTED_EVENT_TYPES = ("ACCOUNT_ADD", "CUSTOMER_ADD")

_START = datetime(2024, 3, 1, 8, 0, 0, tzinfo=timezone.utc)
_CURRENCIES = ("EUR", "USD", "GBP", "CHF")
_SOURCES = ("web", "mobile", "branch", "partner-api")
_FIRST_NAMES = ("Ana", "Ben", "Chloe", "David", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jonas")
_LAST_NAMES = ("Keller", "Lopez", "Martin", "Nowak", "Okafor", "Petit", "Quinn", "Rossi", "Silva")
_OFFSETS = (timezone.utc, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)))
_MALFORMED_KINDS = ("invalid_json", "not_an_object", "missing_field", "wrong_type")


@dataclass
class GeneratedRecord:
    """One record to produce: its key, raw value and what it stands for."""

    key: str
    value: bytes
    # The event type of a valid record, or "MALFORMED:<kind>".
    label: str
    # The event id of a valid record; "" for a malformed one.
    event_id: str = ""


@dataclass
class _Timeline:
    """Entities created so far, so later events refer to existing ones."""

    rng: random.Random
    now: datetime = _START
    customers: list[str] = field(default_factory=list)
    accounts: list[tuple[str, str, str]] = field(default_factory=list)  # id, customer, currency
    open_orders: list[tuple[str, str, str, float]] = field(default_factory=list)
    paid_orders: list[tuple[str, str]] = field(default_factory=list)
    next_id: Counter[str] = field(default_factory=Counter)

    def new_id(self, prefix: str) -> str:
        self.next_id[prefix] += 1
        return f"{prefix}-{self.next_id[prefix]:06d}"

    def tick(self) -> datetime:
        self.now += timedelta(milliseconds=self.rng.randint(200, 90_000))
        return self.now


def _format_timestamp(rng: random.Random, moment: datetime) -> str | int:
    """Render a moment as upstream systems do: ISO 8601 in some zone, or epoch ms."""
    style = rng.random()
    if style < 0.25:
        return int(moment.timestamp() * 1000)
    zone = rng.choice(_OFFSETS)
    text = moment.astimezone(zone).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z") if zone is timezone.utc else text


def _format_amount(rng: random.Random, amount: float) -> float | str:
    return f"{amount:.2f}" if rng.random() < 0.3 else round(amount, 2)


def _format_currency(rng: random.Random, currency: str) -> str:
    return currency.lower() if rng.random() < 0.2 else currency


def _choose_event_type(timeline: _Timeline) -> str:
    if len(timeline.customers) < 5:
        return "CUSTOMER_ADD"
    if len(timeline.accounts) < 5:
        return "ACCOUNT_ADD"
    weights = {
        "CUSTOMER_ADD": 10,
        "ACCOUNT_ADD": 12,
        "ORDER_CREATED": 38,
        "PAYMENT_RECEIVED": 16 if timeline.open_orders else 0,
        "ORDER_SHIPPED": 16 if timeline.paid_orders else 0,
        "ORDER_CANCELLED": 8 if timeline.open_orders else 0,
    }
    names = [name for name, weight in weights.items() if weight]
    return timeline.rng.choices(names, [weights[name] for name in names])[0]


def _make_event(timeline: _Timeline, event_type: str) -> tuple[str, dict[str, Any]]:
    """Advance the timeline by one event; return its key and JSON object."""
    rng = timeline.rng
    occurred = timeline.tick()
    payload: dict[str, Any]
    if event_type == "CUSTOMER_ADD":
        customer_id = timeline.new_id("CUS")
        timeline.customers.append(customer_id)
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        payload = {
            "customerId": customer_id,
            "name": f"{first} {last}",
            "email": f"{first}.{last}.{customer_id[-4:]}@example.com".lower(),
            "country": rng.choice(("DE", "FR", "US", "GB", "CH", "ES")),
        }
        key = customer_id
    elif event_type == "ACCOUNT_ADD":
        account_id = timeline.new_id("ACC")
        customer_id = rng.choice(timeline.customers)
        currency = rng.choice(_CURRENCIES)
        timeline.accounts.append((account_id, customer_id, currency))
        payload = {
            "accountId": account_id,
            "customerId": customer_id,
            "currency": _format_currency(rng, currency),
            "openingBalance": _format_amount(rng, rng.uniform(0, 5000)),
        }
        key = account_id
    elif event_type == "ORDER_CREATED":
        account_id, customer_id, currency = rng.choice(timeline.accounts)
        order_id = timeline.new_id("ORD")
        amount = round(rng.uniform(5, 2500), 2)
        timeline.open_orders.append((order_id, account_id, currency, amount))
        payload = {
            "orderId": order_id,
            "accountId": account_id,
            "customerId": customer_id,
            "amount": _format_amount(rng, amount),
            "currency": _format_currency(rng, currency),
            "items": rng.randint(1, 12),
        }
        key = account_id
    elif event_type == "PAYMENT_RECEIVED":
        order = timeline.open_orders.pop(rng.randrange(len(timeline.open_orders)))
        order_id, account_id, currency, amount = order
        timeline.paid_orders.append((order_id, account_id))
        payload = {
            "orderId": order_id,
            "accountId": account_id,
            "amount": _format_amount(rng, amount),
            "currency": _format_currency(rng, currency),
            "method": rng.choice(("card", "sepa", "paypal")),
        }
        key = account_id
    elif event_type == "ORDER_SHIPPED":
        order_id, account_id = timeline.paid_orders.pop(rng.randrange(len(timeline.paid_orders)))
        payload = {
            "orderId": order_id,
            "accountId": account_id,
            "carrier": rng.choice(("DHL", "UPS", "La Poste", "FedEx")),
        }
        key = account_id
    elif event_type == "ORDER_CANCELLED":
        order_id, account_id, _, _ = timeline.open_orders.pop(
            rng.randrange(len(timeline.open_orders))
        )
        payload = {"orderId": order_id, "accountId": account_id, "reason": "customer request"}
        key = account_id
    else:
        raise ValueError(f"unknown event type {event_type!r}")

    event = {
        "eventId": timeline.new_id("EVT"),
        "eventType": event_type if rng.random() < 0.9 else event_type.lower(),
        "occurredAt": _format_timestamp(rng, occurred),
        "source": rng.choice(_SOURCES),
        "payload": payload,
    }
    return key, event


def _malform(rng: random.Random, key: str, event: dict[str, Any]) -> GeneratedRecord:
    """Damage a valid event in one of the ways upstream systems do."""
    kind = rng.choice(_MALFORMED_KINDS)
    if kind == "invalid_json":
        text = json.dumps(event)
        value = text[: rng.randint(10, len(text) - 2)].encode()
    elif kind == "not_an_object":
        value = json.dumps([event["eventId"], event["eventType"]]).encode()
    elif kind == "missing_field":
        damaged = json.loads(json.dumps(event))
        field_name = rng.choice(("eventId", "eventType", "occurredAt", "payload"))
        del damaged[field_name]
        value = json.dumps(damaged).encode()
    else:
        damaged = json.loads(json.dumps(event))
        if "amount" in damaged["payload"]:
            damaged["payload"]["amount"] = rng.choice(("twelve", None, [12.5]))
        else:
            damaged["occurredAt"] = rng.choice(("yesterday", "2024-13-45T99:00:00Z", True))
        value = json.dumps(damaged).encode()
    return GeneratedRecord(key=key, value=value, label=f"MALFORMED:{kind}")


def build_records(
    count: int, seed: int, malformed_ratio: float, duplicate_ratio: float
) -> list[GeneratedRecord]:
    """Build `count` records; the same arguments always give the same records.

    Args:
        count: Number of records, malformed ones and duplicates included.
        seed: Seed of the random generator.
        malformed_ratio: Share of malformed records, between 0 and 1.
        duplicate_ratio: Share of records that repeat an earlier valid event.

    Raises:
        ValueError: When a count or ratio is out of range.
    """
    if count < 1:
        raise ValueError(f"count is {count}; it must be at least 1")
    for name, ratio in (("malformed_ratio", malformed_ratio), ("duplicate_ratio", duplicate_ratio)):
        if not 0.0 <= ratio < 0.5:
            raise ValueError(f"{name} is {ratio}; use a value from 0 up to (not including) 0.5")

    rng = random.Random(seed)
    timeline = _Timeline(rng=rng)
    records: list[GeneratedRecord] = []
    valid: list[GeneratedRecord] = []
    while len(records) < count:
        draw = rng.random()
        if valid and draw < duplicate_ratio:
            records.append(rng.choice(valid))
            continue
        key, event = _make_event(timeline, _choose_event_type(timeline))
        if draw < duplicate_ratio + malformed_ratio:
            records.append(_malform(rng, key, event))
            continue
        record = GeneratedRecord(
            key=key,
            value=json.dumps(event, separators=(",", ":")).encode(),
            label=event["eventType"].upper(),
            event_id=event["eventId"],
        )
        records.append(record)
        valid.append(record)
    return records


def summarize(records: list[GeneratedRecord], topic: str, seed: int) -> dict[str, Any]:
    """Describe the records for later checks: totals, types and expected results."""
    labels = Counter(record.label for record in records)
    malformed = {
        label.split(":", 1)[1]: number
        for label, number in labels.items()
        if label.startswith("MALFORMED:")
    }
    unique_valid: dict[str, str] = {}
    for record in records:
        if record.event_id:
            unique_valid[record.event_id] = record.label
    unique_types = Counter(unique_valid.values())
    return {
        "topic": topic,
        "seed": seed,
        "produced": len(records),
        "valid": sum(number for label, number in labels.items() if ":" not in label),
        "malformed": sum(malformed.values()),
        "malformed_by_kind": dict(sorted(malformed.items())),
        "duplicates": sum(1 for record in records if record.event_id) - len(unique_valid),
        "unique_valid_events": len(unique_valid),
        "unique_events_by_type": dict(sorted(unique_types.items())),
        "expected_routed": {
            event_type: unique_types.get(event_type, 0) for event_type in ROUTED_EVENT_TYPES
        },
    }


def produce_records(
    records: list[GeneratedRecord], topic: str, sidecar_address: str | None, batch_size: int
) -> None:
    """Produce the records in order through the sidecar's Produce call.

    Raises:
        RuntimeError: When the broker rejected a record.
    """
    # The low-level client sends raw bytes, which the malformed records need.
    from kafka_sidecar_client._proto import pb
    from kafka_sidecar_client.client import SidecarClient

    with SidecarClient(sidecar_address) as client:
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            response = client.produce(
                "",
                topic,
                [pb.ProduceRecord(key=record.key.encode(), value=record.value) for record in batch],
                wait_for_delivery=True,
                timeout_ms=30_000,
            )
            failed = [
                (start + index, result.error)
                for index, result in enumerate(response.results)
                if result.error
            ]
            if failed:
                index, error = failed[0]
                raise RuntimeError(
                    f"{len(failed)} of {len(batch)} records to {topic} failed; "
                    f"first: record {index}: {error}"
                )


def main(argv: list[str] | None = None) -> int:
    """Generate the records, produce them and write the manifest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="records to produce (default 3000)")
    parser.add_argument("--seed", type=int, default=20240301, help="random seed (default 20240301)")
    parser.add_argument(
        "--malformed-ratio", type=float, default=0.03, help="share of malformed records (0.03)"
    )
    parser.add_argument(
        "--duplicate-ratio", type=float, default=0.005, help="share of repeated events (0.005)"
    )
    parser.add_argument("--topic", default="orders-raw", help="destination topic (orders-raw)")
    parser.add_argument(
        "--sidecar-address",
        default=None,
        help="sidecar gRPC address; default: KAFKA_SIDECAR_ADDRESS or the pod's socket",
    )
    parser.add_argument("--batch-size", type=int, default=500, help="records per Produce call")
    parser.add_argument("--manifest", type=Path, help="write the summary JSON to this file")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the records as JSON lines, produce nothing"
    )
    args = parser.parse_args(argv)

    try:
        records = build_records(args.count, args.seed, args.malformed_ratio, args.duplicate_ratio)
    except ValueError as error:
        parser.error(str(error))

    if args.dry_run:
        for record in records:
            line = {"key": record.key, "label": record.label, "value": record.value.decode()}
            print(json.dumps(line))
    else:
        produce_records(records, args.topic, args.sidecar_address, args.batch_size)

    manifest = summarize(records, args.topic, args.seed)
    if args.manifest:
        args.manifest.parent.mkdir(parents=True, exist_ok=True)
        args.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    action = "built" if args.dry_run else f"produced to {args.topic}"
    print(
        f"generate_orders: {manifest['produced']} records {action}: "
        f"{manifest['malformed']} malformed, {manifest['duplicates']} duplicates, "
        f"{manifest['unique_valid_events']} unique valid events",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
