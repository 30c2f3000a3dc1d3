// Consume streams over real gRPC with the real librdkafka consumer, against
// librdkafka's mock cluster.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "../kafka/consumer_mock_cluster.h"
#include "consume_harness.h"
#include "kafka/client_factory.h"
#include "kafka/rdkafka_consumer.h"

namespace kafkasidecar::testing {
namespace {

using std::chrono::seconds;

// Reads the group's committed offset with a separate consumer.
std::optional<int64_t> CommittedOffset(const Connection& connection, const std::string& group,
                                       const kafka::TopicPartition& partition) {
  kafka::ConsumerOptions options;
  options.group_id = group;
  absl::StatusOr<std::unique_ptr<kafka::RdKafkaConsumer>> reader =
      kafka::RdKafkaConsumer::Create(connection, options);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return std::nullopt;
  absl::StatusOr<std::vector<kafka::TopicPartitionOffset>> committed =
      (*reader)->Committed({partition}, seconds(10));
  EXPECT_TRUE(committed.ok()) << committed.status();
  (*reader)->Close(seconds(10)).IgnoreError();
  if (!committed.ok() || committed->empty() || (*committed)[0].offset == kafka::kNoOffset) {
    return std::nullopt;
  }
  return (*committed)[0].offset;
}

TEST(RdKafkaStream, CommitsAckedOffsetsAndRedeliversTheRest) {
  ConsumerMockCluster cluster;
  cluster.CreateTopic("orders", 1);
  cluster.ProduceValues("orders", 0, 5);
  const Connection connection = cluster.MakeConnection();
  const kafka::TopicPartition orders0{"orders", 0};
  ConsumeHarness harness(connection, kafka::MakeRdKafkaClientFactory());

  {
    StreamClient client(harness.stub());
    ASSERT_TRUE(client.Subscribe(OrdersSubscription()));
    std::vector<v1::Message> messages = client.WaitForMessages(5, seconds(30));
    ASSERT_EQ(messages.size(), 5u);
    EXPECT_EQ(messages[0].value(), "v0");
    EXPECT_EQ(messages[4].offset(), 4);

    // orders/0@3 stays unacked, so the commit stops there even though @4
    // is acked.
    ASSERT_TRUE(client.AckSuccess({1, 2, 3, 5}));
    client.CloseWrites();
    grpc::Status status = client.Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(CommittedOffset(connection, "billing", orders0), 3);

  // The next member of the group starts at the commit: @3 and @4 again.
  StreamClient next(harness.stub());
  ASSERT_TRUE(next.Subscribe(OrdersSubscription()));
  std::vector<v1::Message> redelivered = next.WaitForMessages(2, seconds(30));
  ASSERT_EQ(redelivered.size(), 2u);
  EXPECT_EQ(redelivered[0].offset(), 3);
  EXPECT_EQ(redelivered[1].offset(), 4);
  ASSERT_TRUE(next.AckSuccess({1, 2}));
  next.CloseWrites();
  EXPECT_TRUE(next.Finish().ok());
  EXPECT_EQ(CommittedOffset(connection, "billing", orders0), 5);
}

TEST(RdKafkaStream, ForceCloseDuringDrainCommitsOnlyAcked) {
  ConsumerMockCluster cluster;
  cluster.CreateTopic("orders", 1);
  cluster.ProduceValues("orders", 0, 3);
  const Connection connection = cluster.MakeConnection();
  ConsumeHarness harness(connection, kafka::MakeRdKafkaClientFactory());

  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Subscribe(OrdersSubscription()));
  ASSERT_EQ(client.WaitForMessages(3, seconds(30)).size(), 3u);
  ASSERT_TRUE(client.Ack(1));

  harness.streams().BeginDrain();
  ASSERT_TRUE(client.WaitForEvent(v1::Event::TYPE_DRAINING).has_value());
  EXPECT_EQ(harness.streams().ForceClose(), 2u);
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(CommittedOffset(connection, "billing", {"orders", 0}), 1);
}

}  // namespace
}  // namespace kafkasidecar::testing
