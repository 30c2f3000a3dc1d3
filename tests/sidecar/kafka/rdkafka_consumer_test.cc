// RdKafkaConsumer against librdkafka's mock cluster.
#include "kafka/rdkafka_consumer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "consumer_mock_cluster.h"
#include "kafka/client_factory.h"

namespace kafkasidecar::kafka {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ConsumerMockCluster;

// A consumer whose rebalance handler applies each change and records it.
class RecordingConsumer {
 public:
  RecordingConsumer(const Connection& connection, const std::string& group) {
    ConsumerOptions options;
    options.group_id = group;
    options.on_rebalance = [this](const RebalanceEvent& event) {
      events_.push_back(event);
      if (event.type == RebalanceEvent::Type::kAssign) {
        EXPECT_TRUE(consumer_->Assign(event.partitions).ok());
      } else {
        EXPECT_TRUE(consumer_->Unassign(event.partitions).ok());
      }
    };
    options.on_commit_result = [this](const absl::Status& status, const std::vector<TopicPartitionOffset>&) {
      commit_results_.push_back(status);
    };
    absl::StatusOr<std::unique_ptr<RdKafkaConsumer>> created = RdKafkaConsumer::Create(connection, options);
    EXPECT_TRUE(created.ok()) << created.status();
    if (created.ok()) consumer_ = std::move(*created);
  }

  RdKafkaConsumer& consumer() { return *consumer_; }
  const std::vector<RebalanceEvent>& events() const { return events_; }
  const std::vector<absl::Status>& commit_results() const { return commit_results_; }

  // Polls until `count` messages arrived or `timeout` passed.
  std::vector<Message> PollMessages(size_t count, milliseconds timeout = seconds(20)) {
    std::vector<Message> messages;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (messages.size() < count && std::chrono::steady_clock::now() < deadline) {
      PollResult result = consumer_->Poll(milliseconds(100));
      if (result.message) messages.push_back(std::move(*result.message));
    }
    return messages;
  }

  // Polls until an error arrives or `timeout` passed.
  std::optional<ConsumerError> PollError(milliseconds timeout = seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      PollResult result = consumer_->Poll(milliseconds(100));
      if (result.error) return result.error;
    }
    return std::nullopt;
  }

  // Polls until `done()` returns true or `timeout` passed.
  template <typename Predicate>
  bool PollUntil(Predicate done, milliseconds timeout = seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      consumer_->Poll(milliseconds(100));
    }
    return true;
  }

 private:
  std::unique_ptr<RdKafkaConsumer> consumer_;
  std::vector<RebalanceEvent> events_;
  std::vector<absl::Status> commit_results_;
};

TEST(ConsumerProperties, ForcesCommitSettingsOverConnection) {
  Connection connection;
  connection.properties = {{"bootstrap.servers", "127.0.0.1:9092"},
                           {"enable.auto.commit", "true"},
                           {"group.id", "other"},
                           {"partition.assignment.strategy", "cooperative-sticky"}};
  ConsumerOptions options;
  options.group_id = "billing";
  options.auto_offset_reset = "latest";
  std::map<std::string, std::string> properties = ConsumerProperties(connection, options);
  EXPECT_EQ(properties["group.id"], "billing");
  EXPECT_EQ(properties["enable.auto.commit"], "false");
  EXPECT_EQ(properties["enable.auto.offset.store"], "false");
  EXPECT_EQ(properties["enable.partition.eof"], "false");
  EXPECT_EQ(properties["auto.offset.reset"], "latest");
  EXPECT_EQ(properties["partition.assignment.strategy"], "cooperative-sticky")
      << "a connection may choose the assignment strategy";
  EXPECT_EQ(properties["bootstrap.servers"], "127.0.0.1:9092");
}

TEST(ConsumerProperties, DefaultsToEagerAssignment) {
  Connection connection;
  std::map<std::string, std::string> properties = ConsumerProperties(connection, ConsumerOptions{});
  EXPECT_EQ(properties["partition.assignment.strategy"], "range,roundrobin");
}

TEST(ConsumerProperties, LimitsPrefetchUnlessConnectionSetsIt) {
  Connection connection;
  std::map<std::string, std::string> properties = ConsumerProperties(connection, ConsumerOptions{});
  EXPECT_EQ(properties["queued.max.messages.kbytes"], "8192");

  connection.properties = {{"queued.max.messages.kbytes", "65536"}};
  properties = ConsumerProperties(connection, ConsumerOptions{});
  EXPECT_EQ(properties["queued.max.messages.kbytes"], "65536") << "a connection may raise the prefetch";
}

