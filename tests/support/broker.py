"""Test broker control and a Kafka client for test data and offset checks.

The client here is confluent-kafka, a different client from the sidecar's,
so tests check the sidecar's effects independently: they produce input
records, read end offsets and read a group's committed offsets with it.
"""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from . import REPO_ROOT, wait_until

BROKER_SCRIPT = REPO_ROOT / "scripts" / "kafka-broker.sh"

# Offset value that confluent-kafka returns for a partition without a
# committed offset (librdkafka's RD_KAFKA_OFFSET_INVALID).
OFFSET_INVALID = -1001

# Ports for brokers that the tests start themselves. The range lies below
# Linux's default ephemeral range (32768-60999), so outgoing connections do
# not take these ports between the check and the broker's bind.
_TEST_PORT_RANGE = range(20000, 30000, 2)

# Errors of an offset query while a new partition's leader is not ready yet.
_LEADER_NOT_READY_ERRORS = frozenset(
    {
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)

_NAME_INVALID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def unique_name(prefix: str) -> str:
    """Return a topic or group name that no other test uses.

    Args:
        prefix: Readable part, e.g. the test name. Characters that Kafka does
            not allow in topic names become "-", and it is cut to 80.

    Returns:
        "<prefix>-<12 hex digits>".
    """
    readable = _NAME_INVALID_CHARS.sub("-", prefix).strip("-")[:80] or "test"
    return f"{readable}-{uuid.uuid4().hex[:12]}"


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def find_free_port_pair(attempts: int = 50) -> int:
    """Return a port P on 127.0.0.1 such that P and P + 1 are both free.

    Raises:
        RuntimeError: If `attempts` random candidates were all in use.
    """
    for _ in range(attempts):
        port = random.choice(_TEST_PORT_RANGE)
        if _port_is_free(port) and _port_is_free(port + 1):
            return port
    raise RuntimeError(
        f"no free port pair found on 127.0.0.1 in {_TEST_PORT_RANGE.start}-"
        f"{_TEST_PORT_RANGE.stop} after {attempts} attempts"
    )


class BrokerScriptError(RuntimeError):
    """scripts/kafka-broker.sh failed; the message contains its output."""


@dataclass
class TestBroker:
    """A broker run by scripts/kafka-broker.sh under its own name and port.

    Attributes:
        name: Broker name; its files are in .cache/kafka-broker/<name>.
        port: Client (PLAINTEXT) port; the controller uses port + 1.
    """

    __test__ = False  # Not a test class, despite the name.

    name: str
    port: int

    @classmethod
    def with_free_port(cls, name: str) -> TestBroker:
        """Return a broker description with a free port pair on 127.0.0.1."""
        return cls(name=name, port=find_free_port_pair())

    @property
    def bootstrap_servers(self) -> str:
        """Address for KAFKA_BOOTSTRAP_SERVERS."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: int = 60) -> None:
        """Format fresh storage and start the broker; return once it is ready.

        Raises:
            BrokerScriptError: If the broker did not start or did not respond
                to a metadata request within `timeout_s`.
        """
        self._run("start", "--timeout", str(timeout_s))

    def stop(self) -> None:
        """Stop the broker and delete its data. Does nothing if it is stopped."""
        self._run("stop")

    def _run(self, command: str, *options: str) -> None:
        args = [
            str(BROKER_SCRIPT),
            command,
            "--name",
            self.name,
            "--port",
            str(self.port),
            *options,
        ]
        completed = subprocess.run(args, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise BrokerScriptError(
                f"{' '.join(args)} failed with exit code {completed.returncode}:\n"
                f"{completed.stdout}{completed.stderr}"
            )


@dataclass(frozen=True)
class DeliveredRecord:
    """Where the broker stored a produced record."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class ConsumedRecord:
    """A record read back from a topic.

    Keys and values are the raw bytes, and None stands for a missing key or a
    tombstone value.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)


def _as_bytes(data: str | bytes | None) -> bytes | None:
    if isinstance(data, str):
        return data.encode()
    return data


class KafkaTestClient:
    """confluent-kafka clients for creating topics, producing and checking offsets.

    Not thread-safe: use it from the test's thread.
    """

    __test__ = False  # Not a test class, despite the name.

    def __init__(self, bootstrap_servers: str) -> None:
        """Create the admin client; the producer is created on first use."""
        self.bootstrap_servers = bootstrap_servers
        self._admin = AdminClient({"bootstrap.servers": bootstrap_servers})
        self._producer: Producer | None = None

    def close(self) -> None:
        """Flush and drop the producer. The client can be used again after."""
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None

    def create_topic(
        self,
        topic: str,
        partitions: int = 1,
        *,
        config: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> str:
        """Create a topic with one replica and wait until every partition's leader serves it.

        Args:
            topic: Topic name.
            partitions: Number of partitions.
            config: Topic configuration, e.g. {"retention.ms": "60000"}.
            timeout_s: Bound for the creation and for each wait for leaders.

        Returns:
            The topic name.

        Raises:
            confluent_kafka.KafkaException: If the broker rejected the topic.
            TimeoutError: If a partition had no ready leader within `timeout_s`.
        """
        new_topic = NewTopic(
            topic,
            num_partitions=partitions,
            replication_factor=1,
            config=dict(config or {}),
        )
        futures = self._admin.create_topics(
            [new_topic], operation_timeout=timeout_s, request_timeout=timeout_s
        )
        futures[topic].result(timeout=timeout_s)

        def all_partitions_listed() -> bool:
            try:
                return len(self.partitions(topic, timeout_s)) == partitions
            except LookupError:
                return False

        wait_until(
            all_partitions_listed,
            timeout_s=timeout_s,
            description=f"all {partitions} partitions of {topic} in the metadata",
        )
        # The broker lists a new partition shortly before its leader serves
        # requests. A successful end offset query shows that every leader does.
        self.end_offsets(topic, timeout_s)
        return topic

    def partitions(self, topic: str, timeout_s: float = 10.0) -> list[int]:
        """Return the partition ids of `topic` in ascending order.

        Raises:
            LookupError: If the broker does not know the topic.
        """
        metadata = self._admin.list_topics(topic=topic, timeout=timeout_s)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            reason = (
                described.error if described is not None else "missing from metadata"
            )
            raise LookupError(
                f"topic {topic} not found on {self.bootstrap_servers}: {reason}"
            )
        return sorted(described.partitions)

    def produce(
        self,
        topic: str,
        values: Sequence[str | bytes | None],
        *,
        keys: Sequence[str | bytes | None] | None = None,
        partition: int | None = None,
        headers: Mapping[str, str | bytes] | None = None,
        timeout_s: float = 30.0,
    ) -> list[DeliveredRecord]:
        """Produce records with acks=all and wait for every delivery report.

        Args:
            topic: Target topic, which must exist.
            values: Record values; str is UTF-8 encoded, None is a tombstone.
            keys: Keys, one per value, or None for records without keys.
            partition: Partition for every record, or None for the default
                partitioner.
            headers: Headers added to every record.
            timeout_s: Bound for the delivery of all records.

        Returns:
            The partition and offset of each record, in the order of `values`.

        Raises:
            ValueError: If `keys` and `values` differ in length.
            RuntimeError: If a record failed or was not delivered in time.
        """
        if keys is not None and len(keys) != len(values):
            raise ValueError(
                f"keys has {len(keys)} entries but values has {len(values)}"
            )
        if self._producer is None:
            self._producer = Producer(
                {"bootstrap.servers": self.bootstrap_servers, "acks": "all"}
            )

        results: dict[int, DeliveredRecord] = {}
        errors: list[str] = []

        def record_delivery(index: int):
            def on_delivery(error: KafkaError | None, message: Message) -> None:
                if error is not None:
                    errors.append(f"record {index}: {error}")
                    return
                results[index] = DeliveredRecord(
                    message.topic(), message.partition(), message.offset()
                )

            return on_delivery

        header_list = [
            (name, _as_bytes(value)) for name, value in (headers or {}).items()
        ]
        for index, value in enumerate(values):
            extra: dict[str, object] = {}
            if partition is not None:
                extra["partition"] = partition
            self._producer.produce(
                topic,
                value=_as_bytes(value),
                key=_as_bytes(keys[index]) if keys is not None else None,
                headers=header_list,
                on_delivery=record_delivery(index),
                **extra,
            )
            self._producer.poll(0)

        remaining = self._producer.flush(timeout_s)
        if remaining:
            # Drop what is left so that later calls and close() do not wait
            # for these records.
            self._producer.purge()
            self._producer.flush(0)
        if errors or remaining:
            raise RuntimeError(
                f"producing {len(values)} records to {topic} failed: {remaining} undelivered "
                f"after {timeout_s:g} s, errors: {errors[:5]}"
            )
        return [results[index] for index in range(len(values))]

    def end_offsets(self, topic: str, timeout_s: float = 10.0) -> dict[int, int]:
        """Return each partition's end offset (high watermark) from its leader.

        Retries while a partition has no ready leader, which happens briefly
        after the topic was created.

        Raises:
            confluent_kafka.KafkaException: If the query failed for another
                reason.
            TimeoutError: If a leader was not ready within `timeout_s`.
        """
        consumer = self._consumer(unique_name("end-offsets"))
        try:
            return {
                partition: self._high_watermark(consumer, topic, partition, timeout_s)
                for partition in self.partitions(topic, timeout_s)
            }
        finally:
            consumer.close()

    def committed_offsets(
        self, group: str, topic: str, timeout_s: float = 10.0
    ) -> dict[int, int | None]:
        """Return the group's committed offset per partition of `topic`.

        A partition without a committed offset maps to None.

        Raises:
            confluent_kafka.KafkaException: If the offset fetch failed.
            RuntimeError: If the broker returned an error for a partition.
        """
        request = ConsumerGroupTopicPartitions(
            group,
            [
                TopicPartition(topic, partition)
                for partition in self.partitions(topic, timeout_s)
            ],
        )
        futures = self._admin.list_consumer_group_offsets(
            [request], request_timeout=timeout_s
        )
        response = futures[group].result(timeout=timeout_s)
        offsets: dict[int, int | None] = {}
        for partition in response.topic_partitions:
            if partition.error is not None:
                raise RuntimeError(
                    f"committed offset of {topic}/{partition.partition} for group {group}: {partition.error}"
                )
            offsets[partition.partition] = (
                None if partition.offset == OFFSET_INVALID else partition.offset
            )
        return offsets

    def wait_for_committed(
        self,
        group: str,
        topic: str,
        expected: Mapping[int, int | None],
        timeout_s: float = 30.0,
    ) -> dict[int, int | None]:
        """Wait until the group's committed offsets equal `expected`.

        Args:
            group: Consumer group id.
            topic: Topic whose partitions are checked.
            expected: Committed offset per partition (None for no commit).
                Partitions missing from it are not checked.
            timeout_s: Bound for the wait.

        Returns:
            The committed offsets of all partitions of `topic`.

        Raises:
            TimeoutError: With the last offsets read, if they did not match.
        """

        last_read: dict[int, int | None] = {}

        def matching() -> bool:
            last_read.clear()
            last_read.update(self.committed_offsets(group, topic))
            return all(
                last_read.get(partition) == offset
                for partition, offset in expected.items()
            )

        try:
            wait_until(
                matching,
                timeout_s=timeout_s,
                interval_s=0.1,
                description="committed offsets",
            )
        except TimeoutError:
            raise TimeoutError(
                f"group {group} did not commit {dict(expected)} on {topic} within {timeout_s:g} s; "
                f"last committed offsets: {last_read}"
            ) from None
        return dict(last_read)

    def read_records(
        self, topic: str, count: int, *, timeout_s: float = 30.0
    ) -> list[ConsumedRecord]:
        """Read the first `count` records of `topic` from every partition.

        Reads by assignment from the beginning, without a group membership or
        commits, so it does not disturb the groups under test.

        Raises:
            TimeoutError: If fewer than `count` records arrived within
                `timeout_s`.
        """
        consumer = self._consumer(unique_name("read-records"))
        try:
            consumer.assign(
                [
                    TopicPartition(topic, partition, 0)
                    for partition in self.partitions(topic)
                ]
            )
            records: list[ConsumedRecord] = []

            def read_batch() -> bool:
                for message in consumer.consume(
                    num_messages=count - len(records), timeout=0.2
                ):
                    if message.error() is not None:
                        raise RuntimeError(f"reading {topic} failed: {message.error()}")
                    records.append(
                        ConsumedRecord(
                            topic=message.topic(),
                            partition=message.partition(),
                            offset=message.offset(),
                            key=message.key(),
                            value=message.value(),
                            headers=list(message.headers() or []),
                        )
                    )
                return len(records) >= count

            wait_until(
                read_batch,
                timeout_s=timeout_s,
                interval_s=0,
                description=f"{count} records on {topic}",
            )
            return records
        finally:
            consumer.close()

    @staticmethod
    def _high_watermark(
        consumer: Consumer, topic: str, partition: int, timeout_s: float
    ) -> int:
        def query() -> tuple[int, int] | None:
            try:
                return consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout_s, cached=False
                )
            except KafkaException as exc:
                if exc.args[0].code() in _LEADER_NOT_READY_ERRORS:
                    return None
                raise

        _, high = wait_until(
            query,
            timeout_s=timeout_s,
            interval_s=0.05,
            description=f"the leader of {topic}/{partition} to return its end offset",
        )
        return high

    def _consumer(self, group: str) -> Consumer:
        # The group id is required by the client but never joined: these
        # consumers only assign partitions or query watermarks.
        return Consumer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "group.id": group,
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )


def bootstrap_from_environment() -> str | None:
    """Return KAFKA_BOOTSTRAP_SERVERS if set and not empty."""
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None
