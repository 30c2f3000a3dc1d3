"""Tests of the broker fixtures and the Kafka test client against the real broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.broker import KafkaTestClient, unique_name
from support.sidecar import SidecarNotBuiltError, SidecarProcess


def test_new_topic_has_requested_partitions(
    kafka: KafkaTestClient, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=3)

    assert kafka.partitions(topic) == [0, 1, 2]
    assert kafka.end_offsets(topic) == {0: 0, 1: 0, 2: 0}


def test_produce_advances_end_offsets(
    kafka: KafkaTestClient, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=2)

    first = kafka.produce(topic, ["a", "b", "c"], partition=0)
    second = kafka.produce(topic, [b"d", None], keys=["k1", "k2"], partition=1)

    assert [record.offset for record in first] == [0, 1, 2]
    assert [record.offset for record in second] == [0, 1]
    assert {record.partition for record in first} == {0}
    assert kafka.end_offsets(topic) == {0: 3, 1: 2}


def test_read_records_returns_produced_records(
    kafka: KafkaTestClient, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    kafka.produce(
        topic, ["one", None], keys=["k", None], headers={"source": "fixture-test"}
    )

    records = kafka.read_records(topic, 2)

    assert [(record.key, record.value) for record in records] == [
        (b"k", b"one"),
        (None, None),
    ]
    assert records[0].headers == [("source", b"fixture-test")]


def test_committed_offsets_empty_for_new_group(
    kafka: KafkaTestClient, new_topic: Callable[..., str], unique_group: str
) -> None:
    topic = new_topic(partitions=2)

    assert kafka.committed_offsets(unique_group, topic) == {0: None, 1: None}


def test_wait_for_committed_times_out_without_commit(
    kafka: KafkaTestClient, new_topic: Callable[..., str], unique_group: str
) -> None:
    topic = new_topic()

    with pytest.raises(TimeoutError, match="last committed offsets"):
        kafka.wait_for_committed(unique_group, topic, {0: 1}, timeout_s=0.5)


def test_produce_to_missing_topic_fails(kafka: KafkaTestClient) -> None:
    with pytest.raises(RuntimeError, match="undelivered|failed"):
        kafka.produce(unique_name("missing-topic"), ["x"], timeout_s=3)


def test_unique_name_is_valid_topic_name() -> None:
    name = unique_name("test_x[param/1]")

    assert name.startswith("test_x-param-1-")
    assert name != unique_name("test_x[param/1]")


def test_sidecar_process_reports_missing_executable(tmp_path: Path) -> None:
    sidecar = SidecarProcess(tmp_path, executable=tmp_path / "no-such-sidecar")

    with pytest.raises(SidecarNotBuiltError, match="no-such-sidecar not found"):
        sidecar.start()
    assert sidecar.stop() is None
