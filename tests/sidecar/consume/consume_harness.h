// Runs ConsumeStreams behind a real gRPC server on a Unix socket, with the
// scripted FakeKafka behind the consumer seam, and a client that reads the
// stream on its own thread.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "consume/consume_streams.h"
#include "fake_kafka.h"
#include "kafkasidecar/v1/sidecar.grpc.pb.h"

namespace kafkasidecar::testing {

class StaticConnections final : public ConnectionLookup {
 public:
  explicit StaticConnections(Connection default_connection) {
    connections_[""] = std::make_shared<Connection>(std::move(default_connection));
  }
  std::shared_ptr<const Connection> Find(const std::string& id) const override {
    auto found = connections_.find(id);
    return found == connections_.end() ? nullptr : found->second;
  }

 private:
  std::map<std::string, std::shared_ptr<const Connection>> connections_;
};

class ConsumeOnlyService final : public v1::KafkaSidecar::CallbackService {
 public:
  explicit ConsumeOnlyService(ConsumeStreams* streams) : streams_(streams) {}
  grpc::ServerBidiReactor<v1::ConsumeRequest, v1::ConsumeResponse>* Consume(
      grpc::CallbackServerContext* context) override {
    return streams_->Open(context);
  }

 private:
  ConsumeStreams* streams_;
};

// One Consume call from the job's side.
class StreamClient {
 public:
  explicit StreamClient(v1::KafkaSidecar::Stub& stub) {
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    stream_ = stub.Consume(&context_);
    reader_ = std::thread([this] { ReadLoop(); });
  }

  ~StreamClient() {
    if (!read_done()) context_.TryCancel();
    reader_.join();
  }

  bool Subscribe(const v1::Subscribe& subscribe) {
    v1::ConsumeRequest request;
    *request.mutable_subscribe() = subscribe;
    return stream_->Write(request);
  }

  bool Ack(uint64_t delivery_id, v1::Ack::Status status = v1::Ack::STATUS_SUCCESS,
           const std::string& error = "") {
    return Acks({{delivery_id, status, error}});
  }

  struct AckSpec {
    uint64_t delivery_id;
    v1::Ack::Status status;
    std::string error;
  };
  bool Acks(const std::vector<AckSpec>& acks) {
    v1::ConsumeRequest request;
    for (const AckSpec& spec : acks) {
      v1::Ack* ack = request.mutable_acks()->add_acks();
      ack->set_delivery_id(spec.delivery_id);
      ack->set_status(spec.status);
      ack->set_error(spec.error);
    }
    return stream_->Write(request);
  }
  bool AckSuccess(const std::vector<uint64_t>& ids) {
    std::vector<AckSpec> specs;
    for (uint64_t id : ids) specs.push_back({id, v1::Ack::STATUS_SUCCESS, ""});
    return Acks(specs);
  }

  bool Write(const v1::ConsumeRequest& request) { return stream_->Write(request); }
  void CloseWrites() { stream_->WritesDone(); }
  void Cancel() { context_.TryCancel(); }

  // Waits until the server ended the stream, then returns its status.
  grpc::Status Finish() {
    WaitUntil([this] { return read_done_; }, std::chrono::seconds(30));
    return stream_->Finish();
  }

  // Waits until at least `count` messages arrived; returns all so far.
  std::vector<v1::Message> WaitForMessages(size_t count,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    EXPECT_TRUE(WaitUntil([&] { return messages_.size() >= count; }, timeout))
        << "expected " << count << " messages, got " << Messages().size();
    return Messages();
  }

  // Waits for the `nth` event (0-based) of `type`.
  std::optional<v1::Event> WaitForEvent(v1::Event::Type type, size_t nth = 0,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    size_t seen = 0;
    return WaitForEventWhere(
        [&](const v1::Event& event) { return event.type() == type && seen++ == nth; }, timeout);
  }

  // Waits for the first event that satisfies `predicate`.
  std::optional<v1::Event> WaitForEventWhere(const std::function<bool(const v1::Event&)>& predicate,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::optional<v1::Event> found;
    WaitUntil(
        [&] {
          for (const v1::Event& event : events_) {
            if (predicate(event)) {
              found = event;
              return true;
            }
          }
          return false;
        },
        timeout);
    return found;
  }

