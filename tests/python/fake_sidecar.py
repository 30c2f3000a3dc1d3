"""An in-process fake of the sidecar: a real gRPC server on a Unix socket.

Tests script what the fake sends and inspect what it received. The Kafka
side does not exist here; this is the unit seam of the Python client.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc

from kafka_sidecar_client._proto import pb, pb_grpc

DEFAULT_TIMEOUT_S = 10.0

_FINISH = object()


def make_message(
    delivery_id: int,
    offset: int | None = None,
    *,
    topic: str = "orders",
    partition: int = 0,
    key: bytes | None = b"key",
    value: bytes | None = b"value",
    headers: Iterable[tuple[str, bytes | None]] = (),
    attempt: int = 1,
    timestamp_ms: int = 1_700_000_000_000,
) -> Any:
    """Build a ``Message`` as the sidecar would deliver it."""
    message = pb.Message(
        delivery_id=delivery_id,
        topic=topic,
        partition=partition,
        offset=delivery_id if offset is None else offset,
        timestamp_ms=timestamp_ms,
        attempt=attempt,
    )
    if key is not None:
        message.key = key
    if value is not None:
        message.value = value
    for name, header_value in headers:
        header = message.headers.add(name=name)
        if header_value is not None:
            header.value = header_value
    return message


def wait_until(
    condition: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT_S, what: str = "condition"
) -> None:
    """Poll ``condition`` until it holds.

    Raises:
        AssertionError: When it does not hold within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


