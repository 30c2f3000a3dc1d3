// Consume streams end to end over real gRPC, with FakeKafka behind the
// consumer seam.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "consume_harness.h"
#include "logging/logging.h"

namespace kafkasidecar::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const kafka::TopicPartition kOrders0{"orders", 0};
const kafka::TopicPartition kOrders1{"orders", 1};

bool HasText(const grpc::Status& status, const std::string& text) {
  return status.error_message().find(text) != std::string::npos;
}

std::vector<uint64_t> Ids(const std::vector<v1::Message>& messages) {
  std::vector<uint64_t> ids;
  for (const v1::Message& message : messages) ids.push_back(message.delivery_id());
  return ids;
}

// Subscribes and assigns orders/0, and waits for `count` messages.
std::vector<v1::Message> StartOrders(ConsumeHarness& harness, StreamClient& client,
                                     const v1::Subscribe& subscribe, size_t count) {
  EXPECT_TRUE(client.Subscribe(subscribe));
  harness.kafka().Assign({kOrders0});
  return client.WaitForMessages(count);
}

TEST(ConsumeStream, DeliversFieldsAndCommitsAtClose) {
  ConsumeHarness harness;
  kafka::Message tombstone;
  tombstone.partition = kOrders0;
  tombstone.offset = 0;
  tombstone.key = "customer-7";
  tombstone.timestamp_ms = 1234;
  tombstone.headers = {{"trace", std::string("abc")}, {"empty", std::nullopt}};
  harness.kafka().AddMessage(tombstone);
  kafka::Message empty_value;
  empty_value.partition = kOrders0;
  empty_value.offset = 1;
  empty_value.value = "";
  harness.kafka().AddMessage(empty_value);

  StreamClient client(harness.stub());
  std::vector<v1::Message> messages = StartOrders(harness, client, OrdersSubscription(), 2);
  ASSERT_EQ(messages.size(), 2u);

  const v1::Message& first = messages[0];
  EXPECT_EQ(first.delivery_id(), 1u);
  EXPECT_EQ(first.attempt(), 1u);
  EXPECT_EQ(first.topic(), "orders");
  EXPECT_EQ(first.partition(), 0);
  EXPECT_EQ(first.offset(), 0);
  EXPECT_EQ(first.timestamp_ms(), 1234);
  ASSERT_TRUE(first.has_key());
  EXPECT_EQ(first.key(), "customer-7");
  EXPECT_FALSE(first.has_value()) << "a tombstone has no value";
  ASSERT_EQ(first.headers_size(), 2);
  EXPECT_EQ(first.headers(0).name(), "trace");
  EXPECT_EQ(first.headers(0).value(), "abc");
  EXPECT_EQ(first.headers(1).name(), "empty");
  EXPECT_FALSE(first.headers(1).has_value()) << "a null header value stays unset";

  const v1::Message& second = messages[1];
  EXPECT_EQ(second.delivery_id(), 2u);
  EXPECT_FALSE(second.has_key());
  ASSERT_TRUE(second.has_value()) << "an empty value is set and empty";
  EXPECT_EQ(second.value(), "");
  EXPECT_EQ(second.timestamp_ms(), -1);

  ASSERT_TRUE(client.AckSuccess({1, 2}));
  client.CloseWrites();
  grpc::Status status = client.Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();

  EXPECT_EQ(harness.kafka().Committed(kOrders0), 2);
  FakeKafka::State state = harness.kafka().Snapshot();
  EXPECT_TRUE(state.closed);
  EXPECT_EQ(state.group_id, "billing");
  EXPECT_EQ(state.auto_offset_reset, "earliest");
  EXPECT_EQ(state.subscribed, std::vector<std::string>{"orders"});
  EXPECT_EQ(state.backwards_commits, 0);

  std::vector<v1::Event> events = client.Events();
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[0].type(), v1::Event::TYPE_SUBSCRIBED);
  EXPECT_EQ(events[1].type(), v1::Event::TYPE_PARTITIONS_ASSIGNED);
  ASSERT_EQ(events[1].partitions_size(), 1);
  EXPECT_EQ(events[1].partitions(0).topic(), "orders");
}

