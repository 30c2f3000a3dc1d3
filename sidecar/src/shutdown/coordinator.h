// The shutdown sequence after SIGTERM or SIGINT: drain the Consume streams
// while acks and Produce calls are still served, then stop the server and
// flush the producers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "consume/consume_streams.h"

namespace kafkasidecar::shutdown {

using Clock = std::chrono::steady_clock;

// The parts of the sidecar that shutdown acts on, as callables so that tests
// can record the order of the steps.
struct ShutdownSteps {
  ConsumeStreams* streams = nullptr;
  // Sets the gRPC health status of the sidecar.
  std::function<void(bool serving)> set_serving;
  // Stops the gRPC server; calls still running at the deadline are cancelled.
  std::function<void(std::chrono::system_clock::time_point deadline)> shutdown_server;
  // Flushes every producer until the deadline; returns the undelivered count.
  std::function<uint64_t(Clock::time_point deadline)> flush_producers;
  // Returns a further signal if one arrives within the timeout; a second
  // signal cuts the drain short. May be empty.
  std::function<std::optional<int>(std::chrono::milliseconds timeout)> next_signal;
  // Returns the produce summary line for the final log. May be empty.
  std::function<std::string()> produce_summary;
};

struct ShutdownOptions {
  std::chrono::seconds drain_timeout{30};
  // How long running calls get after the drain before the server cancels them.
  std::chrono::milliseconds server_grace{2000};
  // Producers get at least this long to flush, even when the drain used its
  // whole timeout.
  std::chrono::milliseconds min_flush{1000};
};

struct ShutdownResult {
  bool forced = false;           // the drain deadline (or a second signal) ended the drain
  uint64_t abandoned = 0;        // delivered messages left unacked by ForceClose
  uint64_t undelivered = 0;      // produced records that the flush did not deliver
  int exit_code = 0;             // 0 after a clean drain, 1 when forced
};

// Runs the sequence once, on the calling thread:
//   1. streams->BeginDrain(): stop fetching, send DRAINING to every stream;
//   2. health NOT_SERVING;
//   3. WaitAllClosed until now + drain_timeout, while acks and Produce are
//      still served; a second signal ends the wait early;
//   4. if the streams did not all close, ForceClose() and log how many
//      messages were abandoned;
//   5. server shutdown with server_grace;
//   6. flush producers until the drain deadline, but at least min_flush;
//   7. log a final summary.
ShutdownResult RunShutdown(int signal, const ShutdownSteps& steps, const ShutdownOptions& options);

}  // namespace kafkasidecar::shutdown
