#include "config/connection_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "kafka/rdkafka_handles.h"

namespace kafkasidecar::config {
namespace {

bool IsSaslProtocol(const std::string& protocol) {
  return protocol == "SASL_PLAINTEXT" || protocol == "SASL_SSL";
}

bool IsSslProtocol(const std::string& protocol) { return protocol == "SSL" || protocol == "SASL_SSL"; }

std::string NormalizedProtocol(const std::string& protocol) {
  std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(protocol));
  return upper.empty() ? "PLAINTEXT" : upper;
}

std::string NormalizedMechanism(const std::string& mechanism) {
  return absl::AsciiStrToUpper(absl::StripAsciiWhitespace(mechanism));
}

// Checks that a PEM file (or, for a CA location, a directory) can be read.
// librdkafka itself reads the files only when a client is created, which
// would turn a wrong path into a vague connection failure.
absl::Status CheckReadable(const std::string& path, const std::string& label, bool directory_allowed) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", label, " \"", path, "\": ", std::strerror(errno)));
  }
  if (S_ISDIR(info.st_mode)) {
    if (!directory_allowed) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, " \"", path, "\" is a directory: expected a PEM file"));
    }
    if (::access(path.c_str(), R_OK | X_OK) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read ", label, " directory \"", path, "\": ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", label, " \"", path, "\": ", std::strerror(errno)));
  }
  ::close(fd);
  return absl::OkStatus();
}

