// Tests of the C++ client against an in-process fake sidecar that serves the
// real protocol over a Unix socket. Each test scripts the sidecar's side of
// the Consume stream and checks what the client sent.

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include "kafka_sidecar/sidecar_client.h"
#include "kafkasidecar/v1/sidecar.grpc.pb.h"

namespace {

namespace v1 = kafkasidecar::v1;
using ::kafka_sidecar::ConsumeResult;
using ::kafka_sidecar::ConsumeTuning;
using ::kafka_sidecar::Message;
using ::kafka_sidecar::SidecarClient;
using ::kafka_sidecar::SubscribeOptions;
using ServerStream = grpc::ServerReaderWriter<v1::ConsumeResponse, v1::ConsumeRequest>;
using ConsumeScript = std::function<grpc::Status(grpc::ServerContext*, ServerStream*)>;
using ProduceScript = std::function<grpc::Status(const v1::ProduceRequest&, v1::ProduceResponse*)>;

constexpr auto kTestDeadline = std::chrono::seconds(10);

class FakeSidecar final : public v1::KafkaSidecar::Service {
 public:
  ConsumeScript consume_script;
  ProduceScript produce_script;

  grpc::Status Consume(grpc::ServerContext* context, ServerStream* stream) override {
    return consume_script(context, stream);
  }
  grpc::Status Produce(grpc::ServerContext*, const v1::ProduceRequest* request,
                       v1::ProduceResponse* response) override {
    return produce_script(*request, response);
  }
};

// Owns a temporary directory with the socket, and the server on it.
class FakeSidecarServer {
 public:
  FakeSidecarServer() {
    char dir_template[] = "/tmp/cpp-client-test-XXXXXX";
    dir_ = mkdtemp(dir_template);
    address_ = "unix://" + dir_ + "/sidecar.sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address_, grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeSidecarServer() {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    unlink((dir_ + "/sidecar.sock").c_str());
    rmdir(dir_.c_str());
  }

  FakeSidecar& service() { return service_; }
  const std::string& address() const { return address_; }

