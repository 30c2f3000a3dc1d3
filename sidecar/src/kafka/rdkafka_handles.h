// Owning wrappers for librdkafka's C handles, and configuration building
// that reports a bad property by name.
#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace kafkasidecar::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct HandleDeleter {
  // rd_kafka_destroy() blocks until librdkafka's threads have stopped. A
  // consumer must be closed before it is destroyed.
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* headers) const { rd_kafka_headers_destroy(headers); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* metadata) const { rd_kafka_metadata_destroy(metadata); }
};

using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

// librdkafka properties whose values are secrets. Errors and logs print
// "<redacted>" in place of their values.
bool IsSecretProperty(const std::string& name);

// Builds a configuration from librdkafka properties, with librdkafka's log
// lines routed to the "librdkafka" spdlog logger. A property librdkafka
// rejects fails with INVALID_ARGUMENT naming the property and librdkafka's
// reason (and the value, unless it is a secret).
absl::StatusOr<ConfPtr> MakeConf(const std::map<std::string, std::string>& properties);

}  // namespace kafkasidecar::kafka
