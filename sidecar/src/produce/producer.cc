#include "produce/producer.h"

#include <array>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kafka/admin.h"
#include "logging/logging.h"
#include "logging/rate_limiter.h"

namespace kafkasidecar::produce {
namespace {

// Maximum time the poll thread blocks in rd_kafka_poll. It bounds how late a
// RunAt task runs and how long the poll thread takes to notice shutdown.
constexpr std::chrono::milliseconds kPollInterval(100);

// How long the destructor waits for librdkafka to hand back purged records.
constexpr std::chrono::milliseconds kPurgeWait(5000);

// NOTE: kafka/rdkafka_consumer.h declares the same owner as kafka::ErrorPtr;
// the two belong together in kafka/rdkafka_handles.h.
struct ProduceErrorDeleter {
  void operator()(rd_kafka_error_t* error) const { rd_kafka_error_destroy(error); }
};
using ProduceErrorPtr = std::unique_ptr<rd_kafka_error_t, ProduceErrorDeleter>;

std::string ErrorText(rd_kafka_resp_err_t error) {
  return absl::StrCat(rd_kafka_err2name(error), ": ", rd_kafka_err2str(error));
}

}  // namespace

SharedProducer::SharedProducer(std::shared_ptr<const Connection> connection, logging::Summary* summary)
    : connection_(std::move(connection)), summary_(summary) {}

absl::StatusOr<std::shared_ptr<SharedProducer>> SharedProducer::Create(
    std::shared_ptr<const Connection> connection, logging::Summary* summary) {
  std::map<std::string, std::string> properties = connection->properties;
  // Idempotence keeps retries from duplicating or reordering records; it
  // implies acks=all, set here as well so no override can weaken it.
  properties["enable.idempotence"] = "true";
  properties["acks"] = "all";
  absl::StatusOr<kafka::ConfPtr> conf = kafka::MakeConf(properties);
  if (!conf.ok()) return conf.status();

  std::shared_ptr<SharedProducer> producer(new SharedProducer(std::move(connection), summary));
  rd_kafka_conf_set_opaque(conf->get(), producer.get());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &SharedProducer::OnDelivery);
  rd_kafka_conf_set_error_cb(conf->get(), &SharedProducer::OnError);

  std::array<char, 512> error_text{};
  producer->handle_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), error_text.data(), error_text.size()));
  if (producer->handle_ == nullptr) {
    return absl::InvalidArgumentError(
        kafka::RedactSecrets(producer->connection(), absl::StrCat("could not create a producer for ",
                                                                  producer->connection().Describe(), ": ",
                                                                  error_text.data())));
  }
  conf->release();  // rd_kafka_new took ownership
  producer->poll_thread_ = std::thread([raw = producer.get()] { raw->PollLoop(); });
  logging::Get(logging::kProduce)
      ->info("Created idempotent producer for connection \"{}\": {}", producer->connection().id,
             producer->connection().Describe());
  return producer;
}

SharedProducer::~SharedProducer() {
  stopping_ = true;
  if (poll_thread_.joinable()) poll_thread_.join();
  if (handle_ != nullptr) {
    const int queued = rd_kafka_outq_len(handle_.get());
    if (queued > 0) {
      logging::Get(logging::kProduce)
          ->warn("Purging {} undelivered records of connection \"{}\"", queued, connection_->id);
      rd_kafka_purge(handle_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      // Serves the purge delivery reports so every callback runs once.
      rd_kafka_flush(handle_.get(), static_cast<int>(kPurgeWait.count()));
    }
  }
  RunDueTasks(/*run_all=*/true);
  // handle_ is destroyed last; rd_kafka_destroy waits for librdkafka's threads.
}

void SharedProducer::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* producer = static_cast<SharedProducer*>(opaque);
  std::unique_ptr<DeliveryCallback> callback(static_cast<DeliveryCallback*>(message->_private));
  DeliveryResult result;
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    result.partition = message->partition;
    result.offset = message->offset;
    logging::Get(logging::kProduce)
        ->debug("Delivered {}/{}@{}", rd_kafka_topic_name(message->rkt), message->partition, message->offset);
  } else {
    result.error = ErrorText(message->err);
    static logging::RateLimiter limiter(std::chrono::seconds(10));
    if (auto suppressed = limiter.Allow()) {
      logging::Get(logging::kProduce)
          ->warn("Delivery to topic {} failed: {} ({} similar failures not logged)",
                 rd_kafka_topic_name(message->rkt), result.error, *suppressed);
    }
  }
  if (producer->summary_ != nullptr) {
    if (auto line = producer->summary_->Record(!result.error.empty())) {
      logging::Get(logging::kProduce)->info("{}", *line);
    }
  }
  if (callback != nullptr && *callback) (*callback)(result);
}

