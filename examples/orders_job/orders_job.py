"""Orders job: the DataPy version of a Talend Kafka flow.

The Talend job it replaces chained tKafkaConnection, tKafkaInput, tMap,
tExtractJSONFields, a second tMap with one output per event type, and
tKafkaOutput. Here the same steps are:

1. ``kafka_connector`` connects through the Kafka sidecar.
2. ``kafka_consumer`` streams the JSON order events of ``orders-raw`` and
   calls ``process_message`` for each one until SIGTERM or Ctrl+C.
3. ``process_message`` parses and maps the event (``order_events``), inserts
   it into a DuckDB table, and routes ACCOUNT_ADD and CUSTOMER_ADD events to
   their own topics with ``kafka_producer``.
4. A malformed event is acked as an error; with ``on_error=continue`` the
   sidecar logs it, commits it and moves on.

Delivery is at-least-once, so a message can arrive twice. The DuckDB insert
is keyed by event id and skips known events, and an event is routed only in
the transaction that first inserts it. A redelivered event therefore neither
adds a row nor produces a second routed record, unless the job died after
producing and before its DuckDB commit.

Settings come from a JSON context file (``context.json`` next to this file),
and any value there can be overridden by an environment variable:
``${kafka.bootstrap_servers}`` reads ``KAFKA__BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb

from kafka_sidecar_client import StreamController
from kafka_sidecar_client.context import substitute_context
from kafka_sidecar_client.datapy import run_mod, setup_context, setup_logging

from order_events import MalformedEventError, OrderEvent, map_event, parse_event

logger = logging.getLogger("orders_job")

DEFAULT_CONTEXT = Path(__file__).with_name("context.json")

# The job's own settings, resolved from the context like mod parameters.
_JOB_SETTINGS = {
    "input_topic": "${orders.input_topic}",
    "group_id": "${orders.group_id}",
    "account_topic": "${orders.account_topic}",
    "customer_topic": "${orders.customer_topic}",
    "duckdb_path": "${orders.duckdb_path}",
}

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS order_events (
    event_id        VARCHAR PRIMARY KEY,
    event_type      VARCHAR NOT NULL,
    occurred_at     TIMESTAMP NOT NULL,  -- UTC
    source          VARCHAR,
    account_id      VARCHAR,
    customer_id     VARCHAR,
    order_id        VARCHAR,
    amount          DECIMAL(12, 2),
    currency        VARCHAR,
    details         JSON,
    kafka_topic     VARCHAR NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset    BIGINT NOT NULL,
    ingested_at     TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
)
"""

_INSERT_EVENT = """
INSERT INTO order_events (
    event_id, event_type, occurred_at, source, account_id, customer_id, order_id,
    amount, currency, details, kafka_topic, kafka_partition, kafka_offset
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


class RoutingError(RuntimeError):
    """The routed copy of an event was not delivered to its output topic."""


class OrdersSink:
    """The DuckDB table and the routed output topics.

    The consumer calls ``store`` from one thread at a time, but the lock makes
    the DuckDB connection safe for any caller.
    """

    def __init__(self, database_path: str, connection: Any, routes: dict[str, tuple[str, str]]):
        """Open (or create) the database and its table.

        Args:
            database_path: DuckDB file; its folder is created when missing.
            connection: The ``connection`` artifact of ``kafka_connector``.
            routes: Event type -> (output topic, key field of the routed record).
        """
        Path(database_path).parent.mkdir(parents=True, exist_ok=True)
        self._database = duckdb.connect(database_path)
        self._database.execute(_CREATE_TABLE)
        self._connection = connection
        self._routes = routes
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def store(self, event: OrderEvent) -> None:
        """Insert the event and route it, in one DuckDB transaction.

        Raises:
            RoutingError: The routed record was not delivered; nothing was stored.
            duckdb.Error: The insert failed; nothing was stored or routed.
        """
        with self._lock:
            self._database.begin()
            try:
                inserted = self._database.execute(
                    _INSERT_EVENT,
                    [
                        event.event_id,
                        event.event_type,
                        event.occurred_at,
                        event.source,
                        event.account_id,
                        event.customer_id,
                        event.order_id,
                        event.amount,
                        event.currency,
                        event.details,
                        event.kafka_topic,
                        event.kafka_partition,
                        event.kafka_offset,
                    ],
                ).fetchall()
                if inserted:
                    self._route(event)
                self._database.commit()
            except BaseException:
                self._database.rollback()
                raise
        self.counts["inserted" if inserted else "duplicates_skipped"] += 1

    def _route(self, event: OrderEvent) -> None:
        route = self._routes.get(event.event_type)
        if route is None:
            return
        topic, key_field = route
        result = run_mod(
            "kafka_producer",
            {
                "connection": self._connection,
                "topic": topic,
                "data": event.to_record(),
                "key_column": key_field,
                "value_format": "json",
                "headers": {
                    "event_type": event.event_type,
                    "source": f"{event.kafka_topic}/{event.kafka_partition}@{event.kafka_offset}",
                },
                "flush_after_send": True,
            },
        )
        if result["status"] == "error":
            reasons = "; ".join(str(error) for error in result.get("errors", []))
            raise RoutingError(
                f"routing {event.event_id} ({event.event_type}) to {topic} failed: "
                f"{reasons or 'no reason given'}"
            )
        self.counts[f"routed:{topic}"] += 1

    def close(self) -> None:
        """Close the database; idempotent."""
        with self._lock:
            self._database.close()


def make_processor(sink: OrdersSink, controller: StreamController):
    """Return the ``message_processor`` callback of ``kafka_consumer``."""

    def process_message(message: dict[str, Any]) -> dict[str, Any]:
        location = f"{message['topic']}/{message['partition']}@{message['offset']}"
        try:
            event = map_event(
                parse_event(message["value"]),
                message["topic"],
                message["partition"],
                message["offset"],
            )
        except MalformedEventError as error:
            sink.counts["malformed"] += 1
            logger.debug("malformed event %s: %s", location, error)
            return {"status": "error", "error": f"malformed event {location}: {error}"}

        try:
            sink.store(event)
        except (RoutingError, duckdb.Error) as error:
            # Not the event's fault: acking it as an error would let the
            # continue policy commit it and lose it. Stop the job without
            # acking, so the sidecar redelivers the event after a restart.
            logger.critical("stopping: %s at %s: %s", event.event_id, location, error)
            controller.request_stop(f"storing {event.event_id} failed")
            raise JobFailure(f"{event.event_id} at {location}: {error}") from error
        return {"status": "success"}

    return process_message


class JobFailure(BaseException):
    """A failure the job cannot continue from; ends the consumer without an ack.

    It derives from BaseException so that the consumer's handling of
    ordinary exceptions, which acks them as errors, does not catch it.
    """


def load_settings() -> dict[str, Any]:
    """Resolve the job's own settings from the loaded context."""
    return substitute_context(_JOB_SETTINGS)


