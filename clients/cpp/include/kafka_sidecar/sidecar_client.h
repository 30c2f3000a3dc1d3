// C++ client for the Kafka sidecar: consume with per-message acks, and
// produce through the sidecar's shared producer.
//
// A job calls SidecarClient::Consume with a handler. Every message the
// sidecar streams is passed to the handler, and the handler's return value
// becomes the message's ack: an OK status acks success, any other status acks
// an error carrying the status message. The sidecar commits an offset only
// after that ack, so delivery is at-least-once and a handler must tolerate
// seeing a message again.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kafkasidecar/v1/sidecar.grpc.pb.h"

namespace kafka_sidecar {

struct Header {
  std::string name;
  // Unset for a header with a null value.
  std::optional<std::string> value;
};

// One delivered Kafka message, copied out of the stream's protobuf frame.
struct Message {
  // Unique within one Consume call; a redelivery gets a new id.
  uint64_t delivery_id = 0;
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  // Unix milliseconds, or -1 when the broker gave none.
  int64_t timestamp_ms = -1;
  // Unset for a null key or a tombstone value; set and empty for "".
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<Header> headers;
  // 1 for the first delivery, n for the (n-1)th retry.
  uint32_t attempt = 1;

  // "topic/partition@offset", the id used in log lines.
  std::string Id() const;
};

enum class AutoOffsetReset { kEarliest, kLatest, kNone };

// What the sidecar does with a message whose handler returned an error.
enum class OnError {
  // Log it, commit its offset and move on.
  kContinue,
  // Redeliver it after a backoff, up to max_retries times, then continue.
  kRetry,
  // Commit nothing for it and end the stream: Consume returns ABORTED.
  kStop,
};

enum class CommitStrategy { kPerMessage, kBatch, kPeriodic };

// The subscription the sidecar runs for one Consume call. Zero and empty
// values select the sidecar's defaults.
struct SubscribeOptions {
  // "" selects the sidecar's default connection.
  std::string connection_id;
  std::vector<std::string> topics;
  std::string group_id;
  AutoOffsetReset auto_offset_reset = AutoOffsetReset::kEarliest;
  OnError on_error = OnError::kContinue;
  // Attempts after the first one, for OnError::kRetry. Unset means 3.
  std::optional<uint32_t> max_retries;
  // Delay before retry n is element n-1, and the last element repeats.
  // Empty means [100, 200, 400].
  std::vector<uint32_t> retry_backoff_ms;
  // Messages delivered but not yet acked on this stream.
  uint32_t max_in_flight = 0;
  CommitStrategy commit_strategy = CommitStrategy::kPerMessage;
  uint32_t commit_batch_size = 0;
  uint32_t commit_interval_ms = 0;
  // How long the sidecar waits for acks once it starts draining.
  uint32_t shutdown_drain_timeout_s = 0;
  // Name of the job in the sidecar's logs.
  std::string client_name;
  // Topic that receives messages the error policy gives up on.
  std::string dead_letter_topic;
};

// Client-side tuning of the Consume loop.
struct ConsumeTuning {
  // How long Consume waits for the sidecar's socket to accept a connection
  // before it returns UNAVAILABLE. In a pod both containers start together,
  // so the job may be up before the sidecar serves.
  std::chrono::milliseconds connect_timeout{30000};
  // Pending acks are sent together in one frame once this many accumulate.
  size_t max_acks_per_frame = 256;
  // Pending acks are also sent when the oldest has waited this long, and
  // always before Consume waits for more messages.
  std::chrono::milliseconds ack_flush_interval{50};
  // How often an idle loop checks the stop flag.
  std::chrono::milliseconds stop_poll_interval{50};
  // After the job closes its side of the stream, how long to wait for the
  // sidecar's final commit and status before cancelling the call.
  std::chrono::milliseconds finish_timeout{30000};
};

// A stream event other than a message batch, passed to the event handler.
struct StreamEvent {
  kafkasidecar::v1::Event::Type type = kafkasidecar::v1::Event::TYPE_UNSPECIFIED;
  // topic/partition pairs for PARTITIONS_ASSIGNED and PARTITIONS_REVOKED.
  std::vector<std::pair<std::string, int32_t>> partitions;
  std::string detail;
};

// Called once per message, on the thread that called Consume. OK acks
// success; any other status acks an error with the status message (or, if
// that is empty, the status code's name). An exception acks an error too.
using MessageHandler = std::function<absl::Status(const Message&)>;
using EventHandler = std::function<void(const StreamEvent&)>;

struct ConsumeStats {
  uint64_t messages_received = 0;
  // Handler calls that were acked as success or error.
  uint64_t acked_success = 0;
  uint64_t acked_error = 0;
  // Delivered but never passed to the handler because draining or stopping
  // had begun. The sidecar commits none of them, so they are redelivered.
  uint64_t not_processed = 0;
  uint64_t ack_frames_sent = 0;
  // The sidecar announced draining (pod shutdown).
  bool sidecar_draining = false;
  // The caller's stop flag ended the loop.
  bool stop_requested = false;
};

struct ConsumeResult {
  // OK after a clean close by either side. ABORTED when the on_error=stop
  // policy ended the stream; UNAVAILABLE when the sidecar was unreachable
  // or went away; INVALID_ARGUMENT for a rejected subscription.
  absl::Status status;
  ConsumeStats stats;
};

struct ProduceRecord {
  // Unset for a null key or value (a tombstone).
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<Header> headers;
  // Unset lets the partitioner choose.
  std::optional<int32_t> partition;
  // Unset lets the producer stamp the record.
  std::optional<int64_t> timestamp_ms;
};

struct ProduceOptions {
  // "" selects the sidecar's default connection.
  std::string connection_id;
  // Wait for the broker's acknowledgement of every record.
  bool wait_for_delivery = true;
  // Bound for that wait; 0 selects the sidecar's default (10 s).
  std::chrono::milliseconds delivery_timeout{0};
  // How long to wait for the sidecar to accept the call at all.
  std::chrono::milliseconds connect_timeout{30000};
};

struct RecordResult {
  // -1 when unknown: not waited for, or the record failed.
  int32_t partition = -1;
  int64_t offset = -1;
  // Empty on success.
  std::string error;

