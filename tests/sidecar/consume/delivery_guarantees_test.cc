// Backpressure, dead letters, retries across a revoke, liveness and the
// rate limit of job-error warnings, over real gRPC with FakeKafka behind the
// consumer seam.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "consume/dead_letter.h"
#include "consume/liveness.h"
#include "consume_harness.h"
#include "logging/logging.h"

namespace kafkasidecar::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const kafka::TopicPartition kOrders0{"orders", 0};
const kafka::TopicPartition kOrders1{"orders", 1};

bool HasText(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

bool CommittedIs(FakeKafka& kafka, const kafka::TopicPartition& partition, int64_t offset) {
  return kafka.WaitFor([&](const FakeKafka::State& s) {
    auto found = s.committed.find(partition);
    return found != s.committed.end() && found->second == offset;
  });
}

std::vector<v1::Message> StartOrders(ConsumeHarness& harness, StreamClient& client,
                                     const v1::Subscribe& subscribe, size_t count) {
  EXPECT_TRUE(client.Subscribe(subscribe));
  harness.kafka().Assign({kOrders0});
  return client.WaitForMessages(count);
}

// Records every dead-letter write; the test decides when the broker
// acknowledges each one.
class FakeDeadLetters final : public DeadLetterProducer {
 public:
  struct Sent {
    std::string topic;
    v1::ProduceRecord record;
    DeliveryCallback on_delivery;
  };

  void SetTopicStatus(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    topic_status_ = std::move(status);
  }

  absl::Status CheckTopic(const Connection& /*connection*/, const std::string& /*topic*/,
                          milliseconds /*timeout*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    return topic_status_;
  }

  absl::Status Send(const Connection& /*connection*/, const std::string& topic,
                    const v1::ProduceRecord& record, DeliveryCallback on_delivery) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent_.push_back({topic, record, std::move(on_delivery)});
    cv_.notify_all();
    return absl::OkStatus();
  }

  bool WaitForSent(size_t count) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, seconds(10), [&] { return sent_.size() >= count; });
  }

  Sent Get(size_t index) {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_.at(index);
  }

  // Runs the delivery callback of write `index` on this thread, as the
  // producer's poll thread would.
  void Complete(size_t index, const absl::Status& status) {
    DeliveryCallback callback;
    {
      std::lock_guard<std::mutex> lock(mu_);
      callback = sent_.at(index).on_delivery;
    }
    callback(status);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  absl::Status topic_status_;
  std::vector<Sent> sent_;
};

std::map<std::string, std::string> HeaderMap(const v1::ProduceRecord& record) {
  std::map<std::string, std::string> headers;
  for (const v1::Header& header : record.headers()) headers[header.name()] = header.value();
  return headers;
}

TEST(Backpressure, FullWindowServesAcksFromBacklogWithoutPausing) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 40);
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_max_in_flight(1);
  StreamClient client(harness.stub());
  StartOrders(harness, client, subscribe, 1);

  const auto started = std::chrono::steady_clock::now();
  for (uint64_t id = 1; id <= 40; ++id) {
    ASSERT_EQ(client.WaitForMessages(id).size(), id);
    ASSERT_TRUE(client.Ack(id));
  }
  ASSERT_TRUE(CommittedIs(harness.kafka(), kOrders0, 40));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_LT(elapsed, seconds(4)) << "each ack must wake the poll loop, not wait for the idle poll";
  EXPECT_EQ(harness.kafka().Snapshot().pause_calls, 0)
      << "40 messages fit in the backlog, so fetching never pauses";
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
}

TEST(Backpressure, PerPartitionBoundHoldsOnlyFullPartition) {
  ConsumeDefaults defaults;
  defaults.max_in_flight_per_partition = 2;
  ConsumeHarness harness(FakeConnection(), nullptr, defaults);
  harness.kafka().Produce("orders", 0, 5);
  harness.kafka().Produce("orders", 1, 5);
  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Subscribe(OrdersSubscription()));
  harness.kafka().Assign({kOrders0, kOrders1});
  std::vector<v1::Message> messages = client.WaitForMessages(4);
  harness.Barrier(client);
  messages = client.Messages();
  ASSERT_EQ(messages.size(), 4u) << "two per partition";

  // Acking orders/0's two frees orders/0 only.
  std::vector<uint64_t> partition0;
  for (const v1::Message& message : messages) {
    if (message.partition() == 0) partition0.push_back(message.delivery_id());
  }
  ASSERT_EQ(partition0.size(), 2u);
  ASSERT_TRUE(client.AckSuccess(partition0));
  client.WaitForMessages(6);
  harness.Barrier(client);
  messages = client.Messages();
  ASSERT_EQ(messages.size(), 6u);
  size_t from_partition1 = 0;
  for (const v1::Message& message : messages) from_partition1 += message.partition() == 1 ? 1 : 0;
  EXPECT_EQ(from_partition1, 2u) << "orders/1 stays at its bound while unacked";
  EXPECT_TRUE(CommittedIs(harness.kafka(), kOrders0, 2));
  EXPECT_FALSE(harness.kafka().Committed(kOrders1).has_value()) << "nothing of orders/1 was acked";
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
}