def connector_params() -> dict[str, Any]:
    """Build the ``kafka_connector`` parameters from the context.

    An empty ``kafka.bootstrap_servers`` selects the sidecar's default
    connection, which is how a pod whose Kafka settings live in the sidecar's
    ConfigMap and Secret runs the job.
    """
    resolved = substitute_context(
        {
            "bootstrap_servers": "${kafka.bootstrap_servers}",
            "security_protocol": "${kafka.security_protocol}",
            "sidecar_address": "${kafka.sidecar_address}",
        }
    )
    return {name: value for name, value in resolved.items() if value not in ("", None)}


def run(context_path: Path, log_level: str, result_file: Path | None) -> int:
    """Run the job until shutdown; return the process exit code."""
    setup_logging(log_level, "orders_job.py")
    setup_context(str(context_path))
    settings = load_settings()

    connected = run_mod("kafka_connector", connector_params())
    if connected["status"] == "error":
        logger.critical("kafka_connector failed: %s", "; ".join(map(str, connected["errors"])))
        return int(connected.get("exit_code", 30))
    connection = connected["artifacts"]["connection"]

    sink = OrdersSink(
        settings["duckdb_path"],
        connection,
        routes={
            "ACCOUNT_ADD": (settings["account_topic"], "account_id"),
            "CUSTOMER_ADD": (settings["customer_topic"], "customer_id"),
        },
    )
    controller = StreamController()
    result: dict[str, Any] = {}
    try:
        result = run_mod(
            "kafka_consumer",
            {
                "connection": connection,
                "topics": [settings["input_topic"]],
                "group_id": settings["group_id"],
                "message_processor": make_processor(sink, controller),
                "controller": controller,
                "on_error": "continue",
                "auto_offset_reset": "earliest",
            },
        )
    except JobFailure as failure:
        result = {
            "status": "error",
            "exit_code": 30,
            "metrics": {},
            "errors": [f"job failure, event not acked: {failure}"],
        }
    finally:
        sink.close()
        controller.close()

    summary = {
        "status": result.get("status"),
        "exit_code": result.get("exit_code"),
        "metrics": result.get("metrics", {}),
        "errors": [str(error) for error in result.get("errors", [])][:20],
        "job_counts": dict(sink.counts),
    }
    logger.info("orders job finished: %s", json.dumps(summary, default=str))
    if result_file is not None:
        result_file.parent.mkdir(parents=True, exist_ok=True)
        result_file.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return 0 if result.get("status") in ("success", "warning") else int(result.get("exit_code") or 30)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--context", type=Path, default=DEFAULT_CONTEXT, help=f"context JSON (default {DEFAULT_CONTEXT})"
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR (INFO)")
    parser.add_argument(
        "--result-file", type=Path, help="write the consumer's result and the job's counts here"
    )
    args = parser.parse_args(argv)
    return run(args.context, args.log_level, args.result_file)


if __name__ == "__main__":
    sys.exit(main())
