#include "produce/producer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "produce/produce_call.h"

namespace kafkasidecar::produce {
namespace {

using ::testing::HasSubstr;
using std::chrono::milliseconds;

// A loopback port that refuses connections: bound, never listening.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class SingleConnection : public ConnectionLookup {
 public:
  explicit SingleConnection(const std::string& servers,
                            const std::map<std::string, std::string>& extra_properties = {}) {
    Connection connection;
    connection.id = "";
    connection.bootstrap_servers = servers;
    connection.properties = {{"bootstrap.servers", servers}};
    connection.properties.insert(extra_properties.begin(), extra_properties.end());
    connection_ = std::make_shared<const Connection>(connection);
  }
  std::shared_ptr<const Connection> Find(const std::string& id) const override {
    return id.empty() ? connection_ : nullptr;
  }

 private:
  std::shared_ptr<const Connection> connection_;
};

// Collects delivery results and lets a test wait for a count of them.
class Deliveries {
 public:
  SharedProducer::DeliveryCallback Callback() {
    return [this](const DeliveryResult& result) {
      std::lock_guard<std::mutex> lock(mutex_);
      results_.push_back(result);
      changed_.notify_all();
    };
  }
  bool WaitFor(size_t count, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return results_.size() >= count; });
  }
  std::vector<DeliveryResult> results() {
    std::lock_guard<std::mutex> lock(mutex_);
    return results_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<DeliveryResult> results_;
};

v1::ProduceRecord Record(const std::string& value) {
  v1::ProduceRecord record;
  record.set_value(value);
  return record;
}

v1::ProduceRequest ValidRequest() {
  v1::ProduceRequest request;
  request.set_topic("orders.v1_out-2");
  *request.add_records() = Record("x");
  return request;
}

TEST(ValidateProduceRequest, AcceptsValidRequest) { EXPECT_TRUE(ValidateProduceRequest(ValidRequest()).ok()); }

TEST(ValidateProduceRequest, RejectsEmptyTopic) {
  v1::ProduceRequest request = ValidRequest();
  request.set_topic("");
  absl::Status status = ValidateProduceRequest(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("topic must not be empty"));
}

TEST(ValidateProduceRequest, RejectsInvalidTopicNames) {
  for (const std::string& topic : std::vector<std::string>{"a b", "topic/1", ".", "..", std::string(250, 't'), "t\xc3\xa9"}) {
    v1::ProduceRequest request = ValidRequest();
    request.set_topic(topic);
    absl::Status status = ValidateProduceRequest(request);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << topic;
    EXPECT_THAT(std::string(status.message()), HasSubstr("invalid topic")) << topic;
  }
}

TEST(ValidateProduceRequest, RejectsNoRecords) {
  v1::ProduceRequest request = ValidRequest();
  request.clear_records();
  EXPECT_THAT(std::string(ValidateProduceRequest(request).message()), HasSubstr("records must not be empty"));
}

TEST(ValidateProduceRequest, RejectsNegativePartitionAndTimestamp) {
  v1::ProduceRequest request = ValidRequest();
  request.mutable_records(0)->set_partition(-1);
  EXPECT_THAT(std::string(ValidateProduceRequest(request).message()), HasSubstr("records[0].partition -1"));
  request = ValidRequest();
  *request.add_records() = Record("y");
  request.mutable_records(1)->set_timestamp_ms(-5);
  EXPECT_THAT(std::string(ValidateProduceRequest(request).message()), HasSubstr("records[1].timestamp_ms -5"));
}

TEST(ProducerPool, UnknownConnectionIsNotFound) {
  SingleConnection connections("127.0.0.1:9");
  ProducerPool pool(connections, 1000);
  auto producer = pool.Get("orders");
  ASSERT_FALSE(producer.ok());
  EXPECT_EQ(producer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(producer.status().message()), HasSubstr("\"orders\""));
}

TEST(ProducerPool, SharesOneProducerPerConnection) {
  SingleConnection connections("127.0.0.1:9");
  ProducerPool pool(connections, 1000);
  auto first = pool.Get("");
  auto second = pool.Get("");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->get(), second->get());
}