TEST(ClassifyConsumerError, SortsCodesByReaction) {
  EXPECT_EQ(ClassifyConsumerError(RD_KAFKA_RESP_ERR__FATAL), ConsumerErrorKind::kFatal);
  EXPECT_EQ(ClassifyConsumerError(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART), ConsumerErrorKind::kTopicNotFound);
  EXPECT_EQ(ClassifyConsumerError(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION), ConsumerErrorKind::kTopicNotFound);
  EXPECT_EQ(ClassifyConsumerError(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN), ConsumerErrorKind::kTransient);
  EXPECT_EQ(ClassifyConsumerError(RD_KAFKA_RESP_ERR__TRANSPORT), ConsumerErrorKind::kTransient);
  EXPECT_EQ(ClassifyConsumerError(RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED), ConsumerErrorKind::kTransient);
  EXPECT_EQ(ClassifyConsumerError(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED),
            ConsumerErrorKind::kTopicAuthorization);
  EXPECT_EQ(ClassifyConsumerError(RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED),
            ConsumerErrorKind::kGroupAuthorization);
  EXPECT_EQ(ClassifyConsumerError(RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED),
            ConsumerErrorKind::kAuthentication);
  EXPECT_EQ(ClassifyConsumerError(RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET), ConsumerErrorKind::kNoOffset);
  EXPECT_EQ(ClassifyConsumerError(RD_KAFKA_RESP_ERR_INVALID_MSG), ConsumerErrorKind::kOther);
}

TEST(RdKafkaConsumer, InvalidPropertyNamesProperty) {
  Connection connection;
  connection.properties["fetch.wait.max.ms"] = "not-a-number";
  absl::StatusOr<std::unique_ptr<RdKafkaConsumer>> created =
      RdKafkaConsumer::Create(connection, ConsumerOptions{});
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(created.status().message().find("fetch.wait.max.ms"), std::string::npos) << created.status();
}

TEST(RdKafkaConsumer, ConvertsKeysValuesHeadersAndTimestamps) {
  ConsumerMockCluster cluster;
  cluster.CreateTopic("orders", 1);
  ConsumerMockCluster::Record tombstone;
  tombstone.key = "customer-7";
  tombstone.headers = {{"trace", std::string("abc")}, {"empty", std::nullopt}};
  tombstone.timestamp_ms = 1700000000123;
  ConsumerMockCluster::Record empty_value;
  empty_value.value = "";
  empty_value.timestamp_ms = 1700000000456;
  cluster.Produce("orders", {tombstone, empty_value});

  RecordingConsumer recording(cluster.MakeConnection(), "convert");
  ASSERT_TRUE(recording.consumer().Subscribe({"orders"}).ok());
  std::vector<Message> messages = recording.PollMessages(2);
  ASSERT_EQ(messages.size(), 2u);

  const Message& first = messages[0];
  EXPECT_EQ(first.partition.topic, "orders");
  EXPECT_EQ(first.partition.partition, 0);
  EXPECT_EQ(first.offset, 0);
  EXPECT_EQ(first.timestamp_ms, 1700000000123);
  ASSERT_TRUE(first.key.has_value());
  EXPECT_EQ(*first.key, "customer-7");
  EXPECT_FALSE(first.value.has_value()) << "a tombstone has no value";
  ASSERT_EQ(first.headers.size(), 2u);
  EXPECT_EQ(first.headers[0].name, "trace");
  EXPECT_EQ(first.headers[0].value, std::optional<std::string>("abc"));
  EXPECT_EQ(first.headers[1].name, "empty");
  EXPECT_FALSE(first.headers[1].value.has_value());

  const Message& second = messages[1];
  EXPECT_EQ(second.offset, 1);
  EXPECT_FALSE(second.key.has_value());
  ASSERT_TRUE(second.value.has_value()) << "an empty value is not a tombstone";
  EXPECT_EQ(*second.value, "");
  EXPECT_TRUE(second.headers.empty());

  ASSERT_FALSE(recording.events().empty());
  EXPECT_EQ(recording.events()[0].type, RebalanceEvent::Type::kAssign);
  EXPECT_TRUE(recording.consumer().Close(seconds(10)).ok());
}

