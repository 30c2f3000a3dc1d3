// Validation of a Consume stream's Subscribe request into the settings its
// session runs with.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "consume/consume_streams.h"
#include "kafkasidecar/v1/sidecar.pb.h"

namespace kafkasidecar {

struct SessionSettings {
  uint64_t stream_id = 0;  // assigned by ConsumeStreams, for log lines
  std::string connection_id;
  std::vector<std::string> topics;
  std::string group_id;
  std::string client_name;
  std::string auto_offset_reset = "earliest";  // librdkafka's value
  v1::OnError on_error = v1::ON_ERROR_CONTINUE;
  uint32_t max_retries = 3;
  std::vector<uint32_t> retry_backoff_ms = {100, 200, 400};
  uint32_t max_in_flight = 1000;
  // Delivered, unacked messages per partition; 0 means no bound beyond
  // max_in_flight.
  uint32_t max_in_flight_per_partition = 0;
  // See ConsumeDefaults.
  size_t backlog_max_messages = 1000;
  size_t backlog_max_bytes = 8 * 1024 * 1024;
  v1::CommitStrategy commit_strategy = v1::COMMIT_STRATEGY_PER_MESSAGE;
  uint32_t commit_batch_size = 0;                 // COMMIT_STRATEGY_BATCH only
  std::chrono::milliseconds commit_interval{0};  // COMMIT_STRATEGY_PERIODIC only
  std::chrono::seconds drain_timeout{30};
  uint64_t log_summary_interval = 1000;
  // Topic that receives the messages the error policy gives up on; empty
  // for none. Never set with ON_ERROR_STOP.
  std::string dead_letter_topic;

  // Upper bounds of the session's blocking Kafka calls.
  // How long a revoke waits for acks of the revoked partitions' in-flight
  // messages; also never longer than drain_timeout.
  std::chrono::milliseconds revoke_wait{5000};
  std::chrono::milliseconds commit_timeout{5000};
  std::chrono::milliseconds close_timeout{10000};
  // Bound of the dead-letter topic's existence check at subscribe.
  std::chrono::milliseconds dead_letter_check_timeout{10000};
};

// Checks `subscribe` and fills in defaults. A bad field fails with
// INVALID_ARGUMENT naming the field, the value and the fix.
absl::StatusOr<SessionSettings> ParseSubscribe(const v1::Subscribe& subscribe,
                                               const ConsumeDefaults& defaults);

// The delay before retry number `retry` (1 for the first retry).
std::chrono::milliseconds RetryBackoff(const SessionSettings& settings, uint32_t retry);

}  // namespace kafkasidecar
