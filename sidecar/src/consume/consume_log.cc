#include "consume/consume_log.h"

namespace kafkasidecar {

std::shared_ptr<spdlog::logger> ConsumeLogger() {
  std::shared_ptr<spdlog::logger> logger = spdlog::get("consume");
  return logger ? logger : spdlog::default_logger();
}

bool LogRateLimiter::Allow(const std::string& key, uint64_t& suppressed) {
  const auto now = std::chrono::steady_clock::now();
  auto [entry, inserted] = keys_.try_emplace(key);
  KeyState& state = entry->second;
  if (!inserted && now - state.last_logged < interval_) {
    ++state.suppressed;
    return false;
  }
  suppressed = state.suppressed;
  state.suppressed = 0;
  state.last_logged = now;
  return true;
}

}  // namespace kafkasidecar
