"""Tests of the orders job's mapping, its DuckDB sink and the event generator."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

_JOB_DIR = Path(__file__).resolve().parents[3] / "examples" / "orders_job"
sys.path.insert(0, str(_JOB_DIR))

import generate_orders  # noqa: E402
import orders_job  # noqa: E402
from order_events import MalformedEventError, map_event, parse_event  # noqa: E402


def _raw_event(**overrides: object) -> dict:
    event = {
        "eventId": "EVT-000001",
        "eventType": "ORDER_CREATED",
        "occurredAt": "2024-03-01T10:15:30.250+02:00",
        "source": "web",
        "payload": {
            "orderId": "ORD-000001",
            "accountId": "ACC-000001",
            "customerId": "CUS-000001",
            "amount": "129.905",
            "currency": "eur",
            "items": 3,
        },
    }
    event.update(overrides)
    return event


def test_map_event_normalises_fields():
    event = map_event(_raw_event(), "orders-raw", 2, 41)

    assert event.event_id == "EVT-000001"
    assert event.event_type == "ORDER_CREATED"
    assert event.occurred_at == datetime(2024, 3, 1, 8, 15, 30, 250000)
    assert event.amount == Decimal("129.90")
    assert event.currency == "EUR"
    assert event.account_id == "ACC-000001"
    assert event.order_id == "ORD-000001"
    assert json.loads(event.details) == {"items": 3}
    assert (event.kafka_topic, event.kafka_partition, event.kafka_offset) == ("orders-raw", 2, 41)


def test_map_event_accepts_epoch_millis_and_lowercase_type():
    raw = _raw_event(eventType="order_created", occurredAt=1709280000000)

    event = map_event(raw, "orders-raw", 0, 0)

    assert event.event_type == "ORDER_CREATED"
    assert event.occurred_at == datetime(2024, 3, 1, 8, 0, 0)


def test_routed_record_is_json_with_utc_timestamp():
    record = map_event(_raw_event(), "orders-raw", 0, 7).to_record()

    assert json.loads(json.dumps(record)) == record
    assert record["occurred_at"] == "2024-03-01T08:15:30.250Z"
    assert record["amount"] == "129.90"


@pytest.mark.parametrize(
    ("value", "expected_fragment"),
    [
        (None, "tombstone"),
        (b"\xff\xfe", "UTF-8"),
        ('{"eventId": "EVT-1", ', "not valid JSON"),
        ('["EVT-1", "ORDER_CREATED"]', "JSON list"),
        (json.dumps({k: v for k, v in _raw_event().items() if k != "eventId"}), "eventId is missing"),
        (json.dumps(_raw_event(eventType="ORDER_TELEPORTED")), "eventType 'ORDER_TELEPORTED'"),
        (json.dumps(_raw_event(occurredAt=True)), "occurredAt is True"),
        (json.dumps(_raw_event(occurredAt="yesterday")), "occurredAt is 'yesterday'"),
        (json.dumps(_raw_event(occurredAt="2024-03-01T10:00:00")), "without a zone"),
        (json.dumps(_raw_event(occurredAt=17092800)), "between 2000 and 2100"),
        (json.dumps(_raw_event(payload=[1, 2])), "payload is a JSON list"),
        (json.dumps(_raw_event(payload={"orderId": "ORD-1"})), "payload.accountId is missing"),
    ],
)
def test_malformed_value_is_rejected_naming_the_problem(value, expected_fragment):
    with pytest.raises(MalformedEventError) as raised:
        map_event(parse_event(value), "orders-raw", 0, 0)

    assert expected_fragment in str(raised.value)


@pytest.mark.parametrize("amount", ["twelve", [12.5], True, -5, "1e20", float("inf")])
def test_invalid_amount_is_rejected(amount):
    raw = _raw_event()
    raw["payload"]["amount"] = amount

    with pytest.raises(MalformedEventError) as raised:
        map_event(raw, "orders-raw", 0, 0)

    assert "payload.amount" in str(raised.value)


@pytest.mark.parametrize("currency", ["EURO", "E1R", 978, ""])
def test_invalid_currency_is_rejected(currency):
    raw = _raw_event()
    raw["payload"]["currency"] = currency

    with pytest.raises(MalformedEventError) as raised:
        map_event(raw, "orders-raw", 0, 0)

    assert "payload.currency" in str(raised.value)


def test_generator_is_reproducible():
    first = generate_orders.build_records(500, seed=7, malformed_ratio=0.05, duplicate_ratio=0.01)
    second = generate_orders.build_records(500, seed=7, malformed_ratio=0.05, duplicate_ratio=0.01)
    other_seed = generate_orders.build_records(500, seed=8, malformed_ratio=0.05, duplicate_ratio=0.01)

    assert [(r.key, r.value) for r in first] == [(r.key, r.value) for r in second]
    assert [r.value for r in first] != [r.value for r in other_seed]


def test_job_rejects_exactly_the_generated_malformed_records():
    records = generate_orders.build_records(
        2000, seed=20240301, malformed_ratio=0.05, duplicate_ratio=0.01
    )
    manifest = generate_orders.summarize(records, "orders-raw", 20240301)

    rejected = 0
    accepted_types: dict[str, int] = {}
    for offset, record in enumerate(records):
        try:
            event = map_event(parse_event(record.value.decode()), "orders-raw", 0, offset)
        except MalformedEventError:
            rejected += 1
            assert record.label.startswith("MALFORMED:"), record.value
            continue
        assert record.label == event.event_type, record.value
        accepted_types[event.event_type] = accepted_types.get(event.event_type, 0) + 1

    assert manifest["malformed"] > 0
    assert rejected == manifest["malformed"]
    assert sum(accepted_types.values()) == manifest["valid"]
    assert manifest["produced"] == 2000


def test_sink_skips_redelivered_event(tmp_path):
    database = tmp_path / "orders.duckdb"
    sink = orders_job.OrdersSink(str(database), connection=None, routes={})
    event = map_event(_raw_event(), "orders-raw", 1, 5)
    redelivered = map_event(_raw_event(), "orders-raw", 1, 5)

    sink.store(event)
    sink.store(redelivered)
    sink.close()

    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute("SELECT event_id, amount, currency FROM order_events").fetchall()
    assert rows == [("EVT-000001", Decimal("129.90"), "EUR")]
    assert sink.counts["inserted"] == 1
    assert sink.counts["duplicates_skipped"] == 1


def test_sink_keeps_nothing_when_routing_fails(tmp_path):
    database = tmp_path / "orders.duckdb"
    # No connection artifact: kafka_producer rejects the call, as it would
    # reject one whose records the broker refused.
    sink = orders_job.OrdersSink(
        str(database), connection=None, routes={"ACCOUNT_ADD": ("accounts", "account_id")}
    )
    raw = _raw_event(
        eventType="ACCOUNT_ADD",
        payload={"accountId": "ACC-9", "customerId": "CUS-9", "currency": "chf"},
    )

    with pytest.raises(orders_job.RoutingError) as raised:
        sink.store(map_event(raw, "orders-raw", 0, 1))
    sink.close()

    assert "routing EVT-000001 (ACCOUNT_ADD) to accounts failed" in str(raised.value)
    with duckdb.connect(str(database), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM order_events").fetchone()[0] == 0
