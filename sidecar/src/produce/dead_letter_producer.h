// Dead-letter writes of the consume path, through each connection's shared
// idempotent producer.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "consume/dead_letter.h"
#include "produce/producer.h"

namespace kafkasidecar::produce {

// Thread-safe. `producers` must outlive every Send's delivery callback,
// which the pool guarantees by purging, with a callback each, what is still
// queued when it closes.
class PoolDeadLetterProducer final : public DeadLetterProducer {
 public:
  explicit PoolDeadLetterProducer(ProducerPool& producers) : producers_(producers) {}

  // Lists the connection's topics with a metadata request.
  absl::Status CheckTopic(const Connection& connection, const std::string& topic,
                          std::chrono::milliseconds timeout) override;

  absl::Status Send(const Connection& connection, const std::string& topic,
                    const v1::ProduceRecord& record, DeliveryCallback on_delivery) override;

 private:
  ProducerPool& producers_;
};

}  // namespace kafkasidecar::produce