TEST(ConsumeStream, WindowBoundsDeliveryAndPausesPartition) {
  // Fetching pauses once 3 messages are in flight and 4 wait in the backlog.
  ConsumeDefaults defaults;
  defaults.backlog_max_messages = 4;
  ConsumeHarness harness(FakeConnection(), nullptr, defaults);
  harness.kafka().Produce("orders", 0, 10);
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_max_in_flight(3);

  StreamClient client(harness.stub());
  StartOrders(harness, client, subscribe, 3);
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) { return s.paused.count(kOrders0) > 0; }));
  harness.Barrier(client);
  EXPECT_EQ(client.Messages().size(), 3u) << "a full window delivers nothing more";

  ASSERT_TRUE(client.Ack(1));
  std::vector<v1::Message> messages = client.WaitForMessages(4);
  harness.Barrier(client);
  EXPECT_EQ(client.Messages().size(), 4u) << "one ack frees exactly one place";

  // Ack everything as it arrives; the window keeps refilling.
  for (uint64_t id = 2; id <= 10; ++id) {
    client.WaitForMessages(std::min<size_t>(id + 2, 10));
    ASSERT_TRUE(client.Ack(id));
  }
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) {
    auto found = s.committed.find(kOrders0);
    return found != s.committed.end() && found->second == 10;
  }));
  EXPECT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) { return s.paused.count(kOrders0) == 0; }))
      << "the partition is resumed once the window has room";

  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
  EXPECT_EQ(Ids(client.Messages()), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST(ConsumeStream, BacklogKeepsFetchOrderWhilePaused) {
  ConsumeHarness harness;
  // Pausing takes effect late: the consumer keeps returning messages.
  harness.kafka().SetIgnorePause(true);
  for (int i = 0; i < 6; ++i) {
    harness.kafka().Produce("orders", 0, 1);
    harness.kafka().Produce("orders", 1, 1);
  }
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_max_in_flight(2);

  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Subscribe(subscribe));
  harness.kafka().Assign({kOrders0, kOrders1});
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) { return s.fetched == 12; }));
  harness.Barrier(client);
  EXPECT_EQ(client.Messages().size(), 2u) << "fetched messages wait in the backlog";

  for (uint64_t id = 1; id <= 12; ++id) {
    client.WaitForMessages(std::min<size_t>(id + 1, 12));
    ASSERT_TRUE(client.Ack(id));
  }
  std::vector<v1::Message> messages = client.WaitForMessages(12);
  ASSERT_EQ(messages.size(), 12u);
  // Delivered in fetch order: partitions alternate, offsets rise.
  for (size_t i = 0; i < messages.size(); ++i) {
    EXPECT_EQ(messages[i].partition(), static_cast<int32_t>(i % 2)) << "message " << i;
    EXPECT_EQ(messages[i].offset(), static_cast<int64_t>(i / 2)) << "message " << i;
    EXPECT_EQ(messages[i].delivery_id(), i + 1);
  }
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
  EXPECT_EQ(harness.kafka().Committed(kOrders0), 6);
  EXPECT_EQ(harness.kafka().Committed(kOrders1), 6);
}

TEST(ConsumeStream, UnknownAckIdEndsStream) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 3);
  StreamClient client(harness.stub());
  StartOrders(harness, client, OrdersSubscription(), 3);

  ASSERT_TRUE(client.AckSuccess({1, 99, 2}));
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(HasText(status, "delivery_id 99")) << status.error_message();
  EXPECT_TRUE(HasText(status, "never delivered")) << status.error_message();

  // The ack before the bad one counts; the one after it does not.
  EXPECT_EQ(harness.kafka().Committed(kOrders0), 1);
  EXPECT_EQ(harness.kafka().MaxCommitted(kOrders0), 1);
  EXPECT_TRUE(harness.kafka().Snapshot().closed);
}

TEST(ConsumeStream, AckWithDeliveryIdZeroIsRejected) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 1);
  StreamClient client(harness.stub());
  StartOrders(harness, client, OrdersSubscription(), 1);

  ASSERT_TRUE(client.Ack(0));
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(HasText(status, "delivery_id 0")) << status.error_message();
  EXPECT_FALSE(harness.kafka().MaxCommitted(kOrders0).has_value());
}

TEST(ConsumeStream, AckWithUnspecifiedStatusIsRejected) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 1);
  StreamClient client(harness.stub());
  StartOrders(harness, client, OrdersSubscription(), 1);

  ASSERT_TRUE(client.Ack(1, v1::Ack::STATUS_UNSPECIFIED));
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(HasText(status, "delivery_id 1 has status STATUS_UNSPECIFIED")) << status.error_message();
  EXPECT_FALSE(harness.kafka().MaxCommitted(kOrders0).has_value());
}

