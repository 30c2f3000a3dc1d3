#include "kafka/rdkafka_handles.h"

#include <array>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "logging/rdkafka_log.h"

namespace kafkasidecar::kafka {

bool IsSecretProperty(const std::string& name) {
  // Anything that names a password, secret or private key, including
  // sasl.password, ssl.key.password, ssl.key.pem and
  // sasl.oauthbearer.client.secret.
  static constexpr std::array<const char*, 4> kMarkers = {"password", "secret", "key.pem",
                                                          "sasl.oauthbearer.config"};
  for (const char* marker : kMarkers) {
    if (absl::StrContains(name, marker)) return true;
  }
  return false;
}

absl::StatusOr<ConfPtr> MakeConf(const std::map<std::string, std::string>& properties) {
  ConfPtr conf(rd_kafka_conf_new());
  logging::RouteLibrdkafkaLogs(conf.get());
  std::array<char, 512> reason{};
  for (const auto& [name, value] : properties) {
    rd_kafka_conf_res_t result =
        rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), reason.data(), reason.size());
    if (result == RD_KAFKA_CONF_OK) continue;
    const std::string shown = IsSecretProperty(name) ? "<redacted>" : absl::StrCat("\"", value, "\"");
    const char* kind = result == RD_KAFKA_CONF_UNKNOWN ? "unknown librdkafka property"
                                                        : "invalid value for librdkafka property";
    return absl::InvalidArgumentError(absl::StrCat(kind, " ", name, " = ", shown, ": ", reason.data(),
                                                   ". Fix or remove this property."));
  }
  return conf;
}

}  // namespace kafkasidecar::kafka
