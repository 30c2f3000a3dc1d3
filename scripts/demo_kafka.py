"""Kafka-side steps of the demo: create topics and wait for a group to catch up.

This talks to the broker directly with confluent-kafka, a client independent
of the sidecar, so the demo's checks do not rely on the component they check.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

_REQUEST_TIMEOUT_S = 15.0


def parse_topic_spec(spec: str) -> tuple[str, int]:
    """Split ``NAME:PARTITIONS`` into its parts.

    Raises:
        ValueError: When the partition count is missing or not a positive integer.
    """
    name, separator, partitions = spec.rpartition(":")
    if not separator or not name or not partitions.isdigit() or int(partitions) < 1:
        raise ValueError(f"invalid topic {spec!r}: expected NAME:PARTITIONS, e.g. orders-raw:3")
    return name, int(partitions)


def create_topics(bootstrap_servers: str, specs: Sequence[str]) -> None:
    """Create each topic with its partition count and replication factor 1.

    Raises:
        KafkaException: When the broker rejects a topic, including one that exists.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    topics = [
        NewTopic(name, num_partitions=partitions, replication_factor=1)
        for name, partitions in map(parse_topic_spec, specs)
    ]
    futures = admin.create_topics(topics, request_timeout=_REQUEST_TIMEOUT_S)
    for name, future in futures.items():
        future.result(timeout=_REQUEST_TIMEOUT_S)
        print(f"demo_kafka: created topic {name}", file=sys.stderr)


def open_group_reader(bootstrap_servers: str, group: str) -> Consumer:
    """Open a consumer that reads the group's committed offsets without joining it."""
    return Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
        }
    )


def partition_offsets(reader: Consumer, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    """Return the end offsets and the group's committed offsets of every partition.

    A partition without a committed offset maps to -1.

    Raises:
        KafkaException: When the topic does not exist or a request fails.
    """
    metadata = reader.list_topics(topic, timeout=_REQUEST_TIMEOUT_S)
    topic_metadata = metadata.topics.get(topic)
    if topic_metadata is None or topic_metadata.error is not None:
        reason = topic_metadata.error if topic_metadata is not None else "not found"
        raise KafkaException(f"topic {topic}: {reason}")
    partitions = sorted(topic_metadata.partitions)
    end_offsets = {
        partition: reader.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=_REQUEST_TIMEOUT_S
        )[1]
        for partition in partitions
    }
    committed = reader.committed(
        [TopicPartition(topic, partition) for partition in partitions],
        timeout=_REQUEST_TIMEOUT_S,
    )
    committed_offsets = {item.partition: max(item.offset, -1) for item in committed}
    return end_offsets, committed_offsets


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_caught_up(
    bootstrap_servers: str,
    *,
    group: str,
    topic: str,
    timeout_s: float,
    poll_interval_s: float,
    watch_pids: Sequence[int],
) -> bool:
    """Wait until the group's committed offsets equal the topic's end offsets.

    Returns:
        True once they are equal on every partition; False at the deadline or
        as soon as one of ``watch_pids`` has exited.
    """
    deadline = time.monotonic() + timeout_s
    reader = open_group_reader(bootstrap_servers, group)
    try:
        return _poll_until_caught_up(
            reader,
            group=group,
            topic=topic,
            timeout_s=timeout_s,
            deadline=deadline,
            poll_interval_s=poll_interval_s,
            watch_pids=watch_pids,
        )
    finally:
        reader.close()


def _poll_until_caught_up(
    reader: Consumer,
    *,
    group: str,
    topic: str,
    timeout_s: float,
    deadline: float,
    poll_interval_s: float,
    watch_pids: Sequence[int],
) -> bool:
    last_report = 0.0
    while True:
        end_offsets, committed = partition_offsets(reader, topic)
        lag = sum(
            end - max(committed.get(partition, -1), 0) for partition, end in end_offsets.items()
        )
        if all(committed.get(partition, -1) == end for partition, end in end_offsets.items()):
            print(f"demo_kafka: group {group} caught up on {topic}: {end_offsets}", file=sys.stderr)
            return True

        now = time.monotonic()
        if now - last_report >= 5.0:
            print(f"demo_kafka: group {group} lag on {topic}: {lag} messages", file=sys.stderr)
            last_report = now
        exited = [pid for pid in watch_pids if not _process_alive(pid)]
        if exited:
            print(
                f"demo_kafka: process {exited[0]} exited before group {group} caught up "
                f"(lag {lag}); see its log",
                file=sys.stderr,
            )
            return False
        if now >= deadline:
            print(
                f"demo_kafka: group {group} did not catch up on {topic} within {timeout_s:.0f} s "
                f"(lag {lag}, end offsets {end_offsets}, committed {committed})",
                file=sys.stderr,
            )
            return False
        time.sleep(min(poll_interval_s, max(deadline - now, 0.0)))


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; exit code 0 on success, 1 on failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True, help="broker list, HOST:PORT[,...]")
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-topics", help="create topics given as NAME:PARTITIONS")
    create.add_argument("topics", nargs="+", metavar="NAME:PARTITIONS")

    wait = commands.add_parser(
        "wait-caught-up", help="wait until a group has committed up to the end of a topic"
    )
    wait.add_argument("--group", required=True)
    wait.add_argument("--topic", required=True)
    wait.add_argument("--timeout", type=float, default=300.0, help="seconds (default 300)")
    wait.add_argument("--poll-interval", type=float, default=0.5, help="seconds (default 0.5)")
    wait.add_argument(
        "--watch-pid",
        type=int,
        action="append",
        default=[],
        help="stop waiting when this process exits (repeatable)",
    )
    args = parser.parse_args(argv)

    try:
        if args.command == "create-topics":
            create_topics(args.bootstrap_servers, args.topics)
            return 0
        caught_up = wait_caught_up(
            args.bootstrap_servers,
            group=args.group,
            topic=args.topic,
            timeout_s=args.timeout,
            poll_interval_s=args.poll_interval,
            watch_pids=args.watch_pid,
        )
        return 0 if caught_up else 1
    except (KafkaException, ValueError) as error:
        print(f"demo_kafka: {args.command} failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
