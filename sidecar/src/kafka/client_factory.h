// The seam between the consume logic and librdkafka: one small interface
// creates consumers, so sessions can be unit-tested with a fake.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "connections/connection.h"

namespace kafkasidecar::kafka {

class Consumer;  // kafka/consumer.h
struct ConsumerOptions;  // kafka/consumer.h

class ClientFactory {
 public:
  virtual ~ClientFactory() = default;
  virtual absl::StatusOr<std::unique_ptr<Consumer>> CreateConsumer(
      const Connection& connection, const ConsumerOptions& options) = 0;
};

// The factory that creates real librdkafka clients.
std::shared_ptr<ClientFactory> MakeRdKafkaClientFactory();

}  // namespace kafkasidecar::kafka
