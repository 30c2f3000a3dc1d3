"""Fixtures for tests against the real Kafka broker and the sidecar executable.

The broker comes from KAFKA_BOOTSTRAP_SERVERS when it is set (as
scripts/run-tests.sh sets it). Otherwise the session starts its own broker
through scripts/kafka-broker.sh, on a free port under a name of its own, and
stops it at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from support.broker import (
    KafkaTestClient,
    TestBroker,
    bootstrap_from_environment,
    unique_name,
)
from support.sidecar import SIDECAR_EXECUTABLE, SidecarProcess


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of the test broker, e.g. "127.0.0.1:39092"."""
    external = bootstrap_from_environment()
    if external is not None:
        yield external
        return

    broker = TestBroker.with_free_port(f"pytest-{os.getpid()}")
    broker.start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka(kafka_bootstrap: str) -> Iterator[KafkaTestClient]:
    """confluent-kafka client for test data and offset checks."""
    client = KafkaTestClient(kafka_bootstrap)
    yield client
    client.close()


@pytest.fixture
def unique_group(request: pytest.FixtureRequest) -> str:
    """A consumer group id that no other test uses."""
    return unique_name(f"group-{request.node.name}")


@pytest.fixture
def new_topic(
    request: pytest.FixtureRequest, kafka: KafkaTestClient
) -> Callable[..., str]:
    """Factory that creates a topic named after the test and returns its name.

    Call it as `new_topic(partitions=3, config={"retention.ms": "60000"})`.
    Each call creates another topic.
    """

    def create(partitions: int = 1, config: Mapping[str, str] | None = None) -> str:
        return kafka.create_topic(
            unique_name(f"topic-{request.node.name}"), partitions, config=config
        )

    return create


@pytest.fixture(scope="session")
def sidecar_executable() -> Path:
    """Path of build/sidecar/kafka-sidecar; skips the test if it is not built."""
    if not SIDECAR_EXECUTABLE.is_file():
        pytest.skip(f"{SIDECAR_EXECUTABLE} not found: build it with `make build`")
    return SIDECAR_EXECUTABLE


@pytest.fixture
def sidecar_factory(
    sidecar_executable: Path, kafka_bootstrap: str, tmp_path: Path
) -> Iterator[Callable[..., SidecarProcess]]:
    """Factory that starts sidecars against the test broker and stops them after the test.

    Call it as `sidecar_factory(args=[...], env={...}, wait_serving=True)`.
    Keyword arguments other than `wait_serving` and `timeout_s` go to
    `SidecarProcess`; `bootstrap_servers` defaults to the test broker (pass
    None to leave the flag out).
    """
    started: list[SidecarProcess] = []

    def start(
        *, wait_serving: bool = True, timeout_s: float = 30.0, **options: object
    ) -> SidecarProcess:
        options.setdefault("bootstrap_servers", kafka_bootstrap)
        log_dir = tmp_path / f"sidecar-{len(started)}"
        sidecar = SidecarProcess(log_dir, executable=sidecar_executable, **options)  # type: ignore[arg-type]
        started.append(sidecar)
        return sidecar.start(wait_serving=wait_serving, timeout_s=timeout_s)

    yield start
    for sidecar in started:
        sidecar.stop()
