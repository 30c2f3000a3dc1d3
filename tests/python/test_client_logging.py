"""Tab-delimited stderr logging."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone

import pytest

from kafka_sidecar_client._modkit import ModLogger
from kafka_sidecar_client.logs import TabDelimitedFormatter, setup_logging


def read_lines(capsys: pytest.CaptureFixture[str]) -> list[list[str]]:
    return [line.split("\t") for line in capsys.readouterr().err.splitlines()]


def test_line_has_seven_fields_in_utc(capsys: pytest.CaptureFixture[str]) -> None:
    logger = setup_logging("INFO", "job.orders")
    before = time.time()
    logger.info("Processed %d messages", 5)
    after = time.time()

    [fields] = read_lines(capsys)
    assert len(fields) == 7
    timestamp, level, name, mod_type, mod_name, message, extra = fields
    assert timestamp.endswith("Z")
    parsed = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
    assert before - 0.002 <= parsed <= after + 0.002
    assert (level, name, mod_type, mod_name, message, extra) == (
        "INFO",
        "job.orders",
        "-",
        "-",
        "Processed 5 messages",
        "-",
    )


def test_mod_fields_and_extra_json(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("DEBUG")
    logger = ModLogger(
        logging.getLogger("kafka_sidecar_client.test"), {"mod_type": "kafka_consumer", "mod_name": "read"}
    )
    logger.warning("Slow batch", extra={"partition": 3, "topics": ["a"]})

    [fields] = read_lines(capsys)
    assert fields[1:5] == ["WARNING", "kafka_sidecar_client.test", "kafka_consumer", "read"]
    assert json.loads(fields[6]) == {"partition": 3, "topics": ["a"]}


def test_multiline_message_stays_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    logger = setup_logging("INFO", "job")
    try:
        raise ValueError("bad\tinput")
    except ValueError:
        logger.exception("Failed\nto parse")

    lines = read_lines(capsys)
    assert len(lines) == 1
    assert lines[0][5] == "Failed\\nto parse"
    assert "ValueError: bad\tinput" in json.loads(lines[0][6])["exception"]


def test_level_filters(capsys: pytest.CaptureFixture[str]) -> None:
    logger = setup_logging("warning", "job")
    logger.info("hidden")
    logger.warning("shown")

    assert [fields[5] for fields in read_lines(capsys)] == ["shown"]


def test_second_setup_replaces_handler(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO")
    logger = setup_logging("INFO", "job")
    logger.info("once")

    assert len(read_lines(capsys)) == 1


def test_invalid_level() -> None:
    with pytest.raises(
        ValueError, match=r"Invalid log level 'LOUD'\. Accepted values: DEBUG, INFO, WARNING, ERROR, CRITICAL"
    ):
        setup_logging("LOUD")


def test_formatter_without_extra() -> None:
    record = logging.LogRecord("n", logging.ERROR, __file__, 1, "plain", None, None)
    fields = TabDelimitedFormatter().format(record).split("\t")

    assert fields[1:] == ["ERROR", "n", "-", "-", "plain", "-"]
