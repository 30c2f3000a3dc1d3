"""Message dicts for the callback, and acks built from what the callback did."""

from __future__ import annotations

from typing import Any

import pytest
from fake_sidecar import make_message

from kafka_sidecar_client._proto import pb
from kafka_sidecar_client.messages import (
    ack_for_exception,
    ack_for_return,
    message_to_dict,
    process_message,
)


def test_message_dict_fields() -> None:
    message = make_message(
        7, offset=42, topic="orders", partition=2, key=b"k1", value=b'{"a": 1}', timestamp_ms=1234
    )
    converted = message_to_dict(message)

    assert converted == {
        "key": "k1",
        "value": '{"a": 1}',
        "topic": "orders",
        "partition": 2,
        "offset": 42,
        "timestamp": 1234,
        "headers": {},
        "_raw_message": message,
    }
    assert converted["_raw_message"].delivery_id == 7


@pytest.mark.parametrize(
    ("key", "value", "expected_key", "expected_value"),
    [
        (None, None, None, None),
        (b"", b"", "", ""),
        (None, b"", None, ""),
        (b"", None, "", None),
    ],
)
def test_null_and_empty_stay_distinct(
    key: bytes | None, value: bytes | None, expected_key: str | None, expected_value: str | None
) -> None:
    converted = message_to_dict(make_message(1, key=key, value=value))

    assert converted["key"] == expected_key
    assert converted["value"] == expected_value


def test_invalid_utf8_stays_bytes() -> None:
    raw = b"\xff\xfe\x00binary"
    converted = message_to_dict(make_message(1, key=b"\xc3\x28", value=raw))

    assert converted["key"] == b"\xc3\x28"
    assert converted["value"] == raw
    assert isinstance(converted["value"], bytes)


def test_unicode_decodes() -> None:
    converted = message_to_dict(make_message(1, key="clé".encode(), value="¥€".encode()))

    assert converted["key"] == "clé"
    assert converted["value"] == "¥€"


def test_headers_text_binary_null_and_repeats() -> None:
    message = make_message(
        1,
        headers=[
            ("source", b"billing"),
            ("trace", b"\xff\x00"),
            ("empty", b""),
            ("null", None),
            ("dup", b"first"),
            ("dup", b"second"),
        ],
    )
    headers = message_to_dict(message)["headers"]

    assert headers == {"source": "billing", "trace": b"\xff\x00", "empty": "", "null": None, "dup": "second"}


def test_success_return_acks_success() -> None:
    ack = ack_for_return(9, {"status": "success"})

    assert ack.delivery_id == 9
    assert ack.status == pb.Ack.STATUS_SUCCESS
    assert ack.error == ""


def test_status_is_case_insensitive() -> None:
    assert ack_for_return(1, {"status": "SUCCESS"}).status == pb.Ack.STATUS_SUCCESS
    assert ack_for_return(1, {"status": "Error", "error": "x"}).status == pb.Ack.STATUS_ERROR


def test_error_return_carries_reason() -> None:
    ack = ack_for_return(3, {"status": "error", "error": "amount missing"})

    assert ack.status == pb.Ack.STATUS_ERROR
    assert ack.error == "amount missing"


def test_error_without_reason_gets_one() -> None:
    ack = ack_for_return(3, {"status": "error"})

    assert ack.status == pb.Ack.STATUS_ERROR
    assert ack.error == "message_processor reported an error without a reason"


@pytest.mark.parametrize(
    ("returned", "shown"),
    [
        (None, "returned None"),
        (True, "returned True"),
        ("success", "returned 'success'"),
        ({"status": "ok"}, "returned {'status': 'ok'}"),
        ({}, "returned {}"),
    ],
)
def test_unexpected_return_is_error_naming_it(returned: Any, shown: str) -> None:
    ack = ack_for_return(4, returned)

    assert ack.status == pb.Ack.STATUS_ERROR
    assert shown in ack.error
    assert "Expected {'status': 'success'}" in ack.error


def test_long_return_is_shortened() -> None:
    ack = ack_for_return(4, "x" * 5000)

    assert ack.status == pb.Ack.STATUS_ERROR
    assert len(ack.error) < 700


def test_exception_becomes_error_with_text() -> None:
    ack = ack_for_exception(5, KeyError("customer_id"))

    assert ack.status == pb.Ack.STATUS_ERROR
    assert ack.error == "KeyError: 'customer_id'"


def test_exception_without_text_names_type() -> None:
    assert ack_for_exception(5, RuntimeError()).error == "RuntimeError"


def test_process_message_catches_exceptions() -> None:
    def failing(message: dict[str, Any]) -> None:
        raise ValueError(f"bad offset {message['offset']}")

    ack, error = process_message(failing, make_message(8, offset=80))

    assert isinstance(error, ValueError)
    assert ack.delivery_id == 8
    assert ack.error == "ValueError: bad offset 80"


def test_process_message_lets_keyboard_interrupt_through() -> None:
    def interrupted(message: dict[str, Any]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        process_message(interrupted, make_message(1))
