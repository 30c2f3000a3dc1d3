#include "logging/logging.h"

#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace kafkasidecar::logging {
namespace {

// Writes the level in upper case, as Python's logging module names levels:
// TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL.
class UpperLevelFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string name = absl::AsciiStrToUpper(LevelName(msg.level));
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<UpperLevelFlag>();
  }
};

// Writes the message with tab, carriage return and line feed escaped, so a
// multi-line message cannot break the one-record-per-line, tab-delimited
// format.
class EscapedMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : msg.payload) {
      switch (c) {
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\r':
          dest.append(std::string_view("\\r"));
          break;
        default:
          dest.push_back(c);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<EscapedMessageFlag>();
  }
};

std::unique_ptr<spdlog::formatter> MakeFormatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<UpperLevelFlag>('*');
  formatter->add_flag<EscapedMessageFlag>('~');
  formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ\t%*\t%n\t%~");
  return formatter;
}

// Process-wide state, guarded by `mutex`. The sink is shared by every
// sidecar logger; stderr_sink_mt serialises writes from all threads.
struct State {
  std::mutex mutex;
  std::shared_ptr<spdlog::sinks::stderr_sink_mt> sink;
  spdlog::level::level_enum level = spdlog::level::info;
};

State& GlobalState() {
  static State* state = [] {
    auto* created = new State;
    created->sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    created->sink->set_formatter(MakeFormatter());
    return created;
  }();
  return *state;
}

}  // namespace

absl::StatusOr<spdlog::level::level_enum> ParseLevel(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(std::string(name));
  if (lower == "trace") return spdlog::level::trace;
  if (lower == "debug") return spdlog::level::debug;
  if (lower == "info") return spdlog::level::info;
  if (lower == "warning" || lower == "warn") return spdlog::level::warn;
  if (lower == "error") return spdlog::level::err;
  if (lower == "critical") return spdlog::level::critical;
  return absl::InvalidArgumentError(
      absl::StrCat("invalid log level \"", std::string(name),
                   "\": accepted values are trace, debug, info, warning, error, critical"));
}

std::string LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warning";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    case spdlog::level::off:
    case spdlog::level::n_levels:
      break;
  }
  return "off";
}

void Configure(spdlog::level::level_enum level) {
  // Calls through spdlog's free functions (spdlog::info) reach the default
  // logger, which then writes in the same format as the "sidecar" logger.
  spdlog::set_default_logger(Get(kSidecar));
  State& state = GlobalState();
  std::lock_guard<std::mutex> lock(state.mutex);
  state.level = level;
  spdlog::apply_all([level](const std::shared_ptr<spdlog::logger>& logger) {
    logger->set_level(level);
  });
}

std::shared_ptr<spdlog::logger> Get(std::string_view name) {
  State& state = GlobalState();
  std::lock_guard<std::mutex> lock(state.mutex);
  const std::string key(name);
  if (auto existing = spdlog::get(key)) return existing;
  auto logger = std::make_shared<spdlog::logger>(key, state.sink);
  logger->set_level(state.level);
  spdlog::register_logger(logger);
  return logger;
}

std::string FormatForTest(std::string_view logger_name, spdlog::level::level_enum level,
                          std::string_view message) {
  spdlog::details::log_msg msg(spdlog::source_loc{},
                               spdlog::string_view_t(logger_name.data(), logger_name.size()),
                               level, spdlog::string_view_t(message.data(), message.size()));
  spdlog::memory_buf_t out;
  MakeFormatter()->format(msg, out);
  return std::string(out.data(), out.size());
}

}  // namespace kafkasidecar::logging
