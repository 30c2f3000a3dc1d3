"""The liveness health service name next to the sidecar's readiness ones."""

from __future__ import annotations

import subprocess

import grpc
from consume_helpers import StreamLog, ack_all, read_messages, read_to_end, subscribe

LIVENESS_SERVICE = "kafkasidecar.v1.Liveness"

# grpc.health.v1.HealthCheckResponse.ServingStatus values.
SERVING = 1
NOT_SERVING = 2


def health_status(address: str, service: str) -> int:
    """Call grpc.health.v1.Health/Check and return the ServingStatus number.

    The request and response are encoded by hand (field 1 of each), so the
    test needs no health-checking package.
    """
    name = service.encode()
    request = b"\x0a" + bytes([len(name)]) + name if name else b""
    with grpc.insecure_channel(address) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=None,
            response_deserializer=None,
        )
        response: bytes = check(request, timeout=5)
    if not response:
        return 0  # UNKNOWN is the default and encodes as nothing
    assert response[0] == 0x08, f"unexpected HealthCheckResponse encoding {response!r}"
    return response[1]


def test_liveness_serving_while_streams_consume(
    sidecar, client, kafka, new_topic, unique_group
):
    assert health_status(sidecar.address, LIVENESS_SERVICE) == SERVING
    assert health_status(sidecar.address, "") == SERVING

    topic = new_topic(partitions=1)
    kafka.produce(topic, ["a", "b", "c"])
    stream = client.consume(subscribe(topic, unique_group))
    log = StreamLog()
    ack_all(stream, read_messages(stream, log, 3))
    kafka.wait_for_committed(unique_group, topic, {0: 3})
    assert health_status(sidecar.address, LIVENESS_SERVICE) == SERVING

    stream.close_send()
    read_to_end(stream, log)
    assert stream.code == grpc.StatusCode.OK, stream.details


def test_liveness_bound_is_in_help(sidecar_executable):
    result = subprocess.run(
        [str(sidecar_executable), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "--liveness-stall-s" in result.stdout
    assert LIVENESS_SERVICE in result.stdout
    assert "--max-in-flight-per-partition" in result.stdout
