"""Shared parts of the mods: metadata classes, parameter validation, the result dict.

Inside a DataPy installation ``ModMetadata`` and ``ConfigSchema`` are DataPy's
own classes, because ``python -m datapy register-mod`` accepts only instances
of those. Without DataPy, small dataclasses with the same fields stand in.
"""

from __future__ import annotations

import difflib
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from kafka_sidecar_client.secret import Secret

SUCCESS = 0
SUCCESS_WITH_WARNINGS = 10
VALIDATION_ERROR = 20
RUNTIME_ERROR = 30

_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
_CATEGORIES = ("source", "transformer", "sink", "solo")

try:
    from datapy.mod_manager.base import ConfigSchema, ModMetadata
except ImportError:

    @dataclass(frozen=True)
    class ModMetadata:  # type: ignore[no-redef]
        """Mod metadata with the fields DataPy's registry stores."""

        type: str
        version: str
        description: str
        category: str
        input_ports: list[str] = field(default_factory=list)
        output_ports: list[str] = field(default_factory=list)
        globals: list[str] = field(default_factory=list)
        packages: list[str] = field(default_factory=list)
        python_version: str = ">=3.10"

        def __post_init__(self) -> None:
            """Check the version format and the category.

            Raises:
                ValueError: On a version other than X.Y.Z or an unknown category.
            """
            if not _SEMVER.match(self.version):
                raise ValueError(f"Invalid mod version {self.version!r}: expected X.Y.Z")
            if self.category not in _CATEGORIES:
                raise ValueError(
                    f"Invalid mod category {self.category!r}. Accepted values: {', '.join(_CATEGORIES)}"
                )

    @dataclass(frozen=True)
    class ConfigSchema:  # type: ignore[no-redef]
        """Required and optional parameters, each with type, description and default."""

        required: dict[str, dict[str, Any]] = field(default_factory=dict)
        optional: dict[str, dict[str, Any]] = field(default_factory=dict)


__all__ = [
    "RUNTIME_ERROR",
    "SUCCESS",
    "SUCCESS_WITH_WARNINGS",
    "VALIDATION_ERROR",
    "ConfigSchema",
    "ModLogger",
    "ModMetadata",
    "ModResult",
    "ParamValidationError",
    "mod_identity",
    "validate_params",
]


class ParamValidationError(ValueError):
    """Invalid mod parameters; ``problems`` lists one message per parameter."""

    def __init__(self, problems: list[str]) -> None:
        """Create the error from one or more problem messages."""
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


class ModResult:
    """Builder of the DataPy result dict that ``run(params)`` returns."""

    def __init__(self, mod_type: str, mod_name: str) -> None:
        """Start timing a run of ``mod_type`` named ``mod_name``."""
        self.mod_type = mod_type
        self.mod_name = mod_name
        self.run_id = f"{mod_type}_{uuid.uuid4().hex[:8]}"
        self._started = time.monotonic()
        self.metrics: dict[str, Any] = {}
        self.artifacts: dict[str, Any] = {}
        self.globals: dict[str, Any] = {}
        self.warnings: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []

    def add_warning(self, message: str) -> None:
        """Record a warning; the result becomes status warning, exit code 10."""
        self.warnings.append(
            {"message": message, "warning_code": SUCCESS_WITH_WARNINGS, "timestamp": time.time()}
        )

    def add_error(self, message: str, error_code: int = RUNTIME_ERROR) -> None:
        """Record an error with its exit code (20 validation, 30 runtime)."""
        self.errors.append({"message": message, "error_code": error_code, "timestamp": time.time()})

    def finish(self) -> dict[str, Any]:
        """Build the result: error if any error, else warning if any warning, else success."""
        if self.errors:
            return self._build("error", max(error["error_code"] for error in self.errors))
        if self.warnings:
            return self._build("warning", SUCCESS_WITH_WARNINGS)
        return self._build("success", SUCCESS)

    def _build(self, status: str, exit_code: int) -> dict[str, Any]:
        return {
            "status": status,
            "execution_time": round(time.monotonic() - self._started, 3),
            "exit_code": exit_code,
            "metrics": dict(self.metrics),
            "artifacts": dict(self.artifacts),
            "globals": dict(self.globals),
            "warnings": list(self.warnings),
            "errors": list(self.errors),
            "logs": {"run_id": self.run_id, "mod_type": self.mod_type, "mod_name": self.mod_name},
        }