TEST(ConsumeStream, OutOfOrderAcksCommitUpToGap) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 3);
  harness.kafka().Produce("orders", 1, 1);
  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Subscribe(OrdersSubscription()));
  harness.kafka().Assign({kOrders0, kOrders1});
  std::vector<v1::Message> messages = client.WaitForMessages(4);
  std::map<std::pair<int32_t, int64_t>, uint64_t> id_of;
  for (const v1::Message& message : messages) id_of[{message.partition(), message.offset()}] = message.delivery_id();

  // orders/0@1 and @2 acked, @0 not; the orders/1 ack in the same frame
  // shows when the frame was processed.
  ASSERT_TRUE(client.AckSuccess({id_of[{0, 2}], id_of[{0, 1}], id_of[{1, 0}]}));
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) { return s.committed.count(kOrders1) > 0; }));
  EXPECT_FALSE(harness.kafka().MaxCommitted(kOrders0).has_value()) << "orders/0@0 is unacked";

  ASSERT_TRUE(client.Ack(id_of[{0, 0}]));
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) {
    auto found = s.committed.find(kOrders0);
    return found != s.committed.end() && found->second == 3;
  }));
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
}

TEST(ConsumeStream, StopPolicyCommitsOnlyBeforeFailedMessage) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 5);
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_on_error(v1::ON_ERROR_STOP);
  StreamClient client(harness.stub());
  StartOrders(harness, client, subscribe, 5);

  ASSERT_TRUE(client.AckSuccess({1, 2}));
  ASSERT_TRUE(client.Acks({{3, v1::Ack::STATUS_ERROR, "bad row: missing account_id"},
                           {4, v1::Ack::STATUS_SUCCESS, ""},
                           {5, v1::Ack::STATUS_SUCCESS, ""}}));
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_TRUE(HasText(status, "orders/0@2")) << status.error_message();
  EXPECT_TRUE(HasText(status, "bad row: missing account_id")) << status.error_message();

  EXPECT_EQ(harness.kafka().Committed(kOrders0), 2);
  EXPECT_EQ(harness.kafka().MaxCommitted(kOrders0), 2) << "nothing from the failed offset on";
  EXPECT_TRUE(harness.kafka().Snapshot().closed);
}

TEST(ConsumeStream, RetryRedeliversWithNextAttemptThenMovesOn) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 2);
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_on_error(v1::ON_ERROR_RETRY);
  subscribe.set_max_retries(2);
  subscribe.add_retry_backoff_ms(10);
  StreamClient client(harness.stub());
  StartOrders(harness, client, subscribe, 2);

  ASSERT_TRUE(client.Ack(2));
  ASSERT_TRUE(client.Ack(1, v1::Ack::STATUS_ERROR, "database busy"));
  std::vector<v1::Message> messages = client.WaitForMessages(3);
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[2].delivery_id(), 3u) << "a redelivery gets a new id";
  EXPECT_EQ(messages[2].offset(), 0);
  EXPECT_EQ(messages[2].attempt(), 2u);
  EXPECT_EQ(messages[2].value(), "v0");
  EXPECT_FALSE(harness.kafka().MaxCommitted(kOrders0).has_value())
      << "orders/0@1 is acked, but the commit waits behind the retried @0";

  ASSERT_TRUE(client.Ack(3, v1::Ack::STATUS_ERROR, "database busy"));
  messages = client.WaitForMessages(4);
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[3].delivery_id(), 4u);
  EXPECT_EQ(messages[3].attempt(), 3u);
  EXPECT_FALSE(harness.kafka().MaxCommitted(kOrders0).has_value());

  // An ack for the superseded delivery is dropped and does not end the
  // stream.
  ASSERT_TRUE(client.Ack(1));
  ASSERT_TRUE(client.Ack(4, v1::Ack::STATUS_ERROR, "database busy"));
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) {
    auto found = s.committed.find(kOrders0);
    return found != s.committed.end() && found->second == 2;
  })) << "after max_retries the policy moves past the message";

  harness.Barrier(client);
  EXPECT_EQ(client.Messages().size(), 4u) << "no fourth attempt";
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
}

