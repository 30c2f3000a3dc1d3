// The sidecar's own copy of a consumed Kafka record, converted from
// librdkafka's rd_kafka_message_t at the edge so the consume logic never
// touches librdkafka memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kafkasidecar::kafka {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;

  friend bool operator<(const TopicPartition& a, const TopicPartition& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  }
  friend bool operator==(const TopicPartition& a, const TopicPartition& b) {
    return a.topic == b.topic && a.partition == b.partition;
  }
  friend bool operator!=(const TopicPartition& a, const TopicPartition& b) { return !(a == b); }
};

// librdkafka's RD_KAFKA_OFFSET_INVALID: the group has no committed offset.
inline constexpr int64_t kNoOffset = -1001;

// A partition with an offset. For commits the offset is the next offset to
// consume (last processed + 1), as Kafka stores it.
struct TopicPartitionOffset {
  TopicPartition partition;
  int64_t offset = kNoOffset;

  friend bool operator==(const TopicPartitionOffset& a, const TopicPartitionOffset& b) {
    return a.partition == b.partition && a.offset == b.offset;
  }
};

struct Header {
  std::string name;
  std::optional<std::string> value;  // nullopt for a header with a null value
};

struct Message {
  TopicPartition partition;
  int64_t offset = 0;
  int64_t timestamp_ms = -1;  // -1 when the broker gave none
  std::optional<std::string> key;    // nullopt for a null key
  std::optional<std::string> value;  // nullopt for a tombstone
  std::vector<Header> headers;
};

// "topic/partition", the form log lines and error messages use.
inline std::string ToString(const TopicPartition& partition) {
  return absl::StrCat(partition.topic, "/", partition.partition);
}

// "topic/partition@offset".
inline std::string ToString(const TopicPartition& partition, int64_t offset) {
  return absl::StrCat(partition.topic, "/", partition.partition, "@", offset);
}

// "topic/partition@offset, ..." for a commit list.
inline std::string ToString(const std::vector<TopicPartitionOffset>& offsets) {
  return absl::StrJoin(offsets, ", ", [](std::string* out, const TopicPartitionOffset& entry) {
    absl::StrAppend(out, ToString(entry.partition, entry.offset));
  });
}

// "topic/partition, ..." for an assignment.
inline std::string ToString(const std::vector<TopicPartition>& partitions) {
  return absl::StrJoin(partitions, ", ", [](std::string* out, const TopicPartition& partition) {
    absl::StrAppend(out, ToString(partition));
  });
}

}  // namespace kafkasidecar::kafka
