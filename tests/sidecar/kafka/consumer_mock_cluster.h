// librdkafka's in-process mock cluster (loopback listeners) with a producer
// for test records, for tests of the real consumer.
#pragma once

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "connections/connection.h"
#include "kafka/rdkafka_handles.h"

namespace kafkasidecar::testing {

class ConsumerMockCluster {
 public:
  ConsumerMockCluster() {
    std::array<char, 512> reason{};
    kafka::ConfPtr conf(rd_kafka_conf_new());
    // The producer creates and owns a one-broker mock cluster.
    EXPECT_EQ(rd_kafka_conf_set(conf.get(), "test.mock.num.brokers", "1", reason.data(), reason.size()),
              RD_KAFKA_CONF_OK)
        << reason.data();
    rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), reason.data(), reason.size());
    EXPECT_NE(producer, nullptr) << reason.data();
    conf.release();
    producer_.reset(producer);
    cluster_ = rd_kafka_handle_mock_cluster(producer_.get());
    bootstrap_servers_ = rd_kafka_mock_cluster_bootstraps(cluster_);
  }

  void CreateTopic(const std::string& topic, int partitions) {
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  // Makes metadata requests for `topic` fail with `code`, as a broker does
  // for a topic that does not exist.
  void SetTopicError(const std::string& topic, rd_kafka_resp_err_t code) {
    rd_kafka_mock_topic_set_error(cluster_, topic.c_str(), code);
  }

  struct Record {
    int32_t partition = 0;
    std::optional<std::string> key;
    std::optional<std::string> value;
    std::vector<std::pair<std::string, std::optional<std::string>>> headers;
    int64_t timestamp_ms = 0;
  };

  // Produces the records and waits until the mock broker stored them.
  void Produce(const std::string& topic, const std::vector<Record>& records) {
    for (const Record& record : records) {
      rd_kafka_headers_t* headers = rd_kafka_headers_new(record.headers.size());
      for (const auto& [name, value] : record.headers) {
        rd_kafka_header_add(headers, name.c_str(), -1, value ? value->data() : nullptr,
                            value ? static_cast<ssize_t>(value->size()) : 0);
      }
      // A null pointer produces a null key or value; an empty string an
      // empty one.
      const char* key = record.key ? record.key->data() : nullptr;
      const size_t key_size = record.key ? record.key->size() : 0;
      char* value = record.value ? const_cast<char*>(record.value->data()) : nullptr;
      const size_t value_size = record.value ? record.value->size() : 0;
      rd_kafka_resp_err_t code = rd_kafka_producev(
          producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(record.partition),
          RD_KAFKA_V_KEY(key, key_size), RD_KAFKA_V_VALUE(value, value_size),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
          RD_KAFKA_V_TIMESTAMP(record.timestamp_ms), RD_KAFKA_V_END);
      ASSERT_EQ(code, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(code);
    }
    ASSERT_EQ(rd_kafka_flush(producer_.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  // Produces `count` records with values "v0", "v1", ... to one partition.
  void ProduceValues(const std::string& topic, int32_t partition, int count) {
    std::vector<Record> records;
    for (int i = 0; i < count; ++i) {
      Record record;
      record.partition = partition;
      record.value = "v" + std::to_string(i);
      records.push_back(record);
    }
    Produce(topic, records);
  }

  Connection MakeConnection() const {
    Connection connection;
    connection.bootstrap_servers = bootstrap_servers_;
    connection.properties["bootstrap.servers"] = bootstrap_servers_;
    // Shorter than the defaults so group joins and leaves finish fast.
    connection.properties["session.timeout.ms"] = "6000";
    connection.properties["heartbeat.interval.ms"] = "500";
    connection.properties["topic.metadata.refresh.interval.ms"] = "1000";
    return connection;
  }

  const std::string& bootstrap_servers() const { return bootstrap_servers_; }

 private:
  kafka::HandlePtr producer_;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;  // owned by producer_
  std::string bootstrap_servers_;
};

}  // namespace kafkasidecar::testing