TEST(ConsumeStream, ContinuePolicyCommitsPastFailedMessage) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 2);
  StreamClient client(harness.stub());
  StartOrders(harness, client, OrdersSubscription(), 2);

  ASSERT_TRUE(client.Acks({{1, v1::Ack::STATUS_ERROR, "unparseable"}, {2, v1::Ack::STATUS_SUCCESS, ""}}));
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) {
    auto found = s.committed.find(kOrders0);
    return found != s.committed.end() && found->second == 2;
  }));
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
  EXPECT_EQ(client.Messages().size(), 2u) << "continue never redelivers";
}

TEST(ConsumeStream, RevokeWaitsForInFlightAcksThenCommits) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 3);
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_shutdown_drain_timeout_s(20);
  StreamClient client(harness.stub());
  StartOrders(harness, client, subscribe, 3);
  ASSERT_TRUE(client.Ack(1));

  harness.kafka().Revoke({kOrders0});
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) { return s.in_rebalance; }));
  const auto revoke_started = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.AckSuccess({2, 3}));

  std::optional<v1::Event> revoked = client.WaitForEvent(v1::Event::TYPE_PARTITIONS_REVOKED);
  ASSERT_TRUE(revoked.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - revoke_started, seconds(4))
      << "the revoke ends as soon as the acks are in, not at its time limit";
  EXPECT_EQ(harness.kafka().Committed(kOrders0), 3);
  ASSERT_EQ(revoked->partitions_size(), 1);
  EXPECT_EQ(revoked->partitions(0).topic(), "orders");
  EXPECT_NE(revoked->detail().find("orders/0@3"), std::string::npos) << revoked->detail();
  EXPECT_TRUE(harness.kafka().Snapshot().assigned.empty());

  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
}

TEST(ConsumeStream, RevokeDropsLateAcksAndRedelivers) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 3);
  harness.kafka().Produce("orders", 1, 1);
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_shutdown_drain_timeout_s(1);  // bounds the revoke's wait to 1 s
  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Subscribe(subscribe));
  harness.kafka().Assign({kOrders0});
  std::vector<v1::Message> first = client.WaitForMessages(3);
  ASSERT_EQ(first.size(), 3u);
  ASSERT_TRUE(client.Ack(first[0].delivery_id()));
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) { return s.committed.count(kOrders0) > 0; }));

  harness.kafka().Revoke({kOrders0});
  ASSERT_TRUE(client.WaitForEvent(v1::Event::TYPE_PARTITIONS_REVOKED).has_value());
  EXPECT_EQ(harness.kafka().Committed(kOrders0), 1);

  // orders/1 is assigned now; its ack rides in the same frame as the late
  // acks, so its commit shows that the frame was processed.
  harness.kafka().Assign({kOrders1});
  std::vector<v1::Message> all = client.WaitForMessages(4);
  ASSERT_EQ(all.size(), 4u);
  ASSERT_EQ(all[3].partition(), 1);
  ASSERT_TRUE(client.AckSuccess({first[1].delivery_id(), first[2].delivery_id(), all[3].delivery_id()}));
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) { return s.committed.count(kOrders1) > 0; }));
  EXPECT_EQ(harness.kafka().MaxCommitted(kOrders0), 1) << "late acks for a revoked partition commit nothing";

  // Assigned again, the partition restarts at the committed offset and the
  // unacked messages come back with new delivery ids.
  harness.kafka().Assign({kOrders0});
  all = client.WaitForMessages(6);
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[4].offset(), 1);
  EXPECT_EQ(all[5].offset(), 2);
  EXPECT_EQ(all[4].delivery_id(), 5u);
  EXPECT_EQ(all[4].attempt(), 1u);
  ASSERT_TRUE(client.AckSuccess({5, 6}));
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
  EXPECT_EQ(harness.kafka().Committed(kOrders0), 3);
  EXPECT_EQ(harness.kafka().Snapshot().backwards_commits, 0);
}

TEST(ConsumeStream, LostAssignmentCommitsNothing) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 3);
  v1::Subscribe subscribe = OrdersSubscription();
  // Acks alone do not commit within this test's time.
  subscribe.set_commit_strategy(v1::COMMIT_STRATEGY_PERIODIC);
  subscribe.set_commit_interval_ms(600000);
  StreamClient client(harness.stub());
  StartOrders(harness, client, subscribe, 3);
  ASSERT_TRUE(client.AckSuccess({1, 2}));

  harness.kafka().Rebalance(kafka::RebalanceEvent::Type::kLost, {kOrders0});
  std::optional<v1::Event> revoked = client.WaitForEvent(v1::Event::TYPE_PARTITIONS_REVOKED);
  ASSERT_TRUE(revoked.has_value());
  EXPECT_NE(revoked->detail().find("assignment lost"), std::string::npos) << revoked->detail();

  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
  EXPECT_FALSE(harness.kafka().MaxCommitted(kOrders0).has_value())
      << "another member may own the partition already";
}

