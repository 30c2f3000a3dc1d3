#include "kafka/rdkafka_consumer.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kafka/client_factory.h"
#include "logging/logging.h"

namespace kafkasidecar::kafka {
namespace {

std::shared_ptr<spdlog::logger> KafkaLogger() { return logging::Get(logging::kConsume); }

int TimeoutMs(std::chrono::milliseconds timeout) {
  return static_cast<int>(std::clamp<int64_t>(timeout.count(), 0, 24LL * 3600 * 1000));
}

PartitionListPtr MakePartitionList(const std::vector<TopicPartition>& partitions) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const TopicPartition& partition : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), partition.topic.c_str(), partition.partition);
  }
  return list;
}

PartitionListPtr MakeOffsetList(const std::vector<TopicPartitionOffset>& offsets) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const TopicPartitionOffset& entry : offsets) {
    rd_kafka_topic_partition_t* added = rd_kafka_topic_partition_list_add(
        list.get(), entry.partition.topic.c_str(), entry.partition.partition);
    added->offset = entry.offset;
  }
  return list;
}

std::vector<TopicPartition> ToPartitions(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> partitions;
  if (list == nullptr) return partitions;
  partitions.reserve(list->cnt);
  for (int i = 0; i < list->cnt; ++i) {
    partitions.push_back({list->elems[i].topic, list->elems[i].partition});
  }
  return partitions;
}

std::vector<TopicPartitionOffset> ToOffsets(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartitionOffset> offsets;
  if (list == nullptr) return offsets;
  offsets.reserve(list->cnt);
  for (int i = 0; i < list->cnt; ++i) {
    offsets.push_back({{list->elems[i].topic, list->elems[i].partition}, list->elems[i].offset});
  }
  return offsets;
}

// The partitions of `list` whose per-partition error is set, with the error.
std::string PartitionErrors(const rd_kafka_topic_partition_list_t* list) {
  std::vector<std::string> failed;
  if (list == nullptr) return "";
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& element = list->elems[i];
    if (element.err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    failed.push_back(absl::StrCat(element.topic, "/", element.partition, ": ",
                                  rd_kafka_err2str(element.err)));
  }
  return absl::StrJoin(failed, "; ");
}

std::vector<TopicPartitionOffset> FailedOffsets(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartitionOffset> failed;
  if (list == nullptr) return failed;
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& element = list->elems[i];
    if (element.err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    failed.push_back({{element.topic, element.partition}, element.offset});
  }
  return failed;
}

class RdKafkaClientFactory final : public ClientFactory {
 public:
  absl::StatusOr<std::unique_ptr<Consumer>> CreateConsumer(const Connection& connection,
                                                           const ConsumerOptions& options) override {
    absl::StatusOr<std::unique_ptr<RdKafkaConsumer>> consumer =
        RdKafkaConsumer::Create(connection, options);
    if (!consumer.ok()) return consumer.status();
    return std::unique_ptr<Consumer>(std::move(*consumer));
  }
};

}  // namespace

std::shared_ptr<ClientFactory> MakeRdKafkaClientFactory() {
  return std::make_shared<RdKafkaClientFactory>();
}

std::map<std::string, std::string> ConsumerProperties(const Connection& connection,
                                                      const ConsumerOptions& options) {
  std::map<std::string, std::string> properties = connection.properties;
  properties.emplace("partition.assignment.strategy", options.partition_assignment_strategy);
  // librdkafka prefetches up to 64 MiB per partition by default (2.0.2).
  // The session keeps its own bounded backlog, so a smaller prefetch bounds
  // memory when the job stops acking. A connection property may raise it.
  properties.emplace("queued.max.messages.kbytes", "8192");
  properties["group.id"] = options.group_id;
  // Offsets are committed explicitly, and only for acked messages.
  properties["enable.auto.commit"] = "false";
  properties["enable.auto.offset.store"] = "false";
  properties["auto.offset.reset"] = options.auto_offset_reset;
  properties["enable.partition.eof"] = "false";
  return properties;
}

