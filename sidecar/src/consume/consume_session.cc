#include "consume/consume_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "logging/summary.h"

namespace kafkasidecar {
namespace {

using Clock = std::chrono::steady_clock;

// Maximum wait of one Poll when nothing else is due. Acks and shutdown
// requests wake the poll earlier through Consumer::Wakeup.
constexpr std::chrono::milliseconds kIdlePoll(200);
// Minimum spacing of commit retries after an asynchronous commit failed.
constexpr std::chrono::seconds kCommitRetryDelay(1);
// An asynchronous commit whose result has not arrived after this long no
// longer holds back the next one.
constexpr std::chrono::seconds kCommitResultWait(30);
// Job errors of a stream logged at warning one by one; after these, one
// line per rate-limiter interval reports how many more there were.
constexpr uint64_t kJobErrorWarningsInFull = 5;
// A partition whose own in-flight bound is reached pauses when this many of
// its messages wait in the backlog (at least max_in_flight_per_partition).
constexpr size_t kPartitionBacklogMessages = 100;

int64_t SteadyNanos(Clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

size_t MessageBytes(const kafka::Message& message) {
  size_t bytes = sizeof(kafka::Message) + message.partition.topic.size();
  if (message.key) bytes += message.key->size();
  if (message.value) bytes += message.value->size();
  for (const kafka::Header& header : message.headers) {
    bytes += sizeof(kafka::Header) + header.name.size() + (header.value ? header.value->size() : 0);
  }
  return bytes;
}

int64_t UnixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The dead-letter record of `message`: key, value and headers as received,
// then the dlq.* headers that record where it came from and why it failed.
v1::ProduceRecord DeadLetterRecord(const kafka::Message& message, const std::string& error,
                                   uint32_t attempts) {
  v1::ProduceRecord record;
  if (message.key) record.set_key(*message.key);
  if (message.value) record.set_value(*message.value);
  for (const kafka::Header& header : message.headers) {
    v1::Header* added = record.add_headers();
    added->set_name(header.name);
    if (header.value) added->set_value(*header.value);
  }
  const auto add = [&record](const char* name, std::string value) {
    v1::Header* added = record.add_headers();
    added->set_name(name);
    added->set_value(std::move(value));
  };
  add(kDeadLetterTopicHeader, message.partition.topic);
  add(kDeadLetterPartitionHeader, absl::StrCat(message.partition.partition));
  add(kDeadLetterOffsetHeader, absl::StrCat(message.offset));
  add(kDeadLetterOriginalTimestampHeader, absl::StrCat(message.timestamp_ms));
  add(kDeadLetterErrorHeader, error);
  add(kDeadLetterAttemptsHeader, absl::StrCat(attempts));
  add(kDeadLetterTimestampHeader, absl::StrCat(UnixMillisNow()));
  return record;
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return absl::StrCat("code ", static_cast<int>(code));
  }
}

std::string StrategyName(v1::CommitStrategy strategy) {
  switch (strategy) {
    case v1::COMMIT_STRATEGY_BATCH:
      return "batch";
    case v1::COMMIT_STRATEGY_PERIODIC:
      return "periodic";
    default:
      return "per_message";
  }
}

std::string OnErrorName(v1::OnError on_error) {
  switch (on_error) {
    case v1::ON_ERROR_RETRY:
      return "retry";
    case v1::ON_ERROR_STOP:
      return "stop";
    default:
      return "continue";
  }
}

v1::Message ToProto(const kafka::Message& message, uint64_t delivery_id, uint32_t attempt) {
  v1::Message out;
  out.set_delivery_id(delivery_id);
  out.set_topic(message.partition.topic);
  out.set_partition(message.partition.partition);
  out.set_offset(message.offset);
  out.set_timestamp_ms(message.timestamp_ms);
  if (message.key) out.set_key(*message.key);
  if (message.value) out.set_value(*message.value);
  for (const kafka::Header& header : message.headers) {
    v1::Header* added = out.add_headers();
    added->set_name(header.name);
    if (header.value) added->set_value(*header.value);
  }
  out.set_attempt(attempt);
  return out;
}

std::string LogPrefix(const SessionSettings& settings) {
  std::string prefix = absl::StrCat("stream ", settings.stream_id, " group \"", settings.group_id, "\"");
  if (!settings.client_name.empty()) absl::StrAppend(&prefix, " client \"", settings.client_name, "\"");
  return prefix;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  std::string message(status.message());
  if (message.empty()) message = absl::StatusCodeToString(status.code());
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message);
}

ConsumeSession::ConsumeSession(SessionSettings settings, std::shared_ptr<const Connection> connection,
                               std::shared_ptr<kafka::ClientFactory> factory, StreamOutput* output,
                               ClosedCallback on_closed,
                               std::shared_ptr<DeadLetterProducer> dead_letters)
    : settings_(std::move(settings)),
      connection_(std::move(connection)),
      factory_(std::move(factory)),
      dead_letter_producer_(std::move(dead_letters)),
      dead_letter_mailbox_(std::make_shared<DeadLetterMailbox>()),
      output_(output),
      on_closed_(std::move(on_closed)),
      log_prefix_(LogPrefix(settings_)),
      logger_(ConsumeLogger()) {}

ConsumeSession::~ConsumeSession() {
  ForceClose();
  if (!thread_.joinable()) return;
  if (thread_.get_id() == std::this_thread::get_id()) {
    // Only reachable if the owner were destroyed from inside EndStream on
    // the poll thread. gRPC runs OnDone on its own threads, so the reactor
    // never does that.
    logger_->error("{}: session destroyed on its own poll thread; detaching it", log_prefix_);
    thread_.detach();
    return;
  }
  thread_.join();
}

void ConsumeSession::Start() {
  {
    std::lock_guard<std::mutex> lock(dead_letter_mailbox_->mu);
    dead_letter_mailbox_->session = this;
  }
  MarkProgress();
  thread_ = std::thread([this] { Run(); });
}

std::optional<Clock::duration> ConsumeSession::LoopStall(Clock::time_point now) const {
  const int64_t mark = progress_ns_.load(std::memory_order_relaxed);
  if (mark == 0) return std::nullopt;
  return std::max(Clock::duration::zero(),
                  std::chrono::duration_cast<Clock::duration>(
                      std::chrono::nanoseconds(SteadyNanos(now) - mark)));
}

void ConsumeSession::MarkProgress() {
  progress_ns_.store(SteadyNanos(Clock::now()), std::memory_order_relaxed);
}

void ConsumeSession::OnDeadLetterResult(uint64_t id, const absl::Status& status) {
  std::lock_guard<std::mutex> lock(inbox_mu_);
  inbox_dead_letter_results_.emplace_back(id, status);
  inbox_cv_.notify_all();
  if (wakeup_target_ != nullptr) wakeup_target_->Wakeup();
}

// ---- Inbox (any thread) ----

void ConsumeSession::OnAcks(const v1::AckBatch& batch) {
  std::lock_guard<std::mutex> lock(inbox_mu_);
  inbox_acks_.insert(inbox_acks_.end(), batch.acks().begin(), batch.acks().end());
  inbox_cv_.notify_all();
  if (wakeup_target_ != nullptr) wakeup_target_->Wakeup();
}

void ConsumeSession::OnHalfClose() {
  std::lock_guard<std::mutex> lock(inbox_mu_);
  inbox_half_closed_ = true;
  inbox_cv_.notify_all();
  if (wakeup_target_ != nullptr) wakeup_target_->Wakeup();
}

void ConsumeSession::OnStreamBroken() {
  std::lock_guard<std::mutex> lock(inbox_mu_);
  inbox_broken_ = true;
  inbox_cv_.notify_all();
  if (wakeup_target_ != nullptr) wakeup_target_->Wakeup();
}

void ConsumeSession::EndWithStatus(grpc::Status status) {
  std::lock_guard<std::mutex> lock(inbox_mu_);
  if (!inbox_end_) inbox_end_ = std::move(status);
  inbox_cv_.notify_all();
  if (wakeup_target_ != nullptr) wakeup_target_->Wakeup();
}

void ConsumeSession::BeginDrain() {
  std::lock_guard<std::mutex> lock(inbox_mu_);
  inbox_drain_ = true;
  inbox_cv_.notify_all();
  if (wakeup_target_ != nullptr) wakeup_target_->Wakeup();
}

void ConsumeSession::ForceClose() {
  std::lock_guard<std::mutex> lock(inbox_mu_);
  inbox_force_ = true;
  inbox_cv_.notify_all();
  if (wakeup_target_ != nullptr) wakeup_target_->Wakeup();
}

bool ConsumeSession::InboxHasWorkLocked() const {
  return !inbox_acks_.empty() || inbox_half_closed_ || inbox_broken_ || inbox_drain_ ||
         inbox_force_ || inbox_end_.has_value() || !inbox_dead_letter_results_.empty();
}

// ---- Poll thread ----

void ConsumeSession::Run() {
  started_ = Clock::now();
  next_summary_at_ = settings_.log_summary_interval;
  if (Open()) Loop();
  FinishStream();
}

bool ConsumeSession::Open() {
  if (!settings_.dead_letter_topic.empty()) {
    absl::Status exists = dead_letter_producer_->CheckTopic(
        *connection_, settings_.dead_letter_topic, settings_.dead_letter_check_timeout);
    if (!exists.ok()) {
      const std::string message =
          absl::StrCat("subscribe.dead_letter_topic \"", settings_.dead_letter_topic,
                       "\" cannot be used: ", exists.message(),
                       "; create the topic or fix subscribe.dead_letter_topic");
      logger_->error("{}: {}", log_prefix_, message);
      End(grpc::Status(static_cast<grpc::StatusCode>(exists.code()), message));
      return false;
    }
    MarkProgress();
  }

  kafka::ConsumerOptions options;
  options.group_id = settings_.group_id;
  options.auto_offset_reset = settings_.auto_offset_reset;
  options.on_rebalance = [this](const kafka::RebalanceEvent& event) { OnRebalance(event); };
  options.on_commit_result = [this](const absl::Status& status,
                                    const std::vector<kafka::TopicPartitionOffset>& offsets) {
    OnCommitResult(status, offsets);
  };

  absl::StatusOr<std::unique_ptr<kafka::Consumer>> consumer =
      factory_->CreateConsumer(*connection_, options);
  if (!consumer.ok()) {
    logger_->error("{}: creating the consumer failed: {}", log_prefix_, std::string(consumer.status().message()));
    End(ToGrpcStatus(consumer.status()));
    return false;
  }
  consumer_ = std::move(*consumer);
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    wakeup_target_ = consumer_.get();
  }