TEST(RetryAndRebalance, RevokedRetryIsNotCommittedAndIsRedelivered) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 3);
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_on_error(v1::ON_ERROR_RETRY);
  subscribe.set_max_retries(3);
  subscribe.add_retry_backoff_ms(60000);  // the retry stays pending
  StreamClient client(harness.stub());
  StartOrders(harness, client, subscribe, 3);

  ASSERT_TRUE(client.Acks({{1, v1::Ack::STATUS_SUCCESS, ""},
                           {2, v1::Ack::STATUS_ERROR, "database busy"},
                           {3, v1::Ack::STATUS_SUCCESS, ""}}));
  ASSERT_TRUE(CommittedIs(harness.kafka(), kOrders0, 1));

  harness.kafka().Revoke({kOrders0});
  std::optional<v1::Event> revoked = client.WaitForEvent(v1::Event::TYPE_PARTITIONS_REVOKED);
  ASSERT_TRUE(revoked.has_value());
  EXPECT_EQ(harness.kafka().MaxCommitted(kOrders0), 1)
      << "the revoke commits nothing past the retrying orders/0@1, though @2 was acked";

  // The next owner (here the same stream, assigned again) starts at the
  // committed offset, so the retrying message comes back.
  harness.kafka().Assign({kOrders0});
  std::vector<v1::Message> messages = client.WaitForMessages(5);
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_EQ(messages[3].offset(), 1);
  EXPECT_EQ(messages[3].attempt(), 1u) << "a new assignment starts a new delivery";
  EXPECT_EQ(messages[4].offset(), 2);
  ASSERT_TRUE(client.AckSuccess({messages[3].delivery_id(), messages[4].delivery_id()}));
  EXPECT_TRUE(CommittedIs(harness.kafka(), kOrders0, 3));
  EXPECT_EQ(harness.kafka().Snapshot().backwards_commits, 0);
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
}

v1::Subscribe DeadLetterSubscription() {
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_dead_letter_topic("orders-dlq");
  return subscribe;
}

TEST(DeadLetter, PoisonMessageIsWrittenThenCommitted) {
  auto dead_letters = std::make_shared<FakeDeadLetters>();
  ConsumeHarness harness(FakeConnection(), nullptr, {}, dead_letters);
  kafka::Message poison;
  poison.partition = kOrders0;
  poison.offset = 1;
  poison.timestamp_ms = 1700000000123;
  poison.key = std::string("k\0ey", 4);
  poison.value = "{not json";
  poison.headers = {{"trace", std::string("abc")}, {"empty", std::nullopt}};
  kafka::Message first;
  first.partition = kOrders0;
  first.offset = 0;
  first.value = "ok";
  harness.kafka().AddMessage(first);
  harness.kafka().AddMessage(poison);

  StreamClient client(harness.stub());
  StartOrders(harness, client, DeadLetterSubscription(), 2);
  ASSERT_TRUE(client.Acks({{1, v1::Ack::STATUS_SUCCESS, ""}, {2, v1::Ack::STATUS_ERROR, "bad json"}}));
  ASSERT_TRUE(dead_letters->WaitForSent(1));
  ASSERT_TRUE(CommittedIs(harness.kafka(), kOrders0, 1));

  const FakeDeadLetters::Sent sent = dead_letters->Get(0);
  EXPECT_EQ(sent.topic, "orders-dlq");
  ASSERT_TRUE(sent.record.has_key());
  EXPECT_EQ(sent.record.key(), std::string("k\0ey", 4));
  EXPECT_EQ(sent.record.value(), "{not json");
  ASSERT_GE(sent.record.headers_size(), 2);
  EXPECT_EQ(sent.record.headers(0).name(), "trace");
  EXPECT_EQ(sent.record.headers(0).value(), "abc");
  EXPECT_EQ(sent.record.headers(1).name(), "empty");
  EXPECT_FALSE(sent.record.headers(1).has_value()) << "a null header value stays null";
  std::map<std::string, std::string> headers = HeaderMap(sent.record);
  EXPECT_EQ(headers[kDeadLetterTopicHeader], "orders");
  EXPECT_EQ(headers[kDeadLetterPartitionHeader], "0");
  EXPECT_EQ(headers[kDeadLetterOffsetHeader], "1");
  EXPECT_EQ(headers[kDeadLetterOriginalTimestampHeader], "1700000000123");
  EXPECT_EQ(headers[kDeadLetterErrorHeader], "bad json");
  EXPECT_EQ(headers[kDeadLetterAttemptsHeader], "1");
  EXPECT_FALSE(headers[kDeadLetterTimestampHeader].empty());

  // Not committed until the broker acknowledged the dead-letter write.
  harness.Barrier(client);
  EXPECT_EQ(harness.kafka().MaxCommitted(kOrders0), 1);
  dead_letters->Complete(0, absl::OkStatus());
  EXPECT_TRUE(CommittedIs(harness.kafka(), kOrders0, 2));
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
}