TEST(ProducerPool, CloseTwiceThenGetFails) {
  SingleConnection connections("127.0.0.1:9");
  ProducerPool pool(connections, 1000);
  ASSERT_TRUE(pool.Get("").ok());
  pool.Close();
  pool.Close();
  auto producer = pool.Get("");
  ASSERT_FALSE(producer.ok());
  EXPECT_EQ(producer.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ProducerPool, RejectsBadPropertyByName) {
  class BadConnection : public ConnectionLookup {
   public:
    std::shared_ptr<const Connection> Find(const std::string&) const override {
      auto connection = std::make_shared<Connection>();
      connection->properties = {{"bootstrap.servers", "127.0.0.1:9"}, {"linger.ms", "soon"}};
      return connection;
    }
  } connections;
  ProducerPool pool(connections, 1000);
  auto producer = pool.Get("");
  ASSERT_FALSE(producer.ok());
  EXPECT_EQ(producer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(producer.status().message()), HasSubstr("linger.ms"));
}

TEST(SharedProducer, DestroyWithRecordsInFlightReportsEachOnce) {
  RefusingPort broker;
  SingleConnection connections(broker.address());
  Deliveries deliveries;
  {
    auto producer = SharedProducer::Create(connections.Find(""));
    ASSERT_TRUE(producer.ok()) << producer.status();
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE((*producer)
                      ->Enqueue("t", Record("v" + std::to_string(i)), Clock::now() + milliseconds(1000),
                                deliveries.Callback())
                      .ok());
    }
    EXPECT_TRUE(deliveries.results().empty());
  }
  const std::vector<DeliveryResult> results = deliveries.results();
  ASSERT_EQ(results.size(), 3u);
  for (const DeliveryResult& result : results) {
    EXPECT_THAT(result.error, HasSubstr("PURGE"));
    EXPECT_EQ(result.partition, -1);
    EXPECT_EQ(result.offset, -1);
  }
}

TEST(SharedProducer, QueueFullRetriesUntilDeadline) {
  RefusingPort broker;
  SingleConnection connections(broker.address(), {{"queue.buffering.max.messages", "1"}});
  auto producer = SharedProducer::Create(connections.Find(""));
  ASSERT_TRUE(producer.ok()) << producer.status();
  Deliveries deliveries;
  ASSERT_TRUE((*producer)->Enqueue("t", Record("first"), Clock::now() + milliseconds(100), deliveries.Callback()).ok());
  const auto start = Clock::now();
  absl::Status second =
      (*producer)->Enqueue("t", Record("second"), start + milliseconds(300), deliveries.Callback());
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(second.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.message()), HasSubstr("QUEUE_FULL"));
  EXPECT_GE(elapsed, milliseconds(300));
  EXPECT_LT(elapsed, milliseconds(3000));
}

TEST(SharedProducer, FlushStopsAtDeadlineAndCountsUndelivered) {
  RefusingPort broker;
  SingleConnection connections(broker.address());
  auto producer = SharedProducer::Create(connections.Find(""));
  ASSERT_TRUE(producer.ok()) << producer.status();
  Deliveries deliveries;
  ASSERT_TRUE((*producer)->Enqueue("t", Record("v"), Clock::now() + milliseconds(1000), deliveries.Callback()).ok());
  const auto start = Clock::now();
  EXPECT_EQ((*producer)->Flush(start + milliseconds(300)), 1);
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(250));
  EXPECT_LT(elapsed, milliseconds(3000));
}

TEST(SharedProducer, RunAtRunsDueAndPendingTasks) {
  SingleConnection connections("127.0.0.1:9");
  std::atomic<int> early{0};
  std::atomic<int> late{0};
  std::mutex mutex;
  std::condition_variable ran;
  {
    auto producer = SharedProducer::Create(connections.Find(""));
    ASSERT_TRUE(producer.ok()) << producer.status();
    const auto start = Clock::now();
    std::atomic<int64_t> ran_after_ms{-1};
    (*producer)->RunAt(start + milliseconds(150), [&] {
      ran_after_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
      std::lock_guard<std::mutex> lock(mutex);
      ++early;
      ran.notify_all();
    });
    (*producer)->RunAt(start + std::chrono::hours(1), [&] { ++late; });
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(ran.wait_for(lock, std::chrono::seconds(5), [&] { return early.load() == 1; }));
    EXPECT_GE(ran_after_ms.load(), 150);
    EXPECT_EQ(late.load(), 0);
  }
  EXPECT_EQ(late.load(), 1);
}

