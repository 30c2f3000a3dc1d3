"""SidecarClient: the gRPC channel to the sidecar and its four calls."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import grpc

from kafka_sidecar_client._proto import pb, pb_grpc

logger = logging.getLogger(__name__)

SIDECAR_ADDRESS_ENV = "KAFKA_SIDECAR_ADDRESS"
DEFAULT_SIDECAR_ADDRESS = "unix:///var/run/kafka-sidecar/sidecar.sock"

# Added to the sidecar-side timeout of a call to form its gRPC deadline, so
# that the sidecar's own timeout error, which names the brokers, arrives first.
DEADLINE_MARGIN_S = 5.0
# Deadline for Connect and CheckConnection when the request leaves the
# timeout to the sidecar (timeout_ms 0). The sidecar's default is 10 s.
DEFAULT_CONNECT_DEADLINE_S = 30.0

# A MessageBatch carries up to max_in_flight messages, each up to the
# broker's message size, so the 4 MiB gRPC default is too small.
_MAX_RECEIVE_MESSAGE_BYTES = 256 * 1024 * 1024

_CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", _MAX_RECEIVE_MESSAGE_BYTES),
    ("grpc.max_send_message_length", _MAX_RECEIVE_MESSAGE_BYTES),
)


class SidecarError(Exception):
    """A failed call to the sidecar, with its gRPC status code and message."""

    def __init__(self, operation: str, code: grpc.StatusCode, details: str, address: str) -> None:
        """Create the error.

        Args:
            operation: The call that failed, e.g. "Connect".
            code: gRPC status code.
            details: gRPC status message from the sidecar or the gRPC library.
            address: Sidecar address the call went to.
        """
        self.operation = operation
        self.code = code
        self.details = details or "no details"
        self.address = address
        super().__init__(f"{operation} failed: {code.name}: {self.details} (sidecar {address})")

    @classmethod
    def from_rpc_error(cls, operation: str, error: grpc.RpcError, address: str) -> SidecarError:
        """Wrap a ``grpc.RpcError`` raised by a call."""
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(operation, code or grpc.StatusCode.UNKNOWN, details or "", address)


def resolve_sidecar_address(address: str | None = None) -> str:
    """Return the gRPC target of the sidecar.

    The order is: ``address``, then the environment variable
    ``KAFKA_SIDECAR_ADDRESS``, then ``unix:///var/run/kafka-sidecar/sidecar.sock``.
    Accepted forms are ``unix:///abs/path.sock``, an absolute socket path
    (turned into ``unix://`` form), ``HOST:PORT`` and ``[IPv6]:PORT``.

    Raises:
        ValueError: When the address has none of the accepted forms.
    """
    if address is None or not str(address).strip():
        address = os.environ.get(SIDECAR_ADDRESS_ENV, "").strip() or DEFAULT_SIDECAR_ADDRESS
    address = str(address).strip()

    if address.startswith("/"):
        return f"unix://{address}"
    if address.startswith("unix:"):
        path = address.removeprefix("unix://") if address.startswith("unix://") else address[5:]
        if not path.startswith("/"):
            raise ValueError(
                f"Invalid sidecar address {address!r}: a Unix socket path must be "
                "absolute, e.g. unix:///var/run/kafka-sidecar/sidecar.sock"
            )
        return address
    host, separator, port = address.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"Invalid sidecar address {address!r}: expected unix:///abs/path.sock "
            "or HOST:PORT, e.g. 127.0.0.1:50051"
        )
    return address


class ConsumeStream:
    """One open Consume call.

    Requests go through a queue that feeds the call's request iterator, which
    a gRPC thread drains. A reader thread moves responses into a second queue
    so that ``read()`` can wait with a timeout and be woken up early. Every
    method is thread-safe.
    """

    _CLOSE_SEND = object()
    _WAKE = object()
    _END = object()

    def __init__(
        self,
        stub: pb_grpc.KafkaSidecarStub,
        first_request: Any,
        address: str,
        on_draining: Callable[[], None] | None = None,
    ) -> None:
        """Open the call.

        Args:
            stub: Stub of the channel to use.
            first_request: Normally a ``ConsumeRequest`` with ``subscribe``.
            address: Sidecar address, for messages.
            on_draining: Called once, from the reader thread, when the
                sidecar's DRAINING event arrives, before ``read()`` returns it.
        """
        self._address = address
        self._on_draining = on_draining
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # SimpleQueue.put is reentrant, so a signal handler's stop callback
        # may wake the reader of this queue from inside the main thread.
        self._responses: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._send_closed = False
        self._ended = threading.Event()
        self._end_seen = False
        self._draining = threading.Event()
        self._code: grpc.StatusCode | None = None
        self._details = ""

        self._requests.put(first_request)
        self._call = stub.Consume(self._request_iterator())
        self._reader = threading.Thread(target=self._read_responses, name="consume-reader", daemon=True)
        self._reader.start()

    @property
    def address(self) -> str:
        """Sidecar address of the call."""
        return self._address

    @property
    def draining(self) -> bool:
        """Whether the sidecar sent a DRAINING event on this stream."""
        return self._draining.is_set()

    @property
    def ended(self) -> bool:
        """Whether the call has finished (its status is known)."""
        return self._ended.is_set()

    @property
    def code(self) -> grpc.StatusCode | None:
        """Final gRPC status code, or None while the call is open."""
        return self._code

    @property
    def details(self) -> str:
        """Final gRPC status message ("" while the call is open)."""
        return self._details

    def send(self, request: Any) -> None:
        """Queue one raw ``ConsumeRequest``.

        Raises:
            RuntimeError: After ``close_send()``.
        """
        with self._lock:
            if self._send_closed:
                raise RuntimeError("Cannot send on a Consume stream after close_send()")
            self._requests.put(request)

    def send_acks(self, acks: Sequence[Any]) -> None:
        """Queue one ``ConsumeRequest`` carrying ``acks``; an empty list sends nothing."""
        if acks:
            self.send(pb.ConsumeRequest(acks=pb.AckBatch(acks=list(acks))))

    def close_send(self) -> None:
        """Half-close: the sidecar commits what was acked and ends the call. Idempotent."""
        with self._lock:
            if self._send_closed:
                return
            self._send_closed = True
        self._requests.put(self._CLOSE_SEND)

    def read(self, timeout: float | None = None) -> Any | None:
        """Return the next ``ConsumeResponse``, or None once the call has ended.

        Args:
            timeout: Seconds to wait; None waits without a bound.

        Raises:
            TimeoutError: Nothing arrived within ``timeout``, or ``wake()`` was
                called.
        """
        if self._end_seen:
            return None
        try:
            item = self._responses.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no Consume response within {timeout} s") from None
        if item is self._WAKE:
            raise TimeoutError("read() woken up before a response arrived")
        if item is self._END:
            self._end_seen = True
            return None
        return item

    def wake(self) -> None:
        """Make a pending or the next ``read()`` return early. Safe in signal handlers."""
        self._responses.put(self._WAKE)

    def wait_ended(self, timeout: float | None = None) -> bool:
        """Wait until the call has finished; return whether it has."""
        return self._ended.wait(timeout)

    def cancel(self) -> None:
        """Cancel the call. Unacked messages are redelivered later."""
        self._call.cancel()
        self._requests.put(self._CLOSE_SEND)

    def _request_iterator(self) -> Iterator[Any]:
        while True:
            request = self._requests.get()
            if request is self._CLOSE_SEND:
                return
            yield request

    def _notify_draining(self) -> None:
        if self._on_draining is None:
            return
        try:
            self._on_draining()
        except Exception:
            logger.exception("The DRAINING callback of a Consume stream failed")

    def _read_responses(self) -> None:
        try:
            for response in self._call:
                if (
                    response.WhichOneof("response") == "event"
                    and response.event.type == pb.Event.TYPE_DRAINING
                    and not self._draining.is_set()
                ):
                    self._draining.set()
                    self._notify_draining()
                self._responses.put(response)
            self._code = self._call.code()
            self._details = self._call.details() or ""
        except grpc.RpcError as error:
            self._code = error.code()
            self._details = error.details() or ""
        finally:
            # Lets the gRPC thread that drains the request iterator finish.
            self._requests.put(self._CLOSE_SEND)
            self._ended.set()
            self._responses.put(self._END)


class SidecarClient:
    """Client of one sidecar: Connect, CheckConnection, Produce and Consume.

    The channel is thread-safe; one client serves any number of threads and
    concurrent calls. ``SidecarClient.shared(address)`` returns a process-wide
    client per address, which the DataPy mods use so that a producer called
    for every consumed message reuses one channel.
    """

    _shared: dict[str, SidecarClient] = {}  # noqa: RUF012 - guarded by _shared_lock
    _shared_lock = threading.Lock()

    def __init__(
        self, address: str | None = None, credentials: grpc.ChannelCredentials | None = None
    ) -> None:
        """Create the channel; no call is made until the first request.

        Args:
            address: Sidecar address (see ``resolve_sidecar_address``).
            credentials: TLS credentials for a sidecar whose TCP listener
                uses TLS, from ``grpc.ssl_channel_credentials(root_certificates,
                private_key, certificate_chain)``; None for a plaintext channel.
        """
        self.address = resolve_sidecar_address(address)
        if credentials is None:
            self._channel = grpc.insecure_channel(self.address, options=_CHANNEL_OPTIONS)
        else:
            self._channel = grpc.secure_channel(self.address, credentials, options=_CHANNEL_OPTIONS)
        self._stub = pb_grpc.KafkaSidecarStub(self._channel)
        self._closed = False

    @classmethod
    def shared(cls, address: str | None = None) -> SidecarClient:
        """Return the process-wide client for ``address``, creating it once."""
        resolved = resolve_sidecar_address(address)
        with cls._shared_lock:
            client = cls._shared.get(resolved)
            if client is None or client._closed:
                client = cls(resolved)
                cls._shared[resolved] = client
            return client

    @property
    def stub(self) -> pb_grpc.KafkaSidecarStub:
        """The generated stub, for calls this class does not wrap."""
        return self._stub

    def connect(
        self,
        connection_id: str,
        settings: Any,
        timeout_ms: int = 0,
        *,
        deadline_s: float | None = None,
    ) -> Any:
        """Register a named connection and test it with a metadata request.

        Args:
            connection_id: Name used afterwards in Consume and Produce.
            settings: A ``ConnectionSettings`` message.
            timeout_ms: Bound of the metadata request; 0 selects the sidecar's default.
            deadline_s: gRPC deadline; by default the timeout plus a margin.

        Returns:
            The ``ConnectionInfo`` message.

        Raises:
            SidecarError: The call failed (bad settings, unreachable brokers or sidecar).
        """
        request = pb.ConnectRequest(connection_id=connection_id, settings=settings, timeout_ms=timeout_ms)
        return self._unary(
            "Connect", self._stub.Connect, request, self._connect_deadline(timeout_ms, deadline_s)
        )

    def check_connection(
        self, connection_id: str = "", timeout_ms: int = 0, deadline_s: float | None = None
    ) -> Any:
        """Test a registered connection ("" is the sidecar's default one).

        Returns:
            The ``ConnectionInfo`` message.

        Raises:
            SidecarError: The call failed.
        """
        request = pb.CheckConnectionRequest(connection_id=connection_id, timeout_ms=timeout_ms)
        deadline = self._connect_deadline(timeout_ms, deadline_s)
        return self._unary("CheckConnection", self._stub.CheckConnection, request, deadline)

    def produce(
        self,
        connection_id: str,
        topic: str,
        records: Iterable[Any],
        *,
        wait_for_delivery: bool = True,
        timeout_ms: int = 0,
        deadline_s: float | None = None,
    ) -> Any:
        """Produce ``ProduceRecord`` messages to one topic in one call.

        Args:
            connection_id: Registered connection ("" is the default one).
            topic: Destination topic.
            records: ``ProduceRecord`` messages.
            wait_for_delivery: Wait for the broker's acknowledgement of each record.
            timeout_ms: Bound of that wait; 0 selects the sidecar's default.
            deadline_s: gRPC deadline; by default the timeout plus a margin.

        Returns:
            The ``ProduceResponse`` message, one result per record.

        Raises:
            SidecarError: The call failed as a whole.
        """
        request = pb.ProduceRequest(
            connection_id=connection_id,
            topic=topic,
            records=list(records),
            wait_for_delivery=wait_for_delivery,
            timeout_ms=timeout_ms,
        )
        if deadline_s is None:
            deadline_s = (
                timeout_ms / 1000.0 if timeout_ms else DEFAULT_CONNECT_DEADLINE_S
            ) + DEADLINE_MARGIN_S
        return self._unary("Produce", self._stub.Produce, request, deadline_s)

    def consume(self, subscribe: Any, on_draining: Callable[[], None] | None = None) -> ConsumeStream:
        """Open a Consume stream whose first request carries ``subscribe``.

        Args:
            subscribe: A ``Subscribe`` message, or a full ``ConsumeRequest`` to
                send as the first request unchanged.
            on_draining: Called once from the stream's reader thread when the
                sidecar announces that it is draining.

        Returns:
            The open stream. Failures show in its final status, not as an exception.
        """
        self._check_open()
        if isinstance(subscribe, pb.Subscribe):
            first_request = pb.ConsumeRequest(subscribe=subscribe)
        else:
            first_request = subscribe
        return ConsumeStream(self._stub, first_request, self.address, on_draining)

    def close(self) -> None:
        """Close the channel; open calls end with CANCELLED. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._channel.close()
        with self._shared_lock:
            if self._shared.get(self.address) is self:
                del self._shared[self.address]

    def __enter__(self) -> SidecarClient:
        """Return the client itself."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the client."""
        self.close()

    def __repr__(self) -> str:
        """Describe the client by its address."""
        return f"SidecarClient(address={self.address!r})"

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"SidecarClient for {self.address} is closed")

    @staticmethod
    def _connect_deadline(timeout_ms: int, deadline_s: float | None) -> float:
        if deadline_s is not None:
            return deadline_s
        if timeout_ms:
            return timeout_ms / 1000.0 + DEADLINE_MARGIN_S
        return DEFAULT_CONNECT_DEADLINE_S

    def _unary(self, operation: str, method: Any, request: Any, deadline_s: float) -> Any:
        self._check_open()
        try:
            # wait_for_ready: in a pod both containers start together, so the
            # socket may appear a moment after the job starts.
            return method(request, timeout=deadline_s, wait_for_ready=True)
        except grpc.RpcError as error:
            raise SidecarError.from_rpc_error(operation, error, self.address) from None
