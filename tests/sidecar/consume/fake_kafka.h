// A scripted stand-in for Kafka behind the kafka::Consumer seam: partition
// logs, a group assignment the test drives, pause state, fetch positions
// that restart from the committed offset on assignment, and a record of
// every commit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kafka/client_factory.h"
#include "kafka/consumer.h"

namespace kafkasidecar::testing {

struct CommitRecord {
  std::vector<kafka::TopicPartitionOffset> offsets;
  bool sync = false;
};

class FakeKafka {
 public:
  // ---- Scripting, from the test thread ----

  // Appends a record to its partition's log; the offset is taken as given.
  void AddMessage(kafka::Message message) {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(std::move(message));
    cv_.notify_all();
  }

  // Appends `count` records with consecutive offsets and values "v<offset>".
  void Produce(const std::string& topic, int32_t partition, int count) {
    std::lock_guard<std::mutex> lock(mu_);
    const kafka::TopicPartition key{topic, partition};
    for (int i = 0; i < count; ++i) {
      kafka::Message message;
      message.partition = key;
      message.offset = next_offset_[key]++;
      message.value = "v" + std::to_string(message.offset);
      message.timestamp_ms = 1700000000000 + message.offset;
      log_.push_back(std::move(message));
    }
    cv_.notify_all();
  }

  // Queues a rebalance; the consumer hands it to the session from inside
  // its next Poll, as librdkafka does.
  void Rebalance(kafka::RebalanceEvent::Type type, std::vector<kafka::TopicPartition> partitions) {
    std::lock_guard<std::mutex> lock(mu_);
    kafka::RebalanceEvent event;
    event.type = type;
    event.partitions = std::move(partitions);
    rebalances_.push_back(std::move(event));
    cv_.notify_all();
  }
  void Assign(std::vector<kafka::TopicPartition> partitions) {
    Rebalance(kafka::RebalanceEvent::Type::kAssign, std::move(partitions));
  }
  void Revoke(std::vector<kafka::TopicPartition> partitions) {
    Rebalance(kafka::RebalanceEvent::Type::kRevoke, std::move(partitions));
  }

  void InjectError(kafka::ConsumerError error) {
    std::lock_guard<std::mutex> lock(mu_);
    errors_.push_back(std::move(error));
    cv_.notify_all();
  }

  // Models messages fetched before a pause took effect: Poll keeps
  // returning paused partitions' messages.
  void SetIgnorePause(bool ignore) {
    std::lock_guard<std::mutex> lock(mu_);
    ignore_pause_ = ignore;
  }

  // Keeps the results of asynchronous commits from reaching the session,
  // as if the broker had not answered yet.
  void HoldCommitResults(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_commit_results_ = hold;
    cv_.notify_all();
  }

  // While blocked, Poll does not return, ignoring its timeout and Wakeup,
  // as a consumer stuck inside librdkafka would.
  void BlockPoll(bool block) {
    std::lock_guard<std::mutex> lock(mu_);
    block_poll_ = block;
    cv_.notify_all();
  }

  void FailNextAsyncCommits(int count) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_async_commits_ = count;
  }

  void SetCreateError(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    create_error_ = std::move(status);
  }

  // ---- Inspection ----

  struct State {
    std::vector<CommitRecord> commits;
    std::map<kafka::TopicPartition, int64_t> committed;
    std::set<kafka::TopicPartition> assigned;
    std::set<kafka::TopicPartition> paused;
    std::vector<std::string> subscribed;
    std::string group_id;
    std::string auto_offset_reset;
    bool closed = false;
    bool in_rebalance = false;
    int consumers_created = 0;
    size_t fetched = 0;  // messages returned by Poll
    int backwards_commits = 0;
    int assignment_calls = 0;
    int pause_calls = 0;
  };