  absl::Status subscribed = consumer_->Subscribe(settings_.topics);
  if (!subscribed.ok()) {
    logger_->error("{}: {}", log_prefix_, std::string(subscribed.message()));
    End(ToGrpcStatus(subscribed));
    return false;
  }

  const std::string topics = absl::StrJoin(settings_.topics, ", ");
  logger_->info(
      "{}: subscribed to {} on {} (on_error={}, max_retries={}, max_in_flight={}, "
      "commit_strategy={}, auto_offset_reset={})",
      log_prefix_, topics, connection_->Describe(), OnErrorName(settings_.on_error),
      settings_.max_retries, settings_.max_in_flight, StrategyName(settings_.commit_strategy),
      settings_.auto_offset_reset);
  SendEvent(v1::Event::TYPE_SUBSCRIBED, {},
            absl::StrCat("group ", settings_.group_id, ", topics ", topics));
  next_periodic_commit_ = Clock::now() + settings_.commit_interval;
  return true;
}

void ConsumeSession::Loop() {
  while (true) {
    MarkProgress();
    TakeInbox();
    if (end_status_) return;

    if (drain_requested_ && !draining_) StartDraining();
    if (draining_ && Clock::now() >= drain_deadline_) {
      const size_t unacked = Unacked();
      End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                       absl::StrCat("sidecar shutting down: the job did not close the stream within "
                                    "shutdown_drain_timeout_s=",
                                    settings_.drain_timeout.count(), "; ", unacked,
                                    " unacked deliveries were not committed and will be "
                                    "delivered again")));
      return;
    }

    DeliverDueRetries();
    DeliverBacklog();
    UpdatePause();
    CommitIfDue();

    PollOnce();
    if (end_status_) return;
  }
}

