"""DataPy mod kafka_consumer: the infinite consume loop (Talend tKafkaInput).

``run(params)`` subscribes through the sidecar and calls ``message_processor``
for every message until shutdown: SIGTERM/SIGINT, ``controller.request_stop()``
or the sidecar draining. Each message is acked after its callback returns,
and the sidecar commits only acked offsets (at-least-once). See
``kafka_sidecar_client.consumer`` for the shutdown sequence.
"""

from __future__ import annotations

from typing import Any

from kafka_sidecar_client._modkit import (
    ConfigSchema,
    ModLogger,
    ModMetadata,
    ModResult,
    ParamValidationError,
    run_validated,
)
from kafka_sidecar_client._proto import pb
from kafka_sidecar_client.client import SidecarClient
from kafka_sidecar_client.connection import connection_target
from kafka_sidecar_client.consumer import ConsumerLoop
from kafka_sidecar_client.controller import StreamController, as_stream_controller

AUTO_OFFSET_RESET = {
    "earliest": pb.AUTO_OFFSET_RESET_EARLIEST,
    "latest": pb.AUTO_OFFSET_RESET_LATEST,
    "none": pb.AUTO_OFFSET_RESET_NONE,
}
ON_ERROR = {
    "continue": pb.ON_ERROR_CONTINUE,
    "retry": pb.ON_ERROR_RETRY,
    "stop": pb.ON_ERROR_STOP,
}
COMMIT_STRATEGY = {
    "per_message": pb.COMMIT_STRATEGY_PER_MESSAGE,
    "batch": pb.COMMIT_STRATEGY_BATCH,
    "periodic": pb.COMMIT_STRATEGY_PERIODIC,
}

METADATA = ModMetadata(
    type="kafka_consumer",
    version="0.1.0",
    description="Consumes Kafka topics through the Kafka sidecar and acks each message (Talend tKafkaInput).",
    category="source",
    input_ports=[],
    output_ports=[],
    globals=["processed", "errors"],
    packages=["kafka-sidecar-client"],
    python_version=">=3.10",
)

CONFIG_SCHEMA = ConfigSchema(
    required={
        "connection": {"type": "object", "description": "The 'connection' artifact of kafka_connector."},
        "topics": {"type": "list|str", "description": "Topic names (a list, or one comma-separated str)."},
        "group_id": {"type": "str", "description": "Consumer group."},
        "message_processor": {
            "type": "callable",
            "description": "Callback taking the message dict and returning {'status': 'success'} "
            "or {'status': 'error', 'error': reason}.",
        },
    },
    optional={
        "auto_offset_reset": {
            "type": "str",
            "default": "earliest",
            "choices": list(AUTO_OFFSET_RESET),
            "description": "Where a group without committed offsets starts.",
        },
        "commit_strategy": {
            "type": "str",
            "default": "per_message",
            "choices": list(COMMIT_STRATEGY),
            "description": "When the sidecar commits acked offsets.",
        },
        "commit_batch_size": {
            "type": "int",
            "default": 0,
            "min": 0,
            "description": "For commit_strategy batch: commit after this many messages (0: sidecar default).",
        },
        "commit_interval_ms": {
            "type": "int",
            "default": 0,
            "min": 0,
            "description": "For commit_strategy periodic: commit interval (0: sidecar default).",
        },
        "on_error": {
            "type": "str",
            "default": "continue",
            "choices": list(ON_ERROR),
            "description": "continue: commit and move on. retry: redeliver with backoff. "
            "stop: commit nothing, end the stream, exit code 30.",
        },
        "max_retries": {
            "type": "int",
            "default": 3,
            "min": 0,
            "description": "Redeliveries for on_error retry.",
        },
        "retry_backoff_ms": {
            "type": "list|int",
            "default": [100, 200, 400],
            "description": "Delay before retry n is element n; the last one repeats.",
        },
        "dead_letter_topic": {
            "type": "str",
            "default": None,
            "description": "Topic for messages the error policy gives up on.",
        },
        "max_in_flight": {
            "type": "int",
            "default": 0,
            "min": 0,
            "description": "Messages delivered but not yet acked (0: the sidecar's --max-in-flight).",
        },
        "controller": {
            "type": "object",
            "default": None,
            "description": "A StreamController, or any object with should_stop(). "
            "Created (with signal handlers) when absent.",
        },
        "shutdown_drain_timeout_s": {
            "type": "int",
            "default": 0,
            "min": 0,
            "description": "How long the sidecar waits for acks once it drains "
            "(0: the sidecar's --shutdown-drain-timeout-s, 30 s unless configured).",
        },
        "log_summary_interval": {
            "type": "int",
            "default": 1000,
            "min": 0,
            "description": "Log a summary every N messages (0: only at the end).",
        },
        "client_name": {"type": "str", "default": None, "description": "Name in the sidecar's logs."},
    },
)


