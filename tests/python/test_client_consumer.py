"""The consume loop against the fake sidecar: acks, draining, stop, failures."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import grpc
import pytest
from fake_sidecar import DEFAULT_TIMEOUT_S, FakeSidecarServer, make_message, wait_until

from kafka_sidecar_client import ConsumeStream, KafkaConnection, SidecarClient, StreamController
from kafka_sidecar_client._proto import pb
from kafka_sidecar_client.datapy import run_mod
from kafka_sidecar_client.mods import kafka_consumer

SUCCESS = pb.Ack.STATUS_SUCCESS
ERROR = pb.Ack.STATUS_ERROR


def connection_for(server: FakeSidecarServer, connection_id: str = "conn-test") -> KafkaConnection:
    return KafkaConnection(
        connection_id=connection_id,
        sidecar_address=server.address,
        bootstrap_servers="127.0.0.1:9092",
        security_protocol="PLAINTEXT",
    )


def succeed(_message: dict[str, Any]) -> dict[str, str]:
    return {"status": "success"}


class ConsumerThread:
    """Runs kafka_consumer in a worker thread and keeps its result."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(params,), daemon=True)
        self._thread.start()

    def _run(self, params: dict[str, Any]) -> None:
        try:
            self.result = kafka_consumer.run(params)
        except BaseException as error:
            self.error = error

    def join(self, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"kafka_consumer did not return within {timeout} s"
        assert self.error is None, f"kafka_consumer raised {self.error!r}"
        assert self.result is not None
        return self.result


def consumer_params(server: FakeSidecarServer, processor: Any, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "connection": connection_for(server),
        "topics": ["orders"],
        "group_id": "group-a",
        "message_processor": processor,
        "controller": StreamController(install_signal_handlers=False),
        "shutdown_drain_timeout_s": 5,
    }
    params.update(overrides)
    return params


def test_subscribe_carries_every_parameter(fake_sidecar: FakeSidecarServer) -> None:
    controller = StreamController(install_signal_handlers=False)
    params = consumer_params(
        fake_sidecar,
        succeed,
        controller=controller,
        topics="orders, payments",
        auto_offset_reset="LATEST",
        on_error="retry",
        max_retries=5,
        retry_backoff_ms=[10, 20],
        max_in_flight=7,
        commit_strategy="batch",
        commit_batch_size=50,
        commit_interval_ms=250,
        dead_letter_topic="orders.dlq",
        client_name="job-1",
    )
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    controller.request_stop("test done")
    call.wait_half_closed()
    call.finish()
    result = consumer.join()

    subscribe = call.subscribe
    assert result["status"] == "success", result["errors"]
    assert subscribe.connection_id == "conn-test"
    assert list(subscribe.topics) == ["orders", "payments"]
    assert subscribe.group_id == "group-a"
    assert subscribe.auto_offset_reset == pb.AUTO_OFFSET_RESET_LATEST
    assert subscribe.on_error == pb.ON_ERROR_RETRY
    assert subscribe.HasField("max_retries")
    assert subscribe.max_retries == 5
    assert list(subscribe.retry_backoff_ms) == [10, 20]
    assert subscribe.max_in_flight == 7
    assert subscribe.commit_strategy == pb.COMMIT_STRATEGY_BATCH
    assert subscribe.commit_batch_size == 50
    assert subscribe.commit_interval_ms == 250
    assert subscribe.shutdown_drain_timeout_s == 5
    assert subscribe.dead_letter_topic == "orders.dlq"
    assert subscribe.client_name == "job-1"


def test_subscribe_defaults(fake_sidecar: FakeSidecarServer) -> None:
    controller = StreamController(install_signal_handlers=False)
    params = {
        "connection": connection_for(fake_sidecar, connection_id=""),
        "topics": ["orders"],
        "group_id": "group-a",
        "message_processor": succeed,
        "controller": controller,
    }
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    controller.request_stop()
    call.wait_half_closed()
    call.finish()
    consumer.join()

    subscribe = call.subscribe
    assert subscribe.connection_id == ""
    assert subscribe.auto_offset_reset == pb.AUTO_OFFSET_RESET_EARLIEST
    assert subscribe.on_error == pb.ON_ERROR_CONTINUE
    assert subscribe.commit_strategy == pb.COMMIT_STRATEGY_PER_MESSAGE
    assert subscribe.max_retries == 3
    assert list(subscribe.retry_backoff_ms) == [100, 200, 400]
    # 0 selects the sidecar's own --max-in-flight and drain timeout.
    assert subscribe.max_in_flight == 0
    assert subscribe.shutdown_drain_timeout_s == 0
    assert subscribe.dead_letter_topic == ""


def test_acks_carry_ids_and_statuses(fake_sidecar: FakeSidecarServer) -> None:
    def processor(message: dict[str, Any]) -> Any:
        outcome = message["value"]
        if outcome == "ok":
            return {"status": "success"}
        if outcome == "fail":
            return {"status": "error", "error": "bad amount"}
        if outcome == "raise":
            raise ValueError("cannot parse")
        return None

    params = consumer_params(fake_sidecar, processor)
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.send_event(pb.Event.TYPE_SUBSCRIBED)
    call.send_messages(
        make_message(11, value=b"ok"),
        make_message(12, value=b"fail"),
        make_message(13, value=b"raise"),
        make_message(14, value=b"none"),
    )
    acks = call.wait_for_acks(4)
    params["controller"].request_stop("test done")
    call.wait_half_closed()
    call.finish()
    result = consumer.join()

    by_id = {ack.delivery_id: ack for ack in acks}
    assert sorted(by_id) == [11, 12, 13, 14]
    assert len(acks) == 4
    assert by_id[11].status == SUCCESS
    assert by_id[12].status == ERROR
    assert by_id[12].error == "bad amount"
    assert by_id[13].status == ERROR
    assert by_id[13].error == "ValueError: cannot parse"
    assert by_id[14].status == ERROR
    assert "returned None" in by_id[14].error
    assert result["status"] == "success"
    assert result["exit_code"] == 0
    assert result["metrics"]["processed"] == 4
    assert result["metrics"]["succeeded"] == 1
    assert result["metrics"]["errors"] == 3


def test_ack_sent_while_a_later_callback_runs(fake_sidecar: FakeSidecarServer) -> None:
    """The first message's ack must reach the sidecar while the second callback still runs."""
    seen_first_ack = threading.Event()

    def processor(message: dict[str, Any]) -> dict[str, str]:
        if message["offset"] == 2:
            call = fake_sidecar.servicer.consume_calls[0]
            try:
                wait_until(lambda: 1 in call.acked_ids(), timeout=5, what="ack of delivery 1")
                seen_first_ack.set()
            except AssertionError:
                pass
        return {"status": "success"}

    params = consumer_params(fake_sidecar, processor)
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.send_messages(make_message(1, offset=1), make_message(2, offset=2))
    call.wait_for_acks(2)
    params["controller"].request_stop()
    call.wait_half_closed()
    call.finish()
    consumer.join()

    assert seen_first_ack.is_set()


def test_acks_of_a_fast_batch_share_frames(fake_sidecar: FakeSidecarServer) -> None:
    params = consumer_params(fake_sidecar, succeed)
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.send_messages(*(make_message(delivery_id) for delivery_id in range(1, 201)))
    call.wait_for_acks(200)
    params["controller"].request_stop()
    call.wait_half_closed()
    call.finish()
    consumer.join()

    frames = call.ack_frames()
    assert sorted(call.acked_ids()) == list(range(1, 201))
    assert len(frames) < 20, f"{len(frames)} frames for 200 acks"


def test_draining_stops_after_current_message(fake_sidecar: FakeSidecarServer) -> None:
    processed: list[int] = []
    controller = StreamController(install_signal_handlers=False)

    def processor(message: dict[str, Any]) -> dict[str, str]:
        processed.append(message["offset"])
        # A long callback that checks the controller: DRAINING must set it.
        if not controller.wait(DEFAULT_TIMEOUT_S):
            return {"status": "error", "error": "DRAINING never reached the controller"}
        return {"status": "success"}

    params = consumer_params(fake_sidecar, processor, controller=controller)
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.send_messages(make_message(1), make_message(2), make_message(3))
    wait_until(lambda: processed == [1], what="the first callback to start")
    call.send_event(pb.Event.TYPE_DRAINING, detail="SIGTERM")
    call.wait_half_closed()
    acks_at_half_close = call.acks()
    call.finish()
    result = consumer.join()

    assert processed == [1]
    assert [(ack.delivery_id, ack.status) for ack in acks_at_half_close] == [(1, SUCCESS)]
    assert call.half_closed_after == len(call.requests)
    assert call.acked_ids() == [1]
    assert result["status"] == "success", result["errors"]
    assert result["metrics"]["processed"] == 1
    assert result["metrics"]["unprocessed"] == 2
    assert result["metrics"]["stop_reason"] == "the sidecar is draining"


def test_stop_request_leaves_rest_of_batch_unacked(fake_sidecar: FakeSidecarServer) -> None:
    controller = StreamController(install_signal_handlers=False)

    def processor(message: dict[str, Any]) -> dict[str, str]:
        if message["offset"] == 2:
            controller.request_stop("job asked")
        return {"status": "success"}

    params = consumer_params(fake_sidecar, processor, controller=controller)
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.send_messages(*(make_message(delivery_id) for delivery_id in range(1, 6)))
    call.wait_half_closed()
    call.finish()
    result = consumer.join()

    assert sorted(call.acked_ids()) == [1, 2]
    assert result["metrics"]["processed"] == 2
    assert result["metrics"]["unprocessed"] == 3
    assert result["metrics"]["stop_reason"] == "job asked"


def test_messages_after_half_close_are_not_processed(fake_sidecar: FakeSidecarServer) -> None:
    processed: list[int] = []

    def processor(message: dict[str, Any]) -> dict[str, str]:
        processed.append(message["offset"])
        return {"status": "success"}

    params = consumer_params(fake_sidecar, processor)
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    params["controller"].request_stop()
    call.wait_half_closed()
    call.send_messages(make_message(7), make_message(8))
    call.finish()
    result = consumer.join()

    assert processed == []
    assert call.acked_ids() == []
    assert result["metrics"]["received"] == 2
    assert result["metrics"]["unprocessed"] == 2


def test_aborted_stream_returns_exit_code_30(fake_sidecar: FakeSidecarServer) -> None:
    params = consumer_params(
        fake_sidecar, lambda message: {"status": "error", "error": "boom"}, on_error="stop"
    )
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.send_messages(make_message(5, offset=42))
    call.wait_for_acks(1)
    call.finish(grpc.StatusCode.ABORTED, "on_error=stop: orders/0@42 failed: boom")
    result = consumer.join()

    assert call.subscribe.on_error == pb.ON_ERROR_STOP
    assert result["status"] == "error"
    assert result["exit_code"] == 30
    assert len(result["errors"]) == 1
    message = result["errors"][0]["message"]
    assert "ABORTED" in message
    assert "orders/0@42 failed: boom" in message
    assert result["metrics"]["errors"] == 1


def test_abort_stops_processing_of_current_batch(
    fake_sidecar: FakeSidecarServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    streams: list[ConsumeStream] = []
    original_consume = SidecarClient.consume

    def recording_consume(self: SidecarClient, *args: Any, **kwargs: Any) -> ConsumeStream:
        stream = original_consume(self, *args, **kwargs)
        streams.append(stream)
        return stream

    monkeypatch.setattr(SidecarClient, "consume", recording_consume)
    processed: list[int] = []

    def processor(message: dict[str, Any]) -> dict[str, str]:
        processed.append(message["offset"])
        if message["offset"] == 1:
            # Return only once the client has seen the end of the call.
            streams[0].wait_ended(DEFAULT_TIMEOUT_S)
        return {"status": "success"}

    params = consumer_params(fake_sidecar, processor)
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.send_messages(make_message(1), make_message(2), make_message(3))
    wait_until(lambda: processed == [1], what="the first callback")
    call.finish(grpc.StatusCode.ABORTED, "stopped by on_error=stop")
    result = consumer.join()

    assert streams[0].ended
    assert processed == [1]
    assert result["exit_code"] == 30
    assert result["metrics"]["unprocessed"] == 2


def test_unavailable_stream_returns_error(fake_sidecar: FakeSidecarServer) -> None:
    params = consumer_params(fake_sidecar, succeed)
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.finish(grpc.StatusCode.UNAVAILABLE, "sidecar is shutting down")
    result = consumer.join()

    assert result["status"] == "error"
    assert result["exit_code"] == 30
    assert "UNAVAILABLE: sidecar is shutting down" in result["errors"][0]["message"]


def test_unreachable_sidecar_returns_error(tmp_path: Any) -> None:
    connection = KafkaConnection(
        connection_id="",
        sidecar_address=f"unix://{tmp_path}/missing.sock",
        bootstrap_servers="127.0.0.1:9092",
        security_protocol="PLAINTEXT",
    )
    result = kafka_consumer.run(
        {
            "connection": connection,
            "topics": ["orders"],
            "group_id": "g",
            "message_processor": succeed,
            "controller": StreamController(install_signal_handlers=False),
        }
    )

    assert result["exit_code"] == 30
    assert "UNAVAILABLE" in result["errors"][0]["message"]


def test_redeliveries_count_as_retries(fake_sidecar: FakeSidecarServer) -> None:
    params = consumer_params(fake_sidecar, succeed)
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.send_messages(make_message(1, offset=9), make_message(2, offset=9, attempt=2))
    call.wait_for_acks(2)
    params["controller"].request_stop()
    call.wait_half_closed()
    call.finish()
    result = consumer.join()

    assert result["metrics"]["retries"] == 1
    assert result["metrics"]["processed"] == 2


def test_sidecar_ending_stream_first_is_a_warning(fake_sidecar: FakeSidecarServer) -> None:
    params = consumer_params(fake_sidecar, succeed)
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.finish()
    result = consumer.join()

    assert result["status"] == "warning"
    assert result["exit_code"] == 10


def test_worker_thread_consumer_installs_no_handler(fake_sidecar: FakeSidecarServer) -> None:
    before = signal.getsignal(signal.SIGTERM)
    params = consumer_params(fake_sidecar, succeed)
    del params["controller"]
    consumer = ConsumerThread(params)
    call = fake_sidecar.servicer.wait_for_consume_call()
    during = signal.getsignal(signal.SIGTERM)
    call.send_event(pb.Event.TYPE_DRAINING)
    call.wait_half_closed()
    call.finish()
    result = consumer.join()

    assert during is before
    assert result["status"] == "success", result["errors"]


def test_sigterm_stops_main_thread_consumer(fake_sidecar: FakeSidecarServer) -> None:
    """With no controller, the consumer in the main thread stops on SIGTERM and restores the handler."""
    previous_calls: list[int] = []

    def previous_handler(signum: int, frame: Any) -> None:
        previous_calls.append(signum)

    signal.signal(signal.SIGTERM, previous_handler)

    def drive_sidecar() -> None:
        call = fake_sidecar.servicer.wait_for_consume_call()
        call.send_messages(make_message(1))
        call.wait_for_acks(1)
        os.kill(os.getpid(), signal.SIGTERM)
        call.wait_half_closed()
        call.finish()

    driver = threading.Thread(target=drive_sidecar, daemon=True)
    driver.start()
    result = run_mod(
        "kafka_consumer",
        {
            "connection": connection_for(fake_sidecar),
            "topics": ["orders"],
            "group_id": "group-a",
            "message_processor": succeed,
        },
    )
    driver.join(DEFAULT_TIMEOUT_S)

    assert not driver.is_alive()
    assert result["status"] == "success", result["errors"]
    assert result["metrics"]["stop_reason"] == "received SIGTERM"
    assert result["metrics"]["processed"] == 1
    assert previous_calls == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is previous_handler


def test_invalid_parameters_fail_before_any_call(fake_sidecar: FakeSidecarServer) -> None:
    params = consumer_params(fake_sidecar, succeed, on_error="explode", topics=[], group_id=" ")
    result = kafka_consumer.run(params)

    assert result["exit_code"] == 20
    messages = " ".join(error["message"] for error in result["errors"])
    assert "on_error" in messages
    assert "continue, retry, stop" in messages
    assert fake_sidecar.servicer.consume_calls == []


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("topics", [], "'topics' must be a non-empty list"),
        ("group_id", "  ", "'group_id' must not be empty"),
        ("retry_backoff_ms", [100, -1], "'retry_backoff_ms' must be a non-empty list"),
        ("connection", "localhost:9092", "'connection' must be the 'connection' artifact"),
        ("controller", "yes", "'controller' must be a StreamController, got str"),
    ],
)
def test_parameter_checks_name_the_parameter(
    fake_sidecar: FakeSidecarServer, name: str, value: Any, expected: str
) -> None:
    params = consumer_params(fake_sidecar, succeed)
    params[name] = value
    result = kafka_consumer.run(params)

    assert result["exit_code"] == 20
    assert expected in result["errors"][0]["message"]
    assert fake_sidecar.servicer.consume_calls == []