void ConsumeSession::End(grpc::Status status) {
  if (!end_status_) end_status_ = std::move(status);
}

void ConsumeSession::FinishStream() {
  ending_ = true;
  MarkProgress();
  // A dead-letter write the broker acknowledges in time still gets its
  // offset into the final commit.
  if (!dead_letters_.empty()) WaitForDeadLetters(Clock::now() + settings_.commit_timeout);
  const uint64_t abandoned = Unacked();

  std::vector<kafka::TopicPartitionOffset> committed;
  if (consumer_ != nullptr) {
    MarkProgress();
    committed = CommitSync(nullptr);
    MarkProgress();
    // Leaving the group revokes the assignment through OnRebalance, which
    // commits nothing new now and sends no event.
    absl::Status closed = consumer_->Close(settings_.close_timeout);
    if (!closed.ok()) {
      logger_->warn("{}: {}; the broker removes the member after its session timeout", log_prefix_,
                    std::string(closed.message()));
    }
    {
      std::lock_guard<std::mutex> lock(inbox_mu_);
      wakeup_target_ = nullptr;
    }
    consumer_.reset();
  }
  {
    // Later dead-letter results have nowhere to go: their messages were not
    // committed and are delivered again.
    std::lock_guard<std::mutex> lock(dead_letter_mailbox_->mu);
    dead_letter_mailbox_->session = nullptr;
  }

  const grpc::Status status =
      end_status_ ? *end_status_
                  : grpc::Status(grpc::StatusCode::INTERNAL, "stream ended without a status");
  logger_->info("{}: stream ended with {}{}{}; final commit: {}; {}; unacked deliveries "
                "abandoned: {}",
                log_prefix_, CodeName(status.error_code()),
                status.error_message().empty() ? "" : ": ", status.error_message(),
                committed.empty() ? "nothing new" : kafka::ToString(committed), Summary(),
                abandoned);

  progress_ns_.store(0, std::memory_order_relaxed);
  if (on_closed_) on_closed_(abandoned);
  output_->EndStream(status);
}

void ConsumeSession::TakeInbox() {
  std::vector<v1::Ack> acks;
  bool half_closed = false;
  bool broken = false;
  bool drain = false;
  bool force = false;
  std::optional<grpc::Status> requested_end;
  std::vector<std::pair<uint64_t, absl::Status>> dead_letter_results;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    acks.swap(inbox_acks_);
    dead_letter_results.swap(inbox_dead_letter_results_);
    half_closed = std::exchange(inbox_half_closed_, false);
    broken = std::exchange(inbox_broken_, false);
    drain = std::exchange(inbox_drain_, false);
    force = std::exchange(inbox_force_, false);
    requested_end.swap(inbox_end_);
  }
  // Dead-letter results count even while the stream ends: an acknowledged
  // write lets the final commit pass its message.
  for (const auto& [id, status] : dead_letter_results) ApplyDeadLetterResult(id, status);
  if (end_status_) return;  // the stream is ending; acks are no longer applied

  // Acks first: everything acked before a half-close or a shutdown counts.
  for (const v1::Ack& ack : acks) {
    if (!ProcessAck(ack)) break;
  }
  if (requested_end) End(*requested_end);
  if (broken) End(grpc::Status(grpc::StatusCode::CANCELLED, "the job's side of the stream went away"));
  if (half_closed) End(grpc::Status::OK);
  if (drain) drain_requested_ = true;
  if (force) End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "sidecar shutting down"));
}

bool ConsumeSession::ProcessAck(const v1::Ack& ack) {
  const uint64_t id = ack.delivery_id();
  if (ack.status() != v1::Ack::STATUS_SUCCESS && ack.status() != v1::Ack::STATUS_ERROR) {
    const std::string status = v1::Ack::Status_IsValid(ack.status())
                                   ? v1::Ack::Status_Name(ack.status())
                                   : absl::StrCat(static_cast<int>(ack.status()));
    End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     absl::StrCat("ack for delivery_id ", id, " has status ", status,
                                  "; set STATUS_SUCCESS or STATUS_ERROR")));
    return false;
  }
  if (id == 0 || id > last_delivery_id_) {
    End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     absl::StrCat("ack names delivery_id ", id,
                                  ", which this stream never delivered (highest delivery_id so "
                                  "far: ",
                                  last_delivery_id_,
                                  "); ack with the delivery_id of a Message received on this "
                                  "stream")));
    return false;
  }

  auto found = in_flight_.find(id);
  if (found == in_flight_.end()) {
    ++dropped_acks_;
    logger_->debug(
        "{}: ignoring ack for delivery_id {}: already resolved, replaced by a redelivery, or its "
        "partition was revoked",
        log_prefix_, id);
    return true;
  }
  InFlight entry = std::move(found->second);
  in_flight_.erase(found);

  if (ack.status() == v1::Ack::STATUS_SUCCESS) {
    logger_->debug("{}: ack success for {} (delivery_id {})", log_prefix_,
                   kafka::ToString(entry.message->partition, entry.message->offset), id);
    Resolve(entry);
    return true;
  }
  return HandleJobError(std::move(entry), id, ack.error());
}

