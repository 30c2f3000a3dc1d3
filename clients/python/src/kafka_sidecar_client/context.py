"""Job context: ``${a.b}`` variables in mod parameters, from a JSON file or the environment.

A job loads a JSON object with ``setup_context(path)`` and refers to its
values as ``${kafka.bootstrap_servers}`` in any string of a mod's
parameters, nested lists and dicts included.

- A string that is exactly one variable takes the value with its type
  (number, bool, list, object). A variable inside a longer string is
  inserted as text.
- An environment variable overrides a context value. Its name is the
  variable path in upper case with ``.`` replaced by ``__`` and any other
  character outside ``A-Z0-9_`` by ``_``: ``${kafka.bootstrap_servers}`` reads
  ``KAFKA__BOOTSTRAP_SERVERS``. When the context value is not a string, the
  environment value is parsed as JSON and must have the same kind (number,
  bool, list, object, null), so ``KAFKA__TIMEOUT_MS=5000`` stays an int.
  An environment variable also defines a variable the file lacks, as a string.
- A variable defined nowhere is an error that names it and both places to
  define it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ONLY_VARIABLE = re.compile(r"^\$\{([^}]*)\}$")
_MISSING = object()

_lock = threading.Lock()
_context: dict[str, Any] | None = None
_context_path: str | None = None


class ContextError(ValueError):
    """A context file that cannot be used, or a variable that cannot be resolved."""


def env_name_for(path: str) -> str:
    """Return the environment variable that overrides the context variable ``path``."""
    return "__".join(re.sub(r"[^A-Z0-9_]", "_", part.upper()) for part in path.split("."))


def setup_context(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load the JSON context used for ``${...}`` substitution, replacing any earlier one.

    Args:
        path: JSON file whose top level is an object.

    Returns:
        A copy of the loaded context.

    Raises:
        ContextError: The file is missing, unreadable, not JSON, or not an object.
    """
    global _context, _context_path
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContextError(f"Context file not found: {file_path}") from None
    except OSError as error:
        raise ContextError(f"Cannot read context file {file_path}: {error.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ContextError(
            f"Invalid JSON in context file {file_path} at line {error.lineno}, "
            f"column {error.colno}: {error.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ContextError(f"Context file {file_path} must contain a JSON object, got {type(data).__name__}")
    with _lock:
        _context = data
        _context_path = str(file_path)
    return copy.deepcopy(data)


def clear_context() -> None:
    """Forget the loaded context; variables then resolve from the environment only."""
    global _context, _context_path
    with _lock:
        _context = None
        _context_path = None


def _lookup_file(path: str, context: Mapping[str, Any] | None) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "string"


def _resolve(path: str, context: Mapping[str, Any] | None, context_path: str | None) -> Any:
    if not path or any(not part for part in path.split(".")):
        raise ContextError(f"Invalid context variable ${{{path}}}: expected a dotted name like kafka.topic")

    file_value = _lookup_file(path, context)
    env_name = env_name_for(path)
    env_value = os.environ.get(env_name)
    if env_value is None:
        if file_value is _MISSING:
            where = (
                f"the context file {context_path}"
                if context_path
                else "a context file (none is loaded: call setup_context(path))"
            )
            raise ContextError(
                f"Context variable ${{{path}}} is not defined. Define it in {where} "
                f"or set the environment variable {env_name}."
            )
        return copy.deepcopy(file_value)

    if file_value is _MISSING or isinstance(file_value, str):
        return env_value
    expected = _kind(file_value)
    try:
        parsed = json.loads(env_value)
    except json.JSONDecodeError:
        parsed = _MISSING
    if parsed is _MISSING or _kind(parsed) != expected:
        raise ContextError(
            f"Environment variable {env_name} overrides ${{{path}}}, whose context value is "
            f"a {expected}, but its value is not a JSON {expected}."
        )
    return parsed


def _substitute_string(text: str, context: Mapping[str, Any] | None, context_path: str | None) -> Any:
    whole = _ONLY_VARIABLE.match(text)
    if whole:
        return _resolve(whole.group(1).strip(), context, context_path)

    def replace(match: re.Match[str]) -> str:
        value = _resolve(match.group(1).strip(), context, context_path)
        if isinstance(value, (dict, list, bool)) or value is None:
            return json.dumps(value)
        return str(value)

    return _VARIABLE.sub(replace, text)


def _substitute(value: Any, context: Mapping[str, Any] | None, context_path: str | None) -> Any:
    if isinstance(value, str):
        return _substitute_string(value, context, context_path) if "${" in value else value
    if isinstance(value, dict):
        return {key: _substitute(item, context, context_path) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, context, context_path) for item in value]
    if isinstance(value, tuple):
        return tuple(_substitute(item, context, context_path) for item in value)
    # Objects (connections, callbacks, DataFrames) pass through untouched.
    return value


def substitute_context(params: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Return ``params`` with every ``${...}`` variable replaced.

    Args:
        params: Mod parameters.
        skip: Parameter names whose values are left as they are, such as
            the records a producer sends.

    Raises:
        ContextError: A variable is undefined or its environment override is invalid.
    """
    with _lock:
        context, context_path = _context, _context_path
    return {
        name: value if name in skip else _substitute(value, context, context_path)
        for name, value in params.items()
    }
