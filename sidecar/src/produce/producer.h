// The shared idempotent producer of one connection, and the pool that
// creates one per connection on first use.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "connections/connection.h"
#include "kafka/rdkafka_handles.h"
#include "kafkasidecar/v1/sidecar.pb.h"
#include "logging/summary.h"

namespace kafkasidecar::produce {

using Clock = std::chrono::steady_clock;

// Outcome of one record: its partition and offset, or the error.
struct DeliveryResult {
  int32_t partition = -1;
  int64_t offset = -1;
  std::string error;  // empty on success
};

// One librdkafka producer with enable.idempotence=true (so acks=all) for one
// connection. Thread-safe: any thread may enqueue. Scheduled tasks run on
// the producer's own poll thread, and so do delivery reports, except those
// that Flush, the destructor or an Enqueue waiting for queue room serve on
// their calling thread.
class SharedProducer {
 public:
  using DeliveryCallback = std::function<void(const DeliveryResult&)>;

  // Creates the producer and starts its poll thread. Fails with
  // INVALID_ARGUMENT when librdkafka rejects the connection's properties.
  // `summary`, if not null, counts every delivery report; it must outlive
  // the producer.
  static absl::StatusOr<std::shared_ptr<SharedProducer>> Create(std::shared_ptr<const Connection> connection,
                                                                logging::Summary* summary = nullptr);

  // Purges what is still queued (their callbacks run with a purge error),
  // stops the poll thread and destroys the handle. Call Flush first to
  // deliver them instead.
  ~SharedProducer();

  SharedProducer(const SharedProducer&) = delete;
  SharedProducer& operator=(const SharedProducer&) = delete;

  // Enqueues one record for `topic`. While librdkafka's local queue is full
  // it serves delivery reports and retries until `deadline`. On success
  // `on_delivery` runs exactly once with the broker's result, on a thread
  // that serves delivery reports (see above). On failure it never runs, and
  // the status contains librdkafka's error name and text.
  absl::Status Enqueue(const std::string& topic, const v1::ProduceRecord& record, Clock::time_point deadline,
                       DeliveryCallback on_delivery);

  // Runs `task` on the poll thread at `when` (or soon after, within the
  // poll interval), or at destruction if that comes first.
  void RunAt(Clock::time_point when, std::function<void()> task);

  // Waits until every enqueued record got its delivery report or `deadline`
  // passed. Returns how many records are still undelivered.
  int Flush(Clock::time_point deadline);

  // True after librdkafka raised a fatal error; the producer then accepts no
  // records and the pool replaces it.
  bool failed() const { return failed_.load(); }

  const Connection& connection() const { return *connection_; }

 private:
  SharedProducer(std::shared_ptr<const Connection> connection, logging::Summary* summary);

  static void OnDelivery(rd_kafka_t* handle, const rd_kafka_message_t* message, void* opaque);
  static void OnError(rd_kafka_t* handle, int code, const char* reason, void* opaque);
  void PollLoop();
  void RunDueTasks(bool run_all);

  const std::shared_ptr<const Connection> connection_;
  logging::Summary* const summary_;  // not owned; may be null
  kafka::HandlePtr handle_;
  std::atomic<bool> failed_{false};
  std::atomic<bool> stopping_{false};

  std::mutex tasks_mutex_;
  std::multimap<Clock::time_point, std::function<void()>> tasks_;  // guarded by tasks_mutex_

  // Started last in Create and joined first in the destructor.
  std::thread poll_thread_;
};

// One SharedProducer per connection id, created on first use. Thread-safe.
class ProducerPool {
 public:
  // `connections` must outlive the pool. `summary_interval` is the number of
  // delivered records between two summary log lines.
  ProducerPool(const ConnectionLookup& connections, uint64_t summary_interval);
  ~ProducerPool();

  // Returns the connection's producer, creating it (or replacing one that
  // failed fatally) when needed. NOT_FOUND names an unknown connection id;
  // INVALID_ARGUMENT comes from librdkafka's checks of the properties.
  // Fails with FAILED_PRECONDITION after Close.
  absl::StatusOr<std::shared_ptr<SharedProducer>> Get(const std::string& connection_id);

  // Flushes every producer until `deadline` and returns how many records
  // are still undelivered.
  uint64_t FlushAll(Clock::time_point deadline);

  // Destroys the producers; records still queued are purged. Later Get
  // calls fail. Safe to call twice.
  void Close();

  // "Processed N messages, Errors: E, Rate: R msg/s" over every delivery
  // report so far.
  std::string FinalSummary() const { return summary_.Final(); }

 private:
  const ConnectionLookup& connections_;
  logging::Summary summary_;
  std::mutex mutex_;
  bool closed_ = false;                                                  // guarded by mutex_
  std::map<std::string, std::shared_ptr<SharedProducer>> producers_;  // guarded by mutex_
};

}  // namespace kafkasidecar::produce