bool ConsumeSession::HandleJobError(InFlight entry, uint64_t delivery_id, const std::string& error) {
  ++job_errors_;
  const std::string where = kafka::ToString(entry.message->partition, entry.message->offset);
  const std::string reason = error.empty() ? "(the job gave no reason)" : error;
  const std::string moves_on =
      settings_.dead_letter_topic.empty()
          ? std::string("moves past it")
          : absl::StrCat("writes it to dead_letter_topic \"", settings_.dead_letter_topic, "\"");

  switch (settings_.on_error) {
    case v1::ON_ERROR_RETRY: {
      if (entry.attempt <= settings_.max_retries) {
        const std::chrono::milliseconds delay = RetryBackoff(settings_, entry.attempt);
        WarnJobError(spdlog::level::warn,
                     absl::StrCat("job reported an error for ", where, " (delivery_id ", delivery_id,
                                  ", attempt ", entry.attempt, "): ", reason, "; retrying in ",
                                  delay.count(), " ms (attempt ", entry.attempt + 1, " of ",
                                  settings_.max_retries + 1, ")"));
        ++entry.attempt;
        retries_.emplace(Clock::now() + delay, std::move(entry));
        return true;
      }
      WarnJobError(spdlog::level::err,
                   absl::StrCat("job reported an error for ", where, " (delivery_id ", delivery_id,
                                ", attempt ", entry.attempt, "): ", reason, "; giving up after ",
                                settings_.max_retries, " retries, on_error=retry ", moves_on));
      break;
    }

    case v1::ON_ERROR_STOP: {
      // The entry stays unresolved in the tracker, so the final commit of
      // its partition stops before it.
      const std::string message = absl::StrCat(
          "job reported an error for ", where, " (delivery_id ", delivery_id, "): ", reason,
          "; on_error=stop ended the stream, and no offset from ", where, " on is committed");
      logger_->critical("{}: {}", log_prefix_, message);
      End(grpc::Status(grpc::StatusCode::ABORTED, message));
      return false;
    }

    default:
      WarnJobError(spdlog::level::warn,
                   absl::StrCat("job reported an error for ", where, " (delivery_id ", delivery_id,
                                ", attempt ", entry.attempt, "): ", reason, "; on_error=continue ",
                                moves_on));
      break;
  }
  if (!settings_.dead_letter_topic.empty()) return SendToDeadLetter(std::move(entry), reason);
  Resolve(entry);
  return true;
}

void ConsumeSession::WarnJobError(spdlog::level::level_enum level, const std::string& text) {
  // The first errors of a stream are logged in full; after them one line
  // per interval counts the rest, whose detail stays at debug.
  if (job_error_warnings_ < kJobErrorWarningsInFull) {
    ++job_error_warnings_;
    logger_->log(level, "{}: {}", log_prefix_, text);
    return;
  }
  logger_->debug("{}: {}", log_prefix_, text);
  std::optional<uint64_t> suppressed = rate_limiter_.Allow("job error");
  if (!suppressed) return;
  ++job_error_warnings_;
  logger_->log(level, "{}: {} ({} more job errors since the last such line; {} in total, each at debug)",
               log_prefix_, text, *suppressed, job_errors_);
}

bool ConsumeSession::SendToDeadLetter(InFlight entry, const std::string& error) {
  const kafka::Message& message = *entry.message;
  const std::string where = kafka::ToString(message.partition, message.offset);
  const v1::ProduceRecord record = DeadLetterRecord(message, error, entry.attempt);
  const uint64_t id = ++last_dead_letter_id_;
  dead_letters_.emplace(id, PendingDeadLetter{std::move(entry), error});

  std::shared_ptr<DeadLetterMailbox> mailbox = dead_letter_mailbox_;
  absl::Status status = dead_letter_producer_->Send(
      *connection_, settings_.dead_letter_topic, record,
      [mailbox, id](const absl::Status& result) {
        std::lock_guard<std::mutex> lock(mailbox->mu);
        if (mailbox->session != nullptr) mailbox->session->OnDeadLetterResult(id, result);
      });
  if (status.ok()) {
    logger_->debug("{}: writing {} to dead_letter_topic \"{}\"", log_prefix_, where,
                   settings_.dead_letter_topic);
    return true;
  }
  ApplyDeadLetterResult(id, status);
  return false;
}

void ConsumeSession::ApplyDeadLetterResult(uint64_t id, const absl::Status& status) {
  auto found = dead_letters_.find(id);
  // Not found: the partition was revoked meanwhile, and its next owner
  // receives the message again.
  if (found == dead_letters_.end()) return;
  PendingDeadLetter pending = std::move(found->second);
  dead_letters_.erase(found);
  const kafka::Message& message = *pending.entry.message;
  const std::string where = kafka::ToString(message.partition, message.offset);

  if (status.ok()) {
    ++dead_lettered_;
    logger_->debug("{}: dead_letter_topic \"{}\" acknowledged {}", log_prefix_,
                   settings_.dead_letter_topic, where);
    Resolve(pending.entry);
    return;
  }
  // The offset stays unresolved, so no commit passes the message.
  const std::string text = absl::StrCat(
      "writing ", where, " to dead_letter_topic \"", settings_.dead_letter_topic, "\" on ",
      connection_->Describe(), " failed: ", status.message(), "; its offset was not committed and ",
      "the message is delivered again to the next consumer of the group; check that the topic "
      "exists and accepts writes");
  logger_->error("{}: {}", log_prefix_, text);
  End(grpc::Status(grpc::StatusCode::UNAVAILABLE, text));
}

void ConsumeSession::WaitForDeadLetters(Clock::time_point deadline) {
  while (!dead_letters_.empty()) {
    MarkProgress();
    std::vector<std::pair<uint64_t, absl::Status>> results;
    {
      std::unique_lock<std::mutex> lock(inbox_mu_);
      if (!inbox_cv_.wait_until(lock, deadline, [this] { return !inbox_dead_letter_results_.empty(); })) {
        break;
      }
      results.swap(inbox_dead_letter_results_);
    }
    for (const auto& [id, status] : results) ApplyDeadLetterResult(id, status);
  }
  if (!dead_letters_.empty()) {
    logger_->warn("{}: {} dead-letter writes were not acknowledged before the stream ended; their "
                  "offsets were not committed",
                  log_prefix_, dead_letters_.size());
  }
}

