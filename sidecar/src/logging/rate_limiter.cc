#include "logging/rate_limiter.h"

namespace kafkasidecar::logging {

std::optional<uint64_t> RateLimiter::Allow(Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (last_allowed_.has_value() && now - *last_allowed_ < interval_) {
    ++suppressed_;
    return std::nullopt;
  }
  last_allowed_ = now;
  const uint64_t suppressed = suppressed_;
  suppressed_ = 0;
  return suppressed;
}

}  // namespace kafkasidecar::logging
