"""Job context: ${...} substitution, types, missing variables, environment overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kafka_sidecar_client.context import (
    ContextError,
    env_name_for,
    setup_context,
    substitute_context,
)
from kafka_sidecar_client.datapy import run_mod

CONTEXT = {
    "kafka": {
        "bootstrap_servers": "broker1:9092,broker2:9092",
        "timeout_ms": 5000,
        "topics": ["orders", "payments"],
        "tls": False,
        "extra": {"acks": "all"},
        "group": "billing",
    },
    "env": "prod",
}


@pytest.fixture
def context_file(tmp_path: Path) -> Path:
    path = tmp_path / "context.json"
    path.write_text(json.dumps(CONTEXT), encoding="utf-8")
    setup_context(path)
    return path


def test_whole_variable_keeps_type(context_file: Path) -> None:
    params = {
        "servers": "${kafka.bootstrap_servers}",
        "timeout": "${kafka.timeout_ms}",
        "topics": "${kafka.topics}",
        "tls": "${kafka.tls}",
        "extra": "${kafka.extra}",
    }
    resolved = substitute_context(params)

    assert resolved == {
        "servers": "broker1:9092,broker2:9092",
        "timeout": 5000,
        "topics": ["orders", "payments"],
        "tls": False,
        "extra": {"acks": "all"},
    }


def test_embedded_variable_becomes_text(context_file: Path) -> None:
    resolved = substitute_context({"group": "${kafka.group}-${env}", "label": "t=${kafka.timeout_ms}ms"})

    assert resolved == {"group": "billing-prod", "label": "t=5000ms"}


def test_nested_lists_and_dicts(context_file: Path) -> None:
    resolved = substitute_context({"headers": {"env": "${env}"}, "topics": ["${kafka.group}.in", "x"]})

    assert resolved == {"headers": {"env": "prod"}, "topics": ["billing.in", "x"]}


def test_objects_pass_through(context_file: Path) -> None:
    marker = object()
    assert substitute_context({"connection": marker})["connection"] is marker


def test_skipped_parameters_are_untouched(context_file: Path) -> None:
    data = [{"text": "${not.a.variable}"}]
    resolved = substitute_context({"data": data, "topic": "${env}"}, skip=frozenset({"data"}))

    assert resolved["data"] is data
    assert resolved["topic"] == "prod"


def test_substitution_does_not_modify_input(context_file: Path) -> None:
    params = {"topics": ["${env}"]}
    substitute_context(params)

    assert params == {"topics": ["${env}"]}


def test_missing_variable_names_it_and_both_sources(context_file: Path) -> None:
    with pytest.raises(ContextError) as caught:
        substitute_context({"topic": "${kafka.output_topic}"})

    message = str(caught.value)
    assert "${kafka.output_topic}" in message
    assert str(context_file) in message
    assert "KAFKA__OUTPUT_TOPIC" in message


def test_missing_variable_without_context_file() -> None:
    with pytest.raises(ContextError, match=r"none is loaded: call setup_context\(path\)"):
        substitute_context({"topic": "${kafka.topic}"})


def test_environment_defines_variable_without_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA__TOPIC", "from-env")

    assert substitute_context({"topic": "${kafka.topic}"}) == {"topic": "from-env"}


def test_environment_overrides_string(context_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092")

    resolved = substitute_context(
        {"servers": "${kafka.bootstrap_servers}", "text": "at ${kafka.bootstrap_servers}"}
    )

    assert resolved == {"servers": "127.0.0.1:19092", "text": "at 127.0.0.1:19092"}


@pytest.mark.parametrize(
    ("variable", "env_value", "expected"),
    [
        ("kafka.timeout_ms", "2500", 2500),
        ("kafka.tls", "true", True),
        ("kafka.topics", '["a"]', ["a"]),
        ("kafka.extra", '{"acks": "1"}', {"acks": "1"}),
    ],
)
def test_environment_override_keeps_type(
    context_file: Path, monkeypatch: pytest.MonkeyPatch, variable: str, env_value: str, expected: Any
) -> None:
    monkeypatch.setenv(env_name_for(variable), env_value)

    assert substitute_context({"value": "${" + variable + "}"}) == {"value": expected}


def test_environment_override_of_wrong_kind(context_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA__TIMEOUT_MS", "soon")

    with pytest.raises(ContextError) as caught:
        substitute_context({"timeout": "${kafka.timeout_ms}"})

    message = str(caught.value)
    assert "KAFKA__TIMEOUT_MS" in message
    assert "a number" in message


def test_env_names() -> None:
    assert env_name_for("kafka.bootstrap_servers") == "KAFKA__BOOTSTRAP_SERVERS"
    assert env_name_for("db-main.port") == "DB_MAIN__PORT"


def test_invalid_variable_name(context_file: Path) -> None:
    with pytest.raises(ContextError, match=r"Invalid context variable \$\{kafka\.\.x\}"):
        substitute_context({"a": "${kafka..x}"})


def test_context_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="Context file not found"):
        setup_context(tmp_path / "absent.json")

    broken = tmp_path / "broken.json"
    broken.write_text('{"a": 1,\n  oops}', encoding="utf-8")
    with pytest.raises(ContextError, match=r"Invalid JSON in context file .* at line 2"):
        setup_context(broken)

    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ContextError, match="must contain a JSON object, got list"):
        setup_context(listing)


def test_run_mod_reports_missing_variable_as_validation_error(context_file: Path) -> None:
    result = run_mod("kafka_connector", {"bootstrap_servers": "${kafka.missing}"})

    assert result["status"] == "error"
    assert result["exit_code"] == 20
    assert "${kafka.missing}" in result["errors"][0]["message"]


def test_run_mod_does_not_substitute_producer_data(context_file: Path, fake_sidecar: Any) -> None:
    from kafka_sidecar_client import KafkaConnection

    connection = KafkaConnection("", fake_sidecar.address, "127.0.0.1:9092", "PLAINTEXT")
    result = run_mod(
        "kafka_producer",
        {"connection": connection, "topic": "${env}-out", "data": {"template": "${kafka.not_defined}"}},
    )

    assert result["status"] == "success", result["errors"]
    request = fake_sidecar.servicer.produce_requests[0]
    assert request.topic == "prod-out"
    assert json.loads(request.records[0].value) == {"template": "${kafka.not_defined}"}
