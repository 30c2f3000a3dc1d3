// Logging helpers of the consume path.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "logging/rate_limiter.h"

namespace kafkasidecar {

// The "consume" logger.
std::shared_ptr<spdlog::logger> ConsumeLogger();

// One logging::RateLimiter per kind of repeated warning, such as a
// librdkafka error code. Not thread-safe: each poll thread owns one.
class KeyedRateLimiter {
 public:
  explicit KeyedRateLimiter(std::chrono::steady_clock::duration interval = std::chrono::seconds(10))
      : interval_(interval) {}

  // Returns how many warnings for `key` were held back since the last one
  // when this one may be logged, and nullopt when it should be dropped.
  std::optional<uint64_t> Allow(const std::string& key);

 private:
  std::chrono::steady_clock::duration interval_;
  std::map<std::string, std::unique_ptr<logging::RateLimiter>> limiters_;
};

}  // namespace kafkasidecar