ConsumerErrorKind ClassifyConsumerError(rd_kafka_resp_err_t code) {
  switch (code) {
    case RD_KAFKA_RESP_ERR__FATAL:
      return ConsumerErrorKind::kFatal;

    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return ConsumerErrorKind::kTopicNotFound;

    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      return ConsumerErrorKind::kTopicAuthorization;
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
      return ConsumerErrorKind::kGroupAuthorization;

    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__SSL:
      return ConsumerErrorKind::kAuthentication;

    // With auto.offset.reset=error librdkafka reports a partition without a
    // valid committed offset this way instead of choosing a start offset.
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
      return ConsumerErrorKind::kNoOffset;

    // librdkafka reconnects, refreshes metadata and rejoins by itself.
    // _MAX_POLL_EXCEEDED also ends in a lost assignment, which the
    // rebalance callback reports.
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__FAIL:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
      return ConsumerErrorKind::kTransient;

    default:
      return ConsumerErrorKind::kOther;
  }
}

Message ConvertMessage(const rd_kafka_message_t& record) {
  Message message;
  message.partition.topic = record.rkt != nullptr ? rd_kafka_topic_name(record.rkt) : "";
  message.partition.partition = record.partition;
  message.offset = record.offset;

  rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const int64_t timestamp = rd_kafka_message_timestamp(&record, &timestamp_type);
  message.timestamp_ms = timestamp_type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : timestamp;

  // librdkafka passes a null key or value as a null pointer, and an empty
  // one as a non-null pointer with length 0.
  if (record.key != nullptr) {
    message.key.emplace(static_cast<const char*>(record.key), record.key_len);
  }
  if (record.payload != nullptr) {
    message.value.emplace(static_cast<const char*>(record.payload), record.len);
  }

  // The headers belong to the message; they are not destroyed here.
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&record, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t index = 0;
         rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++index) {
      Header header;
      header.name = name;
      if (value != nullptr) header.value.emplace(static_cast<const char*>(value), size);
      message.headers.push_back(std::move(header));
    }
  }
  return message;
}

RdKafkaConsumer::RdKafkaConsumer(ConsumerOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<RdKafkaConsumer>> RdKafkaConsumer::Create(const Connection& connection,
                                                                        ConsumerOptions options) {
  absl::StatusOr<ConfPtr> conf = MakeConf(ConsumerProperties(connection, options));
  if (!conf.ok()) return conf.status();

  std::unique_ptr<RdKafkaConsumer> consumer(new RdKafkaConsumer(std::move(options)));
  rd_kafka_conf_set_opaque(conf->get(), consumer.get());
  rd_kafka_conf_set_rebalance_cb(conf->get(), &RdKafkaConsumer::RebalanceCallback);
  rd_kafka_conf_set_offset_commit_cb(conf->get(), &RdKafkaConsumer::CommitCallback);
  rd_kafka_conf_set_error_cb(conf->get(), &RdKafkaConsumer::ErrorCallback);
  // MakeConf already routed librdkafka's own log lines to spdlog.

  std::array<char, 512> reason{};
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), reason.data(), reason.size());
  if (handle == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("creating the Kafka consumer for group \"",
                                                   consumer->options_.group_id, "\" on ",
                                                   connection.Describe(), " failed: ", reason.data()));
  }
  // rd_kafka_new took ownership of the configuration.
  conf->release();
  consumer->handle_.reset(handle);

  // Serve the main queue (errors, commit results) from rd_kafka_consumer_poll.
  rd_kafka_poll_set_consumer(handle);
  consumer->consumer_queue_.reset(rd_kafka_queue_get_consumer(handle));
  return consumer;
}

RdKafkaConsumer::~RdKafkaConsumer() {
  consumer_queue_.reset();
  if (handle_ != nullptr && close_started_ && !closed_) {
    // Close timed out: do not leave the group a second time, which
    // rd_kafka_destroy would otherwise wait for.
    rd_kafka_destroy_flags(handle_.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }
}

absl::Status RdKafkaConsumer::Subscribe(const std::vector<std::string>& topics) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const std::string& topic : topics) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  const rd_kafka_resp_err_t code = rd_kafka_subscribe(handle_.get(), list.get());
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InvalidArgumentError(absl::StrCat("subscribing group \"", options_.group_id,
                                                   "\" to topics ", absl::StrJoin(topics, ", "),
                                                   " failed: ", rd_kafka_err2str(code)));
  }
  return absl::OkStatus();
}