void ConsumeSession::Resolve(const InFlight& entry) {
  tracker_.Resolve(entry.message->partition, entry.message->offset);
  ++processed_;
  ++resolved_since_commit_;
  MaybeLogSummary();
}

void ConsumeSession::PollOnce() {
  kafka::PollResult result = consumer_->Poll(NextPollTimeout());
  if (result.error) HandleConsumerError(*result.error);
  // A message that arrives together with the stream's end is not delivered:
  // it was never acked, so Kafka delivers it again later.
  if (result.message && !end_status_) {
    HandleFetched(std::make_shared<const kafka::Message>(std::move(*result.message)));
  }
}

void ConsumeSession::HandleFetched(std::shared_ptr<const kafka::Message> message) {
  if (assigned_.count(message->partition) == 0) {
    // librdkafka already drops fetched messages of revoked partitions. This
    // check keeps the rule in one place: a partition's messages go out only
    // while it is assigned to this stream.
    logger_->debug("{}: dropping {}: partition not assigned to this stream", log_prefix_,
                   kafka::ToString(message->partition, message->offset));
    return;
  }
  if (draining_ || backlog_by_partition_.count(message->partition) > 0 || WindowFull() ||
      PartitionFull(message->partition)) {
    PushBacklog(std::move(message));
    return;
  }
  Deliver(std::move(message));
}

void ConsumeSession::HandleConsumerError(const kafka::ConsumerError& error) {
  const std::string where =
      error.topic.empty()
          ? std::string()
          : (error.partition >= 0 ? kafka::ToString({error.topic, error.partition})
                                  : error.topic);
  const std::string detail = absl::StrCat(error.code, ": ", error.message);

  switch (error.kind) {
    case kafka::ConsumerErrorKind::kFatal: {
      const std::string message =
          absl::StrCat("the Kafka consumer hit a fatal librdkafka error (", detail,
                       ") and cannot continue; open a new stream");
      logger_->critical("{}: {}", log_prefix_, message);
      End(grpc::Status(grpc::StatusCode::INTERNAL, message));
      return;
    }
    case kafka::ConsumerErrorKind::kTopicNotFound: {
      const std::string topic = error.topic.empty() ? absl::StrJoin(settings_.topics, ", ") : error.topic;
      const std::string message =
          absl::StrCat("topic \"", topic, "\" does not exist on ", connection_->Describe(), " (",
                       detail, "); create the topic or fix subscribe.topics");
      logger_->error("{}: {}", log_prefix_, message);
      End(grpc::Status(grpc::StatusCode::NOT_FOUND, message));
      return;
    }
    case kafka::ConsumerErrorKind::kTopicAuthorization: {
      const std::string message =
          absl::StrCat("not authorized to read topic \"", error.topic, "\" on ",
                       connection_->Describe(), " (", detail,
                       "); grant the user READ on the topic or fix subscribe.topics");
      logger_->error("{}: {}", log_prefix_, message);
      End(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, message));
      return;
    }
    case kafka::ConsumerErrorKind::kGroupAuthorization: {
      const std::string message =
          absl::StrCat("not authorized for consumer group \"", settings_.group_id, "\" on ",
                       connection_->Describe(), " (", detail,
                       "); grant the user READ on the group or fix subscribe.group_id");
      logger_->error("{}: {}", log_prefix_, message);
      End(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, message));
      return;
    }
    case kafka::ConsumerErrorKind::kAuthentication: {
      const std::string message = absl::StrCat("authentication with ", connection_->Describe(),
                                               " failed (", detail, "); check the credentials");
      logger_->error("{}: {}", log_prefix_, message);
      End(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, message));
      return;
    }
    case kafka::ConsumerErrorKind::kNoOffset: {
      const std::string message = absl::StrCat(
          where.empty() ? "a partition" : where, " has no valid committed offset for group \"",
          settings_.group_id, "\" and auto_offset_reset is none (", detail,
          "); commit a start offset for the group, or subscribe with AUTO_OFFSET_RESET_EARLIEST "
          "or AUTO_OFFSET_RESET_LATEST");
      logger_->error("{}: {}", log_prefix_, message);
      End(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, message));
      return;
    }
    case kafka::ConsumerErrorKind::kTransient:
    case kafka::ConsumerErrorKind::kOther: {
      std::optional<uint64_t> suppressed = rate_limiter_.Allow(error.code);
      if (!suppressed) return;
      logger_->warn("{}: Kafka consumer error on {}{}{}: {}; librdkafka keeps retrying{}",
                    log_prefix_, connection_->Describe(), where.empty() ? "" : " for ", where,
                    detail,
                    *suppressed == 0 ? std::string()
                                     : absl::StrCat(" (", *suppressed, " more like it not logged)"));
      return;
    }
  }
}

void ConsumeSession::Deliver(std::shared_ptr<const kafka::Message> message) {
  if (!tracker_.Delivered(message->partition, message->offset)) {
    // The offset was delivered already in this assignment (librdkafka
    // fetched it again, e.g. after an offset reset). Its first delivery
    // still decides its commit.
    ++skipped_duplicates_;
    if (std::optional<uint64_t> suppressed = rate_limiter_.Allow("duplicate offset")) {
      logger_->warn("{}: skipping {}: that offset was already delivered on this stream{}",
                    log_prefix_, kafka::ToString(message->partition, message->offset),
                    *suppressed == 0 ? std::string()
                                     : absl::StrCat(" (", *suppressed, " more like it not logged)"));
    }
    return;
  }
  ++delivered_;
  SendDelivery(std::move(message), 1);
}

void ConsumeSession::SendDelivery(std::shared_ptr<const kafka::Message> message, uint32_t attempt) {
  const uint64_t id = ++last_delivery_id_;
  logger_->debug("{}: delivering {} as delivery_id {} (attempt {})", log_prefix_,
                 kafka::ToString(message->partition, message->offset), id, attempt);
  output_->SendMessage(ToProto(*message, id, attempt));
  in_flight_.emplace(id, InFlight{std::move(message), attempt});
}

