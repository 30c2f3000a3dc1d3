"""StreamController: one stop flag shared by signal handlers, the consumer and the job."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

_HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)

StopCallback = Callable[[str], None]


class StreamController:
    """Stop flag for a streaming job, set by SIGTERM/SIGINT or by code.

    Created in the main thread, the controller installs handlers for SIGTERM
    and SIGINT that request a stop, and puts the previous handlers back on
    ``close()``. Each signal also reaches the handler a program installed
    before, except Python's default SIGINT handler, because that one would
    raise ``KeyboardInterrupt`` in the middle of a callback.

    A SIGINT after an earlier signal raises ``KeyboardInterrupt``, so pressing
    Ctrl+C twice ends a job whose callback hangs. Messages it did not ack are
    redelivered later. SIGINT stays ignored when the process started with it
    ignored. Created in any other thread, the controller installs nothing,
    because Python only allows the main thread to set signal handlers.

    Every method is thread-safe. A signal handler runs in the main thread
    between two bytecodes, possibly while that thread holds one of this
    object's locks, so the handler only sets a flag and leaves the wake-up of
    waiters and stop callbacks to a short-lived thread.

    Example:
        controller = StreamController()
        while not controller.should_stop():
            do_one_step()
        controller.close()
    """

    def __init__(self, install_signal_handlers: bool = True) -> None:
        """Create the controller and install its signal handlers.

        Args:
            install_signal_handlers: When False, or when not called from the
                main thread, no signal handler is installed.
        """
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        # Written once, under _lock or from the signal handler, before
        # _stopped is set. Readers that saw the flag see the reason too.
        self._stop_flag = False
        self._stop_reason: str | None = None
        self._callbacks: list[StopCallback] = []
        self._closed = False
        # Signal number -> handler that was installed before ours.
        self._previous_handlers: dict[int, Any] = {}

        # Set by the signal handler only, so that a SIGINT after request_stop()
        # still stops gracefully and only a repeated signal forces the exit.
        self._signalled = False

        in_main_thread = threading.current_thread() is threading.main_thread()
        if install_signal_handlers and in_main_thread:
            for signum in _HANDLED_SIGNALS:
                if signum == signal.SIGINT and signal.getsignal(signum) == signal.SIG_IGN:
                    # A shell starts background jobs with SIGINT ignored, so
                    # that Ctrl+C in the terminal does not reach them.
                    continue
                self._previous_handlers[signum] = signal.signal(signum, self._handle_signal)

    @property
    def handles_signals(self) -> bool:
        """Whether this controller installed SIGTERM/SIGINT handlers."""
        return bool(self._previous_handlers)

    @property
    def stop_reason(self) -> str | None:
        """Reason given by the first stop request, or None while running."""
        return self._stop_reason

    def should_stop(self) -> bool:
        """Return whether a stop was requested; long callbacks should check this."""
        return self._stop_flag

    def is_shutdown_initiated(self) -> bool:
        """Return whether shutdown has started. Same flag as ``should_stop()``."""
        return self._stop_flag

    def request_stop(self, reason: str | None = None) -> None:
        """Request a stop. Only the first request's reason is kept.

        Args:
            reason: Why the stream should stop, for logs and ``stop_reason``.
        """
        with self._lock:
            if self._stop_flag:
                return
            self._stop_reason = reason or "stop requested"
            self._stop_flag = True
        self._notify_stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop is requested or the timeout passes.

        Args:
            timeout: Seconds to wait; None waits without a bound.

        Returns:
            Whether a stop was requested.
        """
        if self._stop_flag and not self._stopped.is_set():
            # A signal handler set the flag, and its notifier thread has not
            # run yet. Honor the flag without waiting for that thread.
            return True
        return self._stopped.wait(timeout)

    def add_stop_callback(self, callback: StopCallback) -> None:
        """Call ``callback(reason)`` once a stop is requested.

        The callback runs in the thread that requested the stop, or in a
        helper thread for signals, so it must be quick and must not block. A
        callback added after the stop runs at once.
        """
        with self._lock:
            already_stopped = self._stopped.is_set()
            if not already_stopped:
                self._callbacks.append(callback)
        if already_stopped:
            callback(self._stop_reason or "stop requested")

    def remove_stop_callback(self, callback: StopCallback) -> None:
        """Forget a callback added with ``add_stop_callback``; unknown ones are ignored."""
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def close(self) -> None:
        """Put back the signal handlers that were installed before this controller.

        A handler is put back only while ours is still the installed one, so
        that a handler installed later by someone else stays. Closing twice
        does nothing. Must run in the main thread when the controller
        installed handlers.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            previous_handlers = dict(self._previous_handlers)
            self._previous_handlers.clear()

        if previous_handlers and threading.current_thread() is not threading.main_thread():
            logger.warning(
                "StreamController.close() called outside the main thread; "
                "its SIGTERM/SIGINT handlers stay installed"
            )
            return
        for signum, previous in previous_handlers.items():
            if signal.getsignal(signum) == self._handle_signal:
                signal.signal(signum, previous)

    def __enter__(self) -> StreamController:
        """Return the controller itself."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the controller."""
        self.close()

    def __repr__(self) -> str:
        """Describe the state without side effects."""
        state = f"stopped ({self._stop_reason})" if self._stop_flag else "running"
        return f"StreamController({state}, handles_signals={self.handles_signals})"

    def _notify_stop(self) -> None:
        """Wake waiters and run the stop callbacks, once."""
        with self._lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
            callbacks = list(self._callbacks)
            self._callbacks.clear()
            reason = self._stop_reason or "stop requested"
        logger.info("Stop requested: %s", reason)
        for callback in callbacks:
            try:
                callback(reason)
            except Exception:
                logger.exception("A stop callback of StreamController failed")

    def _handle_signal(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler: set the flag at once, notify from a helper thread."""
        name = signal.Signals(signum).name
        if self._signalled and signum == signal.SIGINT:
            raise KeyboardInterrupt(f"second signal ({name}) while stopping")
        self._signalled = True
        if not self._stop_flag:
            # No lock here: the main thread may hold _lock at this moment.
            self._stop_reason = f"received {name}"
            self._stop_flag = True
            threading.Thread(target=self._notify_stop, name="stream-controller-stop", daemon=True).start()

        previous = self._previous_handlers.get(signum)
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signum, frame)


class _ForeignController(StreamController):
    """A StreamController that also follows another object's ``should_stop()``.

    The consume loop notices the other object's flag when it next checks,
    within half a second, because that object runs no stop callbacks.
    """

    def __init__(self, foreign: Any) -> None:
        super().__init__(install_signal_handlers=False)
        self._foreign = foreign

    @property
    def stop_reason(self) -> str | None:
        if self._stop_reason is None and self._foreign.should_stop():
            return f"{type(self._foreign).__name__}.should_stop() returned True"
        return self._stop_reason

    def should_stop(self) -> bool:
        return self._stop_flag or bool(self._foreign.should_stop())

    def is_shutdown_initiated(self) -> bool:
        return self.should_stop()

    def request_stop(self, reason: str | None = None) -> None:
        super().request_stop(reason)
        foreign_request = getattr(self._foreign, "request_stop", None)
        if callable(foreign_request):
            foreign_request()


def as_stream_controller(controller: Any) -> StreamController:
    """Return ``controller`` as a StreamController.

    A StreamController is returned unchanged. Any other object with a
    ``should_stop()`` method, such as a controller class of a job framework,
    is wrapped so that the consume loop follows its flag, and a stop that
    the sidecar's DRAINING event triggers reaches its ``request_stop()``.

    Raises:
        TypeError: When ``controller`` has no ``should_stop()`` method.
    """
    if isinstance(controller, StreamController):
        return controller
    if callable(getattr(controller, "should_stop", None)):
        return _ForeignController(controller)
    raise TypeError(f"Parameter 'controller' must be a StreamController, got {type(controller).__name__}.")