PollResult RdKafkaConsumer::Poll(std::chrono::milliseconds timeout) {
  auto take_pending_error = [this]() -> std::optional<ConsumerError> {
    std::lock_guard<std::mutex> lock(errors_mu_);
    if (pending_errors_.empty()) return std::nullopt;
    ConsumerError error = std::move(pending_errors_.front());
    pending_errors_.pop_front();
    return error;
  };

  PollResult result;
  result.error = take_pending_error();
  if (result.error) return result;

  MessagePtr record(rd_kafka_consumer_poll(handle_.get(), TimeoutMs(timeout)));
  if (record == nullptr) {
    // A timeout, a wakeup, or only callbacks were served; the error
    // callback may have queued something.
    result.error = take_pending_error();
    return result;
  }
  if (record->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    result.message = ConvertMessage(*record);
    return result;
  }
  // enable.partition.eof is off, so this only appears if a connection
  // property turned it on; it is not an error.
  if (record->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return result;

  const std::string topic = record->rkt != nullptr ? rd_kafka_topic_name(record->rkt) : "";
  result.error = MakeError(record->err, topic, record->partition, rd_kafka_message_errstr(record.get()));
  return result;
}

void RdKafkaConsumer::Wakeup() { rd_kafka_queue_yield(consumer_queue_.get()); }

absl::Status RdKafkaConsumer::Pause(const std::vector<TopicPartition>& partitions) {
  PartitionListPtr list = MakePartitionList(partitions);
  const rd_kafka_resp_err_t code = rd_kafka_pause_partitions(handle_.get(), list.get());
  std::string failed = PartitionErrors(list.get());
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR || !failed.empty()) {
    return absl::InternalError(absl::StrCat("pausing ", ToString(partitions), " failed: ",
                                            rd_kafka_err2str(code), " ", failed));
  }
  return absl::OkStatus();
}

absl::Status RdKafkaConsumer::Resume(const std::vector<TopicPartition>& partitions) {
  PartitionListPtr list = MakePartitionList(partitions);
  const rd_kafka_resp_err_t code = rd_kafka_resume_partitions(handle_.get(), list.get());
  std::string failed = PartitionErrors(list.get());
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR || !failed.empty()) {
    return absl::InternalError(absl::StrCat("resuming ", ToString(partitions), " failed: ",
                                            rd_kafka_err2str(code), " ", failed));
  }
  return absl::OkStatus();
}

bool RdKafkaConsumer::Cooperative() const {
  return std::strcmp(rd_kafka_rebalance_protocol(handle_.get()), "COOPERATIVE") == 0;
}

absl::Status RdKafkaConsumer::Assign(const std::vector<TopicPartition>& partitions) {
  assignment_changed_ = true;
  PartitionListPtr list = MakePartitionList(partitions);
  if (Cooperative()) {
    ErrorPtr error(rd_kafka_incremental_assign(handle_.get(), list.get()));
    if (error != nullptr) {
      return absl::InternalError(absl::StrCat("assigning ", ToString(partitions),
                                              " failed: ", rd_kafka_error_string(error.get())));
    }
    return absl::OkStatus();
  }
  const rd_kafka_resp_err_t code = rd_kafka_assign(handle_.get(), list.get());
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError(
        absl::StrCat("assigning ", ToString(partitions), " failed: ", rd_kafka_err2str(code)));
  }
  return absl::OkStatus();
}

absl::Status RdKafkaConsumer::Unassign(const std::vector<TopicPartition>& partitions) {
  assignment_changed_ = true;
  if (Cooperative()) {
    PartitionListPtr list = MakePartitionList(partitions);
    ErrorPtr error(rd_kafka_incremental_unassign(handle_.get(), list.get()));
    if (error != nullptr) {
      return absl::InternalError(absl::StrCat("unassigning ", ToString(partitions),
                                              " failed: ", rd_kafka_error_string(error.get())));
    }
    return absl::OkStatus();
  }
  // An eager revoke always covers the whole assignment.
  const rd_kafka_resp_err_t code = rd_kafka_assign(handle_.get(), nullptr);
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError(
        absl::StrCat("unassigning ", ToString(partitions), " failed: ", rd_kafka_err2str(code)));
  }
  return absl::OkStatus();
}

