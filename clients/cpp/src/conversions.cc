#include "conversions.h"

#include "absl/strings/str_cat.h"

namespace kafka_sidecar::internal {

namespace v1 = kafkasidecar::v1;

Message FromProto(const v1::Message& message) {
  Message out;
  out.delivery_id = message.delivery_id();
  out.topic = message.topic();
  out.partition = message.partition();
  out.offset = message.offset();
  out.timestamp_ms = message.timestamp_ms();
  if (message.has_key()) out.key = message.key();
  if (message.has_value()) out.value = message.value();
  out.headers.reserve(message.headers_size());
  for (const v1::Header& header : message.headers()) {
    Header copy{header.name(), std::nullopt};
    if (header.has_value()) copy.value = header.value();
    out.headers.push_back(std::move(copy));
  }
  // The sidecar always sets attempt; 0 would only come from an older peer.
  out.attempt = message.attempt() == 0 ? 1 : message.attempt();
  return out;
}

StreamEvent FromProto(const v1::Event& event) {
  StreamEvent out;
  out.type = event.type();
  out.detail = event.detail();
  for (const v1::TopicPartition& partition : event.partitions()) {
    out.partitions.emplace_back(partition.topic(), partition.partition());
  }
  return out;
}

namespace {

v1::AutoOffsetReset ToProto(AutoOffsetReset reset) {
  switch (reset) {
    case AutoOffsetReset::kEarliest:
      return v1::AUTO_OFFSET_RESET_EARLIEST;
    case AutoOffsetReset::kLatest:
      return v1::AUTO_OFFSET_RESET_LATEST;
    case AutoOffsetReset::kNone:
      return v1::AUTO_OFFSET_RESET_NONE;
  }
  return v1::AUTO_OFFSET_RESET_UNSPECIFIED;
}

v1::OnError ToProto(OnError on_error) {
  switch (on_error) {
    case OnError::kContinue:
      return v1::ON_ERROR_CONTINUE;
    case OnError::kRetry:
      return v1::ON_ERROR_RETRY;
    case OnError::kStop:
      return v1::ON_ERROR_STOP;
  }
  return v1::ON_ERROR_UNSPECIFIED;
}

v1::CommitStrategy ToProto(CommitStrategy strategy) {
  switch (strategy) {
    case CommitStrategy::kPerMessage:
      return v1::COMMIT_STRATEGY_PER_MESSAGE;
    case CommitStrategy::kBatch:
      return v1::COMMIT_STRATEGY_BATCH;
    case CommitStrategy::kPeriodic:
      return v1::COMMIT_STRATEGY_PERIODIC;
  }
  return v1::COMMIT_STRATEGY_UNSPECIFIED;
}

}  // namespace

v1::Subscribe ToProto(const SubscribeOptions& options) {
  v1::Subscribe subscribe;
  subscribe.set_connection_id(options.connection_id);
  for (const std::string& topic : options.topics) subscribe.add_topics(topic);
  subscribe.set_group_id(options.group_id);
  subscribe.set_auto_offset_reset(ToProto(options.auto_offset_reset));
  subscribe.set_on_error(ToProto(options.on_error));
  if (options.max_retries.has_value()) subscribe.set_max_retries(*options.max_retries);
  for (uint32_t delay_ms : options.retry_backoff_ms) subscribe.add_retry_backoff_ms(delay_ms);
  subscribe.set_max_in_flight(options.max_in_flight);
  subscribe.set_commit_strategy(ToProto(options.commit_strategy));
  subscribe.set_commit_batch_size(options.commit_batch_size);
  subscribe.set_commit_interval_ms(options.commit_interval_ms);
  subscribe.set_shutdown_drain_timeout_s(options.shutdown_drain_timeout_s);
  subscribe.set_client_name(options.client_name);
  subscribe.set_dead_letter_topic(options.dead_letter_topic);
  return subscribe;
}

v1::ProduceRecord ToProto(const ProduceRecord& record) {
  v1::ProduceRecord out;
  if (record.key.has_value()) out.set_key(*record.key);
  if (record.value.has_value()) out.set_value(*record.value);
  for (const Header& header : record.headers) {
    v1::Header* added = out.add_headers();
    added->set_name(header.name);
    if (header.value.has_value()) added->set_value(*header.value);
  }
  if (record.partition.has_value()) out.set_partition(*record.partition);
  if (record.timestamp_ms.has_value()) out.set_timestamp_ms(*record.timestamp_ms);
  return out;
}

v1::Ack MakeAck(uint64_t delivery_id, const absl::Status& result) {
  v1::Ack ack;
  ack.set_delivery_id(delivery_id);
  if (result.ok()) {
    ack.set_status(v1::Ack::STATUS_SUCCESS);
    return ack;
  }
  ack.set_status(v1::Ack::STATUS_ERROR);
  // The sidecar logs this reason, so it must never be empty.
  ack.set_error(result.message().empty() ? absl::StatusCodeToString(result.code())
                                         : std::string(result.message()));
  return ack;
}

absl::Status RpcStatus(const grpc::Status& status, const std::string& rpc,
                       const std::string& address) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  std::string message = status.error_message();
  if (message.empty()) message = absl::StatusCodeToString(code);

  const std::string where = address.empty() ? "the channel" : address;
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return absl::Status(code, absl::StrCat(rpc, " via sidecar at ", where, " failed: ", message,
                                             ". Check that the sidecar runs and listens there "
                                             "(KAFKA_SIDECAR_ADDRESS)."));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return absl::Status(code,
                          absl::StrCat(rpc, " via sidecar at ", where, " failed: ", message));
    default:
      return absl::Status(code, message);
  }
}

}  // namespace kafka_sidecar::internal