class ModLogger(logging.LoggerAdapter):
    """Logger adapter that adds ``mod_type`` and ``mod_name`` to every record.

    Unlike ``logging.LoggerAdapter`` before Python 3.13, it keeps the
    ``extra`` fields of each call.
    """

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        """Merge the adapter's fields under the call's ``extra``."""
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs


def mod_identity(params: Mapping[str, Any], default_type: str) -> tuple[str, str]:
    """Return (mod_type, mod_name) from DataPy's ``_mod_type``/``_mod_name`` parameters."""
    mod_type = str(params.get("_mod_type") or default_type)
    mod_name = str(params.get("_mod_name") or f"{mod_type}_{uuid.uuid4().hex[:6]}")
    return mod_type, mod_name


def schema_sections(schema: Any) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """Return the (required, optional) parameter maps of a ConfigSchema or a dict."""
    if isinstance(schema, Mapping):
        return schema.get("required") or {}, schema.get("optional") or {}
    return getattr(schema, "required", {}) or {}, getattr(schema, "optional", {}) or {}


def _describe_value(value: Any, secret: bool) -> str:
    if secret:
        return type(value).__name__
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}"


_TYPE_NAMES_SHOWN = {"secret": "str or Secret", "callable": "a callable", "object": "an object"}
_TRUE_WORDS = ("true", "yes", "1", "on")
_FALSE_WORDS = ("false", "no", "0", "off")


def _to_bool(value: Any) -> tuple[bool, Any]:
    if isinstance(value, bool):
        return True, value
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS + _FALSE_WORDS:
        return True, value.strip().lower() in _TRUE_WORDS
    return False, value


def _to_int(value: Any) -> tuple[bool, Any]:
    if isinstance(value, int) and not isinstance(value, bool):
        return True, value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return True, int(value)
    return False, value


def _to_float(value: Any) -> tuple[bool, Any]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True, float(value)
    if isinstance(value, str):
        try:
            return True, float(value)
        except ValueError:
            return False, value
    return False, value


_SCALAR_CONVERTERS = {"bool": _to_bool, "int": _to_int, "float": _to_float}
_INSTANCE_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "bytes": (bytes, bytearray),
    "secret": (str, Secret),
}


def _coerce_one(value: Any, type_name: str) -> tuple[bool, Any]:
    """Return (matches, converted) for one type name of the schema."""
    if type_name in ("object", "any"):
        return True, value
    if type_name == "callable":
        return callable(value), value
    if type_name in _INSTANCE_TYPES:
        return isinstance(value, _INSTANCE_TYPES[type_name]), value

    if type_name == "list":
        if isinstance(value, (list, tuple)):
            return True, list(value)
        return False, value
    if type_name == "dict":
        if isinstance(value, Mapping):
            return True, dict(value)
        return False, value

    converter = _SCALAR_CONVERTERS.get(type_name)
    if converter is None:
        raise ValueError(f"Unknown type {type_name!r} in a mod's CONFIG_SCHEMA")
    return converter(value)


