// Baseline consumer for scripts/bench.sh: librdkafka's C API with no sidecar.
// It subscribes to one topic in the given group, polls one message at a time
// and commits synchronously after every 1000 messages and after the last one.
//
// Output on stdout, for bench/bench.py (steady clock, nanoseconds):
//   first_message_ns N    when the first message arrived
//   all_processed_ns N    after the commit that covers --messages messages
// It then closes the consumer and exits. Exit codes: 0 after the last commit,
// 1 on a Kafka error or a stop signal before it, 2 on a usage error.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

namespace {

constexpr int kCommitEvery = 1000;
constexpr int kPollTimeoutMs = 100;

volatile std::sig_atomic_t g_stop = 0;

extern "C" void RequestStop(int /*signal*/) { g_stop = 1; }

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct HandleDeleter {
  // Blocks until librdkafka's threads have stopped. Close the consumer first.
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};

using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Options {
  std::string bootstrap_servers;
  std::string topic;
  std::string group;
  int64_t messages = 0;
};

bool ParseArgs(int argc, char** argv, Options& options) {
  std::map<std::string, std::string> values;
  for (int i = 1; i + 1 < argc; i += 2) values[argv[i]] = argv[i + 1];
  options.bootstrap_servers = values["--bootstrap-servers"];
  options.topic = values["--topic"];
  options.group = values["--group"];
  options.messages = std::atoll(values["--messages"].c_str());
  if (argc % 2 == 0 || options.bootstrap_servers.empty() || options.topic.empty() ||
      options.group.empty() || options.messages < 1) {
    std::fprintf(stderr,
                 "Usage: rdkafka_consume --bootstrap-servers HOST:PORT --topic TOPIC "
                 "--group GROUP --messages N (N >= 1)\n");
    return false;
  }
  return true;
}

bool SetProperty(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  char error[512];
  if (rd_kafka_conf_set(conf, name, value.c_str(), error, sizeof(error)) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "rdkafka_consume: invalid property %s=%s: %s\n", name, value.c_str(), error);
    return false;
  }
  return true;
}

// Commits the offsets of the messages polled so far and waits for the result.
bool CommitSync(rd_kafka_t* consumer) {
  const rd_kafka_resp_err_t error = rd_kafka_commit(consumer, nullptr, /*async=*/0);
  // _NO_OFFSET: nothing new to commit since the last commit.
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    std::fprintf(stderr, "rdkafka_consume: commit failed: %s\n", rd_kafka_err2str(error));
    return false;
  }
  return true;
}

// Polls until `options.messages` messages were consumed and committed.
// Returns false on a Kafka error or SIGTERM/SIGINT before that.
bool ConsumeAll(rd_kafka_t* consumer, const Options& options) {
  int64_t count = 0;
  while (count < options.messages) {
    if (g_stop) {
      std::fprintf(stderr, "rdkafka_consume: stopped after %lld messages\n", static_cast<long long>(count));
      return false;
    }
    MessagePtr message(rd_kafka_consumer_poll(consumer, kPollTimeoutMs));
    if (!message) continue;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "rdkafka_consume: consume error: %s\n", rd_kafka_message_errstr(message.get()));
      return false;
    }
    if (count == 0) {
      std::printf("first_message_ns %lld\n", static_cast<long long>(SteadyNowNs()));
      std::fflush(stdout);
    }
    ++count;
    if ((count % kCommitEvery == 0 || count == options.messages) && !CommitSync(consumer)) return false;
  }
  std::printf("all_processed_ns %lld\n", static_cast<long long>(SteadyNowNs()));
  std::fflush(stdout);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseArgs(argc, argv, options)) return 2;
  std::signal(SIGTERM, RequestStop);
  std::signal(SIGINT, RequestStop);

  ConfPtr conf(rd_kafka_conf_new());
  if (!SetProperty(conf.get(), "bootstrap.servers", options.bootstrap_servers) ||
      !SetProperty(conf.get(), "group.id", options.group) ||
      !SetProperty(conf.get(), "auto.offset.reset", "earliest") ||
      !SetProperty(conf.get(), "enable.auto.commit", "false")) {
    return 2;
  }
  char error[512];
  // rd_kafka_new takes ownership of the configuration only when it succeeds.
  HandlePtr consumer(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), error, sizeof(error)));
  if (!consumer) {
    std::fprintf(stderr, "rdkafka_consume: creating the consumer failed: %s\n", error);
    return 1;
  }
  conf.release();
  rd_kafka_poll_set_consumer(consumer.get());

  PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), options.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (const rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer.get(), topics.get()); err) {
    std::fprintf(stderr, "rdkafka_consume: subscribing to %s failed: %s\n", options.topic.c_str(),
                 rd_kafka_err2str(err));
    return 1;
  }

  const bool consumed = ConsumeAll(consumer.get(), options);
  if (const rd_kafka_resp_err_t err = rd_kafka_consumer_close(consumer.get()); err) {
    std::fprintf(stderr, "rdkafka_consume: closing the consumer failed: %s\n", rd_kafka_err2str(err));
    return 1;
  }
  return consumed ? 0 : 1;
}
