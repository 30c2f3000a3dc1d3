// kafka::Consumer over librdkafka's high-level consumer.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "connections/connection.h"
#include "kafka/consumer.h"
#include "kafka/rdkafka_handles.h"

namespace kafkasidecar::kafka {

struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
};
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;

struct EventDeleter {
  void operator()(rd_kafka_event_t* event) const { rd_kafka_event_destroy(event); }
};
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

struct ErrorDeleter {
  void operator()(rd_kafka_error_t* error) const { rd_kafka_error_destroy(error); }
};
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;

// The librdkafka properties of a consumer for `connection`: the connection's
// properties, then the settings the commit rule depends on, which a
// connection property cannot override (group.id, enable.auto.commit=false,
// enable.auto.offset.store=false, auto.offset.reset,
// enable.partition.eof=false). partition.assignment.strategy comes from
// `options`, and queued.max.messages.kbytes is 8192, unless the connection
// sets them.
std::map<std::string, std::string> ConsumerProperties(const Connection& connection,
                                                      const ConsumerOptions& options);

// Sorts a librdkafka error code into what the consume logic does about it.
ConsumerErrorKind ClassifyConsumerError(rd_kafka_resp_err_t code);

// Converts a consumed record (err == 0) into the sidecar's Message.
Message ConvertMessage(const rd_kafka_message_t& record);

class RdKafkaConsumer final : public Consumer {
 public:
  static absl::StatusOr<std::unique_ptr<RdKafkaConsumer>> Create(const Connection& connection,
                                                                ConsumerOptions options);

  // Destroys the handle. rd_kafka_destroy blocks until librdkafka's threads
  // have stopped; when Close did not finish, the destructor skips the
  // group leave that rd_kafka_destroy would otherwise repeat.
  ~RdKafkaConsumer() override;

  absl::Status Subscribe(const std::vector<std::string>& topics) override;
  PollResult Poll(std::chrono::milliseconds timeout) override;
  void Wakeup() override;
  absl::Status Pause(const std::vector<TopicPartition>& partitions) override;
  absl::Status Resume(const std::vector<TopicPartition>& partitions) override;
  absl::Status Assign(const std::vector<TopicPartition>& partitions) override;
  absl::Status Unassign(const std::vector<TopicPartition>& partitions) override;
  absl::Status CommitSync(const std::vector<TopicPartitionOffset>& offsets,
                          std::chrono::milliseconds timeout) override;
  absl::Status CommitAsync(const std::vector<TopicPartitionOffset>& offsets) override;
  absl::StatusOr<std::vector<TopicPartitionOffset>> Committed(
      const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) override;
  absl::Status Close(std::chrono::milliseconds timeout) override;

 private:
  explicit RdKafkaConsumer(ConsumerOptions options);

  static void RebalanceCallback(rd_kafka_t* handle, rd_kafka_resp_err_t code,
                                rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static void CommitCallback(rd_kafka_t* handle, rd_kafka_resp_err_t code,
                             rd_kafka_topic_partition_list_t* offsets, void* opaque);
  static void ErrorCallback(rd_kafka_t* handle, int code, const char* reason, void* opaque);

  // Hands a rebalance to options_.on_rebalance, then applies the assignment
  // change itself if the handler did not.
  void DispatchRebalance(rd_kafka_resp_err_t code, const rd_kafka_topic_partition_list_t* partitions);
  bool Cooperative() const;
  ConsumerError MakeError(rd_kafka_resp_err_t code, std::string topic, int32_t partition,
                          std::string text) const;

  const ConsumerOptions options_;
  // Declared before the queue so that the queue is destroyed first, as
  // librdkafka requires.
  HandlePtr handle_;
  // The consumer queue, kept to wake a waiting rd_kafka_consumer_poll.
  QueuePtr consumer_queue_;

  // Errors from the error callback, returned by the next Poll. The callback
  // runs inside rd_kafka_consumer_poll on the polling thread; the mutex
  // covers callbacks that librdkafka serves from another thread.
  std::mutex errors_mu_;
  std::deque<ConsumerError> pending_errors_;

  // Polling thread only.
  bool assignment_changed_ = false;  // set by Assign/Unassign during a dispatch
  bool close_started_ = false;
  bool closed_ = false;
};

}  // namespace kafkasidecar::kafka
