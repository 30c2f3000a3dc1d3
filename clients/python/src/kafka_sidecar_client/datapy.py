"""A DataPy-compatible job API for environments without DataPy.

Job scripts written for DataPy run unchanged against this module::

    from kafka_sidecar_client.datapy import run_mod, setup_context, setup_logging

    setup_logging("INFO", __name__)
    setup_context("kafka_context.json")
    connection = run_mod("kafka_connector", {"bootstrap_servers": "${kafka.bootstrap_servers}"})

``run_mod`` resolves the three Kafka mods by name and any other mod by its
module path (``package.module``). It substitutes ``${...}`` context
variables, whose rules and environment overrides ``kafka_sidecar_client.context``
documents. Then it validates the parameters against the mod's CONFIG_SCHEMA
and returns the mod's result dict. Errors are returned, never raised: exit code
20 for invalid parameters, 30 for failures while running.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from kafka_sidecar_client._modkit import (
    RUNTIME_ERROR,
    VALIDATION_ERROR,
    ModLogger,
    ModResult,
    ParamValidationError,
    schema_sections,
    validate_params,
)
from kafka_sidecar_client.context import ContextError, clear_context, setup_context, substitute_context
from kafka_sidecar_client.controller import StreamController
from kafka_sidecar_client.logs import setup_logging
from kafka_sidecar_client.mods import BUILTIN_MODS

__all__ = [
    "StreamController",
    "clear_context",
    "run_mod",
    "setup_context",
    "setup_logging",
]

logger = logging.getLogger(__name__)

_RESULT_KEYS = ("status", "exit_code", "metrics", "artifacts", "globals", "warnings", "errors", "logs")


def _error_result(mod_type: str, mod_name: str, messages: list[str], code: int) -> dict[str, Any]:
    result = ModResult(mod_type, mod_name)
    for message in messages:
        result.add_error(message, code)
    return result.finish()


def _load_mod(mod_type: str) -> ModuleType:
    """Import the module of ``mod_type``.

    Raises:
        ParamValidationError: Unknown name, failed import, or no ``run`` function.
    """
    module_path = BUILTIN_MODS.get(mod_type)
    if module_path is None:
        if "." not in mod_type:
            raise ParamValidationError(
                [
                    f"Unknown mod type {mod_type!r}. Built-in mods: {', '.join(BUILTIN_MODS)}. "
                    "Other mods are named by module path, e.g. mypackage.mods.my_mod."
                ]
            )
        module_path = mod_type
    try:
        module = importlib.import_module(module_path)
    except ImportError as error:
        raise ParamValidationError([f"Cannot import mod module {module_path}: {error}"]) from None
    if not callable(getattr(module, "run", None)):
        raise ParamValidationError([f"Mod module {module_path} has no run(params) function."])
    return module


def _generated_mod_name(mod_type: str) -> str:
    return f"{mod_type.rsplit('.', 1)[-1]}_{time.strftime('%Y%m%d_%H%M%S')}"


def run_mod(mod_type: str, params: dict[str, Any], mod_name: str | None = None) -> dict[str, Any]:
    """Run one mod and return its result dict.

    Args:
        mod_type: kafka_connector, kafka_consumer, kafka_producer, or the
            module path of another mod.
        params: The mod's parameters; strings may contain ``${...}`` variables.
        mod_name: Name of this step in logs and the result; generated when None.

    Returns:
        The DataPy result dict: status (success, warning, error), exit_code
        (0, 10, 20, 30), metrics, artifacts, globals, warnings, errors, logs.
    """
    mod_type = str(mod_type).strip() if mod_type else ""
    mod_name = (mod_name or "").strip() or _generated_mod_name(mod_type or "mod")
    if not mod_type:
        return _error_result("unknown", mod_name, ["mod_type must be a non-empty string."], VALIDATION_ERROR)
    if not isinstance(params, Mapping):
        return _error_result(
            mod_type, mod_name, [f"params must be a dict, got {type(params).__name__}."], VALIDATION_ERROR
        )

    log = ModLogger(logger, {"mod_type": mod_type, "mod_name": mod_name})
    try:
        module = _load_mod(mod_type)
        schema = getattr(module, "CONFIG_SCHEMA", None)
        skip: frozenset[str] = frozenset()
        if schema is not None:
            required, optional = schema_sections(schema)
            skip = frozenset(
                name for name, spec in {**required, **optional}.items() if spec.get("substitute") is False
            )
        substituted = substitute_context(params, skip)
        validated: dict[str, Any] = {}
        if schema is not None:
            # Checked here too so that mods without their own validation get
            # it. Unknown parameters are reported by the mod itself.
            validated, _ = validate_params(schema, substituted)
    except ContextError as error:
        log.error(str(error))
        return _error_result(mod_type, mod_name, [str(error)], VALIDATION_ERROR)
    except ParamValidationError as error:
        for problem in error.problems:
            log.error(problem)
        return _error_result(mod_type, mod_name, error.problems, VALIDATION_ERROR)

    # Parameters that the schema does not know stay, so that the mod reports them.
    call_params = {**substituted, **validated}
    call_params["_mod_type"] = mod_type
    call_params["_mod_name"] = mod_name

    log.debug("Running mod")
    try:
        result = module.run(call_params)
    except Exception as error:
        log.exception("Mod %s raised", mod_type)
        return _error_result(
            mod_type, mod_name, [f"Mod {mod_type} raised {type(error).__name__}: {error}"], RUNTIME_ERROR
        )

    if not isinstance(result, dict) or any(key not in result for key in _RESULT_KEYS):
        missing = [key for key in _RESULT_KEYS if not isinstance(result, dict) or key not in result]
        return _error_result(
            mod_type,
            mod_name,
            [f"Mod {mod_type} returned an invalid result: missing {', '.join(missing)}."],
            RUNTIME_ERROR,
        )
    log.debug("Mod finished: %s (exit code %s)", result["status"], result["exit_code"])
    return result
