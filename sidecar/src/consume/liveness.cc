#include "consume/liveness.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "consume/consume_log.h"

namespace kafkasidecar {

LivenessMonitor::LivenessMonitor(ConsumeStreams& streams, std::chrono::steady_clock::duration stall_bound,
                                 std::chrono::steady_clock::duration interval, SetServing set_serving)
    : streams_(streams), stall_bound_(stall_bound), interval_(interval), set_serving_(std::move(set_serving)) {
  thread_ = std::thread([this] { Run(); });
}

LivenessMonitor::~LivenessMonitor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool LivenessMonitor::CheckOnce() {
  const std::vector<std::string> stalled = streams_.StalledStreams(stall_bound_);
  const bool serving = stalled.empty();
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    changed = last_serving_.has_value() && *last_serving_ != serving;
    last_serving_ = serving;
  }
  if (changed && !serving) {
    ConsumeLogger()->error("liveness NOT_SERVING: {}", absl::StrJoin(stalled, ", "));
  } else if (changed) {
    ConsumeLogger()->info("liveness SERVING again: every poll loop makes progress");
  }
  set_serving_(serving);
  return serving;
}

void LivenessMonitor::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    CheckOnce();
    lock.lock();
    cv_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

}  // namespace kafkasidecar
