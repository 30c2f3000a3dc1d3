"""Turning a producer's ``data`` into ``ProduceRecord`` messages.

``data`` may be a dict (one record), a list of records, a pandas
DataFrame, a DuckDB relation, or anything else iterable. DataFrames and
relations are recognized by their methods, so neither library is required.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kafka_sidecar_client._proto import pb

VALUE_FORMATS = ("json", "string", "bytes")

# Requests stay below gRPC's default 4 MiB receive limit of the sidecar.
MAX_REQUEST_BYTES = 3 * 1024 * 1024
MAX_RECORDS_PER_REQUEST = 1000


class RecordError(ValueError):
    """A record that cannot be serialized; the message names its index."""


def _is_missing(value: Any) -> bool:
    """Return whether ``value`` is a missing value: None, NaN, or pandas' NaT/NA."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NaTType", "NAType")


def _rows_of_relation(relation: Any) -> Iterator[dict[str, Any]]:
    columns = list(relation.columns)
    for row in relation.fetchall():
        yield dict(zip(columns, row, strict=True))


def normalize_data(data: Any) -> list[Any]:
    """Return ``data`` as a list of records.

    Raises:
        TypeError: When ``data`` is none of the accepted forms.
    """
    if isinstance(data, Mapping):
        return [dict(data)]
    if isinstance(data, (str, bytes, bytearray, memoryview)):
        return [data]
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        # pandas.DataFrame: one dict per row.
        return list(data.to_dict(orient="records"))
    if hasattr(data, "fetchall") and hasattr(data, "columns"):
        # DuckDB relation (DuckDBPyRelation) or a cursor-like object.
        return list(_rows_of_relation(data))
    if hasattr(data, "to_dicts"):
        # polars.DataFrame.
        return list(data.to_dicts())
    if isinstance(data, Iterable):
        return list(data)
    raise TypeError(
        "Parameter 'data' must be a dict, a list of dicts, a pandas DataFrame or a "
        f"DuckDB relation, got {type(data).__name__}."
    )


def _json_default(value: Any) -> Any:
    if _is_missing(value):
        return None
    if isinstance(value, (dt.date, dt.time)):
        # datetime and pandas.Timestamp are dates too.
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        # A string keeps every digit, which a float would not.
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if hasattr(value, "item") and callable(value.item):
        # numpy scalar.
        return value.item()
    if hasattr(value, "tolist") and callable(value.tolist):
        # numpy array.
        return value.tolist()
    raise TypeError(f"value of type {type(value).__name__} is not JSON serializable")


def _clean_missing(value: Any) -> Any:
    """Replace NaN and pandas' missing markers by None, recursively, for JSON."""
    if isinstance(value, dict):
        return {key: _clean_missing(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean_missing(item) for item in value]
    if _is_missing(value):
        return None
    return value


def encode_value(record: Any, value_format: str, value_column: str | None) -> bytes | None:
    """Serialize one record's value; None means a null value (a tombstone).

    Raises:
        RecordError: Without the record index; the caller adds it.
    """
    if value_column is not None:
        if not isinstance(record, Mapping):
            raise RecordError(
                f"value_column {value_column!r} needs dict records, got {type(record).__name__}"
            )
        if value_column not in record:
            raise RecordError(f"has no column {value_column!r} (columns: {', '.join(map(str, record))})")
        record = record[value_column]

    if _is_missing(record):
        return None
    if value_format == "json":
        try:
            text = json.dumps(
                _clean_missing(record), default=_json_default, ensure_ascii=False, allow_nan=False
            )
        except (TypeError, ValueError) as error:
            raise RecordError(f"cannot be serialized as JSON: {error}") from None
        return text.encode("utf-8")
    if value_format == "string":
        if isinstance(record, (bytes, bytearray, memoryview)):
            raise RecordError("is bytes. Use value_format 'bytes' for binary values")
        if isinstance(record, (Mapping, list, tuple)):
            raise RecordError(
                f"is a {type(record).__name__}. value_format 'string' needs str records, "
                "or value_column naming a text column"
            )
        return str(record).encode("utf-8")
    if isinstance(record, (bytes, bytearray, memoryview)):
        return bytes(record)
    raise RecordError(
        f"is a {type(record).__name__}. value_format 'bytes' needs bytes records, "
        "or value_column naming a binary column"
    )


def encode_key(value: Any) -> bytes | None:
    """Serialize a message key; None stays a null key."""
    if _is_missing(value):
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(_clean_missing(value), default=_json_default, ensure_ascii=False).encode("utf-8")
    return str(value).encode("utf-8")


def _encode_header_value(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8")


def build_records(
    rows: list[Any],
    *,
    value_format: str = "json",
    key_column: str | None = None,
    key_value: Any = None,
    value_column: str | None = None,
    headers: Mapping[str, Any] | None = None,
    partition: int | None = None,
) -> list[Any]:
    """Build one ``ProduceRecord`` per row.

    Args:
        rows: Records from ``normalize_data``.
        value_format: json, string or bytes.
        key_column: Column whose value is each record's key.
        key_value: Fixed key for every record (str, bytes or number).
        value_column: Column whose value is the record value, instead of the whole record.
        headers: Headers for every record: name -> str, bytes or None.
        partition: Fixed partition; None lets the partitioner choose.

    Raises:
        RecordError: Naming the index of the first record that cannot be built.
    """
    if value_format not in VALUE_FORMATS:
        raise RecordError(
            f"Invalid value_format {value_format!r}. Accepted values: {', '.join(VALUE_FORMATS)}."
        )
    header_messages = []
    for name, header_value in (headers or {}).items():
        header = pb.Header(name=str(name))
        encoded = _encode_header_value(header_value)
        if encoded is not None:
            header.value = encoded
        header_messages.append(header)
    fixed_key = encode_key(key_value) if key_value is not None else None

    records = []
    for index, row in enumerate(rows):
        try:
            value = encode_value(row, value_format, value_column)
            if key_column is not None:
                if not isinstance(row, Mapping):
                    raise RecordError(
                        f"key_column {key_column!r} needs dict records, got {type(row).__name__}"
                    )
                if key_column not in row:
                    raise RecordError(f"has no column {key_column!r} (columns: {', '.join(map(str, row))})")
                key = encode_key(row[key_column])
            else:
                key = fixed_key
        except RecordError as error:
            raise RecordError(f"Record {index} {error}.") from None

        record = pb.ProduceRecord(headers=header_messages)
        if key is not None:
            record.key = key
        if value is not None:
            record.value = value
        if partition is not None:
            record.partition = partition
        records.append(record)
    return records


def chunk_records(records: list[Any]) -> Iterator[list[Any]]:
    """Split records into request-sized chunks (by count and serialized size)."""
    chunk: list[Any] = []
    chunk_bytes = 0
    for record in records:
        size = record.ByteSize()
        if chunk and (len(chunk) >= MAX_RECORDS_PER_REQUEST or chunk_bytes + size > MAX_REQUEST_BYTES):
            yield chunk
            chunk, chunk_bytes = [], 0
        chunk.append(record)
        chunk_bytes += size
    if chunk:
        yield chunk