  // Waits until `predicate(state)` holds, up to `timeout`.
  bool WaitFor(const std::function<bool(const State&)>& predicate,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return predicate(state_); });
  }

  State Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return state_;
  }

  std::optional<int64_t> Committed(const kafka::TopicPartition& partition) {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = state_.committed.find(partition);
    if (found == state_.committed.end()) return std::nullopt;
    return found->second;
  }

  // The highest offset ever committed for `partition`, from the history.
  std::optional<int64_t> MaxCommitted(const kafka::TopicPartition& partition) {
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<int64_t> max;
    for (const CommitRecord& record : state_.commits) {
      for (const kafka::TopicPartitionOffset& entry : record.offsets) {
        if (entry.partition == partition && (!max || entry.offset > *max)) max = entry.offset;
      }
    }
    return max;
  }

 private:
  friend class FakeConsumer;
  friend class FakeClientFactory;

  struct CommitResult {
    absl::Status status;
    std::vector<kafka::TopicPartitionOffset> offsets;
  };

  // Requires mu_.
  void ApplyCommitLocked(const std::vector<kafka::TopicPartitionOffset>& offsets, bool sync) {
    state_.commits.push_back({offsets, sync});
    for (const kafka::TopicPartitionOffset& entry : offsets) {
      auto found = state_.committed.find(entry.partition);
      if (found != state_.committed.end() && entry.offset < found->second) ++state_.backwards_commits;
      state_.committed[entry.partition] = entry.offset;
    }
    cv_.notify_all();
  }

  // Requires mu_. The next record of an assigned partition that may be
  // fetched, in log order.
  std::optional<kafka::Message> NextFetchLocked() {
    for (const kafka::Message& message : log_) {
      const kafka::TopicPartition& partition = message.partition;
      if (state_.assigned.count(partition) == 0) continue;
      if (!ignore_pause_ && state_.paused.count(partition) > 0) continue;
      if (message.offset < position_[partition]) continue;
      position_[partition] = message.offset + 1;
      ++state_.fetched;
      return message;
    }
    return std::nullopt;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  State state_;
  std::vector<kafka::Message> log_;
  std::map<kafka::TopicPartition, int64_t> next_offset_;
  std::map<kafka::TopicPartition, int64_t> position_;
  std::deque<kafka::RebalanceEvent> rebalances_;
  std::deque<kafka::ConsumerError> errors_;
  std::deque<CommitResult> commit_results_;
  bool ignore_pause_ = false;
  bool hold_commit_results_ = false;
  bool woken_ = false;
  bool block_poll_ = false;
  int fail_async_commits_ = 0;
  absl::Status create_error_;
};

class FakeConsumer final : public kafka::Consumer {
 public:
  FakeConsumer(std::shared_ptr<FakeKafka> kafka, kafka::ConsumerOptions options)
      : kafka_(std::move(kafka)), options_(std::move(options)) {}

  absl::Status Subscribe(const std::vector<std::string>& topics) override {
    std::lock_guard<std::mutex> lock(kafka_->mu_);
    kafka_->state_.subscribed = topics;
    kafka_->cv_.notify_all();
    return absl::OkStatus();
  }

