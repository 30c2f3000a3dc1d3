// The KafkaSidecar gRPC service: Consume goes to the consume streams,
// Produce to the producer pool, Connect and CheckConnection test
// connections with a metadata request.
#pragma once

#include <chrono>
#include <functional>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "connections/registry.h"
#include "consume/consume_streams.h"
#include "kafka/admin.h"
#include "kafkasidecar/v1/sidecar.grpc.pb.h"
#include "produce/producer.h"
#include "server/task_runner.h"
#include "spdlog/common.h"

namespace kafkasidecar::server {

// Tests a connection within a timeout; kafka::TestConnection in production.
using ConnectionTester =
    std::function<absl::StatusOr<kafka::ClusterMetadata>(const Connection&, std::chrono::milliseconds)>;

// Maps an absl::Status onto the gRPC status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

class SidecarService final : public v1::KafkaSidecar::CallbackService {
 public:
  // Every reference must outlive the service. `default_connect_timeout`
  // bounds connection tests whose request leaves timeout_ms at 0.
  SidecarService(ConsumeStreams& streams, produce::ProducerPool& producers, ConnectionRegistry& connections,
                 ConnectionTester tester, std::chrono::milliseconds default_connect_timeout);

  grpc::ServerBidiReactor<v1::ConsumeRequest, v1::ConsumeResponse>* Consume(
      grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* Produce(grpc::CallbackServerContext* context, const v1::ProduceRequest* request,
                                    v1::ProduceResponse* response) override;

  // Validates the settings (INVALID_ARGUMENT), rejects an id registered with
  // other settings (ALREADY_EXISTS), tests the connection and registers it
  // only when the test succeeded.
  grpc::ServerUnaryReactor* Connect(grpc::CallbackServerContext* context, const v1::ConnectRequest* request,
                                    v1::ConnectionInfo* response) override;

  // Tests a registered connection; NOT_FOUND names an unknown id.
  grpc::ServerUnaryReactor* CheckConnection(grpc::CallbackServerContext* context,
                                            const v1::CheckConnectionRequest* request,
                                            v1::ConnectionInfo* response) override;

 private:
  // Runs the connection test on a worker thread and finishes `reactor` with
  // its result. `on_success` runs before the response is filled in, and a
  // success is logged at `success_level`.
  void RunConnectionTest(grpc::ServerUnaryReactor* reactor, std::shared_ptr<const Connection> connection,
                         uint32_t timeout_ms, v1::ConnectionInfo* response, spdlog::level::level_enum success_level,
                         std::function<absl::Status()> on_success);

  ConsumeStreams& streams_;
  produce::ProducerPool& producers_;
  ConnectionRegistry& connections_;
  const ConnectionTester tester_;
  const std::chrono::milliseconds default_connect_timeout_;
  // Declared last so that it is destroyed first: its destructor runs the
  // queued tests, which use the members above.
  TaskRunner connection_tests_;
};

}  // namespace kafkasidecar::server