TEST(RdKafkaConsumer, CommitSyncStoresOffsetThatCommittedReads) {
  ConsumerMockCluster cluster;
  cluster.CreateTopic("orders", 1);
  cluster.ProduceValues("orders", 0, 3);

  RecordingConsumer recording(cluster.MakeConnection(), "commit-sync");
  ASSERT_TRUE(recording.consumer().Subscribe({"orders"}).ok());
  ASSERT_EQ(recording.PollMessages(3).size(), 3u);

  const TopicPartition orders0{"orders", 0};
  absl::Status committed = recording.consumer().CommitSync({{orders0, 2}}, seconds(10));
  ASSERT_TRUE(committed.ok()) << committed;
  absl::StatusOr<std::vector<TopicPartitionOffset>> read = recording.consumer().Committed({orders0}, seconds(10));
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].offset, 2);
  EXPECT_TRUE(recording.commit_results().empty()) << "a synchronous commit reports no callback";
  EXPECT_TRUE(recording.consumer().Close(seconds(10)).ok());
}

TEST(RdKafkaConsumer, CommitAsyncReportsResultFromPoll) {
  ConsumerMockCluster cluster;
  cluster.CreateTopic("orders", 1);
  cluster.ProduceValues("orders", 0, 2);

  RecordingConsumer recording(cluster.MakeConnection(), "commit-async");
  ASSERT_TRUE(recording.consumer().Subscribe({"orders"}).ok());
  ASSERT_EQ(recording.PollMessages(2).size(), 2u);

  const TopicPartition orders0{"orders", 0};
  ASSERT_TRUE(recording.consumer().CommitAsync({{orders0, 2}}).ok());
  ASSERT_TRUE(recording.PollUntil([&] { return !recording.commit_results().empty(); }));
  EXPECT_TRUE(recording.commit_results()[0].ok()) << recording.commit_results()[0];

  absl::StatusOr<std::vector<TopicPartitionOffset>> read = recording.consumer().Committed({orders0}, seconds(10));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ((*read)[0].offset, 2);
  EXPECT_TRUE(recording.consumer().Close(seconds(10)).ok());
}

TEST(RdKafkaConsumer, NewMemberStartsAtCommittedOffset) {
  ConsumerMockCluster cluster;
  cluster.CreateTopic("orders", 1);
  cluster.ProduceValues("orders", 0, 4);
  const TopicPartition orders0{"orders", 0};
  {
    RecordingConsumer first(cluster.MakeConnection(), "restart");
    ASSERT_TRUE(first.consumer().Subscribe({"orders"}).ok());
    ASSERT_EQ(first.PollMessages(4).size(), 4u);
    ASSERT_TRUE(first.consumer().CommitSync({{orders0, 2}}, seconds(10)).ok());
    ASSERT_TRUE(first.consumer().Close(seconds(10)).ok());
  }
  RecordingConsumer second(cluster.MakeConnection(), "restart");
  ASSERT_TRUE(second.consumer().Subscribe({"orders"}).ok());
  std::vector<Message> messages = second.PollMessages(2);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].offset, 2) << "offsets 2 and 3 were not committed, so they come again";
  EXPECT_EQ(messages[1].offset, 3);
  EXPECT_TRUE(second.consumer().Close(seconds(10)).ok());
}

TEST(RdKafkaConsumer, WakeupEndsWaitingPoll) {
  ConsumerMockCluster cluster;
  RecordingConsumer recording(cluster.MakeConnection(), "wakeup");

  // Without a wakeup, Poll waits out its timeout.
  auto start = std::chrono::steady_clock::now();
  recording.consumer().Poll(milliseconds(300));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(250));

  // A wakeup before or during the wait ends it early.
  start = std::chrono::steady_clock::now();
  std::future<void> poll = std::async(std::launch::async, [&] { recording.consumer().Poll(seconds(10)); });
  recording.consumer().Wakeup();
  ASSERT_EQ(poll.wait_for(seconds(5)), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3));
}

TEST(RdKafkaConsumer, PauseStopsFetchingUntilResume) {
  ConsumerMockCluster cluster;
  cluster.CreateTopic("orders", 1);
  cluster.ProduceValues("orders", 0, 1);
  const TopicPartition orders0{"orders", 0};

  RecordingConsumer recording(cluster.MakeConnection(), "pause");
  ASSERT_TRUE(recording.consumer().Subscribe({"orders"}).ok());
  ASSERT_EQ(recording.PollMessages(1).size(), 1u);
  ASSERT_TRUE(recording.consumer().Pause({orders0}).ok());
  cluster.ProduceValues("orders", 0, 2);
  EXPECT_TRUE(recording.PollMessages(1, seconds(2)).empty()) << "a paused partition delivers nothing";

  ASSERT_TRUE(recording.consumer().Resume({orders0}).ok());
  std::vector<Message> messages = recording.PollMessages(2);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].offset, 1) << "fetching resumes after the last returned message";
  EXPECT_TRUE(recording.consumer().Close(seconds(10)).ok());
}

