// Throughput summaries: the sidecar logs one line every N messages and one
// at shutdown instead of a line per message.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace kafkasidecar::logging {

// Returns "Processed N messages, Errors: E, Rate: R msg/s". The rate is
// processed / elapsed, with one decimal below 10 msg/s; 0 when no time
// passed.
std::string FormatSummary(uint64_t processed, uint64_t errors, std::chrono::duration<double> elapsed);

// Counts processed messages and errors and produces a summary line every
// `interval` messages. The rate covers the whole time since construction.
// Thread-safe.
class Summary {
 public:
  using Clock = std::chrono::steady_clock;

  // An interval of 0 turns the periodic lines off; Final() still works.
  explicit Summary(uint64_t interval, Clock::time_point start = Clock::now())
      : interval_(interval), start_(start) {}

  // Counts one message, `failed` when it ended in an error. Returns the line
  // to log when this message completes an interval.
  std::optional<std::string> Record(bool failed) { return Record(failed, Clock::now()); }
  std::optional<std::string> Record(bool failed, Clock::time_point now);

  // The summary of everything counted so far, for the shutdown log.
  std::string Final(Clock::time_point now = Clock::now()) const;

  uint64_t processed() const;
  uint64_t errors() const;

 private:
  const uint64_t interval_;
  const Clock::time_point start_;
  mutable std::mutex mutex_;
  uint64_t processed_ = 0;  // guarded by mutex_
  uint64_t errors_ = 0;     // guarded by mutex_
};

}  // namespace kafkasidecar::logging