  kafka::PollResult Poll(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(kafka_->mu_);
    kafka_->cv_.wait(lock, [this] { return !kafka_->block_poll_; });
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (!kafka_->rebalances_.empty()) {
        kafka::RebalanceEvent event = std::move(kafka_->rebalances_.front());
        kafka_->rebalances_.pop_front();
        kafka_->state_.in_rebalance = true;
        kafka_->cv_.notify_all();
        lock.unlock();
        options_.on_rebalance(event);
        lock.lock();
        kafka_->state_.in_rebalance = false;
        kafka_->cv_.notify_all();
        return {};
      }
      if (!kafka_->hold_commit_results_ && !kafka_->commit_results_.empty()) {
        FakeKafka::CommitResult result = std::move(kafka_->commit_results_.front());
        kafka_->commit_results_.pop_front();
        lock.unlock();
        options_.on_commit_result(result.status, result.offsets);
        return {};
      }
      if (!kafka_->errors_.empty()) {
        kafka::PollResult result;
        result.error = std::move(kafka_->errors_.front());
        kafka_->errors_.pop_front();
        return result;
      }
      if (std::optional<kafka::Message> message = kafka_->NextFetchLocked()) {
        kafka_->cv_.notify_all();
        kafka::PollResult result;
        result.message = std::move(message);
        return result;
      }
      if (kafka_->woken_) {
        kafka_->woken_ = false;
        return {};
      }
      if (kafka_->cv_.wait_until(lock, deadline) == std::cv_status::timeout) return {};
    }
  }

  void Wakeup() override {
    std::lock_guard<std::mutex> lock(kafka_->mu_);
    kafka_->woken_ = true;
    kafka_->cv_.notify_all();
  }

  absl::Status Pause(const std::vector<kafka::TopicPartition>& partitions) override {
    std::lock_guard<std::mutex> lock(kafka_->mu_);
    ++kafka_->state_.pause_calls;
    kafka_->state_.paused.insert(partitions.begin(), partitions.end());
    kafka_->cv_.notify_all();
    return absl::OkStatus();
  }

  absl::Status Resume(const std::vector<kafka::TopicPartition>& partitions) override {
    std::lock_guard<std::mutex> lock(kafka_->mu_);
    for (const kafka::TopicPartition& partition : partitions) kafka_->state_.paused.erase(partition);
    kafka_->cv_.notify_all();
    return absl::OkStatus();
  }

  // Like librdkafka, an assignment starts fetching at the committed offset,
  // or at the start of the log. A pause survives an unassign.
  absl::Status Assign(const std::vector<kafka::TopicPartition>& partitions) override {
    std::lock_guard<std::mutex> lock(kafka_->mu_);
    ++kafka_->state_.assignment_calls;
    for (const kafka::TopicPartition& partition : partitions) {
      kafka_->state_.assigned.insert(partition);
      auto committed = kafka_->state_.committed.find(partition);
      kafka_->position_[partition] = committed != kafka_->state_.committed.end() ? committed->second : 0;
    }
    kafka_->cv_.notify_all();
    return absl::OkStatus();
  }

  absl::Status Unassign(const std::vector<kafka::TopicPartition>& partitions) override {
    std::lock_guard<std::mutex> lock(kafka_->mu_);
    ++kafka_->state_.assignment_calls;
    for (const kafka::TopicPartition& partition : partitions) kafka_->state_.assigned.erase(partition);
    kafka_->cv_.notify_all();
    return absl::OkStatus();
  }

  absl::Status CommitSync(const std::vector<kafka::TopicPartitionOffset>& offsets,
                          std::chrono::milliseconds /*timeout*/) override {
    std::lock_guard<std::mutex> lock(kafka_->mu_);
    if (kafka_->state_.closed) return absl::FailedPreconditionError("consumer closed");
    kafka_->ApplyCommitLocked(offsets, /*sync=*/true);
    return absl::OkStatus();
  }

  absl::Status CommitAsync(const std::vector<kafka::TopicPartitionOffset>& offsets) override {
    std::lock_guard<std::mutex> lock(kafka_->mu_);
    if (kafka_->state_.closed) return absl::FailedPreconditionError("consumer closed");
    if (kafka_->fail_async_commits_ > 0) {
      --kafka_->fail_async_commits_;
      kafka_->commit_results_.push_back(
          {absl::UnavailableError("Broker: Coordinator not available (injected)"), offsets});
      kafka_->cv_.notify_all();
      return absl::OkStatus();
    }
    kafka_->ApplyCommitLocked(offsets, /*sync=*/false);
    kafka_->commit_results_.push_back({absl::OkStatus(), offsets});
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<kafka::TopicPartitionOffset>> Committed(
      const std::vector<kafka::TopicPartition>& partitions,
      std::chrono::milliseconds /*timeout*/) override {
    std::lock_guard<std::mutex> lock(kafka_->mu_);
    std::vector<kafka::TopicPartitionOffset> out;
    for (const kafka::TopicPartition& partition : partitions) {
      auto found = kafka_->state_.committed.find(partition);
      out.push_back({partition, found != kafka_->state_.committed.end() ? found->second : kafka::kNoOffset});
    }
    return out;
  }

  // Leaving the group revokes the assignment through the handler first.
  absl::Status Close(std::chrono::milliseconds /*timeout*/) override {
    std::vector<kafka::TopicPartition> assigned;
    {
      std::lock_guard<std::mutex> lock(kafka_->mu_);
      if (closing_) return absl::OkStatus();
      closing_ = true;
      assigned.assign(kafka_->state_.assigned.begin(), kafka_->state_.assigned.end());
    }
    if (!assigned.empty()) {
      kafka::RebalanceEvent event;
      event.type = kafka::RebalanceEvent::Type::kRevoke;
      event.partitions = assigned;
      options_.on_rebalance(event);
    }
    std::lock_guard<std::mutex> lock(kafka_->mu_);
    kafka_->state_.closed = true;
    kafka_->cv_.notify_all();
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<FakeKafka> kafka_;
  kafka::ConsumerOptions options_;
  bool closing_ = false;  // polling thread only
};

class FakeClientFactory final : public kafka::ClientFactory {
 public:
  explicit FakeClientFactory(std::shared_ptr<FakeKafka> kafka) : kafka_(std::move(kafka)) {}

  absl::StatusOr<std::unique_ptr<kafka::Consumer>> CreateConsumer(
      const Connection& /*connection*/, const kafka::ConsumerOptions& options) override {
    {
      std::lock_guard<std::mutex> lock(kafka_->mu_);
      if (!kafka_->create_error_.ok()) return kafka_->create_error_;
      ++kafka_->state_.consumers_created;
      kafka_->state_.group_id = options.group_id;
      kafka_->state_.auto_offset_reset = options.auto_offset_reset;
      kafka_->state_.closed = false;
      kafka_->cv_.notify_all();
    }
    return std::unique_ptr<kafka::Consumer>(std::make_unique<FakeConsumer>(kafka_, options));
  }

 private:
  std::shared_ptr<FakeKafka> kafka_;
};

}  // namespace kafkasidecar::testing