  bool ok() const { return error.empty(); }
};

// Thread-safe: Produce may be called from a message handler or from other
// threads while Consume runs. Each Consume call opens its own stream.
class SidecarClient {
 public:
  // address: "unix:///abs/path.sock" or "host:port".
  explicit SidecarClient(const std::string& address);
  explicit SidecarClient(std::shared_ptr<grpc::Channel> channel);

  // KAFKA_SIDECAR_ADDRESS, else unix:///var/run/kafka-sidecar/sidecar.sock.
  static std::string DefaultAddress();

  // Subscribes and calls `handler` for each message until the sidecar
  // drains, `stop` becomes true, or the stream fails. On draining or stop
  // the message in the handler is finished and acked, pending acks are
  // sent, the job's side of the stream is closed, and Consume returns once
  // the sidecar has committed and ended the call. `stop` may be set from a
  // signal handler.
  ConsumeResult Consume(const SubscribeOptions& options, const MessageHandler& handler,
                        const std::atomic<bool>& stop, const EventHandler& on_event = nullptr,
                        const ConsumeTuning& tuning = {});

  // Produces `records` to `topic`. Returns one result per record in order;
  // a record the broker rejected has its own error while the call is OK.
  // The call fails as a whole (for example NOT_FOUND for an unknown
  // connection, UNAVAILABLE when the sidecar is unreachable) with a status.
  absl::StatusOr<std::vector<RecordResult>> Produce(const std::string& topic,
                                                    const std::vector<ProduceRecord>& records,
                                                    const ProduceOptions& options = {});

  // Tests a connection of the sidecar ("" is its default) with a metadata
  // request.
  absl::StatusOr<kafkasidecar::v1::ConnectionInfo> CheckConnection(
      const std::string& connection_id, std::chrono::milliseconds timeout);

  const std::string& address() const { return address_; }

 private:
  std::string address_;  // for error messages; "" when built from a channel
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<kafkasidecar::v1::KafkaSidecar::Stub> stub_;
};

// Converts a gRPC status into the equivalent absl::Status; both use the
// same canonical codes.
absl::Status ToAbslStatus(const grpc::Status& status);

}  // namespace kafka_sidecar