absl::Status ValidateBootstrapServers(const std::string& servers, const SettingLabel& label) {
  const std::string trimmed(absl::StripAsciiWhitespace(servers));
  if (trimmed.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing ", label("bootstrap_servers"), ": set it to host:port[,host:port...]"));
  }
  for (absl::string_view entry : absl::StrSplit(trimmed, ',')) {
    const std::string server(absl::StripAsciiWhitespace(entry));
    absl::Status status = ValidateHostPort(server, label("bootstrap_servers"), /*allow_port_zero=*/false);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ValidateSasl(const ConnectionConfig& config, const std::string& protocol, const SettingLabel& label) {
  const std::string mechanism = NormalizedMechanism(config.sasl_mechanism);
  if (!IsSaslProtocol(protocol)) {
    for (const auto& [setting, value] : std::vector<std::pair<std::string, const std::string*>>{
             {"sasl_mechanism", &config.sasl_mechanism},
             {"sasl_username", &config.sasl_username},
             {"sasl_password", &config.sasl_password}}) {
      if (value->empty()) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          label(setting), " is set but security_protocol is ", protocol,
          ": use SASL_PLAINTEXT or SASL_SSL to authenticate with SASL, or remove the SASL settings"));
    }
    return absl::OkStatus();
  }
  if (mechanism.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("missing ", label("sasl_mechanism"),
                                                   ": security_protocol ", protocol,
                                                   " needs one of ", kAcceptedMechanisms));
  }
  if (mechanism != "PLAIN" && mechanism != "SCRAM-SHA-256" && mechanism != "SCRAM-SHA-512") {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", label("sasl_mechanism"), " \"",
                                                   config.sasl_mechanism,
                                                   "\": accepted values are ", kAcceptedMechanisms));
  }
  if (config.sasl_username.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("missing ", label("sasl_username"),
                                                   ": security_protocol ", protocol,
                                                   " needs sasl_username and sasl_password"));
  }
  if (config.sasl_password.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("missing ", label("sasl_password"),
                                                   ": security_protocol ", protocol,
                                                   " needs sasl_username and sasl_password"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSsl(const ConnectionConfig& config, const std::string& protocol, const SettingLabel& label) {
  const std::vector<std::pair<std::string, const std::string*>> settings = {
      {"ssl_ca_location", &config.ssl_ca_location},
      {"ssl_cert_location", &config.ssl_cert_location},
      {"ssl_key_location", &config.ssl_key_location},
      {"ssl_key_password", &config.ssl_key_password}};
  if (!IsSslProtocol(protocol)) {
    for (const auto& [setting, value] : settings) {
      if (value->empty()) continue;
      return absl::InvalidArgumentError(
          absl::StrCat(label(setting), " is set but security_protocol is ", protocol,
                       ": use SSL or SASL_SSL for TLS, or remove the SSL settings"));
    }
    return absl::OkStatus();
  }
  if (!config.ssl_cert_location.empty() && config.ssl_key_location.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(label("ssl_cert_location"), " is set without ",
                                                   label("ssl_key_location"),
                                                   ": client certificate authentication needs both"));
  }
  if (!config.ssl_key_location.empty() && config.ssl_cert_location.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(label("ssl_key_location"), " is set without ",
                                                   label("ssl_cert_location"),
                                                   ": client certificate authentication needs both"));
  }
  if (!config.ssl_key_password.empty() && config.ssl_key_location.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(label("ssl_key_password"), " is set without ",
                                                   label("ssl_key_location"),
                                                   ": the password decrypts that key file"));
  }
  // "probe" makes librdkafka search the system's usual CA locations.
  if (!config.ssl_ca_location.empty() && config.ssl_ca_location != "probe") {
    absl::Status status = CheckReadable(config.ssl_ca_location, label("ssl_ca_location"), true);
    if (!status.ok()) return status;
  }
  if (!config.ssl_cert_location.empty()) {
    absl::Status status = CheckReadable(config.ssl_cert_location, label("ssl_cert_location"), false);
    if (!status.ok()) return status;
  }
  if (!config.ssl_key_location.empty()) {
    absl::Status status = CheckReadable(config.ssl_key_location, label("ssl_key_location"), false);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// librdkafka's `security` debug context traces SASL and TLS handshakes, and
// `all` includes it.
absl::Status ValidateDebugContexts(const std::string& value, const std::string& label) {
  for (absl::string_view context : absl::StrSplit(value, ',')) {
    const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(context));
    if (name == "all" || name == "security") {
      return absl::InvalidArgumentError(absl::StrCat(
          label, " debug = \"", value, "\" enables the \"", name,
          "\" context, which can trace credentials: list specific contexts such as broker,protocol"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string PlainLabel(const std::string& setting) { return setting; }

std::string ConnectRequestLabel(const std::string& setting) { return absl::StrCat("settings.", setting); }

absl::Status ValidateHostPort(const std::string& value, const std::string& label, bool allow_port_zero) {
  const auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", label, " \"", value, "\": ", why));
  };
  const size_t colon = value.rfind(':');
  if (colon == std::string::npos) return invalid("expected host:port");
  absl::string_view host = absl::string_view(value).substr(0, colon);
  const absl::string_view port_text = absl::string_view(value).substr(colon + 1);
  if (absl::ConsumePrefix(&host, "[")) {
    if (!absl::ConsumeSuffix(&host, "]")) return invalid("expected [IPv6-address]:port");
  } else if (host.find(':') != absl::string_view::npos) {
    return invalid("put an IPv6 address in brackets, as in [::1]:9092");
  }
  if (host.empty()) return invalid("the host is missing, expected host:port");
  for (char c : host) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '/' || c == ',') {
      return invalid("the host contains an invalid character");
    }
  }
  int port = -1;
  const int min_port = allow_port_zero ? 0 : 1;
  if (port_text.empty() || !absl::SimpleAtoi(port_text, &port) || port < min_port || port > 65535 ||
      !absl::ascii_isdigit(static_cast<unsigned char>(port_text[0]))) {
    return invalid(absl::StrCat("the port must be a number from ", min_port, " to 65535"));
  }
  return absl::OkStatus();
}

