"""Review job: long processing per message that checks for shutdown mid-way.

For every ORDER_CREATED event of at least ``review.min_amount``, the job runs
a review in several steps, each of which waits on a slow scoring service.
The service is simulated: ``controller.wait(step_s)`` replaces the call
and returns early when a stop is requested. Other events are acked at once.

Between steps the job checks ``controller.should_stop()``, which SIGTERM,
SIGINT and the sidecar's DRAINING event all set. A review interrupted that
way is abandoned: nothing of it was stored (the result is written only after
the last step), and the message is not acked, so the sidecar does not commit
it and the next run reviews it again. Raising ``ReviewInterrupted``, a
``BaseException``, is how the job leaves the consumer without an ack. The
consumer still sends the acks of earlier messages, then cancels its stream.

Results go to a DuckDB table keyed by event id, so a redelivered event is
reviewed again but stored once.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from pathlib import Path
from typing import Any

import duckdb

from kafka_sidecar_client import StreamController
from kafka_sidecar_client.context import substitute_context
from kafka_sidecar_client.datapy import run_mod, setup_context, setup_logging

from order_events import MalformedEventError, OrderEvent, map_event, parse_event

logger = logging.getLogger("review_job")

DEFAULT_CONTEXT = Path(__file__).with_name("context.json")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS order_reviews (
    event_id    VARCHAR PRIMARY KEY,
    order_id    VARCHAR NOT NULL,
    account_id  VARCHAR,
    amount      DECIMAL(12, 2) NOT NULL,
    currency    VARCHAR,
    risk_score  INTEGER NOT NULL,
    decision    VARCHAR NOT NULL,
    reviewed_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
)
"""


class ReviewInterrupted(BaseException):
    """A stop request arrived during a review; the message stays unacked.

    It derives from BaseException so that the consumer does not turn it into
    an error ack, which the continue policy would commit.
    """


class Reviewer:
    """Runs the multi-step review and stores its result."""

    def __init__(
        self,
        database_path: str,
        controller: StreamController,
        *,
        steps: int,
        step_s: float,
        min_amount: float,
    ) -> None:
        """Open (or create) the database.

        Args:
            database_path: DuckDB file; its folder is created when missing.
            controller: Stop flag checked between steps.
            steps: Calls to the scoring service per review.
            step_s: Simulated latency of one call, in seconds.
            min_amount: Orders below this amount are not reviewed.
        """
        Path(database_path).parent.mkdir(parents=True, exist_ok=True)
        self._database = duckdb.connect(database_path)
        self._database.execute(_CREATE_TABLE)
        self._controller = controller
        self._steps = steps
        self._step_s = step_s
        self._min_amount = min_amount
        self.reviewed = 0
        self.skipped = 0

    def needs_review(self, event: OrderEvent) -> bool:
        """Return whether the event is an order large enough to review."""
        return (
            event.event_type == "ORDER_CREATED"
            and event.amount is not None
            and event.amount >= self._min_amount
        )

    def review(self, event: OrderEvent) -> None:
        """Score the order step by step, then store the decision.

        Raises:
            ReviewInterrupted: A stop was requested before the last step ended.
        """
        logger.debug("reviewing %s (%s %s)", event.event_id, event.amount, event.currency)
        score = 0
        for step in range(self._steps):
            if self._controller.should_stop():
                raise ReviewInterrupted(f"{event.event_id}: stopped before step {step + 1}")
            # Simulates a call to a slow service; returns True at once
            # when a stop is requested while it waits.
            if self._controller.wait(self._step_s):
                raise ReviewInterrupted(f"{event.event_id}: stopped during step {step + 1}")
            digest = hashlib.sha256(f"{event.event_id}:{step}".encode()).digest()
            score += digest[0] % 25
        decision = "hold" if score >= 60 else "approve"
        self._database.execute(
            "INSERT INTO order_reviews (event_id, order_id, account_id, amount, currency,"
            " risk_score, decision) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            [
                event.event_id,
                event.order_id,
                event.account_id,
                event.amount,
                event.currency,
                score,
                decision,
            ],
        )
        self.reviewed += 1
        logger.debug("reviewed %s: score %d, %s", event.event_id, score, decision)

    def close(self) -> None:
        """Close the database."""
        self._database.close()


def make_processor(reviewer: Reviewer):
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
            return {"status": "error", "error": f"malformed event {location}: {error}"}
        if not reviewer.needs_review(event):
            reviewer.skipped += 1
            return {"status": "success"}
        reviewer.review(event)
        return {"status": "success"}

    return process_message


def run(context_path: Path, log_level: str) -> int:
    """Run the job until shutdown; return the process exit code."""
    setup_logging(log_level, "review_job.py")
    setup_context(str(context_path))
    settings = substitute_context(
        {
            "input_topic": "${orders.input_topic}",
            "group_id": "${review.group_id}",
            "duckdb_path": "${review.duckdb_path}",
            "steps": "${review.steps}",
            "step_s": "${review.step_s}",
            "min_amount": "${review.min_amount}",
            "sidecar_address": "${kafka.sidecar_address}",
        }
    )

    connected = run_mod("kafka_connector", {"sidecar_address": settings["sidecar_address"]})
    if connected["status"] == "error":
        logger.critical("kafka_connector failed: %s", "; ".join(map(str, connected["errors"])))
        return int(connected["exit_code"])

    controller = StreamController()
    reviewer = Reviewer(
        settings["duckdb_path"],
        controller,
        steps=int(settings["steps"]),
        step_s=float(settings["step_s"]),
        min_amount=float(settings["min_amount"]),
    )
    try:
        result = run_mod(
            "kafka_consumer",
            {
                "connection": connected["artifacts"]["connection"],
                "topics": [settings["input_topic"]],
                "group_id": settings["group_id"],
                "message_processor": make_processor(reviewer),
                "controller": controller,
                "on_error": "continue",
            },
        )
    except ReviewInterrupted as interrupted:
        logger.info("shutdown during a review, left for redelivery: %s", interrupted)
        return 0
    finally:
        reviewer.close()
        controller.close()
    logger.info("reviewed %d orders, skipped %d events", reviewer.reviewed, reviewer.skipped)
    return 0 if result["status"] in ("success", "warning") else int(result["exit_code"])


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=Path, default=DEFAULT_CONTEXT, help="context JSON file")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR (INFO)")
    args = parser.parse_args(argv)
    return run(args.context, args.log_level)


if __name__ == "__main__":
    sys.exit(main())
