// Rate limiting for a warning that may repeat many times a second, such as a
// broker that stays unreachable.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace kafkasidecar::logging {

// Lets one event through per interval and counts the ones it holds back.
// Thread-safe.
//
//   static logging::RateLimiter limiter(std::chrono::seconds(10));
//   if (auto suppressed = limiter.Allow()) {
//     log->warn("... ({} similar warnings suppressed)", *suppressed);
//   }
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(Clock::duration interval) : interval_(interval) {}

  // Returns the number of events suppressed since the last allowed one when
  // this event may be logged, and nullopt when it should be dropped.
  std::optional<uint64_t> Allow() { return Allow(Clock::now()); }
  std::optional<uint64_t> Allow(Clock::time_point now);

 private:
  const Clock::duration interval_;
  std::mutex mutex_;
  std::optional<Clock::time_point> last_allowed_;  // guarded by mutex_
  uint64_t suppressed_ = 0;                         // guarded by mutex_
};

}  // namespace kafkasidecar::logging