void ConsumeSession::DeliverDueRetries() {
  if (draining_) return;
  const auto now = Clock::now();
  while (!retries_.empty() && retries_.begin()->first <= now) {
    InFlight entry = std::move(retries_.begin()->second);
    retries_.erase(retries_.begin());
    ++redelivered_;
    SendDelivery(std::move(entry.message), entry.attempt);
  }
}

void ConsumeSession::PushBacklog(std::shared_ptr<const kafka::Message> message) {
  backlog_bytes_ += MessageBytes(*message);
  ++backlog_by_partition_[message->partition];
  backlog_.push_back(std::move(message));
}

void ConsumeSession::RemoveFromBacklogCounts(const kafka::Message& message) {
  backlog_bytes_ -= std::min(backlog_bytes_, MessageBytes(message));
  auto found = backlog_by_partition_.find(message.partition);
  if (found != backlog_by_partition_.end() && --found->second == 0) backlog_by_partition_.erase(found);
}

void ConsumeSession::DeliverBacklog() {
  if (draining_) return;
  if (settings_.max_in_flight_per_partition == 0) {
    while (!backlog_.empty() && !WindowFull()) {
      std::shared_ptr<const kafka::Message> message = std::move(backlog_.front());
      backlog_.pop_front();
      RemoveFromBacklogCounts(*message);
      Deliver(std::move(message));
    }
    return;
  }
  // With a bound per partition, a full partition's messages wait while
  // later ones of other partitions go out. Once one message of a partition
  // waits, the rest of that partition waits behind it.
  std::set<kafka::TopicPartition> blocked;
  for (auto it = backlog_.begin(); it != backlog_.end() && !WindowFull();) {
    const kafka::TopicPartition& partition = (*it)->partition;
    if (blocked.count(partition) > 0 || PartitionFull(partition)) {
      blocked.insert(partition);
      ++it;
      continue;
    }
    std::shared_ptr<const kafka::Message> message = std::move(*it);
    it = backlog_.erase(it);
    RemoveFromBacklogCounts(*message);
    Deliver(std::move(message));
  }
}

size_t ConsumeSession::Unacked() const {
  // A message waiting for its retry or for its dead-letter write still
  // counts.
  return in_flight_.size() + retries_.size() + dead_letters_.size();
}

bool ConsumeSession::WindowFull() const { return Unacked() >= settings_.max_in_flight; }

bool ConsumeSession::PartitionFull(const kafka::TopicPartition& partition) const {
  return settings_.max_in_flight_per_partition != 0 &&
         tracker_.Unresolved(partition) >= settings_.max_in_flight_per_partition;
}

bool ConsumeSession::HoldPartition(const kafka::TopicPartition& partition, bool paused) const {
  if (settings_.max_in_flight_per_partition == 0) return false;
  auto found = backlog_by_partition_.find(partition);
  const size_t waiting = found == backlog_by_partition_.end() ? 0 : found->second;
  const size_t bound = std::max<size_t>(settings_.max_in_flight_per_partition, kPartitionBacklogMessages);
  if (paused) return waiting > bound / 2;
  return waiting >= bound && PartitionFull(partition);
}

void ConsumeSession::UpdatePause() {
  // Poll keeps running while paused, because rebalances and
  // max.poll.interval.ms depend on it. The backlog absorbs what arrives
  // while the window is full, so an ack is served from it at once.
  // Fetching pauses only when the backlog reaches its bound, and resumes
  // once it is down to half.
  // librdkafka drops what it prefetched for a paused partition and fetches
  // it again after the resume.
  // TODO: find why throughput drops about 5x with max_in_flight 1000 against 5000 (docs/benchmarks.md).
  const bool backlog_full = backlog_.size() >= settings_.backlog_max_messages ||
                            backlog_bytes_ >= settings_.backlog_max_bytes;
  const bool backlog_low = backlog_.size() <= settings_.backlog_max_messages / 2 &&
                           backlog_bytes_ <= settings_.backlog_max_bytes / 2;
  if (backlog_full) backlog_holding_ = true;
  if (backlog_low) backlog_holding_ = false;
  const bool hold_all = draining_ || backlog_holding_;

  std::vector<kafka::TopicPartition> to_pause;
  std::vector<kafka::TopicPartition> to_resume;
  for (const kafka::TopicPartition& partition : assigned_) {
    const bool paused = paused_.count(partition) > 0;
    const bool hold = hold_all || HoldPartition(partition, paused);
    if (hold && !paused) to_pause.push_back(partition);
    if (!hold && paused) to_resume.push_back(partition);
  }
  if (!to_pause.empty()) {
    absl::Status status = consumer_->Pause(to_pause);
    if (status.ok()) {
      paused_.insert(to_pause.begin(), to_pause.end());
      logger_->debug("{}: paused {} ({} unacked, max_in_flight {}, {} fetched messages waiting{})",
                     log_prefix_, kafka::ToString(to_pause), Unacked(), settings_.max_in_flight,
                     backlog_.size(), draining_ ? ", draining" : "");
    } else {
      logger_->warn("{}: {}", log_prefix_, std::string(status.message()));
    }
  }
  if (!to_resume.empty()) {
    // Only partitions this session paused are resumed.
    absl::Status status = consumer_->Resume(to_resume);
    if (status.ok()) {
      for (const kafka::TopicPartition& partition : to_resume) paused_.erase(partition);
      logger_->debug("{}: resumed {}", log_prefix_, kafka::ToString(to_resume));
    } else {
      logger_->warn("{}: {}", log_prefix_, std::string(status.message()));
    }
  }
}

void ConsumeSession::StartDraining() {
  draining_ = true;
  drain_deadline_ = Clock::now() + settings_.drain_timeout;
  const size_t unacked = Unacked();
  logger_->info("{}: draining: no more deliveries; waiting up to {} s for the job to ack {} "
                "unacked deliveries and close the stream",
                log_prefix_, settings_.drain_timeout.count(), unacked);
  SendEvent(v1::Event::TYPE_DRAINING, {},
            absl::StrCat("sidecar shutting down: ack the messages in flight and close the stream "
                         "within ",
                         settings_.drain_timeout.count(), " s"));
}