absl::Status RdKafkaConsumer::CommitSync(const std::vector<TopicPartitionOffset>& offsets,
                                         std::chrono::milliseconds timeout) {
  PartitionListPtr list = MakeOffsetList(offsets);
  // A private queue receives the result, so the wait is bounded and other
  // events stay on the consumer queue.
  QueuePtr queue(rd_kafka_queue_new(handle_.get()));
  rd_kafka_resp_err_t code =
      rd_kafka_commit_queue(handle_.get(), list.get(), queue.get(), nullptr, nullptr);
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError(absl::StrCat("committing ", ToString(offsets), " for group \"",
                                            options_.group_id, "\" failed: ", rd_kafka_err2str(code)));
  }
  EventPtr event(rd_kafka_queue_poll(queue.get(), TimeoutMs(timeout)));
  if (event == nullptr) {
    return absl::DeadlineExceededError(
        absl::StrCat("committing ", ToString(offsets), " for group \"", options_.group_id,
                     "\" got no answer within ", timeout.count(), " ms"));
  }
  code = rd_kafka_event_error(event.get());
  const std::string failed = PartitionErrors(rd_kafka_event_topic_partition_list(event.get()));
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR || !failed.empty()) {
    const char* text = code != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_event_error_string(event.get())
                                                          : "partition errors";
    return absl::UnavailableError(absl::StrCat("committing ", ToString(offsets), " for group \"",
                                               options_.group_id, "\" failed: ", text, " ", failed));
  }
  return absl::OkStatus();
}

