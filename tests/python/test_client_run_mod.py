"""run_mod, parameter validation against CONFIG_SCHEMA, and the DataPy mod contract."""

from __future__ import annotations

import importlib
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from kafka_sidecar_client._modkit import ParamValidationError, validate_params
from kafka_sidecar_client.datapy import run_mod
from kafka_sidecar_client.mods import BUILTIN_MODS

RESULT_KEYS = {
    "status",
    "execution_time",
    "exit_code",
    "metrics",
    "artifacts",
    "globals",
    "warnings",
    "errors",
    "logs",
}

SCHEMA = {
    "required": {
        "name": {"type": "str", "description": "Name."},
        "count": {"type": "int", "description": "How many.", "min": 1},
    },
    "optional": {
        "mode": {"type": "str", "default": "fast", "choices": ["fast", "safe"], "description": "Mode."},
        "ratio": {"type": "float", "default": 0.5, "description": "Ratio."},
        "enabled": {"type": "bool", "default": True, "description": "Switch."},
        "items": {"type": "list", "default": [1, 2], "description": "Items."},
        "hook": {"type": "callable", "default": None, "description": "Callback."},
    },
}


@pytest.mark.parametrize("module_path", sorted(BUILTIN_MODS.values()))
def test_mod_modules_follow_datapy_contract(module_path: str) -> None:
    module = importlib.import_module(module_path)
    metadata = module.METADATA
    schema = module.CONFIG_SCHEMA

    assert callable(module.run)
    assert metadata.type == module_path.rsplit(".", 1)[1]
    assert re.fullmatch(r"\d+\.\d+\.\d+", metadata.version)
    assert len(metadata.description) >= 10
    assert metadata.category in {"source", "transformer", "sink", "solo"}
    for attribute in ("input_ports", "output_ports", "globals", "packages"):
        assert isinstance(getattr(metadata, attribute), list)
    for section in (schema.required, schema.optional):
        for name, spec in section.items():
            assert "type" in spec, name
            assert spec.get("description"), name
    for name, spec in schema.optional.items():
        assert "default" in spec, name
    # DataPy's registry stores the schema as JSON.
    json.dumps({"required": schema.required, "optional": schema.optional})


def test_validation_applies_defaults_and_converts_strings() -> None:
    validated, warnings = validate_params(
        SCHEMA, {"name": "a", "count": "3", "enabled": "false", "ratio": "2"}
    )

    assert validated == {
        "name": "a",
        "count": 3,
        "mode": "fast",
        "ratio": 2.0,
        "enabled": False,
        "items": [1, 2],
        "hook": None,
    }
    assert warnings == []


def test_default_lists_are_copies() -> None:
    first, _ = validate_params(SCHEMA, {"name": "a", "count": 1})
    first["items"].append(3)
    second, _ = validate_params(SCHEMA, {"name": "a", "count": 1})

    assert second["items"] == [1, 2]


def test_validation_lists_every_problem() -> None:
    with pytest.raises(ParamValidationError) as caught:
        validate_params(SCHEMA, {"count": 0, "mode": "turbo", "enabled": "maybe", "hook": 5})

    assert caught.value.problems == [
        "Missing required parameter 'name': Name.",
        "Parameter 'count' must be >= 1, got 0.",
        "Invalid value 'turbo' for parameter 'mode'. Accepted values: fast, safe.",
        "Parameter 'enabled' must be bool, got str 'maybe'.",
        "Parameter 'hook' must be a callable, got int 5.",
    ]


def test_bool_is_not_an_int() -> None:
    with pytest.raises(ParamValidationError, match=r"Parameter 'count' must be int, got bool True\."):
        validate_params(SCHEMA, {"name": "a", "count": True})


def test_choices_are_case_insensitive() -> None:
    validated, _ = validate_params(SCHEMA, {"name": "a", "count": 1, "mode": "SAFE"})

    assert validated["mode"] == "safe"


