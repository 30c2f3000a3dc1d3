#include "config/sidecar_config.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "logging/logging.h"

namespace kafkasidecar::config {
namespace {

enum class Kind {
  kText,
  // A secret: never printed. It may also come from a file named by the
  // `<key>_file` key, the `--<flag>-file` flag or the `file_env` variable.
  kSecret,
  kNumber,
  kLogLevel,
  kBool,
  // Octal permission bits, as in 0660.
  kFileMode,
};

struct Setting {
  const char* key;  // config file key and the name used in messages
  const char* flag;
  const char* env;
  const char* file_env;  // kSecret only
  const char* value_name;
  const char* default_text;  // empty when there is no default
  const char* help;
  Kind kind;
  // Accepted range of kNumber settings.
  uint64_t min = 0;
  uint64_t max = 0;
};

// Every setting except additional_config, which has its own syntax.
const std::vector<Setting>& Settings() {
  static const std::vector<Setting> settings = {
      {"bootstrap_servers", "--bootstrap-servers", "KAFKA_BOOTSTRAP_SERVERS", nullptr, "HOST:PORT[,HOST:PORT]", "",
       "Kafka brokers of the default connection. Required.", Kind::kText},
      {"security_protocol", "--security-protocol", "KAFKA_SECURITY_PROTOCOL", nullptr, "PROTOCOL", "PLAINTEXT",
       "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.", Kind::kText},
      {"sasl_mechanism", "--sasl-mechanism", "KAFKA_SASL_MECHANISM", nullptr, "MECHANISM", "",
       "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; required with the SASL_* protocols.", Kind::kText},
      {"sasl_username", "--sasl-username", "KAFKA_SASL_USERNAME", nullptr, "USER", "",
       "SASL user name; required with the SASL_* protocols.", Kind::kText},
      {"sasl_password", "--sasl-password", "KAFKA_SASL_PASSWORD", "KAFKA_SASL_PASSWORD_FILE", "PASSWORD", "",
       "SASL password; required with the SASL_* protocols.", Kind::kSecret},
      {"ssl_ca_location", "--ssl-ca-location", "KAFKA_SSL_CA_LOCATION", nullptr, "PATH", "",
       "PEM file or directory of CA certificates that verify the brokers, or \"probe\" for the system's.",
       Kind::kText},
      {"ssl_cert_location", "--ssl-cert-location", "KAFKA_SSL_CERT_LOCATION", nullptr, "PATH", "",
       "PEM client certificate for mutual TLS; needs ssl_key_location.", Kind::kText},
      {"ssl_key_location", "--ssl-key-location", "KAFKA_SSL_KEY_LOCATION", nullptr, "PATH", "",
       "PEM private key of the client certificate.", Kind::kText},
      {"ssl_key_password", "--ssl-key-password", "KAFKA_SSL_KEY_PASSWORD", "KAFKA_SSL_KEY_PASSWORD_FILE",
       "PASSWORD", "", "Password of an encrypted ssl_key_location.", Kind::kSecret},
      {"listen_unix", "--listen-unix", "SIDECAR_LISTEN_UNIX", nullptr, "PATH", "",
       "Unix socket to serve gRPC on. A stale socket file is replaced.", Kind::kText},
      {"listen_tcp", "--listen-tcp", "SIDECAR_LISTEN_TCP", nullptr, "HOST:PORT", "",
       "TCP address to serve gRPC on, normally 127.0.0.1:PORT; port 0 picks a free port. "
       "At least one of listen_unix and listen_tcp is required.",
       Kind::kText},
      {"listen_unix_mode", "--listen-unix-mode", "SIDECAR_LISTEN_UNIX_MODE", nullptr, "OCTAL", "0660",
       "Permissions of the Unix socket file (0600 to 0777); 0660 lets the socket's group, such as the job "
       "container's, connect.",
       Kind::kFileMode},
      {"allow_non_loopback", "--allow-non-loopback", "SIDECAR_ALLOW_NON_LOOPBACK", nullptr, "true|false", "false",
       "Allow listen_tcp on an address other than 127.0.0.1, [::1] or localhost. Other hosts can then "
       "call the API: combine it with tls_client_ca.",
       Kind::kBool},
      {"allow_job_connections", "--allow-job-connections", "SIDECAR_ALLOW_JOB_CONNECTIONS", nullptr,
       "true|false", "true",
       "Whether jobs may register connections with their own settings and secrets (Connect, "
       "kafka_connector with bootstrap_servers). false rejects them with PERMISSION_DENIED.",
       Kind::kBool},
      {"tls_cert", "--tls-cert", "SIDECAR_TLS_CERT", nullptr, "PATH", "",
       "PEM certificate (chain) of the TCP listener; with tls_key, the listener speaks TLS.", Kind::kText},
      {"tls_key", "--tls-key", "SIDECAR_TLS_KEY", nullptr, "PATH", "",
       "PEM private key (unencrypted) of tls_cert.", Kind::kText},
      {"tls_client_ca", "--tls-client-ca", "SIDECAR_TLS_CLIENT_CA", nullptr, "PATH", "",
       "PEM CA certificates; clients of the TCP listener must present a certificate one of them signed.",
       Kind::kText},
      {"shutdown_drain_timeout_s", "--shutdown-drain-timeout-s", "SIDECAR_SHUTDOWN_DRAIN_TIMEOUT_S", nullptr,
       "SECONDS", "30", "Time in seconds that shutdown waits for Consume streams to close (0 to 3600).",
       Kind::kNumber, 0, 3600},
      {"max_in_flight", "--max-in-flight", "SIDECAR_MAX_IN_FLIGHT", nullptr, "COUNT", "1000",
       "Default maximum of delivered, unacked messages per Consume stream (1 to 100000).", Kind::kNumber, 1,
       100000},
      {"max_in_flight_per_partition", "--max-in-flight-per-partition", "SIDECAR_MAX_IN_FLIGHT_PER_PARTITION",
       nullptr, "COUNT", "0",
       "Maximum of delivered, unacked messages per partition of a Consume stream; 0 for no bound beyond "
       "max_in_flight (0 to 100000).",
       Kind::kNumber, 0, 100000},
      {"liveness_stall_s", "--liveness-stall-s", "SIDECAR_LIVENESS_STALL_S", nullptr, "SECONDS", "30",
       "The gRPC health service kafkasidecar.v1.Liveness turns NOT_SERVING when a Consume stream's poll "
       "loop has not completed an iteration for this many seconds (1 to 3600).",
       Kind::kNumber, 1, 3600},
      {"connect_timeout_ms", "--connect-timeout-ms", "SIDECAR_CONNECT_TIMEOUT_MS", nullptr, "MILLISECONDS",
       "10000", "Time in milliseconds a connection test may take (100 to 300000).", Kind::kNumber, 100, 300000},
      {"log_level", "--log-level", "SIDECAR_LOG_LEVEL", nullptr, "LEVEL", "info",
       "trace, debug, info, warning, error or critical.", Kind::kLogLevel},
      {"log_summary_interval", "--log-summary-interval", "SIDECAR_LOG_SUMMARY_INTERVAL", nullptr, "COUNT",
       "1000", "Messages between two throughput summary lines (1 to 1000000000).", Kind::kNumber, 1,
       1000000000},
  };
  return settings;
}

constexpr char kPropertyFlag[] = "--kafka-property";
constexpr char kPropertyEnv[] = "KAFKA_ADDITIONAL_CONFIG";
constexpr char kPropertyKey[] = "additional_config";
constexpr char kConfigFlag[] = "--config";
constexpr char kConfigEnv[] = "SIDECAR_CONFIG";

// A value as one source gave it, with a description of that source for
// error messages ("--log-level", "SIDECAR_LOG_LEVEL", "/etc/sidecar.conf line 4").
struct RawValue {
  std::string value;
  std::string origin;
  // The value is the path of a file that contains the secret.
  bool is_file_reference = false;
};

// The values one source (flags, environment or file) provides.
struct Layer {
  std::map<std::string, RawValue> values;  // by setting key
  std::map<std::string, RawValue> properties;  // additional_config by property name
};

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

const Setting* FindByFlag(const std::string& flag, bool* is_file_reference) {
  for (const Setting& setting : Settings()) {
    if (flag == setting.flag) {
      *is_file_reference = false;
      return &setting;
    }
    if (setting.kind == Kind::kSecret && flag == absl::StrCat(setting.flag, "-file")) {
      *is_file_reference = true;
      return &setting;
    }
  }
  return nullptr;
}

const Setting* FindByKey(const std::string& key, bool* is_file_reference) {
  for (const Setting& setting : Settings()) {
    if (key == setting.key) {
      *is_file_reference = false;
      return &setting;
    }
    if (setting.kind == Kind::kSecret && key == absl::StrCat(setting.key, "_file")) {
      *is_file_reference = true;
      return &setting;
    }
  }
  return nullptr;
}

// Stores a value in a layer. Within one source a setting may be given once,
// either directly or, for a secret, through a file.
absl::Status Put(Layer& layer, const Setting& setting, RawValue raw) {
  auto [it, inserted] = layer.values.emplace(setting.key, raw);
  if (inserted) return absl::OkStatus();
  return Invalid(absl::StrCat(setting.key, " is given twice, by ", it->second.origin, " and by ", raw.origin,
                              ": keep one of them"));
}

// Parses "name=value" pairs of librdkafka properties into a layer.
absl::Status PutProperty(Layer& layer, absl::string_view pair, const std::string& origin) {
  const std::string trimmed(absl::StripAsciiWhitespace(pair));
  const size_t equals = trimmed.find('=');
  if (equals == std::string::npos || equals == 0) {
    return Invalid(absl::StrCat("invalid additional_config entry \"", trimmed, "\" (set by ", origin,
                                "): expected NAME=VALUE, as in linger.ms=5"));
  }
  const std::string name(absl::StripAsciiWhitespace(trimmed.substr(0, equals)));
  const std::string value(absl::StripAsciiWhitespace(trimmed.substr(equals + 1)));
  layer.properties[name] = RawValue{value, origin, false};
  return absl::OkStatus();
}

absl::Status PutPropertyList(Layer& layer, const std::string& list, const std::string& origin) {
  for (absl::string_view pair : absl::StrSplit(list, ';', absl::SkipWhitespace())) {
    absl::Status status = PutProperty(layer, pair, origin);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

struct ParsedArgs {
  bool help_requested = false;
  std::string config_file;
  Layer layer;
};

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      parsed.help_requested = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      return Invalid(absl::StrCat("unexpected argument \"", arg, "\": every setting is a --flag; run with --help"));
    }
    std::string flag = arg;
    std::string value;
    bool has_value = false;
    if (const size_t equals = arg.find('='); equals != std::string::npos) {
      flag = arg.substr(0, equals);
      value = arg.substr(equals + 1);
      has_value = true;
    }
    const auto take_value = [&]() -> absl::Status {
      if (has_value) return absl::OkStatus();
      if (i + 1 >= args.size()) return Invalid(absl::StrCat("missing value for ", flag));
      value = args[++i];
      return absl::OkStatus();
    };

    if (flag == kConfigFlag) {
      absl::Status status = take_value();
      if (!status.ok()) return status;
      parsed.config_file = value;
      continue;
    }
    if (flag == kPropertyFlag) {
      absl::Status status = take_value();
      if (!status.ok()) return status;
      status = PutProperty(parsed.layer, value, kPropertyFlag);
      if (!status.ok()) return status;
      continue;
    }
    bool is_file_reference = false;
    const Setting* setting = FindByFlag(flag, &is_file_reference);
    if (setting == nullptr) {
      return Invalid(absl::StrCat("unknown option ", flag, ": run with --help to list the options"));
    }
    absl::Status status = take_value();
    if (!status.ok()) return status;
    status = Put(parsed.layer, *setting, RawValue{value, flag, is_file_reference});
    if (!status.ok()) return status;
  }
  return parsed;
}

absl::StatusOr<Layer> ReadEnvironment(const EnvironmentLookup& environment) {
  Layer layer;
  const auto get = [&](const char* name) -> std::optional<std::string> {
    std::optional<std::string> value = environment(name);
    // An empty variable counts as unset, as an optional ConfigMap key
    // that is missing yields one.
    if (value.has_value() && value->empty()) return std::nullopt;
    return value;
  };
  for (const Setting& setting : Settings()) {
    if (auto value = get(setting.env)) {
      absl::Status status = Put(layer, setting, RawValue{*value, setting.env, false});
      if (!status.ok()) return status;
    }
    if (setting.file_env == nullptr) continue;
    if (auto path = get(setting.file_env)) {
      absl::Status status = Put(layer, setting, RawValue{*path, setting.file_env, true});
      if (!status.ok()) return status;
    }
  }
  if (auto list = get(kPropertyEnv)) {
    absl::Status status = PutPropertyList(layer, *list, kPropertyEnv);
    if (!status.ok()) return status;
  }
  return layer;
}

absl::StatusOr<Layer> ReadConfigFile(const std::string& path, const std::string& origin) {
  std::ifstream file(path);
  if (!file) {
    return Invalid(absl::StrCat("cannot read the config file \"", path, "\" (set by ", origin,
                                "): ", std::strerror(errno)));
  }
  Layer layer;
  std::string line;
  int number = 0;
  while (std::getline(file, line)) {
    ++number;
    const std::string trimmed(absl::StripAsciiWhitespace(line));
    if (trimmed.empty() || trimmed[0] == '#') continue;
    const std::string where = absl::StrCat(path, " line ", number);
    const size_t equals = trimmed.find('=');
    if (equals == std::string::npos) {
      return Invalid(absl::StrCat("invalid line in ", where, ": expected key=value"));
    }
    const std::string key(absl::StripAsciiWhitespace(trimmed.substr(0, equals)));
    const std::string value(absl::StripAsciiWhitespace(trimmed.substr(equals + 1)));
    if (key == kPropertyKey) {
      absl::Status status = PutPropertyList(layer, value, where);
      if (!status.ok()) return status;
      continue;
    }
    bool is_file_reference = false;
    const Setting* setting = FindByKey(key, &is_file_reference);
    if (setting == nullptr) {
      return Invalid(absl::StrCat("unknown key \"", key, "\" in ", where,
                                  ": run with --help to list the settings and their keys"));
    }
    absl::Status status = Put(layer, *setting, RawValue{value, where, is_file_reference});
    if (!status.ok()) return status;
  }
  return layer;
}

// Reads a secret from a mounted file. One trailing line break, which editors
// and `echo` add, is not part of the secret.
absl::StatusOr<std::string> ReadSecretFile(const Setting& setting, const RawValue& raw) {
  std::ifstream file(raw.value, std::ios::binary);
  if (!file) {
    return Invalid(absl::StrCat("cannot read the ", setting.key, " file \"", raw.value, "\" (set by ",
                                raw.origin, "): ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  std::string secret = contents.str();
  if (absl::EndsWith(secret, "\r\n")) {
    secret.resize(secret.size() - 2);
  } else if (absl::EndsWith(secret, "\n")) {
    secret.resize(secret.size() - 1);
  }
  return secret;
}

absl::StatusOr<uint64_t> ParseNumber(const Setting& setting, const RawValue& raw) {
  const std::string text(absl::StripAsciiWhitespace(raw.value));
  uint64_t number = 0;
  const bool digits_only =
      !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isdigit(c); });
  if (!digits_only || !absl::SimpleAtoi(text, &number) || number < setting.min || number > setting.max) {
    return Invalid(absl::StrCat("invalid ", setting.key, " \"", raw.value, "\" (set by ", raw.origin,
                                "): expected a whole number from ", setting.min, " to ", setting.max));
  }
  return number;
}

std::string HowToSet(const Setting& setting) {
  if (setting.file_env != nullptr) {
    return absl::StrCat(setting.flag, ", ", setting.env, " or ", setting.file_env);
  }
  return absl::StrCat(setting.flag, " or ", setting.env);
}

// The merged value of every setting, with where each came from.
struct Resolved {
  std::map<std::string, RawValue> values;
  std::map<std::string, RawValue> properties;
};

Resolved Merge(const std::vector<const Layer*>& layers_by_priority) {
  Resolved resolved;
  for (const Layer* layer : layers_by_priority) {
    for (const auto& [key, raw] : layer->values) resolved.values.emplace(key, raw);
    for (const auto& [name, raw] : layer->properties) resolved.properties.emplace(name, raw);
  }
  return resolved;
}

absl::Status Assign(SidecarConfig& config, const Setting& setting, const std::string& value, const RawValue& raw) {
  const std::string key = setting.key;
  ConnectionConfig& connection = config.connection;
  if (key == "bootstrap_servers") connection.bootstrap_servers = value;
  else if (key == "security_protocol") connection.security_protocol = value;
  else if (key == "sasl_mechanism") connection.sasl_mechanism = value;
  else if (key == "sasl_username") connection.sasl_username = value;
  else if (key == "sasl_password") connection.sasl_password = value;
  else if (key == "ssl_ca_location") connection.ssl_ca_location = value;
  else if (key == "ssl_cert_location") connection.ssl_cert_location = value;
  else if (key == "ssl_key_location") connection.ssl_key_location = value;
  else if (key == "ssl_key_password") connection.ssl_key_password = value;
  else if (key == "listen_unix") config.listen_unix = value;
  else if (key == "listen_tcp") config.listen_tcp = value;
  else if (key == "tls_cert") config.tls_cert = value;
  else if (key == "tls_key") config.tls_key = value;
  else if (key == "tls_client_ca") config.tls_client_ca = value;
  else if (key == "allow_non_loopback" || key == "allow_job_connections") {
    bool& flag = key == "allow_non_loopback" ? config.allow_non_loopback : config.allow_job_connections;
    const std::string text = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
    if (text == "true" || text == "1" || text == "yes") {
      flag = true;
    } else if (text == "false" || text == "0" || text == "no") {
      flag = false;
    } else {
      return Invalid(absl::StrCat("invalid ", key, " \"", value, "\" (set by ", raw.origin,
                                  "): accepted values are true and false"));
    }
  } else if (key == "listen_unix_mode") {
    const std::string text(absl::StripAsciiWhitespace(value));
    uint32_t mode = 0;
    const bool octal = !text.empty() && text.size() <= 4 &&
                       std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; });
    if (octal) mode = static_cast<uint32_t>(std::stoul(text, nullptr, 8));
    if (!octal || (mode & 0600) != 0600 || mode > 0777) {
      return Invalid(absl::StrCat("invalid ", key, " \"", value, "\" (set by ", raw.origin,
                                  "): expected octal permissions from 0600 to 0777, such as 0660"));
    }
    config.listen_unix_mode = mode;
  }
  else if (key == "log_level") {
    absl::StatusOr<spdlog::level::level_enum> level = logging::ParseLevel(value);
    if (!level.ok()) {
      return Invalid(absl::StrCat("invalid log_level \"", value, "\" (set by ", raw.origin,
                                  "): accepted values are trace, debug, info, warning, error, critical"));
    }
    config.log_level = *level;
  } else {
    absl::StatusOr<uint64_t> number = ParseNumber(setting, raw);
    if (!number.ok()) return number.status();
    if (key == "shutdown_drain_timeout_s") config.shutdown_drain_timeout_s = static_cast<uint32_t>(*number);
    else if (key == "max_in_flight") config.max_in_flight = static_cast<uint32_t>(*number);
    else if (key == "max_in_flight_per_partition") config.max_in_flight_per_partition = static_cast<uint32_t>(*number);
    else if (key == "liveness_stall_s") config.liveness_stall_s = static_cast<uint32_t>(*number);
    else if (key == "connect_timeout_ms") config.connect_timeout_ms = static_cast<uint32_t>(*number);
    else if (key == "log_summary_interval") config.log_summary_interval = *number;
  }
  return absl::OkStatus();
}