TEST(SharedProducer, NullEmptyKeyAndHeadersAreAccepted) {
  SingleConnection connections("127.0.0.1:9");
  auto producer = SharedProducer::Create(connections.Find(""));
  ASSERT_TRUE(producer.ok()) << producer.status();
  v1::ProduceRecord record;
  record.set_key("");
  v1::Header* null_header = record.add_headers();
  null_header->set_name("trace");
  v1::Header* empty_header = record.add_headers();
  empty_header->set_name("empty");
  empty_header->set_value("");
  record.set_timestamp_ms(1700000000000);
  Deliveries deliveries;
  EXPECT_TRUE((*producer)->Enqueue("t", record, Clock::now() + milliseconds(100), deliveries.Callback()).ok());
}

// Runs only where KAFKA_BOOTSTRAP_SERVERS names a test broker and
// SIDECAR_PRODUCER_TEST_TOPIC an existing topic on it.
TEST(SharedProducer, DeliversToRunningBrokerWithOffsets) {
  const char* servers = std::getenv("KAFKA_BOOTSTRAP_SERVERS");
  if (servers == nullptr || *servers == '\0') GTEST_SKIP() << "KAFKA_BOOTSTRAP_SERVERS is not set";
  const char* topic = std::getenv("SIDECAR_PRODUCER_TEST_TOPIC");
  if (topic == nullptr) GTEST_SKIP() << "SIDECAR_PRODUCER_TEST_TOPIC names no existing topic";
  SingleConnection connections(servers);
  auto producer = SharedProducer::Create(connections.Find(""));
  ASSERT_TRUE(producer.ok()) << producer.status();
  Deliveries deliveries;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        (*producer)->Enqueue(topic, Record("v" + std::to_string(i)), Clock::now() + milliseconds(10000),
                             deliveries.Callback())
            .ok());
  }
  ASSERT_TRUE(deliveries.WaitFor(5, milliseconds(15000)));
  for (const DeliveryResult& result : deliveries.results()) {
    EXPECT_EQ(result.error, "");
    EXPECT_GE(result.partition, 0);
    EXPECT_GE(result.offset, 0);
  }
}

// With room for one record in librdkafka's queue, every further record waits
// for the previous delivery. Runs only where KAFKA_BOOTSTRAP_SERVERS names a
// test broker and SIDECAR_PRODUCER_TEST_TOPIC an existing topic on it.
TEST(SharedProducer, QueueFullWaitsForRoomOnRunningBroker) {
  const char* servers = std::getenv("KAFKA_BOOTSTRAP_SERVERS");
  if (servers == nullptr || *servers == '\0') GTEST_SKIP() << "KAFKA_BOOTSTRAP_SERVERS is not set";
  const char* topic = std::getenv("SIDECAR_PRODUCER_TEST_TOPIC");
  if (topic == nullptr) GTEST_SKIP() << "SIDECAR_PRODUCER_TEST_TOPIC names no existing topic";
  SingleConnection connections(servers, {{"queue.buffering.max.messages", "1"}});
  auto producer = SharedProducer::Create(connections.Find(""));
  ASSERT_TRUE(producer.ok()) << producer.status();
  Deliveries deliveries;
  for (int i = 0; i < 20; ++i) {
    absl::Status enqueued = (*producer)->Enqueue(topic, Record("q" + std::to_string(i)),
                                                 Clock::now() + milliseconds(10000), deliveries.Callback());
    ASSERT_TRUE(enqueued.ok()) << i << ": " << enqueued;
  }
  ASSERT_TRUE(deliveries.WaitFor(20, milliseconds(15000)));
  for (const DeliveryResult& result : deliveries.results()) EXPECT_EQ(result.error, "");
}

}  // namespace
}  // namespace kafkasidecar::produce