TEST(ConsumeStream, PeriodicStrategyDefersCommitsToFinalSyncCommit) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 4);
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_commit_strategy(v1::COMMIT_STRATEGY_PERIODIC);
  subscribe.set_commit_interval_ms(600000);
  StreamClient client(harness.stub());
  StartOrders(harness, client, subscribe, 4);
  ASSERT_TRUE(client.AckSuccess({1, 2, 3, 4}));
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());

  FakeKafka::State state = harness.kafka().Snapshot();
  ASSERT_EQ(state.commits.size(), 1u);
  EXPECT_TRUE(state.commits[0].sync);
  EXPECT_EQ(harness.kafka().Committed(kOrders0), 4);
}

TEST(ConsumeStream, BatchStrategyCommitsNothingBelowBatchSize) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 4);
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_commit_strategy(v1::COMMIT_STRATEGY_BATCH);
  subscribe.set_commit_batch_size(100);
  StreamClient client(harness.stub());
  StartOrders(harness, client, subscribe, 4);
  ASSERT_TRUE(client.AckSuccess({1, 2, 3, 4}));
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());

  FakeKafka::State state = harness.kafka().Snapshot();
  ASSERT_EQ(state.commits.size(), 1u) << "only the final commit";
  EXPECT_TRUE(state.commits[0].sync);
  EXPECT_EQ(harness.kafka().Committed(kOrders0), 4);
}

TEST(ConsumeStream, AsyncCommitsDoNotOverlap) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 2);
  harness.kafka().HoldCommitResults(true);
  StreamClient client(harness.stub());
  StartOrders(harness, client, OrdersSubscription(), 2);

  ASSERT_TRUE(client.Ack(1));
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) { return s.commits.size() == 1; }));
  // The first commit has no result yet, so this ack waits for the next
  // commit, which here is the final one.
  ASSERT_TRUE(client.Ack(2));
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());

  FakeKafka::State state = harness.kafka().Snapshot();
  ASSERT_EQ(state.commits.size(), 2u);
  EXPECT_FALSE(state.commits[0].sync);
  EXPECT_EQ(state.commits[0].offsets[0].offset, 1);
  EXPECT_TRUE(state.commits[1].sync);
  EXPECT_EQ(state.commits[1].offsets[0].offset, 2);
}

TEST(ConsumeStream, FailedAsyncCommitIsRetried) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 1);
  harness.kafka().FailNextAsyncCommits(1);
  StreamClient client(harness.stub());
  StartOrders(harness, client, OrdersSubscription(), 1);
  ASSERT_TRUE(client.Ack(1));

  EXPECT_TRUE(harness.kafka().WaitFor(
      [](const FakeKafka::State& s) {
        auto found = s.committed.find(kOrders0);
        return found != s.committed.end() && found->second == 1;
      },
      seconds(5)))
      << "the failed commit is retried without waiting for another ack";
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
}

TEST(ConsumeStream, DrainStopsDeliveryButKeepsCommittingAcks) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 5);
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_max_in_flight(2);
  StreamClient client(harness.stub());
  StartOrders(harness, client, subscribe, 2);

  harness.streams().BeginDrain();
  std::optional<v1::Event> draining = client.WaitForEvent(v1::Event::TYPE_DRAINING);
  ASSERT_TRUE(draining.has_value());
  EXPECT_NE(draining->detail().find("sidecar shutting down"), std::string::npos);

  ASSERT_TRUE(client.AckSuccess({1, 2}));
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) {
    auto found = s.committed.find(kOrders0);
    return found != s.committed.end() && found->second == 2;
  }));
  harness.Barrier(client);
  EXPECT_EQ(client.Messages().size(), 2u) << "no deliveries while draining";
  EXPECT_GT(harness.kafka().Snapshot().paused.count(kOrders0), 0u) << "fetching stops";

  // New streams are refused while draining.
  StreamClient late(harness.stub());
  late.Subscribe(OrdersSubscription());
  grpc::Status refused = late.Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);

  EXPECT_FALSE(harness.streams().WaitAllClosed(std::chrono::steady_clock::now() + milliseconds(100)));
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
  EXPECT_TRUE(harness.streams().WaitAllClosed(std::chrono::steady_clock::now() + seconds(5)));
  EXPECT_TRUE(harness.kafka().Snapshot().closed);
  EXPECT_EQ(harness.kafka().Committed(kOrders0), 2);
}

