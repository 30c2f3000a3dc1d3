"""SidecarClient and ConsumeStream against the fake sidecar."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import grpc
import pytest
from fake_sidecar import DEFAULT_TIMEOUT_S, FakeSidecarServer, make_message, wait_until

from kafka_sidecar_client import (
    DEFAULT_SIDECAR_ADDRESS,
    SidecarClient,
    SidecarError,
    resolve_sidecar_address,
)
from kafka_sidecar_client._proto import pb


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("unix:///run/sidecar.sock", "unix:///run/sidecar.sock"),
        ("/run/sidecar.sock", "unix:///run/sidecar.sock"),
        ("127.0.0.1:50051", "127.0.0.1:50051"),
        ("[::1]:50051", "[::1]:50051"),
        (" 127.0.0.1:1 ", "127.0.0.1:1"),
    ],
)
def test_address_forms(given: str, expected: str) -> None:
    assert resolve_sidecar_address(given) == expected


@pytest.mark.parametrize("given", ["unix:relative.sock", "localhost", "127.0.0.1:0", "host:port", ":50051"])
def test_invalid_address_names_value(given: str) -> None:
    with pytest.raises(ValueError, match="Invalid sidecar address"):
        resolve_sidecar_address(given)


def test_address_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_sidecar_address(None) == DEFAULT_SIDECAR_ADDRESS
    monkeypatch.setenv("KAFKA_SIDECAR_ADDRESS", "127.0.0.1:7000")
    assert resolve_sidecar_address(None) == "127.0.0.1:7000"
    assert resolve_sidecar_address("") == "127.0.0.1:7000"
    assert resolve_sidecar_address("127.0.0.1:8000") == "127.0.0.1:8000"


def test_unary_calls(fake_sidecar: FakeSidecarServer) -> None:
    with SidecarClient(fake_sidecar.address) as client:
        info = client.connect("named", pb.ConnectionSettings(bootstrap_servers="b:9092"), 500)
        checked = client.check_connection()
        response = client.produce("named", "t", [pb.ProduceRecord(value=b"v")], wait_for_delivery=False)

    assert info.connection_id == "named"
    assert fake_sidecar.servicer.connect_requests[0].timeout_ms == 500
    assert checked.connection_id == ""
    assert [result.offset for result in response.results] == [0]
    assert fake_sidecar.servicer.produce_requests[0].wait_for_delivery is False


def test_error_carries_code_and_details(fake_sidecar: FakeSidecarServer) -> None:
    fake_sidecar.servicer.check_reply = lambda request: (grpc.StatusCode.NOT_FOUND, "no connection 'x'")
    client = SidecarClient(fake_sidecar.address)

    with pytest.raises(SidecarError) as caught:
        client.check_connection("x")

    error = caught.value
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.details == "no connection 'x'"
    assert error.operation == "CheckConnection"
    assert (
        str(error) == f"CheckConnection failed: NOT_FOUND: no connection 'x' (sidecar {fake_sidecar.address})"
    )


def test_close_twice_and_use_after_close(fake_sidecar: FakeSidecarServer) -> None:
    client = SidecarClient(fake_sidecar.address)
    client.close()
    client.close()

    with pytest.raises(RuntimeError, match=f"SidecarClient for {fake_sidecar.address} is closed"):
        client.check_connection()
    with pytest.raises(RuntimeError, match="is closed"):
        client.consume(pb.Subscribe(topics=["t"], group_id="g"))


def test_shared_client_is_reused_until_closed(fake_sidecar: FakeSidecarServer) -> None:
    first = SidecarClient.shared(fake_sidecar.address)
    again = SidecarClient.shared(fake_sidecar.address)
    first.close()
    replacement = SidecarClient.shared(fake_sidecar.address)

    assert first is again
    assert replacement is not first
    assert replacement.check_connection().connection_id == ""


def test_stream_read_timeout_wake_and_end(fake_sidecar: FakeSidecarServer) -> None:
    client = SidecarClient(fake_sidecar.address)
    stream = client.consume(pb.Subscribe(topics=["t"], group_id="g"))
    call = fake_sidecar.servicer.wait_for_consume_call()

    with pytest.raises(TimeoutError, match=r"no Consume response within 0\.01 s"):
        stream.read(timeout=0.01)
    stream.wake()
    with pytest.raises(TimeoutError, match="woken up"):
        stream.read(timeout=DEFAULT_TIMEOUT_S)

    call.send_messages(make_message(3))
    response = stream.read(timeout=DEFAULT_TIMEOUT_S)
    assert [message.delivery_id for message in response.messages.messages] == [3]
    stream.send_acks([pb.Ack(delivery_id=3, status=pb.Ack.STATUS_SUCCESS)])
    stream.send_acks([])
    call.wait_for_acks(1)

    stream.close_send()
    stream.close_send()
    call.wait_half_closed()
    call.finish()

    assert stream.read(timeout=DEFAULT_TIMEOUT_S) is None
    assert stream.read(timeout=0) is None
    assert stream.ended
    assert stream.code == grpc.StatusCode.OK
    assert len(call.ack_frames()) == 1
    with pytest.raises(RuntimeError, match="after close_send"):
        stream.send_acks([pb.Ack(delivery_id=3)])


def test_stream_raw_first_request_and_error_status(fake_sidecar: FakeSidecarServer) -> None:
    client = SidecarClient(fake_sidecar.address)
    acks_first = pb.ConsumeRequest(acks=pb.AckBatch(acks=[pb.Ack(delivery_id=1)]))
    stream = client.consume(acks_first)
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.finish(grpc.StatusCode.INVALID_ARGUMENT, "the first request must carry subscribe")

    assert stream.read(timeout=DEFAULT_TIMEOUT_S) is None
    assert call.requests[0].WhichOneof("request") == "acks"
    assert stream.code == grpc.StatusCode.INVALID_ARGUMENT
    assert stream.details == "the first request must carry subscribe"


def test_second_subscribe_can_be_sent(fake_sidecar: FakeSidecarServer) -> None:
    client = SidecarClient(fake_sidecar.address)
    stream = client.consume(pb.Subscribe(topics=["t"], group_id="g"))
    call = fake_sidecar.servicer.wait_for_consume_call()
    stream.send(pb.ConsumeRequest(subscribe=pb.Subscribe(topics=["u"], group_id="g")))

    wait_until(lambda: len(call.requests) == 2, what="the second subscribe")
    assert list(call.requests[1].subscribe.topics) == ["u"]
    stream.cancel()
    assert stream.wait_ended(DEFAULT_TIMEOUT_S)
    assert stream.code == grpc.StatusCode.CANCELLED


def test_draining_callback_runs_once_before_read(fake_sidecar: FakeSidecarServer) -> None:
    calls: list[str] = []
    seen_before_read = threading.Event()

    def on_draining() -> None:
        calls.append(threading.current_thread().name)
        seen_before_read.set()

    client = SidecarClient(fake_sidecar.address)
    stream = client.consume(pb.Subscribe(topics=["t"], group_id="g"), on_draining=on_draining)
    call = fake_sidecar.servicer.wait_for_consume_call()
    call.send_event(pb.Event.TYPE_DRAINING, detail="SIGTERM")
    call.send_event(pb.Event.TYPE_DRAINING, detail="again")

    assert seen_before_read.wait(DEFAULT_TIMEOUT_S)
    assert stream.draining
    first = stream.read(timeout=DEFAULT_TIMEOUT_S)
    second = stream.read(timeout=DEFAULT_TIMEOUT_S)
    assert first.event.detail == "SIGTERM"
    assert second.event.detail == "again"
    assert calls == ["consume-reader"]
    stream.close_send()
    call.wait_half_closed()
    call.finish()
    assert stream.read(timeout=DEFAULT_TIMEOUT_S) is None


def test_mods_use_datapy_classes_when_installed(tmp_path: Path) -> None:
    """Inside DataPy, register-mod accepts only DataPy's own ModMetadata and ConfigSchema."""
    base = tmp_path / "datapy" / "mod_manager"
    base.mkdir(parents=True)
    (tmp_path / "datapy" / "__init__.py").write_text("", encoding="utf-8")
    (base / "__init__.py").write_text("", encoding="utf-8")
    (base / "base.py").write_text(
        textwrap.dedent(
            """
            class ModMetadata:
                def __init__(self, **fields):
                    assert fields["category"] in ("source", "transformer", "sink", "solo")
                    self.__dict__.update(fields)

            class ConfigSchema:
                def __init__(self, required=None, optional=None):
                    for section in (required or {}, optional or {}):
                        for name, spec in section.items():
                            assert "type" in spec, name
                            assert "description" in spec, name
                    self.required = required or {}
                    self.optional = optional or {}
            """
        ),
        encoding="utf-8",
    )
    script = textwrap.dedent(
        """
        import importlib
        for name in ("kafka_connector", "kafka_consumer", "kafka_producer"):
            module = importlib.import_module("kafka_sidecar_client.mods." + name)
            assert type(module.METADATA).__module__ == "datapy.mod_manager.base", name
            assert type(module.CONFIG_SCHEMA).__module__ == "datapy.mod_manager.base", name
        print("ok")
        """
    )
    environment = {**os.environ, "PYTHONPATH": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_stale_stubs_warn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kafka_sidecar_client import _proto

    changed = tmp_path / "sidecar.proto"
    changed.write_text('syntax = "proto3";\n', encoding="utf-8")
    monkeypatch.setattr(_proto, "_REPOSITORY_PROTO", changed)
    with pytest.warns(UserWarning, match="generated gRPC stubs are older than"):
        _proto.warn_if_stubs_are_stale()

    monkeypatch.setattr(_proto, "_REPOSITORY_PROTO", tmp_path / "absent.proto")
    _proto.warn_if_stubs_are_stale()


def test_current_stubs_do_not_warn(recwarn: pytest.WarningsRecorder) -> None:
    from kafka_sidecar_client import _proto

    _proto.warn_if_stubs_are_stale()

    assert _proto._REPOSITORY_PROTO.is_file()
    assert [str(warning.message) for warning in recwarn] == []