TEST(DeadLetter, RetryPolicyDeadLettersAfterLastAttempt) {
  auto dead_letters = std::make_shared<FakeDeadLetters>();
  ConsumeHarness harness(FakeConnection(), nullptr, {}, dead_letters);
  harness.kafka().Produce("orders", 0, 1);
  v1::Subscribe subscribe = DeadLetterSubscription();
  subscribe.set_on_error(v1::ON_ERROR_RETRY);
  subscribe.set_max_retries(1);
  subscribe.add_retry_backoff_ms(10);
  StreamClient client(harness.stub());
  StartOrders(harness, client, subscribe, 1);

  ASSERT_TRUE(client.Ack(1, v1::Ack::STATUS_ERROR, "first"));
  client.WaitForMessages(2);
  ASSERT_TRUE(client.Ack(2, v1::Ack::STATUS_ERROR, "second"));
  ASSERT_TRUE(dead_letters->WaitForSent(1));
  std::map<std::string, std::string> headers = HeaderMap(dead_letters->Get(0).record);
  EXPECT_EQ(headers[kDeadLetterAttemptsHeader], "2");
  EXPECT_EQ(headers[kDeadLetterErrorHeader], "second");
  dead_letters->Complete(0, absl::OkStatus());
  EXPECT_TRUE(CommittedIs(harness.kafka(), kOrders0, 1));
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
}

TEST(DeadLetter, FailedWriteEndsStreamWithoutCommit) {
  auto dead_letters = std::make_shared<FakeDeadLetters>();
  ConsumeHarness harness(FakeConnection(), nullptr, {}, dead_letters);
  harness.kafka().Produce("orders", 0, 2);
  StreamClient client(harness.stub());
  StartOrders(harness, client, DeadLetterSubscription(), 2);

  ASSERT_TRUE(client.Acks({{1, v1::Ack::STATUS_ERROR, "bad"}, {2, v1::Ack::STATUS_SUCCESS, ""}}));
  ASSERT_TRUE(dead_letters->WaitForSent(1));
  dead_letters->Complete(0, absl::UnavailableError("_MSG_TIMED_OUT: Local: Message timed out"));

  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(HasText(status.error_message(), "orders/0@0")) << status.error_message();
  EXPECT_TRUE(HasText(status.error_message(), "orders-dlq")) << status.error_message();
  EXPECT_TRUE(HasText(status.error_message(), "Message timed out")) << status.error_message();
  EXPECT_FALSE(harness.kafka().MaxCommitted(kOrders0).has_value())
      << "nothing passes the message whose dead-letter write failed";
}

TEST(DeadLetter, MissingTopicEndsStreamBeforeConsuming) {
  auto dead_letters = std::make_shared<FakeDeadLetters>();
  dead_letters->SetTopicStatus(absl::NotFoundError("topic \"orders-dlq\" does not exist on 127.0.0.1:9"));
  ConsumeHarness harness(FakeConnection(), nullptr, {}, dead_letters);
  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Subscribe(DeadLetterSubscription()));
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(HasText(status.error_message(), "dead_letter_topic \"orders-dlq\"")) << status.error_message();
  EXPECT_EQ(harness.kafka().Snapshot().consumers_created, 0);
}

