// The sidecar's configuration: the default Kafka connection plus the
// sidecar's own settings, read from command-line flags, then environment
// variables, then a --config file of key=value lines, then defaults.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/connection_config.h"
#include "spdlog/common.h"

namespace kafkasidecar::config {

struct SidecarConfig {
  // The default connection (connection id "").
  ConnectionConfig connection;

  // Unix socket path to listen on; empty for none.
  std::string listen_unix;
  // host:port to listen on over TCP; empty for none. Port 0 picks a free port.
  std::string listen_tcp;
  // Permission bits of the Unix socket file.
  uint32_t listen_unix_mode = 0660;
  // Whether listen_tcp may name an address other than a loopback one.
  bool allow_non_loopback = false;
  // Whether jobs may register their own connections with Connect. When
  // false, only the default connection (the sidecar's mounted credentials)
  // serves Consume and Produce.
  bool allow_job_connections = true;
  // PEM files of the TCP listener's TLS certificate and key; both empty for
  // plaintext. With tls_client_ca, clients must present a certificate that
  // this CA signed (mutual TLS).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // How long shutdown waits for Consume streams to close, in seconds.
  uint32_t shutdown_drain_timeout_s = 30;
  // Default limit of delivered, unacked messages per Consume stream.
  uint32_t max_in_flight = 1000;
  // Limit of delivered, unacked messages per partition of a stream; 0: none.
  uint32_t max_in_flight_per_partition = 0;
  // A poll loop stalled this long turns the liveness health service
  // NOT_SERVING, in seconds.
  uint32_t liveness_stall_s = 30;
  // Bound of connection tests (metadata requests), in milliseconds.
  uint32_t connect_timeout_ms = 10000;
  spdlog::level::level_enum log_level = spdlog::level::info;
  // A throughput summary is logged every this many messages.
  uint64_t log_summary_interval = 1000;
};

// Reads one environment variable; nullopt when it is not set.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Looks variables up in the process environment.
std::optional<std::string> ProcessEnvironment(const std::string& name);

struct LoadedConfig {
  // True when --help was given; `help` then contains the text to print and
  // `config` is not filled in.
  bool help_requested = false;
  std::string help;
  SidecarConfig config;
  // The default connection (id ""), built from config.connection.
  Connection default_connection;
  // Advice to log once logging is set up, such as a password given as a
  // command-line flag. Never contains a secret.
  std::vector<std::string> warnings;
};

// Reads, merges and validates every setting. `args` excludes the program
// name. Fails with INVALID_ARGUMENT naming the setting, where it was set and
// the accepted values; messages never contain a password.
absl::StatusOr<LoadedConfig> LoadSidecarConfig(const std::vector<std::string>& args,
                                               const EnvironmentLookup& environment = ProcessEnvironment);

// Lists every setting with its flag, environment variable, config file key
// and default. Secrets have no default, so none is ever printed.
std::string HelpText();

// One line of "name=value" pairs for the startup log, secrets redacted.
std::string DescribeRedacted(const SidecarConfig& config);

}  // namespace kafkasidecar::config
