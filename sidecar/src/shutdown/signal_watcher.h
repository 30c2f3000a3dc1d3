// SIGTERM and SIGINT delivery through a self-pipe: the handler only writes
// the signal number to a pipe, and a normal thread reads it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"

namespace kafkasidecar::shutdown {

class SignalWatcher {
 public:
  // Installs the handlers. Only one watcher may exist at a time.
  static absl::StatusOr<std::unique_ptr<SignalWatcher>> Install();

  // Restores the default actions and closes the pipe.
  ~SignalWatcher();

  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // Blocks until a signal arrives and returns its number.
  int Wait();

  // Returns the next signal if one arrives within `timeout`, else nullopt.
  std::optional<int> WaitFor(std::chrono::milliseconds timeout);

  // Queues `signal` as if it had been delivered; for tests and for a
  // programmatic stop.
  void Notify(int signal);

 private:
  SignalWatcher(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}

  const int read_fd_;
  const int write_fd_;
};

}  // namespace kafkasidecar::shutdown