 private:
  std::string dir_;
  std::string address_;
  FakeSidecar service_;
  std::unique_ptr<grpc::Server> server_;
};

v1::Message MakeMessage(uint64_t delivery_id, int32_t partition, int64_t offset,
                        const std::string& value) {
  v1::Message message;
  message.set_delivery_id(delivery_id);
  message.set_topic("orders");
  message.set_partition(partition);
  message.set_offset(offset);
  message.set_timestamp_ms(1700000000000 + offset);
  message.set_key("key-" + std::to_string(offset));
  message.set_value(value);
  message.set_attempt(1);
  return message;
}

bool SendBatch(ServerStream* stream, const std::vector<v1::Message>& messages) {
  v1::ConsumeResponse response;
  for (const v1::Message& message : messages) *response.mutable_messages()->add_messages() = message;
  return stream->Write(response);
}

bool SendEvent(ServerStream* stream, v1::Event::Type type) {
  v1::ConsumeResponse response;
  response.mutable_event()->set_type(type);
  return stream->Write(response);
}

// What the fake sidecar read from the client after the subscription.
struct ReceivedAcks {
  std::vector<v1::Ack> acks;
  int frames = 0;
  bool half_closed = false;
};

// Reads ack frames until `count` acks arrived or the client half-closed.
ReceivedAcks ReadAcks(ServerStream* stream, size_t count) {
  ReceivedAcks received;
  v1::ConsumeRequest request;
  while (received.acks.size() < count) {
    if (!stream->Read(&request)) {
      received.half_closed = true;
      break;
    }
    ++received.frames;
    for (const v1::Ack& ack : request.acks().acks()) received.acks.push_back(ack);
  }
  return received;
}

bool ReadSubscribe(ServerStream* stream, v1::Subscribe* subscribe) {
  v1::ConsumeRequest request;
  if (!stream->Read(&request) || !request.has_subscribe()) return false;
  *subscribe = request.subscribe();
  return true;
}

SubscribeOptions OrdersSubscription() {
  SubscribeOptions options;
  options.topics = {"orders"};
  options.group_id = "orders-job";
  return options;
}

ConsumeTuning FastTuning() {
  ConsumeTuning tuning;
  tuning.connect_timeout = std::chrono::milliseconds(5000);
  tuning.stop_poll_interval = std::chrono::milliseconds(10);
  tuning.finish_timeout = std::chrono::milliseconds(5000);
  return tuning;
}

TEST(SidecarClientConsume, AcksEachMessageWithHandlerResult) {
  FakeSidecarServer server;
  v1::Subscribe subscribe;
  ReceivedAcks received;
  bool half_closed_after_draining = false;
  server.service().consume_script = [&](grpc::ServerContext*, ServerStream* stream) {
    if (!ReadSubscribe(stream, &subscribe)) return grpc::Status(grpc::INTERNAL, "no subscribe");
    SendBatch(stream, {MakeMessage(1, 0, 10, "{\"ok\":1}"), MakeMessage(2, 0, 11, "not json"),
                       MakeMessage(3, 1, 5, "{\"ok\":2}")});
    received = ReadAcks(stream, 3);
    SendEvent(stream, v1::Event::TYPE_DRAINING);
    half_closed_after_draining = ReadAcks(stream, 1).half_closed;
    return grpc::Status::OK;
  };

  SidecarClient client(server.address());
  std::atomic<bool> stop{false};
  SubscribeOptions options = OrdersSubscription();
  options.on_error = kafka_sidecar::OnError::kRetry;
  options.max_retries = 5;
  options.client_name = "unit-test";
  const ConsumeResult result = client.Consume(
      options,
      [](const Message& message) {
        if (message.value == "not json") return absl::InvalidArgumentError("invalid JSON");
        return absl::OkStatus();
      },
      stop, nullptr, FastTuning());

  EXPECT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(subscribe.topics_size(), 1);
  EXPECT_EQ(subscribe.topics(0), "orders");
  EXPECT_EQ(subscribe.group_id(), "orders-job");
  EXPECT_EQ(subscribe.on_error(), v1::ON_ERROR_RETRY);
  EXPECT_EQ(subscribe.max_retries(), 5u);
  EXPECT_EQ(subscribe.client_name(), "unit-test");

  ASSERT_EQ(received.acks.size(), 3u);
  EXPECT_EQ(received.acks[0].delivery_id(), 1u);
  EXPECT_EQ(received.acks[0].status(), v1::Ack::STATUS_SUCCESS);
  EXPECT_EQ(received.acks[1].delivery_id(), 2u);
  EXPECT_EQ(received.acks[1].status(), v1::Ack::STATUS_ERROR);
  EXPECT_EQ(received.acks[1].error(), "invalid JSON");
  EXPECT_EQ(received.acks[2].delivery_id(), 3u);
  EXPECT_EQ(received.acks[2].status(), v1::Ack::STATUS_SUCCESS);
  EXPECT_TRUE(half_closed_after_draining);

  EXPECT_EQ(result.stats.messages_received, 3u);
  EXPECT_EQ(result.stats.acked_success, 2u);
  EXPECT_EQ(result.stats.acked_error, 1u);
  EXPECT_EQ(result.stats.not_processed, 0u);
  EXPECT_TRUE(result.stats.sidecar_draining);
  EXPECT_FALSE(result.stats.stop_requested);
}

TEST(SidecarClientConsume, SendsBatchOfAcksInOneFrame) {
  FakeSidecarServer server;
  ReceivedAcks received;
  server.service().consume_script = [&](grpc::ServerContext*, ServerStream* stream) {
    v1::Subscribe subscribe;
    if (!ReadSubscribe(stream, &subscribe)) return grpc::Status(grpc::INTERNAL, "no subscribe");
    std::vector<v1::Message> batch;
    for (uint64_t id = 1; id <= 20; ++id) batch.push_back(MakeMessage(id, 0, id, "v"));
    SendBatch(stream, batch);
    received = ReadAcks(stream, 20);
    SendEvent(stream, v1::Event::TYPE_DRAINING);
    ReadAcks(stream, 1);
    return grpc::Status::OK;
  };

  SidecarClient client(server.address());
  std::atomic<bool> stop{false};
  ConsumeTuning tuning = FastTuning();
  // Nothing but an empty queue or the frame size may trigger a flush.
  tuning.ack_flush_interval = std::chrono::hours(1);
  tuning.max_acks_per_frame = 8;
  const ConsumeResult result = client.Consume(
      OrdersSubscription(), [](const Message&) { return absl::OkStatus(); }, stop, nullptr,
      tuning);

  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(received.acks.size(), 20u);
  for (size_t i = 0; i < received.acks.size(); ++i) {
    EXPECT_EQ(received.acks[i].delivery_id(), i + 1);
  }
  // 8 + 8 when the frame fills up, then the last 4 when the queue runs dry.
  EXPECT_EQ(received.frames, 3);
  EXPECT_EQ(result.stats.ack_frames_sent, 3u);
}

TEST(SidecarClientConsume, DrainingFinishesCurrentMessageThenHalfCloses) {
  FakeSidecarServer server;
  std::promise<void> handler_started;
  std::promise<void> drained_sent;
  ReceivedAcks received;
  server.service().consume_script = [&](grpc::ServerContext*, ServerStream* stream) {
    v1::Subscribe subscribe;
    if (!ReadSubscribe(stream, &subscribe)) return grpc::Status(grpc::INTERNAL, "no subscribe");
    SendBatch(stream, {MakeMessage(1, 0, 0, "first")});
    handler_started.get_future().wait_for(kTestDeadline);
    SendEvent(stream, v1::Event::TYPE_DRAINING);
    // The sidecar sends nothing after DRAINING; a client that took these
    // would ack work the sidecar never expects.
    SendBatch(stream, {MakeMessage(2, 0, 1, "late"), MakeMessage(3, 0, 2, "late")});
    drained_sent.set_value();
    received = ReadAcks(stream, 3);
    return grpc::Status::OK;
  };

  SidecarClient client(server.address());
  std::atomic<bool> stop{false};
  std::vector<std::string> handled;
  std::future<void> drained = drained_sent.get_future();
  const ConsumeResult result = client.Consume(
      OrdersSubscription(),
      [&](const Message& message) {
        handled.push_back(*message.value);
        // Still busy with the first message when DRAINING arrives.
        handler_started.set_value();
        drained.wait_for(kTestDeadline);
        return absl::OkStatus();
      },
      stop, nullptr, FastTuning());

  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(handled, std::vector<std::string>{"first"});
  ASSERT_EQ(received.acks.size(), 1u);
  EXPECT_EQ(received.acks[0].delivery_id(), 1u);
  EXPECT_EQ(received.acks[0].status(), v1::Ack::STATUS_SUCCESS);
  EXPECT_TRUE(received.half_closed);
  EXPECT_TRUE(result.stats.sidecar_draining);
  EXPECT_EQ(result.stats.acked_success, 1u);
  EXPECT_EQ(result.stats.not_processed, 2u);
}

TEST(SidecarClientConsume, StopFlagFinishesCurrentMessageThenHalfCloses) {
  FakeSidecarServer server;
  ReceivedAcks received;
  server.service().consume_script = [&](grpc::ServerContext*, ServerStream* stream) {
    v1::Subscribe subscribe;
    if (!ReadSubscribe(stream, &subscribe)) return grpc::Status(grpc::INTERNAL, "no subscribe");
    SendBatch(stream, {MakeMessage(1, 0, 0, "a"), MakeMessage(2, 0, 1, "b"),
                       MakeMessage(3, 0, 2, "c")});
    received = ReadAcks(stream, 3);
    return grpc::Status::OK;
  };

  SidecarClient client(server.address());
  std::atomic<bool> stop{false};
  int calls = 0;
  const ConsumeResult result = client.Consume(
      OrdersSubscription(),
      [&](const Message&) {
        ++calls;
        // SIGTERM arrives while the first message is being processed.
        stop.store(true);
        return absl::OkStatus();
      },
      stop, nullptr, FastTuning());

  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(received.acks.size(), 1u);
  EXPECT_EQ(received.acks[0].delivery_id(), 1u);
  EXPECT_TRUE(received.half_closed);
  EXPECT_TRUE(result.stats.stop_requested);
  EXPECT_FALSE(result.stats.sidecar_draining);
  EXPECT_EQ(result.stats.not_processed, 2u);
}

TEST(SidecarClientConsume, IdleStreamHalfClosesWhenStopIsSet) {
  FakeSidecarServer server;
  std::promise<void> subscribed;
  bool half_closed = false;
  server.service().consume_script = [&](grpc::ServerContext*, ServerStream* stream) {
    v1::Subscribe subscribe;
    if (!ReadSubscribe(stream, &subscribe)) return grpc::Status(grpc::INTERNAL, "no subscribe");
    SendEvent(stream, v1::Event::TYPE_SUBSCRIBED);
    subscribed.set_value();
    half_closed = ReadAcks(stream, 1).half_closed;
    return grpc::Status::OK;
  };

  SidecarClient client(server.address());
  std::atomic<bool> stop{false};
  std::thread signaller([&] {
    if (subscribed.get_future().wait_for(kTestDeadline) == std::future_status::ready) {
      stop.store(true);
    }
  });
  std::vector<v1::Event::Type> events;
  const ConsumeResult result = client.Consume(
      OrdersSubscription(), [](const Message&) { return absl::OkStatus(); }, stop,
      [&](const kafka_sidecar::StreamEvent& event) { events.push_back(event.type); },
      FastTuning());
  signaller.join();

  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_TRUE(half_closed);
  EXPECT_TRUE(result.stats.stop_requested);
  EXPECT_EQ(events, std::vector<v1::Event::Type>{v1::Event::TYPE_SUBSCRIBED});
}

TEST(SidecarClientConsume, StopPolicyErrorReturnsAborted) {
  FakeSidecarServer server;
  ReceivedAcks received;
  server.service().consume_script = [&](grpc::ServerContext*, ServerStream* stream) {
    v1::Subscribe subscribe;
    if (!ReadSubscribe(stream, &subscribe)) return grpc::Status(grpc::INTERNAL, "no subscribe");
    if (subscribe.on_error() != v1::ON_ERROR_STOP) {
      return grpc::Status(grpc::INTERNAL, "expected on_error=stop");
    }
    SendBatch(stream, {MakeMessage(1, 0, 7, "bad"), MakeMessage(2, 0, 8, "good")});
    received = ReadAcks(stream, 2);
    return grpc::Status(grpc::ABORTED, "orders/0@7 failed with on_error=stop: bad row");
  };

  SidecarClient client(server.address());
  std::atomic<bool> stop{false};
  SubscribeOptions options = OrdersSubscription();
  options.on_error = kafka_sidecar::OnError::kStop;
  int calls = 0;
  const ConsumeResult result = client.Consume(
      options,
      [&](const Message&) {
        ++calls;
        return absl::DataLossError("bad row");
      },
      stop, nullptr, FastTuning());

  EXPECT_EQ(result.status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(result.status.message(), "orders/0@7 failed with on_error=stop: bad row");
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(received.acks.size(), 1u);
  EXPECT_EQ(received.acks[0].status(), v1::Ack::STATUS_ERROR);
  EXPECT_EQ(received.acks[0].error(), "bad row");
  EXPECT_EQ(result.stats.acked_error, 1u);
  EXPECT_EQ(result.stats.not_processed, 1u);
}

TEST(SidecarClientConsume, HandlerExceptionIsAckedAsError) {
  FakeSidecarServer server;
  ReceivedAcks received;
  server.service().consume_script = [&](grpc::ServerContext*, ServerStream* stream) {
    v1::Subscribe subscribe;
    if (!ReadSubscribe(stream, &subscribe)) return grpc::Status(grpc::INTERNAL, "no subscribe");
    SendBatch(stream, {MakeMessage(1, 0, 0, "x")});
    received = ReadAcks(stream, 1);
    SendEvent(stream, v1::Event::TYPE_DRAINING);
    ReadAcks(stream, 1);
    return grpc::Status::OK;
  };

  SidecarClient client(server.address());
  std::atomic<bool> stop{false};
  const ConsumeResult result = client.Consume(
      OrdersSubscription(),
      [](const Message&) -> absl::Status { throw std::runtime_error("column amount missing"); },
      stop, nullptr, FastTuning());

  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(received.acks.size(), 1u);
  EXPECT_EQ(received.acks[0].status(), v1::Ack::STATUS_ERROR);
  EXPECT_EQ(received.acks[0].error(), "handler threw: column amount missing");
}

TEST(SidecarClientConsume, ErrorStatusWithoutMessageAcksCodeName) {
  FakeSidecarServer server;
  ReceivedAcks received;
  server.service().consume_script = [&](grpc::ServerContext*, ServerStream* stream) {
    v1::Subscribe subscribe;
    if (!ReadSubscribe(stream, &subscribe)) return grpc::Status(grpc::INTERNAL, "no subscribe");
    SendBatch(stream, {MakeMessage(1, 0, 0, "x")});
    received = ReadAcks(stream, 1);
    SendEvent(stream, v1::Event::TYPE_DRAINING);
    ReadAcks(stream, 1);
    return grpc::Status::OK;
  };

  SidecarClient client(server.address());
  std::atomic<bool> stop{false};
  const ConsumeResult result = client.Consume(
      OrdersSubscription(),
      [](const Message&) { return absl::Status(absl::StatusCode::kFailedPrecondition, ""); },
      stop, nullptr, FastTuning());

  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(received.acks.size(), 1u);
  EXPECT_EQ(received.acks[0].error(), "FAILED_PRECONDITION");
}

TEST(SidecarClientConsume, ReturnsSidecarRejectionOfSubscription) {
  FakeSidecarServer server;
  server.service().consume_script = [&](grpc::ServerContext*, ServerStream* stream) {
    v1::Subscribe subscribe;
    ReadSubscribe(stream, &subscribe);
    return grpc::Status(grpc::INVALID_ARGUMENT,
                        "connection 'analytics' not found; call Connect first");
  };

  SidecarClient client(server.address());
  std::atomic<bool> stop{false};
  SubscribeOptions options = OrdersSubscription();
  options.connection_id = "analytics";
  int calls = 0;
  const ConsumeResult result = client.Consume(
      options,
      [&](const Message&) {
        ++calls;
        return absl::OkStatus();
      },
      stop, nullptr, FastTuning());

  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status.message(), "connection 'analytics' not found; call Connect first");
  EXPECT_EQ(calls, 0);
}

TEST(SidecarClientConsume, CancelsCallWhenFinishTimesOut) {
  FakeSidecarServer server;
  std::promise<bool> server_saw_cancel;
  server.service().consume_script = [&](grpc::ServerContext* context, ServerStream* stream) {
    v1::Subscribe subscribe;
    if (!ReadSubscribe(stream, &subscribe)) return grpc::Status(grpc::INTERNAL, "no subscribe");
    SendEvent(stream, v1::Event::TYPE_DRAINING);
    ReadAcks(stream, 1);
    // Hangs instead of ending the call, until the client cancels it.
    const auto deadline = std::chrono::steady_clock::now() + kTestDeadline;
    while (!context->IsCancelled() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    server_saw_cancel.set_value(context->IsCancelled());
    return grpc::Status::OK;
  };

  SidecarClient client(server.address());
  std::atomic<bool> stop{false};
  ConsumeTuning tuning = FastTuning();
  tuning.finish_timeout = std::chrono::milliseconds(200);
  const auto started = std::chrono::steady_clock::now();
  const ConsumeResult result = client.Consume(
      OrdersSubscription(), [](const Message&) { return absl::OkStatus(); }, stop, nullptr,
      tuning);
  const auto elapsed = std::chrono::steady_clock::now() - started;

  EXPECT_EQ(result.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(result.status.message().find("did not end the stream within 200 ms"),
            std::string::npos)
      << result.status;
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  std::future<bool> saw_cancel = server_saw_cancel.get_future();
  ASSERT_EQ(saw_cancel.wait_for(kTestDeadline), std::future_status::ready);
  EXPECT_TRUE(saw_cancel.get());
}

TEST(SidecarClientConsume, RejectsSubscriptionWithoutTopics) {
  SidecarClient client("unix:///nonexistent/sidecar.sock");
  std::atomic<bool> stop{false};
  SubscribeOptions options = OrdersSubscription();
  options.topics.clear();
  const ConsumeResult result = client.Consume(
      options, [](const Message&) { return absl::OkStatus(); }, stop, nullptr, FastTuning());

  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status.message().find("topics"), std::string::npos) << result.status;
}

TEST(SidecarClientConsume, RejectsSubscriptionWithoutGroup) {
  SidecarClient client("unix:///nonexistent/sidecar.sock");
  std::atomic<bool> stop{false};
  SubscribeOptions options = OrdersSubscription();
  options.group_id.clear();
  const ConsumeResult result = client.Consume(
      options, [](const Message&) { return absl::OkStatus(); }, stop, nullptr, FastTuning());

  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status.message().find("group_id"), std::string::npos) << result.status;
}

TEST(SidecarClientConsume, UnreachableSidecarReturnsUnavailableNamingAddress) {
  SidecarClient client("unix:///nonexistent/sidecar.sock");
  std::atomic<bool> stop{false};
  ConsumeTuning tuning = FastTuning();
  tuning.connect_timeout = std::chrono::milliseconds(200);
  const ConsumeResult result = client.Consume(
      OrdersSubscription(), [](const Message&) { return absl::OkStatus(); }, stop, nullptr,
      tuning);

  EXPECT_EQ(result.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(result.status.message().find("unix:///nonexistent/sidecar.sock"), std::string::npos)
      << result.status;
}

TEST(SidecarClientConsume, SecondConsumeOnSameClientOpensNewStream) {
  FakeSidecarServer server;
  std::atomic<int> streams{0};
  server.service().consume_script = [&](grpc::ServerContext*, ServerStream* stream) {
    v1::Subscribe subscribe;
    if (!ReadSubscribe(stream, &subscribe)) return grpc::Status(grpc::INTERNAL, "no subscribe");
    const int stream_number = ++streams;
    SendBatch(stream, {MakeMessage(1, 0, stream_number, "v")});
    ReadAcks(stream, 1);
    SendEvent(stream, v1::Event::TYPE_DRAINING);
    ReadAcks(stream, 1);
    return grpc::Status::OK;
  };

  SidecarClient client(server.address());
  std::atomic<bool> stop{false};
  std::vector<int64_t> offsets;
  const auto handler = [&](const Message& message) {
    offsets.push_back(message.offset);
    return absl::OkStatus();
  };
  const ConsumeResult first = client.Consume(OrdersSubscription(), handler, stop, nullptr,
                                             FastTuning());
  const ConsumeResult second = client.Consume(OrdersSubscription(), handler, stop, nullptr,
                                              FastTuning());

  EXPECT_TRUE(first.status.ok()) << first.status;
  EXPECT_TRUE(second.status.ok()) << second.status;
  EXPECT_EQ(offsets, (std::vector<int64_t>{1, 2}));
}

TEST(SidecarClientConsume, StopAlreadySetReturnsWithoutOpeningStream) {
  FakeSidecarServer server;
  std::atomic<int> streams{0};
  server.service().consume_script = [&](grpc::ServerContext*, ServerStream*) {
    ++streams;
    return grpc::Status::OK;
  };
  SidecarClient client(server.address());
  std::atomic<bool> stop{true};
  const ConsumeResult result = client.Consume(
      OrdersSubscription(), [](const Message&) { return absl::OkStatus(); }, stop, nullptr,
      FastTuning());

  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_TRUE(result.stats.stop_requested);
  EXPECT_EQ(streams.load(), 0);
}

TEST(SidecarClientProduce, SendsRecordsAndReturnsPerRecordResults) {
  FakeSidecarServer server;
  v1::ProduceRequest seen;
  server.service().produce_script = [&](const v1::ProduceRequest& request,
                                        v1::ProduceResponse* response) {
    seen = request;
    v1::RecordResult* delivered = response->add_results();
    delivered->set_partition(2);
    delivered->set_offset(41);
    v1::RecordResult* failed = response->add_results();
    failed->set_partition(-1);
    failed->set_offset(-1);
    failed->set_error("Broker: Message size too large");
    return grpc::Status::OK;
  };

  SidecarClient client(server.address());
  kafka_sidecar::ProduceRecord keyed;
  keyed.key = "acc-1";
  keyed.value = "{\"a\":1}";
  keyed.headers = {{"source", std::string("unit")}, {"trace", std::nullopt}};
  kafka_sidecar::ProduceRecord tombstone;
  tombstone.key = "acc-2";
  tombstone.partition = 1;
  kafka_sidecar::ProduceOptions options;
  options.connection_id = "analytics";
  options.delivery_timeout = std::chrono::milliseconds(3000);
  const auto results = client.Produce("accounts", {keyed, tombstone}, options);

  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 2u);
  EXPECT_TRUE((*results)[0].ok());
  EXPECT_EQ((*results)[0].partition, 2);
  EXPECT_EQ((*results)[0].offset, 41);
  EXPECT_FALSE((*results)[1].ok());
  EXPECT_EQ((*results)[1].error, "Broker: Message size too large");

  EXPECT_EQ(seen.topic(), "accounts");
  EXPECT_EQ(seen.connection_id(), "analytics");
  EXPECT_TRUE(seen.wait_for_delivery());
  EXPECT_EQ(seen.timeout_ms(), 3000u);
  ASSERT_EQ(seen.records_size(), 2);
  EXPECT_EQ(seen.records(0).key(), "acc-1");
  EXPECT_EQ(seen.records(0).value(), "{\"a\":1}");
  ASSERT_EQ(seen.records(0).headers_size(), 2);
  EXPECT_EQ(seen.records(0).headers(0).value(), "unit");
  EXPECT_FALSE(seen.records(0).headers(1).has_value());
  EXPECT_FALSE(seen.records(0).has_partition());
  EXPECT_FALSE(seen.records(1).has_value());
  EXPECT_EQ(seen.records(1).partition(), 1);
}

TEST(SidecarClientProduce, ReturnsSidecarErrorStatus) {
  FakeSidecarServer server;
  server.service().produce_script = [&](const v1::ProduceRequest&, v1::ProduceResponse*) {
    return grpc::Status(grpc::NOT_FOUND, "topic 'missing' not found in the cluster");
  };
  SidecarClient client(server.address());
  kafka_sidecar::ProduceRecord record;
  record.value = "v";
  const auto results = client.Produce("missing", {record});

  EXPECT_EQ(results.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(results.status().message(), "topic 'missing' not found in the cluster");
}

TEST(SidecarClientProduce, RejectsResultCountMismatch) {
  FakeSidecarServer server;
  server.service().produce_script = [&](const v1::ProduceRequest&, v1::ProduceResponse*) {
    return grpc::Status::OK;
  };
  SidecarClient client(server.address());
  kafka_sidecar::ProduceRecord record;
  record.value = "v";
  const auto results = client.Produce("orders", {record});

  EXPECT_EQ(results.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(results.status().message().find("0 results for 1 records"), std::string::npos)
      << results.status();
}

TEST(SidecarClientProduce, RejectsEmptyTopic) {
  SidecarClient client("unix:///nonexistent/sidecar.sock");
  kafka_sidecar::ProduceRecord record;
  record.value = "v";
  const auto results = client.Produce("", {record});

  EXPECT_EQ(results.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(results.status().message().find("topic is empty"), std::string::npos);
}

TEST(SidecarClient, DefaultAddressReadsEnvironment) {
  setenv("KAFKA_SIDECAR_ADDRESS", "unix:///tmp/custom.sock", 1);
  EXPECT_EQ(SidecarClient::DefaultAddress(), "unix:///tmp/custom.sock");
  unsetenv("KAFKA_SIDECAR_ADDRESS");
  EXPECT_EQ(SidecarClient::DefaultAddress(), "unix:///var/run/kafka-sidecar/sidecar.sock");
}

}  // namespace