  std::vector<v1::Message> Messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  std::vector<v1::Event> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // Every frame in arrival order, to check that events and messages keep
  // their relative order.
  std::vector<v1::ConsumeResponse> Frames() {
    std::lock_guard<std::mutex> lock(mu_);
    return frames_;
  }

 private:
  bool read_done() {
    std::lock_guard<std::mutex> lock(mu_);
    return read_done_;
  }

  template <typename Predicate>
  bool WaitUntil(Predicate predicate, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, predicate);
  }

  void ReadLoop() {
    v1::ConsumeResponse response;
    while (stream_->Read(&response)) {
      std::lock_guard<std::mutex> lock(mu_);
      frames_.push_back(response);
      if (response.has_messages()) {
        for (const v1::Message& message : response.messages().messages()) messages_.push_back(message);
      } else if (response.has_event()) {
        events_.push_back(response.event());
      }
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    read_done_ = true;
    cv_.notify_all();
  }

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ConsumeRequest, v1::ConsumeResponse>> stream_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::Message> messages_;
  std::vector<v1::Event> events_;
  std::vector<v1::ConsumeResponse> frames_;
  bool read_done_ = false;
  std::thread reader_;
};

inline Connection FakeConnection() {
  Connection connection;
  connection.bootstrap_servers = "127.0.0.1:9";
  return connection;
}

class ConsumeHarness {
 public:
  // Streams use FakeKafka through FakeClientFactory.
  ConsumeHarness() : ConsumeHarness(FakeConnection(), nullptr) {}

  // Streams use `factory` and `connection` as the default connection; a
  // null factory selects FakeClientFactory.
  // `dead_letters` may be null: subscribes with dead_letter_topic are then
  // rejected.
  ConsumeHarness(Connection connection, std::shared_ptr<kafka::ClientFactory> factory,
                 ConsumeDefaults defaults = {},
                 std::shared_ptr<DeadLetterProducer> dead_letters = nullptr)
      : connections_(std::move(connection)),
        kafka_(std::make_shared<FakeKafka>()),
        streams_(MakeConsumeStreams(connections_,
                                    defaults,
                                    factory ? std::move(factory)
                                            : std::make_shared<FakeClientFactory>(kafka_),
                                    std::move(dead_letters))),
        service_(streams_.get()) {
    char pattern[] = "/tmp/consume-test-XXXXXX";
    const char* dir = mkdtemp(pattern);
    EXPECT_NE(dir, nullptr);
    directory_ = dir;
    const std::string address = "unix:" + directory_ + "/sidecar.sock";

    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr) << "gRPC server did not start on " << address;
    stub_ = v1::KafkaSidecar::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }

  ~ConsumeHarness() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    streams_->WaitAllClosed(std::chrono::steady_clock::now() + std::chrono::seconds(20));
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }

  FakeKafka& kafka() { return *kafka_; }
  ConsumeStreams& streams() { return *streams_; }
  v1::KafkaSidecar::Stub& stub() { return *stub_; }

  // Frames go out in order, so once the PARTITIONS_ASSIGNED event of an
  // empty extra partition arrives, everything the session sent before it
  // has arrived too.
  void Barrier(StreamClient& client) {
    const int32_t partition = next_barrier_partition_++;
    kafka_->Assign({{"barrier", partition}});
    std::optional<v1::Event> event = client.WaitForEventWhere([&](const v1::Event& candidate) {
      return candidate.type() == v1::Event::TYPE_PARTITIONS_ASSIGNED &&
             candidate.partitions_size() == 1 && candidate.partitions(0).topic() == "barrier" &&
             candidate.partitions(0).partition() == partition;
    });
    ASSERT_TRUE(event.has_value()) << "barrier event did not arrive";
  }

 private:
  StaticConnections connections_;
  std::shared_ptr<FakeKafka> kafka_;
  std::unique_ptr<ConsumeStreams> streams_;
  ConsumeOnlyService service_;
  std::string directory_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::KafkaSidecar::Stub> stub_;
  int32_t next_barrier_partition_ = 0;
};

inline v1::Subscribe OrdersSubscription() {
  v1::Subscribe subscribe;
  subscribe.add_topics("orders");
  subscribe.set_group_id("billing");
  return subscribe;
}

}  // namespace kafkasidecar::testing
