"""The sidecar's own gRPC listeners: socket permissions, loopback, TLS and mutual TLS."""

from __future__ import annotations

import re
import stat
import tempfile
from pathlib import Path

import grpc
import pytest
from kafka_sidecar_client import SidecarClient
from kafka_sidecar_client.client import SidecarError

# A client the TLS listener does not accept never gets a response: gRPC
# reports the failed handshake, or the deadline when it keeps retrying.
_REFUSED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_SERVING_TCP = re.compile(r"serving on .*?127\.0\.0\.1:(\d+)")


def _tcp_port(sidecar) -> int:
    return int(sidecar.wait_for_log(_SERVING_TCP.pattern)[1])


def test_unix_socket_mode_directory_and_removal(
    secure_broker, secure_sidecar_factory
) -> None:
    with tempfile.TemporaryDirectory(prefix="sidecar-") as parent:
        socket_dir = Path(parent) / "run"
        socket_path = socket_dir / "sidecar.sock"
        sidecar = secure_sidecar_factory(
            listen_unix=False,
            args=[
                "--bootstrap-servers",
                secure_broker["plaintext"],
                "--listen-unix",
                str(socket_path),
            ],
        )
        assert stat.S_IMODE(socket_path.stat().st_mode) == 0o660
        assert stat.S_IMODE(socket_dir.stat().st_mode) == 0o750
        with SidecarClient(f"unix://{socket_path}") as client:
            assert (
                client.check_connection("").bootstrap_servers
                == secure_broker["plaintext"]
            )
        assert sidecar.stop() == 0
        assert not socket_path.exists()


def test_unix_socket_mode_is_configurable(
    secure_broker, secure_sidecar_factory
) -> None:
    sidecar = secure_sidecar_factory(
        args=[
            "--bootstrap-servers",
            secure_broker["plaintext"],
            "--listen-unix-mode",
            "0600",
        ]
    )
    assert stat.S_IMODE(sidecar.socket_path.stat().st_mode) == 0o600


def test_tcp_listener_rejects_non_loopback_address(
    secure_broker, secure_sidecar_factory
) -> None:
    sidecar = secure_sidecar_factory(
        listen_unix=False,
        wait_serving=False,
        args=[
            "--bootstrap-servers",
            secure_broker["plaintext"],
            "--listen-tcp",
            "0.0.0.0:0",
        ],
    )
    assert sidecar.wait(timeout_s=20) == 2
    assert "would accept calls from other hosts" in sidecar.stderr()
    assert "--allow-non-loopback" in sidecar.stderr()


def test_tls_listener_serves_tls_clients_only(
    secure_broker, secure_sidecar_factory
) -> None:
    sidecar = secure_sidecar_factory(
        listen_unix=False,
        args=[
            "--bootstrap-servers",
            secure_broker["plaintext"],
            "--listen-tcp",
            "127.0.0.1:0",
            "--tls-cert",
            secure_broker["client_cert"],
            "--tls-key",
            secure_broker["client_key"],
        ],
    )
    address = f"127.0.0.1:{_tcp_port(sidecar)}"
    ca = Path(secure_broker["ca"]).read_bytes()
    with SidecarClient(
        address, grpc.ssl_channel_credentials(root_certificates=ca)
    ) as client:
        assert (
            client.check_connection("").bootstrap_servers == secure_broker["plaintext"]
        )
    with (
        SidecarClient(address) as plaintext_client,
        pytest.raises(SidecarError) as raised,
    ):
        plaintext_client.check_connection("", deadline_s=3)
    assert raised.value.code in _REFUSED


def test_mutual_tls_listener_requires_client_certificate(
    secure_broker, secure_sidecar_factory
) -> None:
    sidecar = secure_sidecar_factory(
        listen_unix=False,
        args=[
            "--bootstrap-servers",
            secure_broker["plaintext"],
            "--listen-tcp",
            "127.0.0.1:0",
            "--tls-cert",
            secure_broker["client_cert"],
            "--tls-key",
            secure_broker["client_key"],
            "--tls-client-ca",
            secure_broker["ca"],
        ],
    )
    address = f"127.0.0.1:{_tcp_port(sidecar)}"
    ca = Path(secure_broker["ca"]).read_bytes()
    with_certificate = grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=Path(secure_broker["client_key"]).read_bytes(),
        certificate_chain=Path(secure_broker["client_cert"]).read_bytes(),
    )
    with SidecarClient(address, with_certificate) as client:
        assert (
            client.check_connection("").bootstrap_servers == secure_broker["plaintext"]
        )
    without_certificate = grpc.ssl_channel_credentials(root_certificates=ca)
    with (
        SidecarClient(address, without_certificate) as client,
        pytest.raises(SidecarError) as raised,
    ):
        client.check_connection("", deadline_s=3)
    assert raised.value.code in _REFUSED