TEST(ConsumeStream, ForceCloseCommitsOnlyAckedAndCountsAbandoned) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 4);
  StreamClient client(harness.stub());
  StartOrders(harness, client, OrdersSubscription(), 4);
  ASSERT_TRUE(client.AckSuccess({1, 3}));
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) { return s.committed.count(kOrders0) > 0; }));

  harness.streams().BeginDrain();
  EXPECT_FALSE(harness.streams().WaitAllClosed(std::chrono::steady_clock::now() + milliseconds(200)));
  EXPECT_EQ(harness.streams().ForceClose(), 2u) << "offsets 1 and 3 were never acked";

  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "sidecar shutting down");
  EXPECT_EQ(harness.kafka().Committed(kOrders0), 1) << "orders/0@1 is unacked, so the commit stays at 1";
  EXPECT_EQ(harness.kafka().MaxCommitted(kOrders0), 1);
  EXPECT_TRUE(harness.kafka().Snapshot().closed);

  // Closing again, and acking after the close, are harmless.
  EXPECT_EQ(harness.streams().ForceClose(), 0u);
  harness.streams().BeginDrain();
  EXPECT_TRUE(harness.streams().WaitAllClosed(std::chrono::steady_clock::now() + seconds(1)));
  client.Ack(2);
}

TEST(ConsumeStream, CloseCallsAfterNormalEndAreHarmless) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 1);
  StreamClient client(harness.stub());
  StartOrders(harness, client, OrdersSubscription(), 1);
  ASSERT_TRUE(client.Ack(1));
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());

  EXPECT_TRUE(harness.streams().WaitAllClosed(std::chrono::steady_clock::now() + seconds(5)));
  harness.streams().BeginDrain();
  harness.streams().BeginDrain();
  EXPECT_EQ(harness.streams().ForceClose(), 0u);
  EXPECT_EQ(harness.streams().ForceClose(), 0u);
  EXPECT_EQ(harness.kafka().Committed(kOrders0), 1);
  EXPECT_EQ(harness.kafka().Snapshot().commits.size(), 1u) << "no commit after the close";
}

TEST(ConsumeStream, CancelledStreamCommitsAckedAndClosesConsumer) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 3);
  StreamClient client(harness.stub());
  StartOrders(harness, client, OrdersSubscription(), 3);
  ASSERT_TRUE(client.Ack(1));
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) { return s.committed.count(kOrders0) > 0; }));

  client.Cancel();
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) { return s.closed; }));
  EXPECT_EQ(harness.kafka().MaxCommitted(kOrders0), 1);
  EXPECT_TRUE(harness.streams().WaitAllClosed(std::chrono::steady_clock::now() + seconds(5)));
}

TEST(ConsumeStream, FirstRequestMustBeSubscribe) {
  ConsumeHarness harness;
  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Ack(1));
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(HasText(status, "must carry subscribe")) << status.error_message();
  EXPECT_EQ(harness.kafka().Snapshot().consumers_created, 0);
}

TEST(ConsumeStream, EmptyGroupIdIsRejected) {
  ConsumeHarness harness;
  StreamClient client(harness.stub());
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.clear_group_id();
  ASSERT_TRUE(client.Subscribe(subscribe));
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(HasText(status, "subscribe.group_id")) << status.error_message();
}

TEST(ConsumeStream, UnknownConnectionIsNotFound) {
  ConsumeHarness harness;
  StreamClient client(harness.stub());
  v1::Subscribe subscribe = OrdersSubscription();
  subscribe.set_connection_id("analytics");
  ASSERT_TRUE(client.Subscribe(subscribe));
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(HasText(status, "connection \"analytics\"")) << status.error_message();
}

TEST(ConsumeStream, SecondSubscribeIsRejected) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 1);
  StreamClient client(harness.stub());
  StartOrders(harness, client, OrdersSubscription(), 1);
  ASSERT_TRUE(client.Ack(1));
  ASSERT_TRUE(client.Subscribe(OrdersSubscription()));
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(HasText(status, "already subscribed")) << status.error_message();
  EXPECT_EQ(harness.kafka().Committed(kOrders0), 1) << "acks before the bad request still count";
}