std::chrono::milliseconds ConsumeSession::NextPollTimeout() const {
  const auto now = Clock::now();
  auto until = now + kIdlePoll;
  if (!draining_ && !retries_.empty()) until = std::min(until, retries_.begin()->first);
  if (settings_.commit_strategy == v1::COMMIT_STRATEGY_PERIODIC) {
    until = std::min(until, next_periodic_commit_);
  }
  if (commit_retry_at_) until = std::min(until, *commit_retry_at_);
  if (async_commit_since_) until = std::min(until, *async_commit_since_ + kCommitResultWait);
  if (draining_) until = std::min(until, drain_deadline_);
  if (until <= now) return std::chrono::milliseconds(0);
  // Round up so a due time is not missed by a sub-millisecond remainder.
  return std::chrono::duration_cast<std::chrono::milliseconds>(until - now) +
         std::chrono::milliseconds(1);
}

// ---- Rebalance (poll thread, inside Consumer::Poll or Consumer::Close) ----

void ConsumeSession::OnRebalance(const kafka::RebalanceEvent& event) {
  switch (event.type) {
    case kafka::RebalanceEvent::Type::kAssign:
      AssignPartitions(event.partitions);
      return;
    case kafka::RebalanceEvent::Type::kRevoke:
      RevokePartitions(event.partitions, /*lost=*/false, event.reason);
      return;
    case kafka::RebalanceEvent::Type::kLost:
      RevokePartitions(event.partitions, /*lost=*/true, event.reason);
      return;
  }
}

void ConsumeSession::AssignPartitions(const std::vector<kafka::TopicPartition>& partitions) {
  absl::Status status = consumer_->Assign(partitions);
  if (!status.ok()) {
    logger_->error("{}: {}", log_prefix_, std::string(status.message()));
    End(ToGrpcStatus(status));
    return;
  }
  assigned_.insert(partitions.begin(), partitions.end());
  logger_->info("{}: assigned {}", log_prefix_,
                partitions.empty() ? std::string("no partitions") : kafka::ToString(partitions));
  // Fetching starts at once; UpdatePause pauses the new partitions on the
  // next loop if the window is full or the stream is draining, and the
  // backlog keeps what arrives before that.
  if (!ending_) SendEvent(v1::Event::TYPE_PARTITIONS_ASSIGNED, partitions, "");
}

void ConsumeSession::RevokePartitions(const std::vector<kafka::TopicPartition>& partitions,
                                      bool lost, const std::string& reason) {
  const std::set<kafka::TopicPartition> revoking(partitions.begin(), partitions.end());

  // An orderly revoke gives the job a bounded time to ack what it holds, so
  // its work is committed before the partitions move to another member.
  if (!lost && !ending_) WaitForAcks(revoking);

  for (auto it = backlog_.begin(); it != backlog_.end();) {
    if (revoking.count((*it)->partition) > 0) {
      RemoveFromBacklogCounts(**it);
      it = backlog_.erase(it);
    } else {
      ++it;
    }
  }

  std::vector<kafka::TopicPartitionOffset> committed;
  if (!lost) committed = CommitSync(&partitions);

  // Whatever is still unresolved goes to the next owner from the committed
  // offset. Acks for these deliveries are dropped from now on.
  size_t abandoned = 0;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (revoking.count(it->second.message->partition) > 0) {
      it = in_flight_.erase(it);
      ++abandoned;
    } else {
      ++it;
    }
  }
  for (auto it = retries_.begin(); it != retries_.end();) {
    if (revoking.count(it->second.message->partition) > 0) {
      it = retries_.erase(it);
      ++abandoned;
    } else {
      ++it;
    }
  }
  for (auto it = dead_letters_.begin(); it != dead_letters_.end();) {
    if (revoking.count(it->second.entry.message->partition) > 0) {
      it = dead_letters_.erase(it);
      ++abandoned;
    } else {
      ++it;
    }
  }
  std::vector<kafka::TopicPartition> to_resume;
  for (const kafka::TopicPartition& partition : partitions) {
    tracker_.Forget(partition);
    assigned_.erase(partition);
    if (paused_.erase(partition) > 0) to_resume.push_back(partition);
  }

  // librdkafka keeps an application pause across an unassign, so a later
  // assignment of the same partition would start paused. Undo this
  // session's pause first.
  if (!to_resume.empty()) {
    absl::Status resumed = consumer_->Resume(to_resume);
    if (!resumed.ok()) logger_->debug("{}: {}", log_prefix_, std::string(resumed.message()));
  }
  absl::Status status = consumer_->Unassign(partitions);
  if (!status.ok()) logger_->error("{}: {}", log_prefix_, std::string(status.message()));

  const std::string listed = partitions.empty() ? std::string("no partitions") : kafka::ToString(partitions);
  std::string detail;
  if (lost) {
    detail = absl::StrCat("assignment lost", reason.empty() ? "" : absl::StrCat(" (", reason, ")"),
                          "; nothing committed for these partitions; ", abandoned,
                          " unacked deliveries will be delivered again");
    logger_->warn("{}: lost {}: {}", log_prefix_, listed, detail);
  } else {
    detail = absl::StrCat("committed ", committed.empty() ? "nothing new" : kafka::ToString(committed),
                          "; ", abandoned, " unacked deliveries go to the next owner");
    logger_->info("{}: revoked {}: {}", log_prefix_, listed, detail);
  }
  if (!ending_) SendEvent(v1::Event::TYPE_PARTITIONS_REVOKED, partitions, detail);
}

size_t ConsumeSession::InFlightIn(const std::set<kafka::TopicPartition>& partitions) const {
  size_t count = 0;
  for (const auto& [id, entry] : in_flight_) {
    if (partitions.count(entry.message->partition) > 0) ++count;
  }
  for (const auto& [id, pending] : dead_letters_) {
    if (partitions.count(pending.entry.message->partition) > 0) ++count;
  }
  return count;
}