def test_unknown_parameter_is_warning_with_suggestion() -> None:
    validated, warnings = validate_params(SCHEMA, {"name": "a", "count": 1, "mdoe": "safe", "_mod_name": "x"})

    assert warnings == ["Unknown parameter 'mdoe' is ignored. Did you mean 'mode'?"]
    assert validated["_mod_name"] == "x"
    assert "mdoe" not in validated


def test_run_mod_unknown_type() -> None:
    result = run_mod("kafka_reader", {})

    assert set(result) == RESULT_KEYS
    assert result["exit_code"] == 20
    assert "Unknown mod type 'kafka_reader'" in result["errors"][0]["message"]
    assert "kafka_connector, kafka_consumer, kafka_producer" in result["errors"][0]["message"]


def test_run_mod_params_must_be_dict() -> None:
    result = run_mod("kafka_producer", ["not", "a", "dict"])  # type: ignore[arg-type]

    assert result["exit_code"] == 20
    assert "params must be a dict, got list" in result["errors"][0]["message"]


def test_run_mod_unknown_parameter_warns(fake_sidecar: Any) -> None:
    from kafka_sidecar_client import KafkaConnection

    connection = KafkaConnection("", fake_sidecar.address, "b:9092", "PLAINTEXT")
    result = run_mod(
        "kafka_producer", {"connection": connection, "topic": "t", "data": {"a": 1}, "topics": "x"}
    )

    assert result["status"] == "warning"
    assert result["warnings"][0]["message"] == "Unknown parameter 'topics' is ignored. Did you mean 'topic'?"
    assert result["logs"]["mod_type"] == "kafka_producer"
    assert result["logs"]["mod_name"].startswith("kafka_producer_")


def write_mod(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")


def test_run_mod_by_module_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_mod(
        tmp_path,
        "echo_mod",
        """
        CONFIG_SCHEMA = {
            "required": {"word": {"type": "str", "description": "Word."}},
            "optional": {"times": {"type": "int", "default": 2, "description": "Repeats."}},
        }

        def run(params):
            return {
                "status": "success", "execution_time": 0.0, "exit_code": 0,
                "metrics": {"echo": params["word"] * params["times"], "name": params["_mod_name"]},
                "artifacts": {}, "globals": {}, "warnings": [], "errors": [], "logs": {},
            }
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    result = run_mod("echo_mod", {"word": "ab"}, mod_name="echo")
    assert result["exit_code"] == 20
    assert "Unknown mod type 'echo_mod'" in result["errors"][0]["message"]

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "echo_mod.py").rename(tmp_path / "pkg" / "echo_mod.py")
    result = run_mod("pkg.echo_mod", {"word": "ab"}, mod_name="echo")

    assert result["status"] == "success", result["errors"]
    assert result["metrics"] == {"echo": "abab", "name": "echo"}

    missing = run_mod("pkg.echo_mod", {})
    assert missing["exit_code"] == 20
    assert "Missing required parameter 'word'" in missing["errors"][0]["message"]


def test_run_mod_turns_exceptions_into_runtime_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "badmods").mkdir()
    (tmp_path / "badmods" / "__init__.py").write_text("", encoding="utf-8")
    write_mod(tmp_path / "badmods", "raising", "def run(params):\n    raise RuntimeError('disk full')\n")
    write_mod(tmp_path / "badmods", "shapeless", "def run(params):\n    return {'status': 'success'}\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    raising = run_mod("badmods.raising", {})
    shapeless = run_mod("badmods.shapeless", {})
    absent = run_mod("badmods.absent", {})

    assert raising["exit_code"] == 30
    assert raising["errors"][0]["message"] == "Mod badmods.raising raised RuntimeError: disk full"
    assert shapeless["exit_code"] == 30
    assert "missing exit_code, metrics" in shapeless["errors"][0]["message"]
    assert absent["exit_code"] == 20
    assert "Cannot import mod module badmods.absent" in absent["errors"][0]["message"]


def test_generated_stubs_are_a_subpackage() -> None:
    from kafka_sidecar_client._generated import sidecar_pb2_grpc

    source = Path(sidecar_pb2_grpc.__file__).read_text(encoding="utf-8")
    assert "from . import sidecar_pb2" in source
    assert "from kafkasidecar" not in source