absl::Status RdKafkaConsumer::CommitAsync(const std::vector<TopicPartitionOffset>& offsets) {
  PartitionListPtr list = MakeOffsetList(offsets);
  const rd_kafka_resp_err_t code = rd_kafka_commit(handle_.get(), list.get(), /*async=*/1);
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError(absl::StrCat("committing ", ToString(offsets), " for group \"",
                                            options_.group_id, "\" failed: ", rd_kafka_err2str(code)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TopicPartitionOffset>> RdKafkaConsumer::Committed(
    const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) {
  PartitionListPtr list = MakePartitionList(partitions);
  const rd_kafka_resp_err_t code = rd_kafka_committed(handle_.get(), list.get(), TimeoutMs(timeout));
  const std::string failed = PartitionErrors(list.get());
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR || !failed.empty()) {
    return absl::UnavailableError(absl::StrCat("reading committed offsets of group \"",
                                               options_.group_id, "\" for ", ToString(partitions),
                                               " failed: ", rd_kafka_err2str(code), " ", failed));
  }
  return ToOffsets(list.get());
}

absl::Status RdKafkaConsumer::Close(std::chrono::milliseconds timeout) {
  if (close_started_) return absl::OkStatus();
  close_started_ = true;

  // rd_kafka_consumer_close_queue leaves the group in the background and
  // posts the final revoke to `queue`. Serving that queue here bounds the
  // wait, which rd_kafka_consumer_close cannot do.
  QueuePtr queue(rd_kafka_queue_new(handle_.get()));
  ErrorPtr error(rd_kafka_consumer_close_queue(handle_.get(), queue.get()));
  if (error != nullptr) {
    return absl::InternalError(absl::StrCat("closing the consumer of group \"", options_.group_id,
                                            "\" failed: ", rd_kafka_error_string(error.get())));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!rd_kafka_consumer_closed(handle_.get())) {
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (remaining.count() <= 0) {
      return absl::DeadlineExceededError(absl::StrCat("leaving consumer group \"", options_.group_id,
                                                      "\" did not finish within ", timeout.count(),
                                                      " ms"));
    }
    EventPtr event(rd_kafka_queue_poll(queue.get(), TimeoutMs(std::min(remaining, std::chrono::milliseconds(100)))));
    if (event == nullptr) continue;
    switch (rd_kafka_event_type(event.get())) {
      case RD_KAFKA_EVENT_REBALANCE:
        DispatchRebalance(rd_kafka_event_error(event.get()),
                          rd_kafka_event_topic_partition_list(event.get()));
        break;
      case RD_KAFKA_EVENT_ERROR:
        KafkaLogger()->warn("consumer of group \"{}\" reported an error while closing: {}",
                            options_.group_id, rd_kafka_event_error_string(event.get()));
        break;
      default:
        break;
    }
  }
  closed_ = true;
  return absl::OkStatus();
}

void RdKafkaConsumer::DispatchRebalance(rd_kafka_resp_err_t code,
                                        const rd_kafka_topic_partition_list_t* partitions) {
  RebalanceEvent event;
  event.partitions = ToPartitions(partitions);
  if (code == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    event.type = RebalanceEvent::Type::kAssign;
  } else if (code == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    event.type = rd_kafka_assignment_lost(handle_.get()) ? RebalanceEvent::Type::kLost
                                                         : RebalanceEvent::Type::kRevoke;
  } else {
    // A failed rebalance: librdkafka expects the assignment to be dropped,
    // and the group generation it belonged to is gone.
    event.type = RebalanceEvent::Type::kLost;
    event.reason = rd_kafka_err2str(code);
  }

  assignment_changed_ = false;
  if (options_.on_rebalance) options_.on_rebalance(event);
  if (assignment_changed_) return;

  // The handler did not apply the change; librdkafka would otherwise wait
  // for it forever.
  absl::Status status = event.type == RebalanceEvent::Type::kAssign ? Assign(event.partitions)
                                                                     : Unassign(event.partitions);
  if (!status.ok()) {
    KafkaLogger()->error("consumer of group \"{}\": {}", options_.group_id, std::string(status.message()));
  }
}

void RdKafkaConsumer::RebalanceCallback(rd_kafka_t* /*handle*/, rd_kafka_resp_err_t code,
                                        rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  static_cast<RdKafkaConsumer*>(opaque)->DispatchRebalance(code, partitions);
}

void RdKafkaConsumer::CommitCallback(rd_kafka_t* /*handle*/, rd_kafka_resp_err_t code,
                                     rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  auto* self = static_cast<RdKafkaConsumer*>(opaque);
  if (!self->options_.on_commit_result) return;
  // _NO_OFFSET: there was nothing to commit, which is no failure.
  if (code == RD_KAFKA_RESP_ERR__NO_OFFSET) return;

  std::vector<TopicPartitionOffset> failed = FailedOffsets(offsets);
  if (code == RD_KAFKA_RESP_ERR_NO_ERROR && failed.empty()) {
    self->options_.on_commit_result(absl::OkStatus(), ToOffsets(offsets));
    return;
  }
  if (failed.empty()) failed = ToOffsets(offsets);
  const std::string text = code != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2str(code)
                                                              : PartitionErrors(offsets);
  self->options_.on_commit_result(absl::UnavailableError(text), failed);
}

void RdKafkaConsumer::ErrorCallback(rd_kafka_t* /*handle*/, int code, const char* reason,
                                    void* opaque) {
  auto* self = static_cast<RdKafkaConsumer*>(opaque);
  ConsumerError error = self->MakeError(static_cast<rd_kafka_resp_err_t>(code), "", -1, reason);
  std::lock_guard<std::mutex> lock(self->errors_mu_);
  self->pending_errors_.push_back(std::move(error));
}

ConsumerError RdKafkaConsumer::MakeError(rd_kafka_resp_err_t code, std::string topic,
                                         int32_t partition, std::string text) const {
  ConsumerError error;
  error.kind = ClassifyConsumerError(code);
  error.code = rd_kafka_err2name(code);
  error.topic = std::move(topic);
  error.partition = partition;
  error.message = std::move(text);
  if (code == RD_KAFKA_RESP_ERR__FATAL && handle_ != nullptr) {
    // The error code is only _FATAL; rd_kafka_fatal_error returns the cause.
    std::array<char, 512> cause{};
    const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(handle_.get(), cause.data(), cause.size());
    if (fatal != RD_KAFKA_RESP_ERR_NO_ERROR) {
      error.code = rd_kafka_err2name(fatal);
      error.message = cause.data();
    }
  }
  return error;
}

}  // namespace kafkasidecar::kafka