void ConsumeSession::WaitForAcks(const std::set<kafka::TopicPartition>& partitions) {
  const auto wait = std::min<std::chrono::milliseconds>(
      settings_.revoke_wait, std::chrono::duration_cast<std::chrono::milliseconds>(settings_.drain_timeout));
  const auto deadline = Clock::now() + wait;
  while (!end_status_ && InFlightIn(partitions) > 0) {
    MarkProgress();
    bool has_work = false;
    {
      std::unique_lock<std::mutex> lock(inbox_mu_);
      has_work = inbox_cv_.wait_until(lock, deadline, [this] { return InboxHasWorkLocked(); });
    }
    if (!has_work) break;
    TakeInbox();
  }
  const size_t remaining = InFlightIn(partitions);
  if (remaining > 0) {
    logger_->info("{}: revoke did not wait longer for {} unacked deliveries (limit {} ms)",
                  log_prefix_, remaining, wait.count());
  }
}

// ---- Commits (poll thread) ----

void ConsumeSession::CommitIfDue() {
  const auto now = Clock::now();
  bool due = false;
  switch (settings_.commit_strategy) {
    case v1::COMMIT_STRATEGY_BATCH:
      due = resolved_since_commit_ >= settings_.commit_batch_size;
      break;
    case v1::COMMIT_STRATEGY_PERIODIC:
      if (now >= next_periodic_commit_) {
        due = true;
        next_periodic_commit_ = now + settings_.commit_interval;
      }
      break;
    default:
      due = resolved_since_commit_ > 0;
      break;
  }
  if (commit_retry_at_ && now >= *commit_retry_at_) {
    due = true;
    commit_retry_at_.reset();
  }
  if (!due) return;
  // One asynchronous commit at a time: acks that arrive meanwhile are
  // covered by the next commit, at the position reached by then.
  if (async_commit_since_ && now - *async_commit_since_ < kCommitResultWait) return;
  resolved_since_commit_ = 0;
  CommitAsync();
}

std::vector<kafka::TopicPartitionOffset> ConsumeSession::CommitSync(
    const std::vector<kafka::TopicPartition>* only) {
  std::vector<kafka::TopicPartitionOffset> offsets = tracker_.TakeCommittable(only);
  if (offsets.empty()) return offsets;
  absl::Status status = consumer_->CommitSync(offsets, settings_.commit_timeout);
  if (!status.ok()) {
    NoteCommitFailure(offsets, status, "synchronous");
    return {};
  }
  logger_->debug("{}: committed {}", log_prefix_, kafka::ToString(offsets));
  return offsets;
}

void ConsumeSession::CommitAsync() {
  std::vector<kafka::TopicPartitionOffset> offsets = tracker_.TakeCommittable(nullptr);
  if (offsets.empty()) return;
  absl::Status status = consumer_->CommitAsync(offsets);
  if (!status.ok()) {
    NoteCommitFailure(offsets, status, "asynchronous");
    return;
  }
  async_commit_since_ = Clock::now();
  logger_->debug("{}: committing {}", log_prefix_, kafka::ToString(offsets));
}

void ConsumeSession::OnCommitResult(const absl::Status& status,
                                    const std::vector<kafka::TopicPartitionOffset>& offsets) {
  async_commit_since_.reset();
  // Acks resolved while this commit was outstanding wait for the next
  // loop; end the current Poll early so it commits them now.
  if (resolved_since_commit_ > 0) consumer_->Wakeup();
  if (status.ok()) return;
  NoteCommitFailure(offsets, status, "asynchronous");
}

void ConsumeSession::NoteCommitFailure(const std::vector<kafka::TopicPartitionOffset>& offsets,
                                       const absl::Status& status, const char* kind) {
  // The tracker hands these partitions out again, at their position then,
  // to the next commit; the final commit at the stream's end covers them
  // too.
  tracker_.CommitFailed(offsets);
  ++commit_failures_;
  if (!ending_ && !commit_retry_at_) commit_retry_at_ = Clock::now() + kCommitRetryDelay;
  std::optional<uint64_t> suppressed = rate_limiter_.Allow("commit failure");
  if (!suppressed) return;
  logger_->error("{}: {} commit of {} failed: {}; the next commit retries it ({} commit failures "
                 "so far{})",
                 log_prefix_, kind, kafka::ToString(offsets), std::string(status.message()),
                 commit_failures_,
                 *suppressed == 0 ? std::string() : absl::StrCat(", ", *suppressed, " not logged"));
}

// ---- Output and logging ----

void ConsumeSession::SendEvent(v1::Event::Type type,
                               const std::vector<kafka::TopicPartition>& partitions,
                               std::string detail) {
  v1::Event event;
  event.set_type(type);
  for (const kafka::TopicPartition& partition : partitions) {
    v1::TopicPartition* added = event.add_partitions();
    added->set_topic(partition.topic);
    added->set_partition(partition.partition);
  }
  event.set_detail(std::move(detail));
  output_->SendEvent(std::move(event));
}

std::string ConsumeSession::Summary() const {
  // Processed counts resolved messages; Errors counts error acks, so a
  // message retried twice adds two errors.
  return absl::StrCat(logging::FormatSummary(processed_, job_errors_, Clock::now() - started_),
                      " (delivered ", delivered_, ", redelivered ", redelivered_, ", dropped acks ",
                      dropped_acks_, ", skipped duplicates ", skipped_duplicates_,
                      ", commit failures ", commit_failures_, ", dead-lettered ", dead_lettered_,
                      ")");
}

void ConsumeSession::MaybeLogSummary() {
  if (settings_.log_summary_interval == 0 || processed_ < next_summary_at_) return;
  next_summary_at_ += settings_.log_summary_interval;
  logger_->info("{}: {}", log_prefix_, Summary());
}

}  // namespace kafkasidecar
