"""DataPy mods of the Kafka sidecar client.

Each module defines METADATA, CONFIG_SCHEMA and ``run(params) -> dict``, so a
DataPy installation registers it with
``python -m datapy register-mod kafka_sidecar_client.mods.kafka_consumer``.
"""

BUILTIN_MODS = {
    "kafka_connector": "kafka_sidecar_client.mods.kafka_connector",
    "kafka_consumer": "kafka_sidecar_client.mods.kafka_consumer",
    "kafka_producer": "kafka_sidecar_client.mods.kafka_producer",
}

__all__ = ["BUILTIN_MODS"]
