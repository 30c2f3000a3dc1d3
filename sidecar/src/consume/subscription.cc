#include "consume/subscription.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kafkasidecar {
namespace {

absl::StatusOr<std::string> AutoOffsetReset(v1::AutoOffsetReset value) {
  switch (value) {
    case v1::AUTO_OFFSET_RESET_UNSPECIFIED:
    case v1::AUTO_OFFSET_RESET_EARLIEST:
      return std::string("earliest");
    case v1::AUTO_OFFSET_RESET_LATEST:
      return std::string("latest");
    case v1::AUTO_OFFSET_RESET_NONE:
      // librdkafka's name for "fail when there is no committed offset".
      return std::string("error");
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "subscribe.auto_offset_reset has unknown value ", static_cast<int>(value),
          "; use AUTO_OFFSET_RESET_EARLIEST, AUTO_OFFSET_RESET_LATEST or AUTO_OFFSET_RESET_NONE"));
  }
}

absl::StatusOr<v1::OnError> OnError(v1::OnError value) {
  switch (value) {
    case v1::ON_ERROR_UNSPECIFIED:
      return v1::ON_ERROR_CONTINUE;
    case v1::ON_ERROR_CONTINUE:
    case v1::ON_ERROR_RETRY:
    case v1::ON_ERROR_STOP:
      return value;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("subscribe.on_error has unknown value ", static_cast<int>(value),
                       "; use ON_ERROR_CONTINUE, ON_ERROR_RETRY or ON_ERROR_STOP"));
  }
}

absl::StatusOr<v1::CommitStrategy> Strategy(v1::CommitStrategy value) {
  switch (value) {
    case v1::COMMIT_STRATEGY_UNSPECIFIED:
      return v1::COMMIT_STRATEGY_PER_MESSAGE;
    case v1::COMMIT_STRATEGY_PER_MESSAGE:
    case v1::COMMIT_STRATEGY_BATCH:
    case v1::COMMIT_STRATEGY_PERIODIC:
      return value;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "subscribe.commit_strategy has unknown value ", static_cast<int>(value),
          "; use COMMIT_STRATEGY_PER_MESSAGE, COMMIT_STRATEGY_BATCH or COMMIT_STRATEGY_PERIODIC"));
  }
}

}  // namespace

absl::StatusOr<SessionSettings> ParseSubscribe(const v1::Subscribe& subscribe,
                                               const ConsumeDefaults& defaults) {
  SessionSettings settings;
  settings.connection_id = subscribe.connection_id();
  settings.client_name = subscribe.client_name();

  if (subscribe.topics().empty()) {
    return absl::InvalidArgumentError(
        "subscribe.topics is empty; list at least one topic to consume");
  }
  for (int i = 0; i < subscribe.topics_size(); ++i) {
    const std::string& topic = subscribe.topics(i);
    if (topic.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("subscribe.topics[", i, "] is empty; give a topic name or remove the entry"));
    }
    if (std::find(settings.topics.begin(), settings.topics.end(), topic) == settings.topics.end()) {
      settings.topics.push_back(topic);
    }
  }

  if (subscribe.group_id().empty()) {
    return absl::InvalidArgumentError(
        "subscribe.group_id is empty; set the consumer group the job consumes in");
  }
  settings.group_id = subscribe.group_id();

  absl::StatusOr<std::string> reset = AutoOffsetReset(subscribe.auto_offset_reset());
  if (!reset.ok()) return reset.status();
  settings.auto_offset_reset = *reset;

  absl::StatusOr<v1::OnError> on_error = OnError(subscribe.on_error());
  if (!on_error.ok()) return on_error.status();
  settings.on_error = *on_error;

  if (subscribe.has_max_retries()) settings.max_retries = subscribe.max_retries();
  if (!subscribe.retry_backoff_ms().empty()) {
    settings.retry_backoff_ms.assign(subscribe.retry_backoff_ms().begin(),
                                     subscribe.retry_backoff_ms().end());
  }

  absl::StatusOr<v1::CommitStrategy> strategy = Strategy(subscribe.commit_strategy());
  if (!strategy.ok()) return strategy.status();
  settings.commit_strategy = *strategy;
  if (settings.commit_strategy == v1::COMMIT_STRATEGY_BATCH) {
    if (subscribe.commit_batch_size() == 0) {
      return absl::InvalidArgumentError(
          "subscribe.commit_batch_size is 0 with COMMIT_STRATEGY_BATCH; set how many resolved "
          "messages to commit after, for example 100");
    }
    settings.commit_batch_size = subscribe.commit_batch_size();
  }
  if (settings.commit_strategy == v1::COMMIT_STRATEGY_PERIODIC) {
    if (subscribe.commit_interval_ms() == 0) {
      return absl::InvalidArgumentError(
          "subscribe.commit_interval_ms is 0 with COMMIT_STRATEGY_PERIODIC; set the commit "
          "interval in milliseconds, for example 5000");
    }
    settings.commit_interval = std::chrono::milliseconds(subscribe.commit_interval_ms());
  }

  if (!subscribe.dead_letter_topic().empty()) {
    const std::string& topic = subscribe.dead_letter_topic();
    if (settings.on_error == v1::ON_ERROR_STOP) {
      return absl::InvalidArgumentError(absl::StrCat(
          "subscribe.dead_letter_topic (\"", topic,
          "\") is set with ON_ERROR_STOP, which never gives up on a message; leave it empty or use "
          "ON_ERROR_CONTINUE or ON_ERROR_RETRY"));
    }
    if (std::find(settings.topics.begin(), settings.topics.end(), topic) != settings.topics.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "subscribe.dead_letter_topic (\"", topic,
          "\") is one of subscribe.topics, so dead letters would be consumed again; choose another "
          "topic"));
    }
    settings.dead_letter_topic = topic;
  }

  settings.max_in_flight =
      std::max<uint32_t>(1, subscribe.max_in_flight() != 0 ? subscribe.max_in_flight()
                                                           : defaults.max_in_flight);
  settings.max_in_flight_per_partition = defaults.max_in_flight_per_partition;
  settings.backlog_max_messages = std::max<size_t>(1, defaults.backlog_max_messages);
  settings.backlog_max_bytes = std::max<size_t>(1, defaults.backlog_max_bytes);
  settings.drain_timeout = std::chrono::seconds(subscribe.shutdown_drain_timeout_s() != 0
                                                    ? subscribe.shutdown_drain_timeout_s()
                                                    : defaults.shutdown_drain_timeout_s);
  settings.log_summary_interval = defaults.log_summary_interval;
  return settings;
}

std::chrono::milliseconds RetryBackoff(const SessionSettings& settings, uint32_t retry) {
  if (settings.retry_backoff_ms.empty() || retry == 0) return std::chrono::milliseconds(0);
  const size_t index = std::min<size_t>(retry - 1, settings.retry_backoff_ms.size() - 1);
  return std::chrono::milliseconds(settings.retry_backoff_ms[index]);
}

}  // namespace kafkasidecar