TEST(ConsumeStream, ConsumerCreationErrorEndsStream) {
  ConsumeHarness harness;
  harness.kafka().SetCreateError(
      absl::InvalidArgumentError("invalid value for librdkafka property fetch.max.bytes = \"-1\""));
  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Subscribe(OrdersSubscription()));
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(HasText(status, "fetch.max.bytes")) << status.error_message();
  EXPECT_TRUE(harness.streams().WaitAllClosed(std::chrono::steady_clock::now() + seconds(5)));
}

TEST(ConsumeStream, UnknownTopicEndsStreamWithNotFound) {
  ConsumeHarness harness;
  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Subscribe(OrdersSubscription()));
  harness.kafka().InjectError({kafka::ConsumerErrorKind::kTopicNotFound, "UNKNOWN_TOPIC_OR_PART",
                               "orders", -1, "Subscribed topic not available"});
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(HasText(status, "topic \"orders\" does not exist")) << status.error_message();
}

TEST(ConsumeStream, FatalErrorEndsStreamWithInternal) {
  ConsumeHarness harness;
  harness.kafka().Produce("orders", 0, 2);
  StreamClient client(harness.stub());
  StartOrders(harness, client, OrdersSubscription(), 2);
  ASSERT_TRUE(client.Ack(1));
  ASSERT_TRUE(harness.kafka().WaitFor([](const FakeKafka::State& s) { return s.committed.count(kOrders0) > 0; }));
  harness.kafka().InjectError({kafka::ConsumerErrorKind::kFatal, "FENCED_INSTANCE_ID", "", -1,
                               "static member fenced"});
  grpc::Status status = client.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_TRUE(HasText(status, "FENCED_INSTANCE_ID")) << status.error_message();
  EXPECT_EQ(harness.kafka().MaxCommitted(kOrders0), 1);
}

TEST(ConsumeStream, TransientErrorsKeepStreamRunning) {
  ConsumeHarness harness;
  StreamClient client(harness.stub());
  ASSERT_TRUE(client.Subscribe(OrdersSubscription()));
  harness.kafka().Assign({kOrders0});
  for (int i = 0; i < 3; ++i) {
    harness.kafka().InjectError({kafka::ConsumerErrorKind::kTransient, "_ALL_BROKERS_DOWN", "", -1,
                                 "1/1 brokers are down"});
  }
  harness.kafka().Produce("orders", 0, 1);
  client.WaitForMessages(1);
  ASSERT_TRUE(client.Ack(1));
  client.CloseWrites();
  EXPECT_TRUE(client.Finish().ok());
  EXPECT_EQ(harness.kafka().Committed(kOrders0), 1);
}

TEST(ConsumeStream, SummaryLoggedAtStreamEnd) {
  // Capture the consume logger's lines while no stream is open.
  std::shared_ptr<spdlog::logger> logger = logging::Get(logging::kConsume);
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(200);
  const spdlog::level::level_enum saved_level = logger->level();
  logger->set_level(spdlog::level::info);
  logger->sinks().push_back(sink);
  {
    ConsumeHarness harness;
    harness.kafka().Produce("orders", 0, 3);
    StreamClient client(harness.stub());
    StartOrders(harness, client, OrdersSubscription(), 3);
    ASSERT_TRUE(client.Acks({{1, v1::Ack::STATUS_SUCCESS, ""},
                             {2, v1::Ack::STATUS_ERROR, "bad json"},
                             {3, v1::Ack::STATUS_SUCCESS, ""}}));
    client.CloseWrites();
    EXPECT_TRUE(client.Finish().ok());
    EXPECT_TRUE(harness.streams().WaitAllClosed(std::chrono::steady_clock::now() + seconds(5)));
  }
  logger->sinks().pop_back();
  logger->set_level(saved_level);

  bool summary_found = false;
  bool error_logged = false;
  for (const std::string& line : sink->last_formatted()) {
    if (line.find("Processed 3 messages, Errors: 1, Rate:") != std::string::npos) summary_found = true;
    if (line.find("orders/0@1") != std::string::npos && line.find("bad json") != std::string::npos) {
      error_logged = true;
    }
  }
  EXPECT_TRUE(summary_found);
  EXPECT_TRUE(error_logged) << "the job's error is logged with topic/partition@offset";
}

}  // namespace
}  // namespace kafkasidecar::testing
