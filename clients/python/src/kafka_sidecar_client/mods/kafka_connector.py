"""DataPy mod kafka_connector: register or check a Kafka connection in the sidecar.

Without ``bootstrap_servers`` the mod checks a connection the sidecar
already has: its default one (configured in the sidecar's own container,
the usual OpenShift setup), or the one named by ``connection_name``. With
``bootstrap_servers`` it registers the settings under ``connection_name``,
or under an id derived from the non-secret settings, and the sidecar tests
them with a metadata request. Either way the ``connection`` artifact is a
KafkaConnection that kafka_consumer and kafka_producer take.
"""

from __future__ import annotations

from typing import Any

from kafka_sidecar_client._modkit import (
    ConfigSchema,
    ModLogger,
    ModMetadata,
    ModResult,
    ParamValidationError,
    run_validated,
)
from kafka_sidecar_client.client import SidecarClient, SidecarError, resolve_sidecar_address
from kafka_sidecar_client.connection import (
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    KafkaConnection,
    derive_connection_id,
    settings_message,
    validate_settings,
)
from kafka_sidecar_client.secret import Secret

METADATA = ModMetadata(
    type="kafka_connector",
    version="0.1.0",
    description="Registers or checks a Kafka connection in the Kafka sidecar (Talend tKafkaConnection).",
    category="solo",
    input_ports=[],
    output_ports=["connection"],
    globals=["connection_id", "bootstrap_servers"],
    packages=["kafka-sidecar-client"],
    python_version=">=3.10",
)

CONFIG_SCHEMA = ConfigSchema(
    required={},
    optional={
        "bootstrap_servers": {
            "type": "str",
            "default": None,
            "description": "host:port[,host:port]. Empty: use a connection the sidecar already has.",
        },
        "security_protocol": {
            "type": "str",
            "default": None,
            "choices": list(SECURITY_PROTOCOLS),
            "description": "PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL.",
        },
        "sasl_mechanism": {
            "type": "str",
            "default": None,
            "choices": list(SASL_MECHANISMS),
            "description": "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, with the SASL_* protocols.",
        },
        "sasl_username": {"type": "str", "default": None, "description": "SASL user name."},
        "sasl_password": {
            "type": "secret",
            "secret": True,
            "default": None,
            "description": "SASL password (str or kafka_sidecar_client.Secret).",
        },
        "sasl_password_file": {
            "type": "str",
            "default": None,
            "description": "File holding the SASL password, such as a mounted Secret.",
        },
        "ssl_ca_location": {
            "type": "str",
            "default": None,
            "description": "CA PEM file, as the sidecar sees it.",
        },
        "ssl_cert_location": {
            "type": "str",
            "default": None,
            "description": "Client certificate PEM file for mutual TLS, as the sidecar sees it.",
        },
        "ssl_key_location": {
            "type": "str",
            "default": None,
            "description": "Client key PEM file for mutual TLS, as the sidecar sees it.",
        },
        "ssl_key_password": {
            "type": "secret",
            "secret": True,
            "default": None,
            "description": "Password of the client key (str or Secret).",
        },
        "ssl_key_password_file": {
            "type": "str",
            "default": None,
            "description": "File holding the client key password.",
        },
        "additional_config": {
            "type": "dict",
            "default": None,
            "description": "librdkafka properties applied after the settings above.",
        },
        "connection_name": {
            "type": "str",
            "default": None,
            "description": "Connection id in the sidecar. Default: derived from the settings.",
        },
        "sidecar_address": {
            "type": "str",
            "default": None,
            "description": "unix:///path.sock or host:port. Default: $KAFKA_SIDECAR_ADDRESS, "
            "else unix:///var/run/kafka-sidecar/sidecar.sock.",
        },
        "timeout_ms": {
            "type": "int",
            "default": 10000,
            "min": 0,
            "description": "Bound of the metadata request; 0 selects the sidecar's default.",
        },
    },
)

_SETTING_NAMES = (
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_ca_location",
    "ssl_cert_location",
    "ssl_key_location",
    "ssl_key_password",
    "additional_config",
)


def _read_password_files(params: dict[str, Any]) -> None:
    for file_param, target in (
        ("sasl_password_file", "sasl_password"),
        ("ssl_key_password_file", "ssl_key_password"),
    ):
        path = params.get(file_param)
        if not path:
            continue
        if params.get(target):
            raise ParamValidationError([f"Set either {target} or {file_param}, not both."])
        try:
            params[target] = Secret.from_file(path)
        except OSError as error:
            raise ParamValidationError(
                [f"Cannot read {file_param} {path}: {error.strerror or type(error).__name__}."]
            ) from None


def _connect(params: dict[str, Any], result: ModResult, log: ModLogger) -> None:
    try:
        address = resolve_sidecar_address(params["sidecar_address"])
    except ValueError as error:
        raise ParamValidationError([str(error)]) from None
    _read_password_files(params)

    bootstrap_servers = (params["bootstrap_servers"] or "").strip()
    connection_name = (params["connection_name"] or "").strip()
    timeout_ms = params["timeout_ms"]
    client = SidecarClient.shared(address)

    if not bootstrap_servers:
        ignored = [name for name in _SETTING_NAMES if params.get(name)]
        if ignored:
            result.add_warning(
                f"Settings {', '.join(ignored)} are ignored because bootstrap_servers is empty: "
                "the sidecar's existing connection is used as configured."
            )
        target = connection_name or "the sidecar's default connection"
        log.info("Checking %s through sidecar %s", target, address)
        try:
            info = client.check_connection(connection_name, timeout_ms)
        except SidecarError as error:
            log.error("Connection check failed: %s", error)
            result.add_error(str(error))
            return
    else:
        try:
            settings = validate_settings(
                {
                    **{name: params.get(name) for name in _SETTING_NAMES},
                    "bootstrap_servers": bootstrap_servers,
                }
            )
        except ValueError as error:
            raise ParamValidationError([str(error)]) from None
        connection_id = connection_name or derive_connection_id(settings)
        log.info(
            "Registering connection %s to %s (%s) through sidecar %s",
            connection_id,
            settings["bootstrap_servers"],
            settings["security_protocol"],
            address,
        )
        try:
            info = client.connect(connection_id, settings_message(settings), timeout_ms)
        except SidecarError as error:
            log.error("Connect failed: %s", error)
            result.add_error(str(error))
            return
        finally:
            # The secrets were sent; drop every reference this mod holds.
            settings.clear()

    connection = KafkaConnection.from_info(info, address)
    log.info(
        "Connected: %s, %d brokers, %d topics",
        connection.bootstrap_servers,
        len(connection.brokers),
        len(connection.topics),
    )
    result.artifacts["connection"] = connection
    result.globals["connection_id"] = connection.connection_id
    result.globals["bootstrap_servers"] = connection.bootstrap_servers
    result.metrics["brokers"] = len(connection.brokers)
    result.metrics["topics"] = len(connection.topics)


def run(params: dict[str, Any]) -> dict[str, Any]:
    """Register or check the connection and return the DataPy result dict.

    Args:
        params: See CONFIG_SCHEMA.

    Returns:
        The result dict; ``artifacts["connection"]`` is a KafkaConnection on success.
    """
    return run_validated(CONFIG_SCHEMA, params, METADATA.type, __name__, _connect)
