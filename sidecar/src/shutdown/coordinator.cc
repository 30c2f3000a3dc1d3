#include "shutdown/coordinator.h"

#include <algorithm>
#include <csignal>
#include <cstring>

#include "logging/logging.h"

namespace kafkasidecar::shutdown {
namespace {

// How often the drain wait checks for a second signal.
constexpr std::chrono::milliseconds kSignalCheckInterval(200);

std::string SignalName(int signal) {
  if (signal == SIGTERM) return "SIGTERM";
  if (signal == SIGINT) return "SIGINT";
  const char* description = strsignal(signal);
  return description != nullptr ? description : "signal " + std::to_string(signal);
}

// Waits for every stream to close until `deadline`. Returns false at the
// deadline or after a second signal.
bool WaitForStreams(const ShutdownSteps& steps, Clock::time_point deadline) {
  auto log = logging::Get(logging::kSidecar);
  while (true) {
    const Clock::time_point slice_end = std::min(deadline, Clock::now() + kSignalCheckInterval);
    if (steps.streams->WaitAllClosed(slice_end)) return true;
    if (Clock::now() >= deadline) return false;
    if (steps.next_signal) {
      if (std::optional<int> again = steps.next_signal(std::chrono::milliseconds(0))) {
        log->warn("Received {} again: ending the drain now", SignalName(*again));
        return false;
      }
    }
  }
}

}  // namespace

ShutdownResult RunShutdown(int signal, const ShutdownSteps& steps, const ShutdownOptions& options) {
  auto log = logging::Get(logging::kSidecar);
  const Clock::time_point start = Clock::now();
  const Clock::time_point drain_deadline = start + options.drain_timeout;
  log->info("Received {}: draining Consume streams for up to {} s; acks and Produce calls are still served",
            SignalName(signal), options.drain_timeout.count());
  ShutdownResult result;

  steps.streams->BeginDrain();
  if (steps.set_serving) steps.set_serving(false);

  if (WaitForStreams(steps, drain_deadline)) {
    log->info("Every Consume stream closed after {} ms",
              std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
  } else {
    result.forced = true;
    result.abandoned = steps.streams->ForceClose();
    log->warn("Drain ended before every Consume stream closed: closed them, {} delivered messages were not "
              "acked and stay uncommitted for redelivery",
              result.abandoned);
  }

  if (steps.shutdown_server) steps.shutdown_server(std::chrono::system_clock::now() + options.server_grace);

  if (steps.flush_producers) {
    const Clock::time_point flush_deadline = std::max(drain_deadline, Clock::now() + options.min_flush);
    result.undelivered = steps.flush_producers(flush_deadline);
    if (result.undelivered > 0) {
      log->error("{} produced records were still undelivered when the flush timed out", result.undelivered);
    }
  }

  result.exit_code = result.forced ? 1 : 0;
  const std::string produced = steps.produce_summary ? steps.produce_summary() : "";
  log->info("Shutdown complete in {} ms ({}); produce: {}; exit code {}",
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count(),
            result.forced ? "drain forced" : "clean drain", produced.empty() ? "none" : produced, result.exit_code);
  return result;
}

}  // namespace kafkasidecar::shutdown