void SharedProducer::OnError(rd_kafka_t* handle, int code, const char* reason, void* opaque) {
  auto* producer = static_cast<SharedProducer*>(opaque);
  auto log = logging::Get(logging::kProduce);
  const auto error = static_cast<rd_kafka_resp_err_t>(code);
  if (error == RD_KAFKA_RESP_ERR__FATAL) {
    std::array<char, 512> fatal_text{};
    const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(handle, fatal_text.data(), fatal_text.size());
    producer->failed_ = true;
    log->critical("Producer of connection \"{}\" failed fatally and will be replaced: {}: {}",
                  producer->connection_->id, rd_kafka_err2name(fatal),
                  kafka::RedactSecrets(*producer->connection_, fatal_text.data()));
    return;
  }
  static logging::RateLimiter limiter(std::chrono::seconds(10));
  if (auto suppressed = limiter.Allow()) {
    log->warn("Producer of connection \"{}\" ({}): {}: {} ({} similar warnings not logged)",
              producer->connection_->id, producer->connection_->bootstrap_servers, rd_kafka_err2name(error),
              kafka::RedactSecrets(*producer->connection_, reason != nullptr ? reason : ""), *suppressed);
  }
}

absl::Status SharedProducer::Enqueue(const std::string& topic, const v1::ProduceRecord& record,
                                     Clock::time_point deadline, DeliveryCallback on_delivery) {
  if (failed()) {
    return absl::UnavailableError(
        absl::StrCat("the producer of connection \"", connection_->id, "\" failed fatally; retry the request"));
  }
  // librdkafka copies key, value and headers (RD_KAFKA_MSG_F_COPY), so the
  // request may be freed once Enqueue returns. A set but empty key or value
  // needs a non-null pointer to stay distinct from a null one.
  static const char kEmpty[1] = {0};
  const auto bytes = [](bool present, const std::string& data) -> std::pair<void*, size_t> {
    if (!present) return {nullptr, 0};
    return {const_cast<char*>(data.empty() ? kEmpty : data.data()), data.size()};
  };

  while (true) {
    std::vector<rd_kafka_vu_t> fields;
    const auto add = [&fields](rd_kafka_vtype_t type) -> rd_kafka_vu_t& {
      fields.emplace_back();
      fields.back().vtype = type;
      return fields.back();
    };
    add(RD_KAFKA_VTYPE_TOPIC).u.cstr = topic.c_str();
    add(RD_KAFKA_VTYPE_PARTITION).u.i32 = record.has_partition() ? record.partition() : RD_KAFKA_PARTITION_UA;
    add(RD_KAFKA_VTYPE_MSGFLAGS).u.i = RD_KAFKA_MSG_F_COPY;
    auto [key, key_size] = bytes(record.has_key(), record.key());
    rd_kafka_vu_t& key_field = add(RD_KAFKA_VTYPE_KEY);
    key_field.u.mem.ptr = key;
    key_field.u.mem.size = key_size;
    auto [value, value_size] = bytes(record.has_value(), record.value());
    rd_kafka_vu_t& value_field = add(RD_KAFKA_VTYPE_VALUE);
    value_field.u.mem.ptr = value;
    value_field.u.mem.size = value_size;
    if (record.has_timestamp_ms()) add(RD_KAFKA_VTYPE_TIMESTAMP).u.i64 = record.timestamp_ms();
    kafka::HeadersPtr headers;
    if (record.headers_size() > 0) {
      headers.reset(rd_kafka_headers_new(static_cast<size_t>(record.headers_size())));
      for (const v1::Header& header : record.headers()) {
        // A null value pointer makes a header with a null value.
        const void* header_value = nullptr;
        if (header.has_value()) header_value = header.value().empty() ? kEmpty : header.value().data();
        rd_kafka_header_add(headers.get(), header.name().data(), static_cast<ssize_t>(header.name().size()),
                            header_value, static_cast<ssize_t>(header.has_value() ? header.value().size() : 0));
      }
      add(RD_KAFKA_VTYPE_HEADERS).u.headers = headers.get();
    }
    auto callback = std::make_unique<DeliveryCallback>(on_delivery);
    add(RD_KAFKA_VTYPE_OPAQUE).u.ptr = callback.get();

    ProduceErrorPtr error(rd_kafka_produceva(handle_.get(), fields.data(), fields.size()));
    if (error == nullptr) {
      // librdkafka now owns the headers, and OnDelivery the callback.
      headers.release();
      callback.release();
      return absl::OkStatus();
    }
    const rd_kafka_resp_err_t code = rd_kafka_error_code(error.get());
    if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return absl::Status(code == RD_KAFKA_RESP_ERR__FATAL ? absl::StatusCode::kUnavailable
                                                           : absl::StatusCode::kInvalidArgument,
                          absl::StrCat(rd_kafka_err2name(code), ": ", rd_kafka_error_string(error.get())));
    }
    // The local queue (queue.buffering.max.messages / .kbytes) is full:
    // serve delivery reports, which frees room, and try again.
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      return absl::UnavailableError(absl::StrCat(ErrorText(code),
                                                 " (the producer's local queue stayed full until the timeout)"));
    }
    const auto remaining = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    rd_kafka_poll(handle_.get(), static_cast<int>(std::min<int64_t>(remaining.count(), 10)));
  }
}