TEST(DeadLetter, StopPolicyWithDeadLetterTopicIsRejected) {
  auto dead_letters = std::make_shared<FakeDeadLetters>();
  ConsumeHarness harness(FakeConnection(), nullptr, {}, dead_letters);
  v1::Subscribe subscribe = DeadLetterSubscription();
  subscribe.set_on_error(v1::ON_ERROR_STOP);
  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Subscribe(subscribe));
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(HasText(status.error_message(), "ON_ERROR_STOP")) << status.error_message();
}

TEST(DeadLetter, WithoutProducerIsUnimplemented) {
  ConsumeHarness harness;
  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Subscribe(DeadLetterSubscription()));
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST(Liveness, BlockedPollTurnsNotServingUntilItReturns) {
  ConsumeHarness harness;
  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Subscribe(OrdersSubscription()));
  ASSERT_TRUE(client.WaitForEvent(v1::Event::TYPE_SUBSCRIBED).has_value());

  std::mutex mu;
  std::vector<bool> reported;
  LivenessMonitor monitor(harness.streams(), milliseconds(500), milliseconds(50), [&](bool serving) {
    std::lock_guard<std::mutex> lock(mu);
    reported.push_back(serving);
  });
  EXPECT_TRUE(monitor.CheckOnce()) << "an idle loop iterates at least every 200 ms";

  harness.kafka().BlockPoll(true);
  // Unblocks on every exit, so the harness can end the stream.
  struct Unblock {
    FakeKafka& kafka;
    ~Unblock() { kafka.BlockPoll(false); }
  } unblock{harness.kafka()};
  const auto deadline = std::chrono::steady_clock::now() + seconds(5);
  bool stalled_seen = false;
  while (!stalled_seen && std::chrono::steady_clock::now() < deadline) {
    stalled_seen = !harness.streams().StalledStreams(milliseconds(500)).empty();
    if (!stalled_seen) std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(stalled_seen) << "a poll blocked beyond the bound is reported";
  std::vector<std::string> stalled = harness.streams().StalledStreams(milliseconds(500));
  ASSERT_EQ(stalled.size(), 1u);
  EXPECT_TRUE(HasText(stalled[0], "stream 1")) << stalled[0];
  EXPECT_FALSE(monitor.CheckOnce());

  harness.kafka().BlockPoll(false);
  const auto recovery = std::chrono::steady_clock::now() + seconds(5);
  bool live = false;
  while (!live && std::chrono::steady_clock::now() < recovery) {
    live = monitor.CheckOnce();
    if (!live) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(live) << "the status returns once the loop runs again";
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_NE(std::find(reported.begin(), reported.end(), false), reported.end());
  }
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
}

TEST(JobErrorLog, RepeatedErrorsAreRateLimited) {
  std::shared_ptr<spdlog::logger> logger = logging::Get(logging::kConsume);
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(500);
  const spdlog::level::level_enum saved_level = logger->level();
  logger->set_level(spdlog::level::info);
  logger->sinks().push_back(sink);
  {
    ConsumeHarness harness;
    harness.kafka().Produce("orders", 0, 50);
    v1::Subscribe subscribe = OrdersSubscription();
    StreamClient client(harness.stub());
    StartOrders(harness, client, subscribe, 50);
    std::vector<StreamClient::AckSpec> acks;
    for (uint64_t id = 1; id <= 50; ++id) acks.push_back({id, v1::Ack::STATUS_ERROR, "malformed event"});
    ASSERT_TRUE(client.Acks(acks));
    ASSERT_TRUE(CommittedIs(harness.kafka(), kOrders0, 50)) << "continue commits past every error";
    client.CloseWrites();
    EXPECT_TRUE(client.Finish().ok());
    EXPECT_TRUE(harness.streams().WaitAllClosed(std::chrono::steady_clock::now() + seconds(5)));
  }
  logger->sinks().pop_back();
  logger->set_level(saved_level);

  size_t error_lines = 0;
  bool summary_found = false;
  for (const std::string& line : sink->last_formatted()) {
    if (HasText(line, "malformed event")) ++error_lines;
    if (HasText(line, "Processed 50 messages, Errors: 50")) summary_found = true;
  }
  EXPECT_GE(error_lines, 5u) << "the first errors are logged in full";
  EXPECT_LE(error_lines, 7u) << "the rest are counted, not logged one by one";
  EXPECT_TRUE(summary_found);
}

}  // namespace
}  // namespace kafkasidecar::testing
