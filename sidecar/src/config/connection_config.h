// Kafka connection settings as users name them (the Talend tKafkaConnection
// names), their validation, and their conversion into a Connection with
// librdkafka properties. The sidecar's default connection and the named
// connections that jobs register through Connect share this code.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "connections/connection.h"
#include "kafkasidecar/v1/sidecar.pb.h"

namespace kafkasidecar::config {

struct ConnectionConfig {
  std::string bootstrap_servers;  // host:port[,host:port...]
  std::string security_protocol;  // PLAINTEXT (when empty), SSL, SASL_PLAINTEXT, SASL_SSL
  std::string sasl_mechanism;     // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
  std::string sasl_username;
  std::string sasl_password;  // secret
  std::string ssl_ca_location;
  std::string ssl_cert_location;
  std::string ssl_key_location;
  std::string ssl_key_password;  // secret
  // librdkafka properties applied after the settings above.
  std::map<std::string, std::string> additional_config;
};

// Returns how an error message names a setting, given its snake_case name,
// for example "security_protocol (set by KAFKA_SECURITY_PROTOCOL)" at
// startup or "settings.security_protocol" for the Connect call.
using SettingLabel = std::function<std::string(const std::string& setting)>;

// A SettingLabel that returns the snake_case name unchanged.
std::string PlainLabel(const std::string& setting);

inline constexpr char kAcceptedProtocols[] = "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL";
inline constexpr char kAcceptedMechanisms[] = "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512";

// Checks one "host:port" (IPv6 hosts in brackets). `allow_port_zero`
// accepts port 0, which a listener uses to pick a free port. The message
// names `label` and the value.
absl::Status ValidateHostPort(const std::string& value, const std::string& label, bool allow_port_zero);

// Checks every setting and their consistency. It requires a known
// security_protocol and a bootstrap_servers list of host:port. The SASL_*
// protocols need a known sasl_mechanism, username and password, and other
// protocols accept none of them. SSL settings need SSL or SASL_SSL, a client
// certificate needs its key, and every file must be readable. librdkafka
// `debug` contexts that trace credentials are rejected. Errors are
// INVALID_ARGUMENT, name the setting through `label` and never contain a
// password.
absl::Status ValidateConnectionConfig(const ConnectionConfig& config, const SettingLabel& label = PlainLabel);

// Validates `config` and builds a Connection whose `properties` contain
// bootstrap.servers, security.protocol, the SASL and SSL properties that are
// set, client.id, then additional_config. Each property is checked by
// librdkafka, so a bad additional_config key or value fails here, by name.
absl::StatusOr<Connection> MakeConnection(const std::string& id, const ConnectionConfig& config,
                                          int connect_timeout_ms, const SettingLabel& label = PlainLabel);

// Copies the settings of a Connect request.
ConnectionConfig FromProto(const v1::ConnectionSettings& settings);

// The SettingLabel for Connect requests: "settings.<name>".
std::string ConnectRequestLabel(const std::string& setting);

// "name=value" pairs of the settings for the startup log, with passwords and
// secret librdkafka properties shown as "<redacted>" when set.
std::string DescribeRedacted(const ConnectionConfig& config);

}  // namespace kafkasidecar::config