absl::Status ValidateConnectionConfig(const ConnectionConfig& config, const SettingLabel& label) {
  absl::Status status = ValidateBootstrapServers(config.bootstrap_servers, label);
  if (!status.ok()) return status;

  const std::string protocol = NormalizedProtocol(config.security_protocol);
  if (protocol != "PLAINTEXT" && protocol != "SSL" && !IsSaslProtocol(protocol)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", label("security_protocol"), " \"",
                                                   config.security_protocol,
                                                   "\": accepted values are ", kAcceptedProtocols));
  }
  status = ValidateSasl(config, protocol, label);
  if (!status.ok()) return status;
  status = ValidateSsl(config, protocol, label);
  if (!status.ok()) return status;

  for (const auto& [name, value] : config.additional_config) {
    if (absl::StripAsciiWhitespace(name).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(label("additional_config"), " contains a property with an empty name"));
    }
    if (name == "debug") {
      status = ValidateDebugContexts(value, label("additional_config"));
      if (!status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Connection> MakeConnection(const std::string& id, const ConnectionConfig& config,
                                          int connect_timeout_ms, const SettingLabel& label) {
  absl::Status status = ValidateConnectionConfig(config, label);
  if (!status.ok()) return status;

  const std::string protocol = NormalizedProtocol(config.security_protocol);
  const std::string mechanism = NormalizedMechanism(config.sasl_mechanism);
  // Each property with the setting it comes from, in the order applied.
  std::vector<std::tuple<std::string, std::string, std::string>> properties = {
      {"bootstrap.servers", std::string(absl::StripAsciiWhitespace(config.bootstrap_servers)),
       "bootstrap_servers"},
      {"security.protocol", protocol, "security_protocol"},
      {"client.id", "kafka-sidecar", ""},
  };
  if (IsSaslProtocol(protocol)) {
    properties.emplace_back("sasl.mechanisms", mechanism, "sasl_mechanism");
    properties.emplace_back("sasl.username", config.sasl_username, "sasl_username");
    properties.emplace_back("sasl.password", config.sasl_password, "sasl_password");
  }
  const std::vector<std::tuple<std::string, const std::string*, std::string>> ssl_settings = {
      {"ssl.ca.location", &config.ssl_ca_location, "ssl_ca_location"},
      {"ssl.certificate.location", &config.ssl_cert_location, "ssl_cert_location"},
      {"ssl.key.location", &config.ssl_key_location, "ssl_key_location"},
      {"ssl.key.password", &config.ssl_key_password, "ssl_key_password"}};
  for (const auto& [property, value, setting] : ssl_settings) {
    if (!value->empty()) properties.emplace_back(property, *value, setting);
  }
  for (const auto& [name, value] : config.additional_config) {
    properties.emplace_back(std::string(absl::StripAsciiWhitespace(name)), value, "additional_config");
  }

  Connection connection;
  connection.id = id;
  connection.connect_timeout_ms = connect_timeout_ms;
  for (const auto& [property, value, setting] : properties) {
    absl::StatusOr<kafka::ConfPtr> checked = kafka::MakeConf({{property, value}});
    if (!checked.ok()) {
      const std::string source = setting.empty() ? "" : absl::StrCat(label(setting), ": ");
      return absl::InvalidArgumentError(absl::StrCat(source, checked.status().message()));
    }
    connection.properties[property] = value;
  }

  // additional_config may override the settings above, so the descriptive
  // copies come from the final properties.
  connection.bootstrap_servers = connection.properties["bootstrap.servers"];
  connection.security_protocol = connection.properties["security.protocol"];
  if (auto it = connection.properties.find("sasl.mechanisms"); it != connection.properties.end()) {
    connection.sasl_mechanism = it->second;
  }
  if (auto it = connection.properties.find("sasl.username"); it != connection.properties.end()) {
    connection.sasl_username = it->second;
  }
  return connection;
}

ConnectionConfig FromProto(const v1::ConnectionSettings& settings) {
  ConnectionConfig config;
  config.bootstrap_servers = settings.bootstrap_servers();
  config.security_protocol = settings.security_protocol();
  config.sasl_mechanism = settings.sasl_mechanism();
  config.sasl_username = settings.sasl_username();
  config.sasl_password = settings.sasl_password();
  config.ssl_ca_location = settings.ssl_ca_location();
  config.ssl_cert_location = settings.ssl_cert_location();
  config.ssl_key_location = settings.ssl_key_location();
  config.ssl_key_password = settings.ssl_key_password();
  config.additional_config.insert(settings.additional_config().begin(), settings.additional_config().end());
  return config;
}

std::string DescribeRedacted(const ConnectionConfig& config) {
  const auto secret = [](const std::string& value) { return value.empty() ? "" : "<redacted>"; };
  std::vector<std::string> parts = {
      absl::StrCat("bootstrap_servers=", config.bootstrap_servers),
      absl::StrCat("security_protocol=", NormalizedProtocol(config.security_protocol)),
      absl::StrCat("sasl_mechanism=", config.sasl_mechanism),
      absl::StrCat("sasl_username=", config.sasl_username),
      absl::StrCat("sasl_password=", secret(config.sasl_password)),
      absl::StrCat("ssl_ca_location=", config.ssl_ca_location),
      absl::StrCat("ssl_cert_location=", config.ssl_cert_location),
      absl::StrCat("ssl_key_location=", config.ssl_key_location),
      absl::StrCat("ssl_key_password=", secret(config.ssl_key_password)),
  };
  std::vector<std::string> additional;
  for (const auto& [name, value] : config.additional_config) {
    additional.push_back(absl::StrCat(name, "=", kafka::IsSecretProperty(name) ? secret(value) : value));
  }
  parts.push_back(absl::StrCat("additional_config={", absl::StrJoin(additional, ";"), "}"));
  return absl::StrJoin(parts, " ");
}

}  // namespace kafkasidecar::config
