"""Helpers for tests that run against the real Kafka broker and sidecar.

Modules:
    broker: starting a test broker and a Kafka client for test data and
        offset checks.
    sidecar: running build/sidecar/kafka-sidecar as a child process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_until(
    condition: Callable[[], T],
    *,
    timeout_s: float,
    interval_s: float = 0.05,
    description: str,
) -> T:
    """Poll a condition until it returns a truthy value.

    Args:
        condition: Called repeatedly; its first truthy result is returned.
        timeout_s: Seconds after which polling stops.
        interval_s: Seconds between two calls.
        description: What is awaited, for the timeout message, e.g.
            "committed offsets of group g".

    Returns:
        The first truthy value that `condition` returned.

    Raises:
        TimeoutError: If `condition` returned no truthy value within
            `timeout_s`. The message includes the last value returned.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout_s:g} s waiting for {description}; last value: {result!r}"
            )
        time.sleep(interval_s)
