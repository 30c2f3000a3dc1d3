// Checks that the librdkafka the sidecar links (Debian 12: 2.0.2) works with
// the test broker, Apache Kafka 4.1.1, which no longer accepts the oldest
// protocol versions. Covered: topic creation through the admin API,
// idempotent produce with delivery reports, group consume with manual
// commit, committed offsets and watermarks. Reads the broker address from KAFKA_BOOTSTRAP_SERVERS.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "kafka/rdkafka_handles.h"

namespace kafkasidecar::kafka {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 10000;

// Owners of the admin API's handles, which only this test uses.
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* topic) const { rd_kafka_NewTopic_destroy(topic); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* options) const { rd_kafka_AdminOptions_destroy(options); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* event) const { rd_kafka_event_destroy(event); }
};
using NewTopicPtr = std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>;
using AdminOptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

// Delivery report counts. librdkafka calls OnDelivery from rd_kafka_poll()
// and rd_kafka_flush() on the test thread, so no lock is needed.
struct DeliveryCounts {
  int delivered = 0;
  int failed = 0;
  std::string first_error;
};

void OnDelivery(rd_kafka_t* /*handle*/, const rd_kafka_message_t* message, void* opaque) {
  auto* counts = static_cast<DeliveryCounts*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++counts->delivered;
    return;
  }
  ++counts->failed;
  if (counts->first_error.empty()) counts->first_error = rd_kafka_err2str(message->err);
}

std::string UniqueName(const std::string& prefix) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return prefix + "-" + std::to_string(getpid()) + "-" +
         std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

class LibrdkafkaSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* servers = std::getenv("KAFKA_BOOTSTRAP_SERVERS");
    ASSERT_FALSE(servers == nullptr || *servers == '\0')
        << "KAFKA_BOOTSTRAP_SERVERS is not set. Start a broker with `scripts/kafka-broker.sh start` "
           "and run with KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:39092, or run scripts/run-tests.sh.";
    bootstrap_servers_ = servers;
  }

  // Creates a client of the given type, failing the test with librdkafka's
  // reason if the configuration or the handle is rejected.
  HandlePtr NewClient(rd_kafka_type_t type, std::map<std::string, std::string> properties,
                      DeliveryCounts* delivery_counts = nullptr) {
    properties["bootstrap.servers"] = bootstrap_servers_;
    absl::StatusOr<ConfPtr> conf = MakeConf(properties);
    EXPECT_TRUE(conf.ok()) << conf.status();
    if (!conf.ok()) return nullptr;
    if (delivery_counts != nullptr) {
      rd_kafka_conf_set_dr_msg_cb(conf->get(), OnDelivery);
      rd_kafka_conf_set_opaque(conf->get(), delivery_counts);
    }
    std::array<char, 512> reason{};
    // rd_kafka_new() takes ownership of the configuration only on success.
    HandlePtr handle(rd_kafka_new(type, conf->get(), reason.data(), reason.size()));
    EXPECT_NE(handle, nullptr) << "rd_kafka_new failed: " << reason.data();
    if (handle != nullptr) conf->release();
    return handle;
  }

  // Creates `topic` with `partitions` partitions and one replica through the
  // admin API and waits for the broker's result.
  void CreateTopic(rd_kafka_t* client, const std::string& topic, int partitions) {
    std::array<char, 512> reason{};
    NewTopicPtr new_topic(
        rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, reason.data(), reason.size()));
    ASSERT_NE(new_topic, nullptr) << "rd_kafka_NewTopic_new failed: " << reason.data();

    AdminOptionsPtr options(rd_kafka_AdminOptions_new(client, RD_KAFKA_ADMIN_OP_CREATETOPICS));
    ASSERT_EQ(rd_kafka_AdminOptions_set_operation_timeout(options.get(), kTimeoutMs, reason.data(),
                                                          reason.size()),
              RD_KAFKA_RESP_ERR_NO_ERROR)
        << reason.data();

    QueuePtr queue(rd_kafka_queue_new(client));
    rd_kafka_NewTopic_t* topics[] = {new_topic.get()};
    rd_kafka_CreateTopics(client, topics, 1, options.get(), queue.get());

    // The queue is this request's own, so its only event is the result.
    EventPtr event(rd_kafka_queue_poll(queue.get(), 2 * kTimeoutMs));
    ASSERT_NE(event, nullptr) << "no CreateTopics result for " << topic << " within "
                              << 2 * kTimeoutMs << " ms";
    ASSERT_EQ(rd_kafka_event_type(event.get()), RD_KAFKA_EVENT_CREATETOPICS_RESULT)
        << "unexpected event " << rd_kafka_event_name(event.get());
    ASSERT_EQ(rd_kafka_event_error(event.get()), RD_KAFKA_RESP_ERR_NO_ERROR)
        << "CreateTopics failed: " << rd_kafka_event_error_string(event.get());

    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
    size_t count = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
    ASSERT_EQ(count, 1u);
    ASSERT_EQ(rd_kafka_topic_result_error(results[0]), RD_KAFKA_RESP_ERR_NO_ERROR)
        << "creating " << topic << " failed: " << rd_kafka_topic_result_error_string(results[0]);
  }

  // Produces `count` records with keys "key-<i>" and values "value-<i>" and
  // waits until every delivery report has arrived. The producer is
  // idempotent, which also covers the InitProducerId request.
  void ProduceRecords(const std::string& topic, int count) {
    DeliveryCounts counts;
    HandlePtr producer =
        NewClient(RD_KAFKA_PRODUCER, {{"acks", "all"}, {"enable.idempotence", "true"}}, &counts);
    ASSERT_NE(producer, nullptr);
    for (int i = 0; i < count; ++i) {
      const std::string key = "key-" + std::to_string(i);
      const std::string value = "value-" + std::to_string(i);
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_KEY(key.data(), key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << "rd_kafka_producev: " << rd_kafka_err2str(err);
      rd_kafka_poll(producer.get(), 0);
    }
    rd_kafka_resp_err_t flushed = rd_kafka_flush(producer.get(), kTimeoutMs);
    ASSERT_EQ(flushed, RD_KAFKA_RESP_ERR_NO_ERROR)
        << "rd_kafka_flush: " << rd_kafka_err2str(flushed) << ", "
        << rd_kafka_outq_len(producer.get()) << " records still queued";
    EXPECT_EQ(counts.failed, 0) << "first delivery error: " << counts.first_error;
    EXPECT_EQ(counts.delivered, count);
  }

  // Returns a list of every partition of `topic`, with offsets unset.
  static PartitionListPtr AllPartitions(const std::string& topic, int partitions) {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
    for (int partition = 0; partition < partitions; ++partition) {
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition);
    }
    return list;
  }

  std::string bootstrap_servers_;
};