def _check_one(name: str, value: Any, spec: Mapping[str, Any]) -> tuple[Any, str | None]:
    """Return (converted value, problem or None) for one parameter."""
    secret = bool(spec.get("secret"))
    type_names = [part.strip() for part in str(spec.get("type", "object")).split("|")]
    for type_name in type_names:
        matches, converted = _coerce_one(value, type_name)
        if matches:
            break
    else:
        expected = " or ".join(_TYPE_NAMES_SHOWN.get(type_name, type_name) for type_name in type_names)
        return value, f"Parameter '{name}' must be {expected}, got {_describe_value(value, secret)}."

    choices = spec.get("choices")
    if choices and isinstance(converted, str):
        canonical = {str(choice).lower(): choice for choice in choices}
        match = canonical.get(converted.strip().lower())
        if match is None:
            shown = "a hidden value" if secret else repr(converted)
            return value, (
                f"Invalid value {shown} for parameter '{name}'. "
                f"Accepted values: {', '.join(str(choice) for choice in choices)}."
            )
        converted = match

    minimum = spec.get("min")
    if minimum is not None and isinstance(converted, (int, float)) and converted < minimum:
        return value, f"Parameter '{name}' must be >= {minimum}, got {converted}."
    return converted, None


def validate_params(schema: Any, params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Check ``params`` against a mod's CONFIG_SCHEMA and apply defaults.

    A required parameter must be present and not None. An optional parameter
    that is absent or None takes its default. Strings convert to int, float
    and bool where the schema expects those types, because environment variables
    are strings. Names starting with ``_`` (DataPy's ``_mod_name``) pass
    through unchecked.

    Args:
        schema: A ConfigSchema, or a dict with "required" and "optional".
        params: The parameters as the job passed them.

    Returns:
        The validated parameters and a list of warnings (unknown parameters).

    Raises:
        ParamValidationError: One message per invalid or missing parameter.
    """
    required, optional = schema_sections(schema)
    problems: list[str] = []
    warnings: list[str] = []
    validated: dict[str, Any] = {}

    for name, spec in required.items():
        value = params.get(name)
        if value is None:
            description = str(spec.get("description", "")).strip()
            hint = f": {description}" if description else ""
            problems.append(f"Missing required parameter '{name}'{hint}".rstrip(".") + ".")
            continue
        validated[name], problem = _check_one(name, value, spec)
        if problem:
            problems.append(problem)

    for name, spec in optional.items():
        value = params.get(name)
        if value is None:
            validated[name] = _copy_default(spec.get("default"))
            continue
        validated[name], problem = _check_one(name, value, spec)
        if problem:
            problems.append(problem)

    known = set(required) | set(optional)
    for name, value in params.items():
        if name.startswith("_"):
            validated[name] = value
        elif name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            warnings.append(f"Unknown parameter '{name}' is ignored.{hint}")

    if problems:
        raise ParamValidationError(problems)
    return validated, warnings


def _copy_default(default: Any) -> Any:
    if isinstance(default, list):
        return list(default)
    if isinstance(default, dict):
        return dict(default)
    return default


def run_validated(
    schema: Any,
    params: Mapping[str, Any],
    default_type: str,
    logger_name: str,
    body: Callable[[dict[str, Any], ModResult, ModLogger], None],
) -> dict[str, Any]:
    """Validate ``params``, then run ``body`` and turn its outcome into a result dict.

    ``body`` fills the ModResult. A ``ParamValidationError`` it raises becomes
    exit code 20, any other exception exit code 30, so errors are returned,
    not raised.
    """
    mod_type, mod_name = mod_identity(params, default_type)
    result = ModResult(mod_type, mod_name)
    log = ModLogger(logging.getLogger(logger_name), {"mod_type": mod_type, "mod_name": mod_name})
    try:
        validated, warnings = validate_params(schema, params)
        for warning in warnings:
            log.warning(warning)
            result.add_warning(warning)
        body(validated, result, log)
    except ParamValidationError as error:
        for problem in error.problems:
            log.error(problem)
            result.add_error(problem, VALIDATION_ERROR)
    except Exception as error:
        log.exception("%s failed", mod_type)
        result.add_error(f"{mod_type} failed: {type(error).__name__}: {error}", RUNTIME_ERROR)
    return result.finish()