class JobFlag:
    """A job's own stop flag, as an older framework might provide it."""

    def __init__(self) -> None:
        self.stop = False
        self.stop_requests = 0

    def should_stop(self) -> bool:
        return self.stop

    def request_stop(self) -> None:
        self.stop_requests += 1
        self.stop = True


def test_foreign_controller_flag_is_followed(fake_sidecar: FakeSidecarServer) -> None:
    flag = JobFlag()
    consumer = ConsumerThread(consumer_params(fake_sidecar, succeed, controller=flag))
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.send_messages(make_message(1))
    call.wait_for_acks(1)
    flag.stop = True
    call.wait_half_closed()
    call.finish()
    result = consumer.join()

    assert result["status"] == "success", result["errors"]
    assert result["metrics"]["stop_reason"] == "JobFlag.should_stop() returned True"


def test_draining_reaches_foreign_controller(fake_sidecar: FakeSidecarServer) -> None:
    flag = JobFlag()
    consumer = ConsumerThread(consumer_params(fake_sidecar, succeed, controller=flag))
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.send_event(pb.Event.TYPE_DRAINING)
    call.wait_half_closed()
    call.finish()
    result = consumer.join()

    assert result["status"] == "success", result["errors"]
    assert flag.stop_requests == 1
    assert result["metrics"]["stop_reason"] == "the sidecar is draining"
