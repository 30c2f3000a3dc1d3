"""Producer serialization: data shapes, value formats, keys, headers, chunks."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math

import duckdb
import pandas as pd
import pytest

from kafka_sidecar_client.records import (
    MAX_RECORDS_PER_REQUEST,
    RecordError,
    build_records,
    chunk_records,
    normalize_data,
)


def values(records: list) -> list:
    return [record.value if record.HasField("value") else None for record in records]


def keys(records: list) -> list:
    return [record.key if record.HasField("key") else None for record in records]


def test_dict_is_one_record() -> None:
    records = build_records(normalize_data({"id": 1, "name": "Zoë"}))

    assert len(records) == 1
    assert json.loads(records[0].value) == {"id": 1, "name": "Zoë"}
    assert "Zoë".encode() in records[0].value
    assert not records[0].HasField("key")
    assert not records[0].HasField("partition")


def test_list_of_dicts_keeps_order() -> None:
    rows = [{"id": index} for index in range(5)]
    records = build_records(normalize_data(rows))

    assert [json.loads(value)["id"] for value in values(records)] == [0, 1, 2, 3, 4]


def test_key_column_sets_keys() -> None:
    rows = [{"customer_id": "c1", "amount": 5}, {"customer_id": 42, "amount": 6}, {"customer_id": None}]
    records = build_records(rows, key_column="customer_id")

    assert keys(records) == [b"c1", b"42", None]
    assert json.loads(records[0].value) == {"customer_id": "c1", "amount": 5}


def test_key_column_missing_names_record_and_columns() -> None:
    with pytest.raises(RecordError, match=r"Record 1 has no column 'customer_id' \(columns: id, amount\)"):
        build_records([{"customer_id": "a"}, {"id": 2, "amount": 3}], key_column="customer_id")


def test_key_value_applies_to_all() -> None:
    records = build_records([{"a": 1}, {"a": 2}], key_value="fixed")

    assert keys(records) == [b"fixed", b"fixed"]


def test_bytes_key_value_kept() -> None:
    assert keys(build_records([{"a": 1}], key_value=b"\x00\x01")) == [b"\x00\x01"]


def test_string_format() -> None:
    records = build_records(normalize_data(["plain", "tëxt", 7]), value_format="string")

    assert values(records) == [b"plain", "tëxt".encode(), b"7"]


def test_string_format_rejects_dict_without_value_column() -> None:
    with pytest.raises(RecordError, match=r"Record 0 is a dict\. value_format 'string' needs str records"):
        build_records([{"a": 1}], value_format="string")


def test_value_column_selects_value() -> None:
    rows = [{"id": "k1", "payload": "hello"}, {"id": "k2", "payload": None}]
    records = build_records(rows, value_format="string", value_column="payload", key_column="id")

    assert values(records) == [b"hello", None]
    assert keys(records) == [b"k1", b"k2"]


def test_bytes_format() -> None:
    records = build_records(normalize_data([b"\x00\xff", bytearray(b"ab")]), value_format="bytes")

    assert values(records) == [b"\x00\xff", b"ab"]


def test_bytes_format_rejects_text() -> None:
    with pytest.raises(RecordError, match=r"Record 0 is a str\. value_format 'bytes' needs bytes records"):
        build_records(["text"], value_format="bytes")


def test_none_record_is_tombstone() -> None:
    records = build_records([None, {"a": 1}], key_value="k")

    assert values(records) == [None, b'{"a": 1}']
    assert keys(records) == [b"k", b"k"]


def test_json_handles_dates_decimals_and_bytes() -> None:
    row = {
        "when": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc),
        "day": dt.date(2024, 5, 1),
        "amount": decimal.Decimal("10.25"),
        "raw": b"\x01\x02",
        "missing": math.nan,
    }
    decoded = json.loads(build_records([row])[0].value)

    assert decoded == {
        "when": "2024-05-01T12:30:00+00:00",
        "day": "2024-05-01",
        "amount": "10.25",
        "raw": "AQI=",
        "missing": None,
    }


def test_json_rejects_unknown_types_with_index() -> None:
    with pytest.raises(RecordError, match="Record 1 cannot be serialized as JSON: value of type object"):
        build_records([{"a": 1}, {"a": object()}])


def test_json_rejects_infinity() -> None:
    with pytest.raises(RecordError, match="Record 0 cannot be serialized as JSON"):
        build_records([{"a": math.inf}])


def test_headers_on_every_record() -> None:
    records = build_records([{"a": 1}, {"a": 2}], headers={"source": "billing", "bin": b"\xff", "null": None})

    for record in records:
        converted = {h.name: (h.value if h.HasField("value") else None) for h in record.headers}
        assert converted == {"source": b"billing", "bin": b"\xff", "null": None}


def test_partition_on_every_record() -> None:
    records = build_records([{"a": 1}, {"a": 2}], partition=2)

    assert [record.partition for record in records] == [2, 2]
    assert all(record.HasField("partition") for record in records)


def test_invalid_value_format() -> None:
    with pytest.raises(
        RecordError, match=r"Invalid value_format 'avro'\. Accepted values: json, string, bytes\."
    ):
        build_records([{"a": 1}], value_format="avro")


def test_dataframe_rows() -> None:
    frame = pd.DataFrame(
        {
            "id": [1, 2],
            "name": ["a", None],
            "score": [1.5, float("nan")],
            "at": [pd.Timestamp("2024-01-02T03:04:05Z"), pd.NaT],
        }
    )
    records = build_records(normalize_data(frame), key_column="id")

    assert keys(records) == [b"1", b"2"]
    assert json.loads(records[0].value) == {
        "id": 1,
        "name": "a",
        "score": 1.5,
        "at": "2024-01-02T03:04:05+00:00",
    }
    assert json.loads(records[1].value) == {"id": 2, "name": None, "score": None, "at": None}


def test_duckdb_relation_rows() -> None:
    connection = duckdb.connect()
    relation = connection.sql(
        "SELECT * FROM (VALUES (1, 'a', 2.50::DECIMAL(5,2)), (2, 'b', NULL)) AS t(id, name, amount) "
        "ORDER BY id"
    )
    records = build_records(normalize_data(relation), key_column="name")

    assert keys(records) == [b"a", b"b"]
    assert [json.loads(value) for value in values(records)] == [
        {"id": 1, "name": "a", "amount": "2.50"},
        {"id": 2, "name": "b", "amount": None},
    ]


def test_generator_is_accepted() -> None:
    assert len(normalize_data({"i": i} for i in range(3))) == 3


def test_unsupported_data_type() -> None:
    with pytest.raises(TypeError, match="Parameter 'data' must be a dict, a list of dicts"):
        normalize_data(42)


def test_chunks_respect_count_limit() -> None:
    records = build_records([{"i": i} for i in range(MAX_RECORDS_PER_REQUEST * 2 + 1)])
    chunks = list(chunk_records(records))

    assert [len(chunk) for chunk in chunks] == [MAX_RECORDS_PER_REQUEST, MAX_RECORDS_PER_REQUEST, 1]
    assert [record for chunk in chunks for record in chunk] == records


def test_chunks_respect_size_limit() -> None:
    big = "x" * (1024 * 1024)
    records = build_records([big] * 5, value_format="string")
    chunks = list(chunk_records(records))

    assert all(sum(r.ByteSize() for r in chunk) <= 3 * 1024 * 1024 for chunk in chunks)
    assert sum(len(chunk) for chunk in chunks) == 5
    assert len(chunks) == 3