TEST_F(LibrdkafkaSmokeTest, MetadataListsCreatedTopic) {
  const std::string topic = UniqueName("smoke-metadata");
  HandlePtr admin = NewClient(RD_KAFKA_PRODUCER, {});
  ASSERT_NE(admin, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateTopic(admin.get(), topic, 2));

  // Metadata for one topic names the broker and both partitions.
  rd_kafka_topic_t* topic_handle = rd_kafka_topic_new(admin.get(), topic.c_str(), nullptr);
  ASSERT_NE(topic_handle, nullptr);
  const rd_kafka_metadata_t* raw_metadata = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(admin.get(), 0, topic_handle, &raw_metadata, kTimeoutMs);
  rd_kafka_topic_destroy(topic_handle);
  ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << "rd_kafka_metadata: " << rd_kafka_err2str(err);
  MetadataPtr metadata(raw_metadata);

  EXPECT_EQ(metadata->broker_cnt, 1);
  ASSERT_EQ(metadata->topic_cnt, 1);
  EXPECT_EQ(metadata->topics[0].err, RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_err2str(metadata->topics[0].err);
  EXPECT_EQ(std::string(metadata->topics[0].topic), topic);
  EXPECT_EQ(metadata->topics[0].partition_cnt, 2);
}

TEST_F(LibrdkafkaSmokeTest, CommittedOffsetsReachEndOffsets) {
  constexpr int kPartitions = 3;
  constexpr int kRecords = 30;
  const std::string topic = UniqueName("smoke-commit");
  const std::string group = UniqueName("smoke-group");

  HandlePtr admin = NewClient(RD_KAFKA_PRODUCER, {});
  ASSERT_NE(admin, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateTopic(admin.get(), topic, kPartitions));
  ASSERT_NO_FATAL_FAILURE(ProduceRecords(topic, kRecords));

  HandlePtr consumer = NewClient(RD_KAFKA_CONSUMER, {{"group.id", group},
                                                     {"enable.auto.commit", "false"},
                                                     {"auto.offset.reset", "earliest"}});
  ASSERT_NE(consumer, nullptr);
  ASSERT_EQ(rd_kafka_poll_set_consumer(consumer.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  PartitionListPtr subscription(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(subscription.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer.get(), subscription.get());
  ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << "rd_kafka_subscribe: " << rd_kafka_err2str(err);

  // Consume until every record has arrived once, or the deadline passes.
  std::set<std::string> values;
  int consumed = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (values.size() < static_cast<size_t>(kRecords) && Clock::now() < deadline) {
    MessagePtr message(rd_kafka_consumer_poll(consumer.get(), 500));
    if (message == nullptr) continue;
    ASSERT_EQ(message->err, RD_KAFKA_RESP_ERR_NO_ERROR)
        << "consume error: " << rd_kafka_message_errstr(message.get());
    values.emplace(static_cast<const char*>(message->payload), message->len);
    ++consumed;
  }
  ASSERT_EQ(values.size(), static_cast<size_t>(kRecords))
      << "consumed " << values.size() << " distinct records of " << kRecords << " within 30 s";
  EXPECT_EQ(consumed, kRecords) << "some records were delivered twice";

  // With auto-commit off, nothing is committed before the explicit commit.
  PartitionListPtr before = AllPartitions(topic, kPartitions);
  err = rd_kafka_committed(consumer.get(), before.get(), kTimeoutMs);
  ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << "rd_kafka_committed: " << rd_kafka_err2str(err);
  for (int i = 0; i < before->cnt; ++i) {
    EXPECT_EQ(before->elems[i].offset, RD_KAFKA_OFFSET_INVALID)
        << topic << "/" << before->elems[i].partition << " was committed before rd_kafka_commit";
  }

  // Synchronous commit of the consumer's positions.
  err = rd_kafka_commit(consumer.get(), nullptr, 0);
  ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << "rd_kafka_commit: " << rd_kafka_err2str(err);

  PartitionListPtr committed = AllPartitions(topic, kPartitions);
  err = rd_kafka_committed(consumer.get(), committed.get(), kTimeoutMs);
  ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << "rd_kafka_committed: " << rd_kafka_err2str(err);

  int64_t total_end_offsets = 0;
  for (int i = 0; i < committed->cnt; ++i) {
    const rd_kafka_topic_partition_t& partition = committed->elems[i];
    EXPECT_EQ(partition.err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(partition.err);
    int64_t low = -1;
    int64_t high = -1;
    err = rd_kafka_query_watermark_offsets(consumer.get(), topic.c_str(), partition.partition, &low,
                                           &high, kTimeoutMs);
    ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR)
        << "rd_kafka_query_watermark_offsets: " << rd_kafka_err2str(err);
    EXPECT_EQ(low, 0);
    EXPECT_EQ(partition.offset, high) << "committed offset of " << topic << "/" << partition.partition;
    total_end_offsets += high;
  }
  EXPECT_EQ(total_end_offsets, kRecords);

  err = rd_kafka_consumer_close(consumer.get());
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << "rd_kafka_consumer_close: " << rd_kafka_err2str(err);
}

}  // namespace
}  // namespace kafkasidecar::kafka
