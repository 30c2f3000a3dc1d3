// Logging helpers of the consume path.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace kafkasidecar {

// The "consume" logger, or the default logger where none is registered (unit
// tests).
std::shared_ptr<spdlog::logger> ConsumeLogger();

// Lets a repeated warning through at most once per interval per key, and
// counts what it held back. Not thread-safe: each poll thread owns one.
class LogRateLimiter {
 public:
  explicit LogRateLimiter(std::chrono::steady_clock::duration interval = std::chrono::seconds(10))
      : interval_(interval) {}

  // Returns true when the warning for `key` may be logged now. Then
  // `suppressed` is set to how many were held back since the last one.
  bool Allow(const std::string& key, uint64_t& suppressed);

 private:
  struct KeyState {
    std::chrono::steady_clock::time_point last_logged;
    uint64_t suppressed = 0;
  };
  std::chrono::steady_clock::duration interval_;
  std::map<std::string, KeyState> keys_;
};

}  // namespace kafkasidecar
