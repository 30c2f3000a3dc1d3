#include "consume/consume_log.h"

#include "logging/logging.h"

namespace kafkasidecar {

std::shared_ptr<spdlog::logger> ConsumeLogger() { return logging::Get(logging::kConsume); }

std::optional<uint64_t> KeyedRateLimiter::Allow(const std::string& key) {
  std::unique_ptr<logging::RateLimiter>& limiter = limiters_[key];
  if (limiter == nullptr) limiter = std::make_unique<logging::RateLimiter>(interval_);
  return limiter->Allow();
}

}  // namespace kafkasidecar
