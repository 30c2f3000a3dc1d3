"""DataPy mod kafka_producer: send records to one topic (Talend tKafkaOutput).

Synchronous and request-based: it needs no controller, and it works inside a
consumer's ``message_processor``, also while the sidecar drains. Records go
to the sidecar in requests of at most 1000 records and 3 MiB each.
"""

from __future__ import annotations

import time
from typing import Any

from kafka_sidecar_client._modkit import (
    ConfigSchema,
    ModLogger,
    ModMetadata,
    ModResult,
    ParamValidationError,
    run_validated,
)
from kafka_sidecar_client.client import SidecarClient, SidecarError
from kafka_sidecar_client.connection import connection_target
from kafka_sidecar_client.records import (
    VALUE_FORMATS,
    RecordError,
    build_records,
    chunk_records,
    normalize_data,
)

METADATA = ModMetadata(
    type="kafka_producer",
    version="0.1.0",
    description="Sends records to a Kafka topic through the Kafka sidecar (Talend tKafkaOutput).",
    category="sink",
    input_ports=["data"],
    output_ports=["deliveries"],
    globals=["delivered", "failed"],
    packages=["kafka-sidecar-client"],
    python_version=">=3.10",
)

CONFIG_SCHEMA = ConfigSchema(
    required={
        "connection": {"type": "object", "description": "The 'connection' artifact of kafka_connector."},
        "topic": {"type": "str", "description": "Destination topic."},
        "data": {
            "type": "object",
            "substitute": False,
            "description": "A dict, a list of records, a pandas DataFrame or a DuckDB relation.",
        },
    },
    optional={
        "key_column": {"type": "str", "default": None, "description": "Column holding each record's key."},
        "key_value": {"type": "str|bytes|int", "default": None, "description": "Fixed key for every record."},
        "value_column": {
            "type": "str",
            "default": None,
            "description": "Column holding the value; default: the whole record.",
        },
        "value_format": {
            "type": "str",
            "default": "json",
            "choices": list(VALUE_FORMATS),
            "description": "json (UTF-8 JSON of the record), string (UTF-8 text) or bytes.",
        },
        "headers": {
            "type": "dict",
            "default": None,
            "description": "Headers for every record: name -> str or bytes.",
        },
        "partition": {"type": "int", "default": None, "min": 0, "description": "Fixed partition."},
        "flush_after_send": {
            "type": "bool",
            "default": True,
            "description": "Wait for the broker's acknowledgement of every record.",
        },
        "flush_timeout_s": {
            "type": "float",
            "default": 10.0,
            "min": 0,
            "description": "Bound of that wait, in seconds.",
        },
        "on_send_error": {
            "type": "str",
            "default": "raise",
            "choices": ["raise", "log"],
            "description": "raise: failed records make the result an error (exit code 30). "
            "log: they are logged and the result is a warning (exit code 10).",
        },
    },
)

_MAX_FAILURES_LISTED = 5


def _produce(params: dict[str, Any], result: ModResult, log: ModLogger) -> None:
    try:
        connection_id, address = connection_target(params["connection"])
    except ValueError as error:
        raise ParamValidationError([str(error)]) from None
    topic = params["topic"].strip()
    if not topic:
        raise ParamValidationError(["Parameter 'topic' must not be empty."])
    if params["key_column"] is not None and params["key_value"] is not None:
        raise ParamValidationError(["Set either key_column or key_value, not both."])

    try:
        rows = normalize_data(params["data"])
        records = build_records(
            rows,
            value_format=params["value_format"],
            key_column=params["key_column"],
            key_value=params["key_value"],
            value_column=params["value_column"],
            headers=params["headers"],
            partition=params["partition"],
        )
    except (TypeError, RecordError) as error:
        raise ParamValidationError([str(error)]) from None

    result.metrics.update({"records": len(records), "delivered": 0, "failed": 0})
    deliveries: list[dict[str, Any]] = []
    result.artifacts["deliveries"] = deliveries
    if not records:
        result.add_warning(f"No records to send to {topic}.")
        return

    wait = params["flush_after_send"]
    timeout_ms = int(params["flush_timeout_s"] * 1000)
    client = SidecarClient.shared(address)
    started = time.monotonic()
    failures: list[str] = []
    for chunk in chunk_records(records):
        try:
            response = client.produce(
                connection_id, topic, chunk, wait_for_delivery=wait, timeout_ms=timeout_ms
            )
        except SidecarError as error:
            outcomes = [(-1, -1, str(error))] * len(chunk)
        else:
            outcomes = [(r.partition, r.offset, r.error) for r in response.results]
            if len(outcomes) != len(chunk):
                mismatch = f"the sidecar returned {len(outcomes)} results for {len(chunk)} records"
                outcomes = [(-1, -1, mismatch)] * len(chunk)
        for partition, offset, error_text in outcomes:
            index = len(deliveries)
            deliveries.append(
                {"index": index, "partition": partition, "offset": offset, "error": error_text or None}
            )
            if error_text:
                failures.append(f"record {index}: {error_text}")

    failed = len(failures)
    result.metrics["delivered"] = len(records) - failed
    result.metrics["failed"] = failed
    result.metrics["elapsed_s"] = round(time.monotonic() - started, 3)
    result.metrics["delivery_confirmed"] = bool(wait)
    result.globals["delivered"] = len(records) - failed
    result.globals["failed"] = failed
    log.debug("Sent %d records to %s, %d failed", len(records), topic, failed)

    if failures:
        listed = "; ".join(failures[:_MAX_FAILURES_LISTED])
        more = f" and {failed - _MAX_FAILURES_LISTED} more" if failed > _MAX_FAILURES_LISTED else ""
        message = f"{failed} of {len(records)} records to {topic} failed: {listed}{more}"
        if params["on_send_error"] == "raise":
            log.error(message)
            result.add_error(message)
        else:
            log.warning(message)
            result.add_warning(message)


def run(params: dict[str, Any]) -> dict[str, Any]:
    """Send ``data`` to ``topic`` and return the DataPy result dict.

    Args:
        params: See CONFIG_SCHEMA.

    Returns:
        The result dict. ``metrics`` has records, delivered and failed;
        ``artifacts["deliveries"]`` lists each record's index, partition,
        offset and error (None on success; partition and offset are -1 when
        unknown).
    """
    return run_validated(CONFIG_SCHEMA, params, METADATA.type, __name__, _produce)
