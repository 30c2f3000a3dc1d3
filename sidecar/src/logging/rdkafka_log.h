// Routes librdkafka's own log lines into the "librdkafka" spdlog logger.
#pragma once

#include <librdkafka/rdkafka.h>

#include "spdlog/common.h"

namespace kafkasidecar::logging {

// Installs a log_cb on `conf` that forwards each librdkafka log line, with
// the client name and facility, to the "librdkafka" logger. librdkafka calls
// it from its internal threads. kafka::MakeConf installs it on every
// configuration it builds.
//
// The sidecar never sets librdkafka's `debug` property itself, and the
// configuration rejects the `security` and `all` debug contexts, so SASL
// exchanges are never traced.
void RouteLibrdkafkaLogs(rd_kafka_conf_t* conf);

// Maps a syslog severity (0 emergency .. 7 debug), which librdkafka uses,
// to an spdlog level.
spdlog::level::level_enum LevelFromSyslog(int severity);

}  // namespace kafkasidecar::logging
