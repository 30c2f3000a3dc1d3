"""StreamController: signals, stop requests, callbacks and thread safety."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest

from kafka_sidecar_client import StreamController


def test_sigterm_sets_stop_flag() -> None:
    controller = StreamController()
    try:
        assert controller.handles_signals
        assert not controller.should_stop()
        os.kill(os.getpid(), signal.SIGTERM)

        assert controller.wait(5)
        assert controller.should_stop()
        assert controller.is_shutdown_initiated()
        assert controller.stop_reason == "received SIGTERM"
    finally:
        controller.close()


def test_first_sigint_stops_gracefully_second_raises() -> None:
    controller = StreamController()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        assert controller.wait(5)
        assert controller.stop_reason == "received SIGINT"

        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            # The handler runs between bytecodes; give it a few.
            for _ in range(1000):
                pass
    finally:
        controller.close()


def test_sigint_after_request_stop_is_graceful() -> None:
    controller = StreamController()
    try:
        controller.request_stop("job asked")
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
        assert controller.stop_reason == "job asked"
    finally:
        controller.close()


def test_close_restores_previous_handler() -> None:
    def previous(signum: int, frame: Any) -> None:
        pass

    signal.signal(signal.SIGTERM, previous)
    controller = StreamController()
    assert signal.getsignal(signal.SIGTERM) is not previous
    controller.close()
    controller.close()

    assert signal.getsignal(signal.SIGTERM) is previous


def test_close_keeps_a_later_handler() -> None:
    def later(signum: int, frame: Any) -> None:
        pass

    controller = StreamController()
    signal.signal(signal.SIGTERM, later)
    controller.close()

    assert signal.getsignal(signal.SIGTERM) is later


def test_signal_chains_to_previous_handler() -> None:
    calls: list[int] = []

    def previous(signum: int, frame: Any) -> None:
        calls.append(signum)

    signal.signal(signal.SIGTERM, previous)
    with StreamController() as controller:
        os.kill(os.getpid(), signal.SIGTERM)
        assert controller.wait(5)

    assert calls == [signal.SIGTERM]


def test_ignored_sigint_stays_ignored() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with StreamController():
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_install_disabled_leaves_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    controller = StreamController(install_signal_handlers=False)

    assert not controller.handles_signals
    assert signal.getsignal(signal.SIGTERM) is before


def test_worker_thread_controller_installs_nothing() -> None:
    before = signal.getsignal(signal.SIGTERM)
    created: list[StreamController] = []
    worker = threading.Thread(target=lambda: created.append(StreamController()))
    worker.start()
    worker.join(5)

    assert not created[0].handles_signals
    assert signal.getsignal(signal.SIGTERM) is before


def test_wait_times_out_without_stop() -> None:
    controller = StreamController(install_signal_handlers=False)

    assert controller.wait(0.01) is False
    assert not controller.should_stop()
    assert controller.stop_reason is None


def test_first_reason_wins() -> None:
    controller = StreamController(install_signal_handlers=False)
    controller.request_stop("first")
    controller.request_stop("second")

    assert controller.stop_reason == "first"
    assert "stopped (first)" in repr(controller)


def test_callbacks_run_once_and_late_ones_at_once() -> None:
    controller = StreamController(install_signal_handlers=False)
    early: list[str] = []
    removed: list[str] = []
    controller.add_stop_callback(early.append)
    controller.add_stop_callback(removed.append)
    controller.remove_stop_callback(removed.append)
    controller.request_stop("done")
    controller.request_stop("again")
    late: list[str] = []
    controller.add_stop_callback(late.append)

    assert early == ["done"]
    assert removed == []
    assert late == ["done"]


def test_failing_callback_does_not_block_others() -> None:
    controller = StreamController(install_signal_handlers=False)
    called: list[str] = []

    def failing(reason: str) -> None:
        raise RuntimeError("callback bug")

    controller.add_stop_callback(failing)
    controller.add_stop_callback(called.append)
    controller.request_stop("x")

    assert called == ["x"]


def test_concurrent_stop_requests_notify_once() -> None:
    controller = StreamController(install_signal_handlers=False)
    notified: list[str] = []
    controller.add_stop_callback(notified.append)
    start = threading.Barrier(17)
    woken: list[bool] = []
    woken_lock = threading.Lock()

    def waiter() -> None:
        start.wait()
        result = controller.wait(5)
        with woken_lock:
            woken.append(result)

    def requester(index: int) -> None:
        start.wait()
        controller.request_stop(f"thread {index}")

    threads = [threading.Thread(target=waiter) for _ in range(8)]
    threads += [threading.Thread(target=requester, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join(5)

    assert all(not thread.is_alive() for thread in threads)
    assert woken == [True] * 8
    assert len(notified) == 1
    assert notified[0] == controller.stop_reason
    assert controller.stop_reason in {f"thread {index}" for index in range(8)}


def test_close_from_worker_thread_keeps_handlers(caplog: pytest.LogCaptureFixture) -> None:
    controller = StreamController()
    installed = signal.getsignal(signal.SIGTERM)
    worker = threading.Thread(target=controller.close)
    worker.start()
    worker.join(5)

    assert signal.getsignal(signal.SIGTERM) is installed
    assert "outside the main thread" in caplog.text
