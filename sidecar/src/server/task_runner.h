// A small pool of threads for blocking work of unary calls. Connection tests
// run here so that they do not block gRPC's callback threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kafkasidecar::server {

class TaskRunner {
 public:
  // Starts `threads` workers; at most `max_queued` tasks wait for one.
  TaskRunner(size_t threads, size_t max_queued);

  // Runs every task already queued, then joins the workers.
  ~TaskRunner();

  TaskRunner(const TaskRunner&) = delete;
  TaskRunner& operator=(const TaskRunner&) = delete;

  // Queues `task`. Returns false, without running it, when the queue is full
  // or the runner is being destroyed.
  bool Submit(std::function<void()> task);

 private:
  void Work();

  const size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::vector<std::thread> workers_;
};

}  // namespace kafkasidecar::server
