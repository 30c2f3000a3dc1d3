#include "shutdown/signal_watcher.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kafkasidecar::shutdown {
namespace {

// Write end of the pipe, read by the handler. -1 while no watcher exists.
std::atomic<int> g_write_fd{-1};

// Async-signal-safe: write() and errno only.
void HandleSignal(int signal) {
  const int saved_errno = errno;
  const int fd = g_write_fd.load();
  if (fd >= 0) {
    const unsigned char number = static_cast<unsigned char>(signal);
    // A full pipe already contains enough pending signals to act on.
    (void)!::write(fd, &number, 1);
  }
  errno = saved_errno;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SignalWatcher>> SignalWatcher::Install() {
  if (g_write_fd.load() >= 0) return absl::FailedPreconditionError("a SignalWatcher is already installed");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError(absl::StrCat("cannot create the signal pipe: ", std::strerror(errno)));
  }
  g_write_fd = fds[1];
  struct sigaction action {};
  action.sa_handler = &HandleSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  return std::unique_ptr<SignalWatcher>(new SignalWatcher(fds[0], fds[1]));
}

SignalWatcher::~SignalWatcher() {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  g_write_fd = -1;
  ::close(read_fd_);
  ::close(write_fd_);
}

int SignalWatcher::Wait() {
  while (true) {
    if (std::optional<int> signal = WaitFor(std::chrono::milliseconds(-1))) return *signal;
  }
}

std::optional<int> SignalWatcher::WaitFor(std::chrono::milliseconds timeout) {
  pollfd entry{read_fd_, POLLIN, 0};
  const int ready = ::poll(&entry, 1, static_cast<int>(timeout.count()));
  if (ready <= 0) return std::nullopt;  // timeout, or EINTR from a handler
  unsigned char number = 0;
  if (::read(read_fd_, &number, 1) != 1) return std::nullopt;
  return static_cast<int>(number);
}

void SignalWatcher::Notify(int signal) { HandleSignal(signal); }

}  // namespace kafkasidecar::shutdown
