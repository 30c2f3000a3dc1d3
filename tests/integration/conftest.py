"""Fixtures for the end-to-end tests: a running sidecar and a client of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from kafka_sidecar_client import SidecarClient
from support.sidecar import SidecarProcess


@pytest.fixture
def sidecar(sidecar_factory: Callable[..., SidecarProcess]) -> SidecarProcess:
    """A sidecar on the test broker with a short drain timeout."""
    return sidecar_factory(args=["--shutdown-drain-timeout-s", "10"])


@pytest.fixture
def client(sidecar: SidecarProcess) -> Iterator[SidecarClient]:
    """A client of `sidecar`, closed after the test."""
    with SidecarClient(sidecar.address) as sidecar_client:
        yield sidecar_client
