#include "server/sidecar_service.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "config/connection_config.h"
#include "logging/logging.h"
#include "produce/produce_call.h"

namespace kafkasidecar::server {
namespace {

// Connection tests that may run at once, and that may wait for a thread.
constexpr size_t kConnectionTestThreads = 4;
constexpr size_t kMaxQueuedConnectionTests = 32;

void FillConnectionInfo(const Connection& connection, const kafka::ClusterMetadata& metadata,
                        v1::ConnectionInfo* info) {
  info->set_connection_id(connection.id);
  info->set_bootstrap_servers(connection.bootstrap_servers);
  info->set_security_protocol(connection.security_protocol.empty() ? "PLAINTEXT" : connection.security_protocol);
  for (const kafka::BrokerMetadata& broker : metadata.brokers) {
    v1::BrokerInfo* entry = info->add_brokers();
    entry->set_id(broker.id);
    entry->set_host(broker.host);
    entry->set_port(broker.port);
  }
  for (const kafka::TopicMetadata& topic : metadata.topics) {
    v1::TopicInfo* entry = info->add_topics();
    entry->set_name(topic.name);
    entry->set_partition_count(topic.partition_count);
    entry->set_error(topic.error);
  }
  info->set_controller_id(metadata.controller_id);
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  std::string message(status.message());
  if (message.empty()) message = absl::StatusCodeToString(status.code());
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message);
}

SidecarService::SidecarService(ConsumeStreams& streams, produce::ProducerPool& producers,
                               ConnectionRegistry& connections, ConnectionTester tester,
                               std::chrono::milliseconds default_connect_timeout)
    : streams_(streams),
      producers_(producers),
      connections_(connections),
      tester_(std::move(tester)),
      default_connect_timeout_(default_connect_timeout),
      connection_tests_(kConnectionTestThreads, kMaxQueuedConnectionTests) {}

grpc::ServerBidiReactor<v1::ConsumeRequest, v1::ConsumeResponse>* SidecarService::Consume(
    grpc::CallbackServerContext* context) {
  return streams_.Open(context);
}

grpc::ServerUnaryReactor* SidecarService::Produce(grpc::CallbackServerContext* context,
                                                  const v1::ProduceRequest* request,
                                                  v1::ProduceResponse* response) {
  return produce::StartProduce(producers_, context, request, response);
}

grpc::ServerUnaryReactor* SidecarService::Connect(grpc::CallbackServerContext* context,
                                                  const v1::ConnectRequest* request,
                                                  v1::ConnectionInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto log = logging::Get(logging::kConnections);
  if (request->connection_id().empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "connection_id must not be empty: \"\" is the sidecar's default connection; "
                                 "choose a name"));
    return reactor;
  }
  absl::StatusOr<Connection> connection =
      config::MakeConnection(request->connection_id(), config::FromProto(request->settings()),
                             static_cast<int>(default_connect_timeout_.count()), config::ConnectRequestLabel);
  absl::Status status = connection.status();
  if (status.ok()) status = connections_.CheckCanRegister(*connection);
  if (!status.ok()) {
    log->warn("Rejected Connect for connection \"{}\": {}", request->connection_id(), std::string(status.message()));
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }

  auto candidate = std::make_shared<const Connection>(std::move(*connection));
  RunConnectionTest(reactor, candidate, request->timeout_ms(), response, spdlog::level::info,
                    [this, candidate]() -> absl::Status { return connections_.Register(*candidate).status(); });
  return reactor;
}

grpc::ServerUnaryReactor* SidecarService::CheckConnection(grpc::CallbackServerContext* context,
                                                          const v1::CheckConnectionRequest* request,
                                                          v1::ConnectionInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::shared_ptr<const Connection> connection = connections_.Find(request->connection_id());
  if (connection == nullptr) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("unknown connection_id \"", request->connection_id(), "\": register it with Connect first")));
    return reactor;
  }
  // Jobs may call CheckConnection often, so its successes are logged at debug.
  RunConnectionTest(reactor, connection, request->timeout_ms(), response, spdlog::level::debug,
                    [] { return absl::OkStatus(); });
  return reactor;
}

void SidecarService::RunConnectionTest(grpc::ServerUnaryReactor* reactor, std::shared_ptr<const Connection> connection,
                                       uint32_t timeout_ms, v1::ConnectionInfo* response,
                                       spdlog::level::level_enum success_level,
                                       std::function<absl::Status()> on_success) {
  const std::chrono::milliseconds timeout =
      timeout_ms > 0 ? std::chrono::milliseconds(timeout_ms) : default_connect_timeout_;
  auto task = [this, reactor, connection, timeout, response, success_level, on_success = std::move(on_success)] {
    auto log = logging::Get(logging::kConnections);
    absl::StatusOr<kafka::ClusterMetadata> metadata = tester_(*connection, timeout);
    absl::Status status = metadata.status();
    if (status.ok()) status = on_success();
    if (!status.ok()) {
      log->warn("Connection test of \"{}\" failed: {}", connection->id, std::string(status.message()));
      reactor->Finish(ToGrpcStatus(status));
      return;
    }
    log->log(success_level, "Connection test of \"{}\" succeeded: {}, {} brokers, {} topics", connection->id,
              connection->Describe(), metadata->brokers.size(), metadata->topics.size());
    FillConnectionInfo(*connection, *metadata, response);
    reactor->Finish(grpc::Status::OK);
  };
  if (!connection_tests_.Submit(std::move(task))) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 absl::StrCat("too many connection tests are running (at most ",
                                              kConnectionTestThreads + kMaxQueuedConnectionTests,
                                              " at once): retry in a few seconds")));
  }
}

}  // namespace kafkasidecar::server
