// Connection tests: a metadata request on a short-lived client, with the
// reason of a failure taken from librdkafka's error events.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "connections/connection.h"

namespace kafkasidecar::kafka {

struct BrokerMetadata {
  int32_t id = -1;
  std::string host;
  int32_t port = 0;
};

struct TopicMetadata {
  std::string name;
  int32_t partition_count = 0;
  // Empty unless the broker reported an error for this topic.
  std::string error;
};

struct ClusterMetadata {
  std::vector<BrokerMetadata> brokers;
  std::vector<TopicMetadata> topics;  // sorted by name
  int32_t controller_id = -1;         // -1 when the broker did not say
};

// Lists brokers and topics of `connection` within `timeout`. Failures name
// the bootstrap servers (Connection::Describe) and the reason, never a
// secret:
//   INVALID_ARGUMENT  librdkafka rejected the properties or could not load a
//                     certificate or key (the message names the setting and
//                     the path, and a key password that does not fit);
//   UNAUTHENTICATED   SASL authentication failed, or a broker that requires
//                     a client certificate refused the connection;
//   UNAVAILABLE       brokers unreachable, TLS handshake or certificate
//                     verification failed, or no response within `timeout`.
// Authentication, client certificate and TLS failures end the test at once;
// other failures are retried until `timeout`, as a broker may be starting.
// Blocks the calling thread for up to `timeout` plus client teardown.
absl::StatusOr<ClusterMetadata> TestConnection(const Connection& connection, std::chrono::milliseconds timeout);

// Replaces every secret property value of `connection` that occurs in `text`
// with "<redacted>". Used on librdkafka's error strings before they leave
// the sidecar.
std::string RedactSecrets(const Connection& connection, std::string text);

}  // namespace kafkasidecar::kafka