absl::Status ValidateListeners(const SidecarConfig& config, const Resolved& resolved) {
  const auto origin = [&](const char* key) { return resolved.values.at(key).origin; };
  if (config.listen_unix.empty() && config.listen_tcp.empty()) {
    return Invalid(
        "no listener configured: set listen_unix (--listen-unix or SIDECAR_LISTEN_UNIX) to a socket path, "
        "or listen_tcp (--listen-tcp or SIDECAR_LISTEN_TCP) to 127.0.0.1:PORT");
  }
  // sockaddr_un::sun_path has room for 107 bytes and the terminating NUL.
  constexpr size_t kMaxSocketPath = 107;
  if (config.listen_unix.size() > kMaxSocketPath) {
    return Invalid(absl::StrCat("invalid listen_unix \"", config.listen_unix, "\" (set by ",
                                origin("listen_unix"), "): a Unix socket path may have at most ",
                                kMaxSocketPath, " bytes; choose a shorter path"));
  }

  const bool has_tls = !config.tls_cert.empty() || !config.tls_key.empty() || !config.tls_client_ca.empty();
  if (has_tls && config.listen_tcp.empty()) {
    return Invalid("tls_cert, tls_key and tls_client_ca secure the TCP listener: set listen_tcp "
                   "(--listen-tcp or SIDECAR_LISTEN_TCP) too, or remove them");
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return Invalid("tls_cert and tls_key go together: set both (--tls-cert and --tls-key) or neither");
  }
  if (!config.tls_client_ca.empty() && config.tls_cert.empty()) {
    return Invalid("tls_client_ca needs tls_cert and tls_key: mutual TLS is TLS with client certificates");
  }

  for (const char* key : {"tls_cert", "tls_key", "tls_client_ca"}) {
    auto it = resolved.values.find(key);
    if (it == resolved.values.end()) continue;
    std::ifstream file(it->second.value);
    if (!file) {
      return Invalid(absl::StrCat("cannot read ", key, " (set by ", it->second.origin, ") \"", it->second.value,
                                  "\": ", std::strerror(errno)));
    }
  }

  if (config.listen_tcp.empty()) return absl::OkStatus();
  const std::string label = absl::StrCat("listen_tcp (set by ", origin("listen_tcp"), ")");
  absl::Status status = ValidateHostPort(config.listen_tcp, label, /*allow_port_zero=*/true);
  if (!status.ok()) return status;

  const std::string host = config.listen_tcp.substr(0, config.listen_tcp.rfind(':'));
  const bool loopback = absl::StartsWith(host, "127.") || host == "[::1]" || host == "localhost";
  if (!loopback && !config.allow_non_loopback) {
    return Invalid(absl::StrCat("invalid ", label, " \"", config.listen_tcp,
                                "\": the gRPC API would accept calls from other hosts; use 127.0.0.1:PORT, "
                                "or set allow_non_loopback (--allow-non-loopback true) and secure the "
                                "listener with tls_cert, tls_key and tls_client_ca"));
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<std::string> ProcessEnvironment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

absl::StatusOr<LoadedConfig> LoadSidecarConfig(const std::vector<std::string>& args,
                                               const EnvironmentLookup& environment) {
  LoadedConfig loaded;
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(args);
  if (!parsed.ok()) return parsed.status();
  if (parsed->help_requested) {
    loaded.help_requested = true;
    loaded.help = HelpText();
    return loaded;
  }
  absl::StatusOr<Layer> env_layer = ReadEnvironment(environment);
  if (!env_layer.ok()) return env_layer.status();

  std::string config_file = parsed->config_file;
  std::string config_origin = kConfigFlag;
  if (config_file.empty()) {
    if (auto from_env = environment(kConfigEnv); from_env.has_value() && !from_env->empty()) {
      config_file = *from_env;
      config_origin = kConfigEnv;
    }
  }
  Layer file_layer;
  if (!config_file.empty()) {
    absl::StatusOr<Layer> read = ReadConfigFile(config_file, config_origin);
    if (!read.ok()) return read.status();
    file_layer = std::move(*read);
  }

  // Flags win over the environment, which wins over the file.
  const Resolved resolved = Merge({&parsed->layer, &*env_layer, &file_layer});

  SidecarConfig& config = loaded.config;
  for (const Setting& setting : Settings()) {
    auto it = resolved.values.find(setting.key);
    if (it == resolved.values.end()) continue;
    const RawValue& raw = it->second;
    std::string value = raw.value;
    if (raw.is_file_reference) {
      absl::StatusOr<std::string> secret = ReadSecretFile(setting, raw);
      if (!secret.ok()) return secret.status();
      value = std::move(*secret);
    } else if (setting.kind == Kind::kSecret && absl::StartsWith(raw.origin, "--")) {
      loaded.warnings.push_back(absl::StrCat(
          setting.key, " was given on the command line, where other processes can read it; prefer ",
          setting.file_env, " with a mounted secret file"));
    }
    absl::Status status = Assign(config, setting, value, raw);
    if (!status.ok()) return status;
  }
  for (const auto& [name, raw] : resolved.properties) config.connection.additional_config[name] = raw.value;

  absl::Status status = ValidateListeners(config, resolved);
  if (!status.ok()) return status;

  // Names each connection setting with the source of its value, or with the
  // ways to set it when no source gave one.
  const SettingLabel label = [&resolved](const std::string& key) {
    if (key == kPropertyKey) return absl::StrCat(kPropertyKey, " (", kPropertyFlag, " or ", kPropertyEnv, ")");
    if (auto it = resolved.values.find(key); it != resolved.values.end()) {
      return absl::StrCat(key, " (set by ", it->second.origin, ")");
    }
    bool is_file_reference = false;
    const Setting* setting = FindByKey(key, &is_file_reference);
    return setting == nullptr ? key : absl::StrCat(key, " (", HowToSet(*setting), ")");
  };
  absl::StatusOr<Connection> connection =
      MakeConnection("", config.connection, static_cast<int>(config.connect_timeout_ms), label);
  if (!connection.ok()) return connection.status();
  loaded.default_connection = std::move(*connection);
  return loaded;
}

std::string HelpText() {
  std::string text =
      "Usage: kafka-sidecar [OPTIONS]\n"
      "\n"
      "Serves the KafkaSidecar gRPC API: Consume streams with acked, at-least-once\n"
      "commits, Produce, Connect and CheckConnection.\n"
      "\n"
      "Each setting comes from its flag, else its environment variable, else the\n"
      "--config file (key=value lines, # for comments), else its default. An empty\n"
      "environment variable counts as unset. A password may instead be read from a\n"
      "file (flag --X-file, key X_file or the *_FILE variable); one trailing line\n"
      "break is removed.\n"
      "\n"
      "Options:\n"
      "  --config FILE\n"
      "      env SIDECAR_CONFIG. File of key=value lines with the keys below.\n"
      "  --help\n"
      "      Print this text and exit.\n";
  for (const Setting& setting : Settings()) {
    absl::StrAppend(&text, "  ", setting.flag, " ", setting.value_name, "\n");
    absl::StrAppend(&text, "      env ", setting.env);
    if (setting.file_env != nullptr) {
      absl::StrAppend(&text, " or ", setting.file_env, " (file), flag ", setting.flag, "-file, key ",
                      setting.key, "_file (file)");
    }
    absl::StrAppend(&text, ", key ", setting.key, ".");
    if (setting.default_text[0] != '\0') absl::StrAppend(&text, " Default: ", setting.default_text, ".");
    absl::StrAppend(&text, "\n      ", setting.help, "\n");
  }
  absl::StrAppend(&text, "  ", kPropertyFlag, " NAME=VALUE\n", "      env ", kPropertyEnv,
                  " (NAME=VALUE;NAME=VALUE), key ", kPropertyKey,
                  " (same form, may repeat). Repeatable.\n"
                  "      librdkafka property of the default connection, applied after the settings\n"
                  "      above. A property set by a flag wins over the same property from the\n"
                  "      environment, which wins over the file.\n"
                  "\n"
                  "Exit codes: 0 after a clean drain, 1 when the drain deadline forced the\n"
                  "shutdown, 2 for an invalid configuration or a failed connection test.\n");
  return text;
}

std::string DescribeRedacted(const SidecarConfig& config) {
  return absl::StrCat(DescribeRedacted(config.connection), " listen_unix=", config.listen_unix,
                      absl::StrFormat(" listen_unix_mode=%04o", config.listen_unix_mode),
                      " listen_tcp=", config.listen_tcp, " allow_non_loopback=", config.allow_non_loopback ? "true" : "false",
                      " allow_job_connections=", config.allow_job_connections ? "true" : "false",
                      " tls_cert=", config.tls_cert, " tls_key=", config.tls_key, " tls_client_ca=", config.tls_client_ca,
                      " shutdown_drain_timeout_s=", config.shutdown_drain_timeout_s,
                      " max_in_flight=", config.max_in_flight, " connect_timeout_ms=", config.connect_timeout_ms,
                      " log_level=", logging::LevelName(config.log_level),
                      " log_summary_interval=", config.log_summary_interval);
}

}  // namespace kafkasidecar::config
