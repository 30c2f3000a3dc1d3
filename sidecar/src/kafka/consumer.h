// The consumer seam: the few operations the consume logic needs from a Kafka
// group consumer. RdKafkaConsumer implements it over librdkafka; unit tests
// implement it with a scripted fake.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kafka/message.h"

namespace kafkasidecar::kafka {

struct RebalanceEvent {
  enum class Type {
    kAssign,  // the group gave these partitions to this member
    kRevoke,  // an orderly revoke: the member may still commit them
    // The member lost these partitions without an orderly revoke (session
    // timeout, max.poll.interval.ms exceeded, or a failed rebalance).
    // Another member may own them already, so nothing may be committed.
    kLost,
  };
  Type type = Type::kAssign;
  std::vector<TopicPartition> partitions;
  std::string reason;  // librdkafka's text for kLost after a rebalance error
};

// What the consume logic must do about a consumer error.
enum class ConsumerErrorKind {
  kTransient,           // broker or network trouble librdkafka retries by itself
  kFatal,               // the client cannot continue
  kTopicNotFound,       // a subscribed topic or partition does not exist
  kTopicAuthorization,  // not authorized to read a topic
  kGroupAuthorization,  // not authorized for the consumer group
  kAuthentication,      // SASL or TLS authentication failed
  kNoOffset,            // no committed offset and auto.offset.reset=error
  kOther,               // anything else: logged, consuming goes on
};

struct ConsumerError {
  ConsumerErrorKind kind = ConsumerErrorKind::kOther;
  std::string code;   // librdkafka's error name, e.g. "_ALL_BROKERS_DOWN"
  std::string topic;  // empty when the error concerns no topic
  int32_t partition = -1;
  std::string message;  // librdkafka's text
};

// The result of one Poll: a message, an error, or neither (timeout, wakeup,
// or only callbacks were served).
struct PollResult {
  std::optional<Message> message;
  std::optional<ConsumerError> error;
};

struct ConsumerOptions {
  std::string group_id;
  // librdkafka's auto.offset.reset: "earliest", "latest" or "error".
  std::string auto_offset_reset = "earliest";
  // Eager strategies by default: every rebalance revokes the whole
  // assignment first. A connection property may select
  // "cooperative-sticky"; RdKafkaConsumer then assigns incrementally.
  std::string partition_assignment_strategy = "range,roundrobin";
  // Called on the thread that calls Poll or Close, from inside that call.
  // The handler must call Assign (kAssign) or Unassign (kRevoke, kLost)
  // with the event's partitions before it returns.
  std::function<void(const RebalanceEvent&)> on_rebalance;
  // Result of a CommitAsync, called from inside a later Poll on the polling
  // thread. `offsets` are the offsets that failed when status is not OK.
  std::function<void(const absl::Status&, const std::vector<TopicPartitionOffset>&)>
      on_commit_result;
};

// A group consumer. Every method except Wakeup must be called from one
// thread, the polling thread. Wakeup is thread-safe.
class Consumer {
 public:
  virtual ~Consumer() = default;

  virtual absl::Status Subscribe(const std::vector<std::string>& topics) = 0;

  // Waits up to `timeout` for a message or an error. Rebalance and commit
  // callbacks run inside this call.
  virtual PollResult Poll(std::chrono::milliseconds timeout) = 0;

  // Makes a Poll that is waiting, or the next Poll, return early.
  virtual void Wakeup() = 0;

  // Stops or restarts fetching for partitions of the current assignment.
  virtual absl::Status Pause(const std::vector<TopicPartition>& partitions) = 0;
  virtual absl::Status Resume(const std::vector<TopicPartition>& partitions) = 0;

  // Only from inside on_rebalance.
  virtual absl::Status Assign(const std::vector<TopicPartition>& partitions) = 0;
  virtual absl::Status Unassign(const std::vector<TopicPartition>& partitions) = 0;

  // Commits these offsets (next offset to consume) for the group. CommitSync
  // waits up to `timeout` for the broker's response and fails with
  // DEADLINE_EXCEEDED after it; the commit may still complete later.
  virtual absl::Status CommitSync(const std::vector<TopicPartitionOffset>& offsets,
                                  std::chrono::milliseconds timeout) = 0;
  // Queues the commit and returns. The result reaches on_commit_result.
  virtual absl::Status CommitAsync(const std::vector<TopicPartitionOffset>& offsets) = 0;

  // The group's committed offsets; kNoOffset where none is committed.
  virtual absl::StatusOr<std::vector<TopicPartitionOffset>> Committed(
      const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) = 0;

  // Leaves the group. A revoke reaches on_rebalance from inside this call
  // when partitions are assigned. Waits at most `timeout`. Safe to call
  // twice; the second call returns OK at once.
  virtual absl::Status Close(std::chrono::milliseconds timeout) = 0;
};

}  // namespace kafkasidecar::kafka
