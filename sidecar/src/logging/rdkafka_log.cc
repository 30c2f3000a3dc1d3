#include "logging/rdkafka_log.h"

#include "logging/logging.h"

namespace kafkasidecar::logging {
namespace {

void ForwardLog(const rd_kafka_t* handle, int severity, const char* facility, const char* text) {
  static const std::shared_ptr<spdlog::logger> logger = Get(kLibrdkafka);
  const spdlog::level::level_enum level = LevelFromSyslog(severity);
  if (!logger->should_log(level)) return;
  const char* name = handle != nullptr ? rd_kafka_name(handle) : "rdkafka";
  logger->log(level, "[{}] {}: {}", name, facility, text);
}

}  // namespace

spdlog::level::level_enum LevelFromSyslog(int severity) {
  if (severity <= 2) return spdlog::level::critical;
  if (severity == 3) return spdlog::level::err;
  if (severity == 4) return spdlog::level::warn;
  if (severity <= 6) return spdlog::level::info;
  return spdlog::level::debug;
}

void RouteLibrdkafkaLogs(rd_kafka_conf_t* conf) { rd_kafka_conf_set_log_cb(conf, &ForwardLog); }

}  // namespace kafkasidecar::logging