def _topics(value: list[Any] | str) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    topics = [item.strip() for item in items if isinstance(item, str) and item.strip()]
    if not topics or len(topics) != len(items):
        raise ParamValidationError(
            [f"Parameter 'topics' must be a non-empty list of topic names, got {value!r}."]
        )
    return topics


def _backoff(value: list[Any] | int) -> list[int]:
    items = [value] if isinstance(value, int) else value
    if not items or not all(
        isinstance(item, int) and not isinstance(item, bool) and item >= 0 for item in items
    ):
        raise ParamValidationError(
            [f"Parameter 'retry_backoff_ms' must be a non-empty list of milliseconds >= 0, got {value!r}."]
        )
    return list(items)


# How long the job waits for the sidecar to end a stream it half-closed when
# the drain timeout is the sidecar's own, which the job does not know: the
# pod's usual terminationGracePeriodSeconds.
UNKNOWN_DRAIN_TIMEOUT_S = 60


def build_subscribe(params: dict[str, Any], connection_id: str, client_name: str) -> Any:
    """Build the ``Subscribe`` message from validated parameters."""
    group_id = params["group_id"].strip()
    if not group_id:
        raise ParamValidationError(["Parameter 'group_id' must not be empty."])
    return pb.Subscribe(
        connection_id=connection_id,
        topics=_topics(params["topics"]),
        group_id=group_id,
        auto_offset_reset=AUTO_OFFSET_RESET[params["auto_offset_reset"]],
        on_error=ON_ERROR[params["on_error"]],
        max_retries=params["max_retries"],
        retry_backoff_ms=_backoff(params["retry_backoff_ms"]),
        max_in_flight=params["max_in_flight"],
        commit_strategy=COMMIT_STRATEGY[params["commit_strategy"]],
        commit_batch_size=params["commit_batch_size"],
        commit_interval_ms=params["commit_interval_ms"],
        shutdown_drain_timeout_s=params["shutdown_drain_timeout_s"],
        client_name=params["client_name"] or client_name,
        dead_letter_topic=params["dead_letter_topic"] or "",
    )


def _consume(params: dict[str, Any], result: ModResult, log: ModLogger) -> None:
    try:
        connection_id, address = connection_target(params["connection"])
    except ValueError as error:
        raise ParamValidationError([str(error)]) from None
    subscribe = build_subscribe(params, connection_id, result.mod_name)

    own_controller = params["controller"] is None
    if own_controller:
        controller = StreamController()
    else:
        try:
            controller = as_stream_controller(params["controller"])
        except TypeError as error:
            raise ParamValidationError([str(error)]) from None

    try:
        loop = ConsumerLoop(
            client=SidecarClient.shared(address),
            subscribe=subscribe,
            processor=params["message_processor"],
            controller=controller,
            logger=log,
            drain_timeout_s=params["shutdown_drain_timeout_s"] or UNKNOWN_DRAIN_TIMEOUT_S,
            log_summary_interval=params["log_summary_interval"],
        )
        outcome = loop.run()
    finally:
        if own_controller:
            controller.close()

    result.metrics.update(outcome.stats.as_metrics())
    result.globals["processed"] = outcome.stats.processed
    result.globals["errors"] = outcome.stats.errors
    result.metrics["stop_reason"] = outcome.stop_reason
    for warning in outcome.warnings:
        log.warning(warning)
        result.add_warning(warning)
    if outcome.error:
        log.critical(outcome.error)
        result.add_error(outcome.error)


def run(params: dict[str, Any]) -> dict[str, Any]:
    """Consume until shutdown and return the DataPy result dict.

    Args:
        params: See CONFIG_SCHEMA.

    Returns:
        The result dict. Status error with exit code 30 when the stream
        failed, for example ABORTED after an error ack with on_error stop.
    """
    return run_validated(CONFIG_SCHEMA, params, METADATA.type, __name__, _consume)