TEST(RdKafkaConsumer, CloseRevokesThroughHandlerAndIsIdempotent) {
  ConsumerMockCluster cluster;
  cluster.CreateTopic("orders", 2);
  RecordingConsumer recording(cluster.MakeConnection(), "close");
  ASSERT_TRUE(recording.consumer().Subscribe({"orders"}).ok());
  ASSERT_TRUE(recording.PollUntil([&] { return !recording.events().empty(); }));
  ASSERT_EQ(recording.events()[0].type, RebalanceEvent::Type::kAssign);
  EXPECT_EQ(recording.events()[0].partitions.size(), 2u);

  absl::Status closed = recording.consumer().Close(seconds(10));
  ASSERT_TRUE(closed.ok()) << closed;
  ASSERT_EQ(recording.events().size(), 2u);
  EXPECT_EQ(recording.events()[1].type, RebalanceEvent::Type::kRevoke);
  EXPECT_EQ(recording.events()[1].partitions.size(), 2u);

  EXPECT_TRUE(recording.consumer().Close(seconds(10)).ok());
  EXPECT_EQ(recording.events().size(), 2u) << "a second close does nothing";
}

TEST(RdKafkaConsumer, CooperativeAssignmentIsIncremental) {
  ConsumerMockCluster cluster;
  cluster.CreateTopic("orders", 2);
  cluster.ProduceValues("orders", 0, 1);
  Connection connection = cluster.MakeConnection();
  connection.properties["partition.assignment.strategy"] = "cooperative-sticky";

  RecordingConsumer recording(connection, "cooperative");
  ASSERT_TRUE(recording.consumer().Subscribe({"orders"}).ok());
  std::vector<Message> messages = recording.PollMessages(1);
  ASSERT_EQ(messages.size(), 1u) << "incremental assign started fetching";
  ASSERT_FALSE(recording.events().empty());
  EXPECT_EQ(recording.events()[0].type, RebalanceEvent::Type::kAssign);
  EXPECT_EQ(recording.events()[0].partitions.size(), 2u);

  absl::Status closed = recording.consumer().Close(seconds(10));
  ASSERT_TRUE(closed.ok()) << closed;
  ASSERT_EQ(recording.events().size(), 2u);
  EXPECT_EQ(recording.events()[1].type, RebalanceEvent::Type::kRevoke);
  EXPECT_EQ(recording.events()[1].partitions.size(), 2u);
}

TEST(RdKafkaConsumer, MissingTopicReportsTopicNotFound) {
  ConsumerMockCluster cluster;
  cluster.SetTopicError("no-such-topic", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  RecordingConsumer recording(cluster.MakeConnection(), "missing");
  ASSERT_TRUE(recording.consumer().Subscribe({"no-such-topic"}).ok());
  std::optional<ConsumerError> error = recording.PollError();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ConsumerErrorKind::kTopicNotFound) << error->code << ": " << error->message;
  EXPECT_EQ(error->topic, "no-such-topic");
  EXPECT_TRUE(recording.consumer().Close(seconds(10)).ok());
}

TEST(RdKafkaClientFactory, CreatesWorkingConsumer) {
  ConsumerMockCluster cluster;
  cluster.CreateTopic("orders", 1);
  cluster.ProduceValues("orders", 0, 1);
  std::shared_ptr<ClientFactory> factory = MakeRdKafkaClientFactory();
  ConsumerOptions options;
  options.group_id = "factory";
  absl::StatusOr<std::unique_ptr<Consumer>> consumer = factory->CreateConsumer(cluster.MakeConnection(), options);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->Subscribe({"orders"}).ok());
  std::optional<Message> message;
  const auto deadline = std::chrono::steady_clock::now() + seconds(20);
  while (!message && std::chrono::steady_clock::now() < deadline) {
    message = (*consumer)->Poll(milliseconds(100)).message;
  }
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->value, std::optional<std::string>("v0"));
  EXPECT_TRUE((*consumer)->Close(seconds(10)).ok());
}

}  // namespace
}  // namespace kafkasidecar::kafka
