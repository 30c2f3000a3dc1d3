// The seam through which a Consume stream writes messages that its error
// policy gave up on to a dead-letter topic.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "connections/connection.h"
#include "kafkasidecar/v1/sidecar.pb.h"

namespace kafkasidecar {

// Header names added to a dead-lettered record, after the original headers.
inline constexpr char kDeadLetterTopicHeader[] = "dlq.original.topic";
inline constexpr char kDeadLetterPartitionHeader[] = "dlq.original.partition";
inline constexpr char kDeadLetterOffsetHeader[] = "dlq.original.offset";
inline constexpr char kDeadLetterOriginalTimestampHeader[] = "dlq.original.timestamp";
inline constexpr char kDeadLetterErrorHeader[] = "dlq.error";
inline constexpr char kDeadLetterAttemptsHeader[] = "dlq.attempts";
inline constexpr char kDeadLetterTimestampHeader[] = "dlq.timestamp";

// Thread-safe. The production implementation writes through the
// connection's shared idempotent producer (produce/dead_letter_producer.h).
class DeadLetterProducer {
 public:
  using DeliveryCallback = std::function<void(const absl::Status&)>;

  virtual ~DeadLetterProducer() = default;

  // Fails with NOT_FOUND when `topic` does not exist on `connection`, and
  // with the metadata request's error when the brokers could not tell.
  // Blocks for up to `timeout`.
  virtual absl::Status CheckTopic(const Connection& connection, const std::string& topic,
                                  std::chrono::milliseconds timeout) = 0;

  // Enqueues `record` for `topic`. When it returns OK, `on_delivery` runs
  // exactly once with the broker's acknowledgement (OK) or the delivery
  // error, never inside this call, on a thread that serves the producer's
  // delivery reports (possibly the caller's, inside a later Send). When it
  // fails, `on_delivery` never runs.
  virtual absl::Status Send(const Connection& connection, const std::string& topic,
                            const v1::ProduceRecord& record, DeliveryCallback on_delivery) = 0;
};

}  // namespace kafkasidecar