class FakeConsumeCall:
    """One Consume call: the requests the fake server received and the responses it sends."""

    def __init__(self) -> None:
        """Start with nothing received and nothing queued to send."""
        self._condition = threading.Condition()
        self.requests: list[Any] = []
        self.half_closed = threading.Event()
        # Index into ``requests`` at which the half-close arrived.
        self.half_closed_after: int | None = None
        self._outbound: queue.Queue[Any] = queue.Queue()

    # What the client sent.

    @property
    def subscribe(self) -> Any:
        """The first request's ``Subscribe``."""
        with self._condition:
            return self.requests[0].subscribe

    def ack_frames(self) -> list[list[Any]]:
        """Return the ack batches received, one list per request frame."""
        with self._condition:
            return [list(r.acks.acks) for r in self.requests if r.WhichOneof("request") == "acks"]

    def acks(self) -> list[Any]:
        """Return every ack received, in arrival order."""
        return [ack for frame in self.ack_frames() for ack in frame]

    def acked_ids(self) -> list[int]:
        """Return the delivery ids of every ack received."""
        return [ack.delivery_id for ack in self.acks()]

    def wait_for_acks(self, count: int, timeout: float = DEFAULT_TIMEOUT_S) -> list[Any]:
        """Wait until ``count`` acks arrived and return them."""
        wait_until(lambda: len(self.acks()) >= count, timeout, f"{count} acks")
        return self.acks()

    def wait_half_closed(self, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        """Wait until the client closed its request side."""
        if not self.half_closed.wait(timeout):
            raise AssertionError(f"the client did not half-close within {timeout} s")

    # What the fake sends.

    def send_messages(self, *messages: Any) -> None:
        """Send one MessageBatch."""
        self._outbound.put(pb.ConsumeResponse(messages=pb.MessageBatch(messages=list(messages))))

    def send_event(
        self, event_type: int, detail: str = "", partitions: Iterable[tuple[str, int]] = ()
    ) -> None:
        """Send one Event."""
        event = pb.Event(type=event_type, detail=detail)
        for topic, partition in partitions:
            event.partitions.add(topic=topic, partition=partition)
        self._outbound.put(pb.ConsumeResponse(event=event))

    def finish(self, code: grpc.StatusCode = grpc.StatusCode.OK, details: str = "") -> None:
        """End the call with a status after everything queued so far."""
        self._outbound.put((_FINISH, code, details))

    # Server side.

    def _read_requests(self, request_iterator: Iterable[Any]) -> None:
        try:
            for request in request_iterator:
                with self._condition:
                    self.requests.append(request)
        except grpc.RpcError:
            return
        with self._condition:
            self.half_closed_after = len(self.requests)
        self.half_closed.set()

    def serve(self, request_iterator: Iterable[Any], context: grpc.ServicerContext) -> Iterable[Any]:
        reader = threading.Thread(target=self._read_requests, args=(request_iterator,), daemon=True)
        reader.start()
        while context.is_active():
            try:
                item = self._outbound.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(item, tuple) and item[0] is _FINISH:
                _, code, details = item
                if code != grpc.StatusCode.OK:
                    context.abort(code, details)
                return
            yield item


class FakeSidecar(pb_grpc.KafkaSidecarServicer):
    """Servicer that records requests and replies as the test scripts it."""

    def __init__(self) -> None:
        """Start with default replies: an empty ConnectionInfo, every record delivered."""
        self._condition = threading.Condition()
        self.consume_calls: list[FakeConsumeCall] = []
        self.connect_requests: list[Any] = []
        self.check_requests: list[Any] = []
        self.produce_requests: list[Any] = []
        # Replace these to change the replies; raising grpc.RpcError is not
        # possible server-side, so a reply may be a (code, details) tuple.
        self.connect_reply: Callable[[Any], Any] = self._default_connection_info
        self.check_reply: Callable[[Any], Any] = self._default_connection_info
        self.produce_reply: Callable[[Any], Any] = self._default_produce_response

    @staticmethod
    def _default_connection_info(request: Any) -> Any:
        info = pb.ConnectionInfo(
            connection_id=request.connection_id,
            bootstrap_servers=getattr(getattr(request, "settings", None), "bootstrap_servers", "")
            or "127.0.0.1:9092",
            security_protocol=getattr(getattr(request, "settings", None), "security_protocol", "")
            or "PLAINTEXT",
            controller_id=1,
        )
        info.brokers.add(id=1, host="127.0.0.1", port=9092)
        info.topics.add(name="orders", partition_count=3)
        return info

    def _default_produce_response(self, request: Any) -> Any:
        with self._condition:
            base = sum(len(r.records) for r in self.produce_requests[:-1])
        return pb.ProduceResponse(
            results=[
                pb.RecordResult(partition=0, offset=base + index) for index in range(len(request.records))
            ]
        )

    def _reply(self, reply: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(reply, tuple):
            context.abort(reply[0], reply[1])
        return reply

    def Connect(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._condition:
            self.connect_requests.append(request)
        return self._reply(self.connect_reply(request), context)

    def CheckConnection(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._condition:
            self.check_requests.append(request)
        return self._reply(self.check_reply(request), context)

    def Produce(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._condition:
            self.produce_requests.append(request)
        return self._reply(self.produce_reply(request), context)

    def Consume(self, request_iterator: Iterable[Any], context: grpc.ServicerContext) -> Iterable[Any]:
        call = FakeConsumeCall()
        with self._condition:
            self.consume_calls.append(call)
            self._condition.notify_all()
        yield from call.serve(request_iterator, context)

    def wait_for_consume_call(self, index: int = 0, timeout: float = DEFAULT_TIMEOUT_S) -> FakeConsumeCall:
        """Wait until call ``index`` exists and its Subscribe arrived."""
        wait_until(
            lambda: len(self.consume_calls) > index and bool(self.consume_calls[index].requests),
            timeout,
            f"Consume call {index} with its Subscribe",
        )
        return self.consume_calls[index]


class FakeSidecarServer:
    """A ``grpc.server`` serving FakeSidecar on ``unix://<socket_path>``."""

    def __init__(self, socket_path: str) -> None:
        """Start serving at once."""
        self.address = f"unix://{socket_path}"
        self.servicer = FakeSidecar()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        pb_grpc.add_KafkaSidecarServicer_to_server(self.servicer, self._server)
        if self._server.add_insecure_port(self.address) == 0:
            raise RuntimeError(f"cannot listen on {self.address}")
        self._server.start()

    def stop(self) -> None:
        """Stop serving; open calls are cancelled."""
        self._server.stop(grace=None)
