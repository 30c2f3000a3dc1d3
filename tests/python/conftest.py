"""Fixtures shared by the unit tests of the Python client.

The tests run under `pytest tests/` with importlib import mode, which does
not put this directory on sys.path, so it is added here for fake_sidecar.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

# gRPC core logs connection teardown at INFO; keep test output to failures.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest
from fake_sidecar import FakeSidecarServer

from kafka_sidecar_client.context import clear_context


@pytest.fixture
def fake_sidecar() -> Iterator[FakeSidecarServer]:
    """A fake sidecar on a Unix socket in a short temporary directory.

    Unix socket paths are limited to about 100 bytes, which pytest's
    tmp_path can exceed, so the socket lives under the system temp dir.
    """
    with tempfile.TemporaryDirectory(prefix="fake-sidecar-") as directory:
        server = FakeSidecarServer(f"{directory}/sidecar.sock")
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(autouse=True)
def _isolate_global_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give each test no context, no sidecar address from the environment and default signal handlers."""
    monkeypatch.delenv("KAFKA_SIDECAR_ADDRESS", raising=False)
    clear_context()
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    root_handlers = list(logging.getLogger().handlers)
    root_level = logging.getLogger().level
    yield
    clear_context()
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler not in root_handlers:
            root.removeHandler(handler)
    root.setLevel(root_level)