void SharedProducer::RunAt(Clock::time_point when, std::function<void()> task) {
  std::lock_guard<std::mutex> lock(tasks_mutex_);
  tasks_.emplace(when, std::move(task));
}

int SharedProducer::Flush(Clock::time_point deadline) {
  const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  rd_kafka_flush(handle_.get(), static_cast<int>(std::max<int64_t>(remaining.count(), 0)));
  return rd_kafka_outq_len(handle_.get());
}

void SharedProducer::PollLoop() {
  while (!stopping_) {
    auto wait = kPollInterval;
    {
      std::lock_guard<std::mutex> lock(tasks_mutex_);
      if (!tasks_.empty()) {
        const auto until_next =
            std::chrono::duration_cast<std::chrono::milliseconds>(tasks_.begin()->first - Clock::now());
        wait = std::max(std::chrono::milliseconds(0), std::min(wait, until_next));
      }
    }
    rd_kafka_poll(handle_.get(), static_cast<int>(wait.count()));
    RunDueTasks(/*run_all=*/false);
  }
}

void SharedProducer::RunDueTasks(bool run_all) {
  std::vector<std::function<void()>> due;
  {
    std::lock_guard<std::mutex> lock(tasks_mutex_);
    const Clock::time_point now = Clock::now();
    while (!tasks_.empty() && (run_all || tasks_.begin()->first <= now)) {
      due.push_back(std::move(tasks_.begin()->second));
      tasks_.erase(tasks_.begin());
    }
  }
  for (auto& task : due) task();
}

ProducerPool::ProducerPool(const ConnectionLookup& connections, uint64_t summary_interval)
    : connections_(connections), summary_(summary_interval) {}

ProducerPool::~ProducerPool() { Close(); }

absl::StatusOr<std::shared_ptr<SharedProducer>> ProducerPool::Get(const std::string& connection_id) {
  std::shared_ptr<const Connection> connection = connections_.Find(connection_id);
  if (connection == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("unknown connection_id \"", connection_id, "\": register it with Connect first"));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return absl::FailedPreconditionError("the sidecar is shutting down and its producers are closed");
  auto it = producers_.find(connection_id);
  if (it != producers_.end() && !it->second->failed()) return it->second;
  absl::StatusOr<std::shared_ptr<SharedProducer>> created = SharedProducer::Create(connection, &summary_);
  if (!created.ok()) return created.status();
  producers_[connection_id] = *created;
  return *created;
}

uint64_t ProducerPool::FlushAll(Clock::time_point deadline) {
  std::vector<std::shared_ptr<SharedProducer>> producers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [id, producer] : producers_) producers.push_back(producer);
  }
  uint64_t undelivered = 0;
  for (const auto& producer : producers) undelivered += static_cast<uint64_t>(producer->Flush(deadline));
  return undelivered;
}

void ProducerPool::Close() {
  std::map<std::string, std::shared_ptr<SharedProducer>> producers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    producers.swap(producers_);
  }
  // Destroyed here, outside the lock, unless a Produce call still holds one.
  producers.clear();
}

}  // namespace kafkasidecar::produce
