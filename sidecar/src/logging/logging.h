// Process-wide logging: spdlog loggers that write tab-delimited lines to
// stderr, one field per column:
//   2026-12-04T19:50:45.123Z<TAB>INFO<TAB>consume<TAB>message
// Timestamps are UTC with millisecond precision. Tabs and line breaks inside
// a message are escaped as \t, \r and \n so that every record stays one line.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "spdlog/spdlog.h"

namespace kafkasidecar::logging {

// Names of the sidecar's loggers. Each part of the sidecar logs through its
// own logger so that a reader can filter one column.
inline constexpr std::string_view kSidecar = "sidecar";
inline constexpr std::string_view kConsume = "consume";
inline constexpr std::string_view kProduce = "produce";
inline constexpr std::string_view kConnections = "connections";
inline constexpr std::string_view kServer = "server";
// Messages that librdkafka itself logs (see rdkafka_log.h).
inline constexpr std::string_view kLibrdkafka = "librdkafka";

// Parses trace, debug, info, warning (or warn), error or critical, in any
// case. An unknown name fails with INVALID_ARGUMENT listing the accepted ones.
absl::StatusOr<spdlog::level::level_enum> ParseLevel(std::string_view name);

// The lower-case name ParseLevel accepts for `level` ("warning", not "warn").
std::string LevelName(spdlog::level::level_enum level);

// Sets the level of every sidecar logger, existing and future ones, and
// makes spdlog's default logger the "sidecar" logger, so every line reaches
// stderr in the format above. May be called again to change the level.
// Thread-safe.
void Configure(spdlog::level::level_enum level);

// Returns the logger with that name, creating it on first use with the
// configured sink and level. Thread-safe; the logger lives until exit.
std::shared_ptr<spdlog::logger> Get(std::string_view name);

// Formats one record exactly as the stderr sink does. Exposed for tests.
std::string FormatForTest(std::string_view logger_name, spdlog::level::level_enum level,
                          std::string_view message);

}  // namespace kafkasidecar::logging
