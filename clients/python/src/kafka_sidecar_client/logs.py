r"""Tab-delimited log lines on stderr, in the column layout DataPy uses.

Each line is ``TIMESTAMP LEVEL LOGGER MOD_TYPE MOD_NAME MESSAGE EXTRA_JSON``
separated by tabs. TIMESTAMP is UTC in ISO 8601 with milliseconds and a
``Z``. MOD_TYPE and MOD_NAME are ``-`` outside a mod. EXTRA_JSON contains the
``extra`` fields of the call and any exception traceback, or ``-``. Tabs,
newlines and backslashes in the other fields are escaped as ``\t``, ``\n``
and ``\\`` so that one record stays one line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

from kafka_sidecar_client.secret import Secret

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Attributes every LogRecord has; anything else came from ``extra``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "mod_type",
    "mod_name",
    "taskName",
}

# Keys whose values are replaced by "***" anywhere in EXTRA_JSON, as a safety
# net for frameworks that log a mod's parameters.
_SECRET_KEY = re.compile(r"password|secret|token|credential|jaas|private|\.pem$|_pem$", re.IGNORECASE)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def redact(value: Any) -> Any:
    """Return ``value`` with secret-looking keys of nested dicts masked."""
    if isinstance(value, Secret):
        return "***"
    if isinstance(value, dict):
        return {
            key: "***" if isinstance(key, str) and _SECRET_KEY.search(key) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value


class TabDelimitedFormatter(logging.Formatter):
    """Formats records as tab-delimited lines (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        """Return one tab-delimited line for ``record``."""
        timestamp = datetime.fromtimestamp(record.created, tz=timezone.utc)
        extra = {
            key: value
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        }
        if record.exc_info:
            extra["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            extra["stack"] = self.formatStack(record.stack_info)
        extra_json = json.dumps(redact(extra), default=str, ensure_ascii=False) if extra else "-"

        fields = (
            timestamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{timestamp.microsecond // 1000:03d}Z",
            record.levelname,
            record.name,
            str(getattr(record, "mod_type", None) or "-"),
            str(getattr(record, "mod_name", None) or "-"),
            record.getMessage(),
        )
        # json.dumps escapes control characters itself, so EXTRA_JSON stays valid JSON.
        return "\t".join([*(_escape(field) for field in fields), extra_json])


class _JobHandler(logging.StreamHandler):
    """Stderr handler installed by ``setup_logging``; replaced on the next call."""


def setup_logging(level: str | int = "INFO", name: str | None = None) -> logging.Logger:
    """Send every log record to stderr as tab-delimited lines.

    Installs one handler on the root logger; a later call replaces it instead
    of adding a second one. Handlers installed by others stay.

    Args:
        level: DEBUG, INFO, WARNING, ERROR or CRITICAL (any case), or a
            ``logging`` level number.
        name: Name of the logger to return; None returns the root logger.

    Returns:
        The logger named ``name``.

    Raises:
        ValueError: On an unknown level name.
    """
    if isinstance(level, str):
        level_name = level.strip().upper()
        if level_name not in LEVELS:
            raise ValueError(f"Invalid log level {level!r}. Accepted values: {', '.join(LEVELS)}")
        numeric_level = getattr(logging, level_name)
    else:
        numeric_level = int(level)

    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _JobHandler):
            root.removeHandler(handler)
            handler.close()
    handler = _JobHandler(sys.stderr)
    handler.setFormatter(TabDelimitedFormatter())
    root.addHandler(handler)
    root.setLevel(numeric_level)
    return logging.getLogger(name)
