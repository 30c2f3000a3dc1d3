"""Access to the generated protocol modules, with an actionable import error."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

try:
    from kafka_sidecar_client._generated import PROTO_SHA256
    from kafka_sidecar_client._generated import sidecar_pb2 as pb
    from kafka_sidecar_client._generated import sidecar_pb2_grpc as pb_grpc
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError(
        "The gRPC stubs of kafka_sidecar_client are missing or do not import "
        f"({error}). They are generated when the package is installed: run "
        "`pip install -e clients/python` from the repository root."
    ) from error

__all__ = ["pb", "pb_grpc", "warn_if_stubs_are_stale"]

# In an editable install this file sits at clients/python/src/kafka_sidecar_client/,
# four levels below the repository root.
_REPOSITORY_PROTO = Path(__file__).resolve().parents[4] / "proto" / "kafkasidecar" / "v1" / "sidecar.proto"


def warn_if_stubs_are_stale() -> None:
    """Warn when the repository's proto file changed after the stubs were generated.

    Only an editable install can see the repository's proto file, so an
    installed wheel never warns.
    """
    try:
        current = hashlib.sha256(_REPOSITORY_PROTO.read_bytes()).hexdigest()
    except OSError:
        return
    if current != PROTO_SHA256:
        warnings.warn(
            f"The generated gRPC stubs are older than {_REPOSITORY_PROTO}. "
            "Regenerate them with `pip install -e clients/python`.",
            stacklevel=2,
        )


warn_if_stubs_are_stale()
