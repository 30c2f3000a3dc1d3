// Liveness of the Consume streams' poll loops, for the gRPC health service
// name kLivenessServiceName.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "consume/consume_streams.h"

namespace kafkasidecar {

// Health service name that reports NOT_SERVING while some stream's poll
// loop is stalled.
inline constexpr char kLivenessServiceName[] = "kafkasidecar.v1.Liveness";

// Checks ConsumeStreams::StalledStreams every `interval` on its own thread
// and reports the result through `set_serving` (true: no loop stalled).
// It reports at every check, so the status returns after anything else set
// it. Logs when the state changes.
class LivenessMonitor {
 public:
  using SetServing = std::function<void(bool serving)>;

  // `streams` must outlive the monitor.
  LivenessMonitor(ConsumeStreams& streams, std::chrono::steady_clock::duration stall_bound,
                  std::chrono::steady_clock::duration interval, SetServing set_serving);

  // Stops the thread and waits for it.
  ~LivenessMonitor();

  LivenessMonitor(const LivenessMonitor&) = delete;
  LivenessMonitor& operator=(const LivenessMonitor&) = delete;

  // Runs one check on the calling thread and returns whether every loop is
  // live. The thread runs the same check.
  bool CheckOnce();

 private:
  void Run();

  ConsumeStreams& streams_;
  const std::chrono::steady_clock::duration stall_bound_;
  const std::chrono::steady_clock::duration interval_;
  const SetServing set_serving_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;              // guarded by mu_
  std::optional<bool> last_serving_;  // guarded by mu_

  std::thread thread_;  // started last in the constructor
};

}  // namespace kafkasidecar
