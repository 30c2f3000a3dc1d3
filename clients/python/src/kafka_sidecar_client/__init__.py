"""Python client of the Kafka sidecar, with DataPy mods.

- ``SidecarClient``: the gRPC channel and the Connect, CheckConnection,
  Produce and Consume calls.
- ``StreamController``: the stop flag set by SIGTERM/SIGINT.
- ``KafkaConnection``: the artifact of the kafka_connector mod.
- ``kafka_sidecar_client.datapy``: ``run_mod``, ``setup_context`` and
  ``setup_logging`` for jobs, with or without DataPy.
- ``kafka_sidecar_client.mods``: kafka_connector, kafka_consumer and
  kafka_producer.
"""

from kafka_sidecar_client.client import (
    DEFAULT_SIDECAR_ADDRESS,
    SIDECAR_ADDRESS_ENV,
    ConsumeStream,
    SidecarClient,
    SidecarError,
    resolve_sidecar_address,
)
from kafka_sidecar_client.connection import KafkaConnection
from kafka_sidecar_client.controller import StreamController
from kafka_sidecar_client.secret import Secret

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SIDECAR_ADDRESS",
    "SIDECAR_ADDRESS_ENV",
    "ConsumeStream",
    "KafkaConnection",
    "Secret",
    "SidecarClient",
    "SidecarError",
    "StreamController",
    "__version__",
    "resolve_sidecar_address",
]
