// kafka-sidecar: serves the KafkaSidecar gRPC API next to a job.
//
// Exit codes: 0 after a clean drain, 1 when the drain deadline forced the
// shutdown, 2 for an invalid configuration, a failed test of the default
// connection or a listener that could not start.

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/sidecar_config.h"
#include "connections/registry.h"
#include "consume/consume_streams.h"
#include "consume/liveness.h"
#include "kafka/admin.h"
#include "kafka/client_factory.h"
#include "kafka/rdkafka_handles.h"
#include "logging/logging.h"
#include "produce/dead_letter_producer.h"
#include "produce/producer.h"
#include "server/grpc_server.h"
#include "server/sidecar_service.h"
#include "shutdown/coordinator.h"
#include "shutdown/signal_watcher.h"

namespace kafkasidecar {
namespace {

constexpr int kExitConfigurationError = 2;

int Run(const std::vector<std::string>& args) {
  auto log = logging::Get(logging::kSidecar);

  absl::StatusOr<config::LoadedConfig> loaded = config::LoadSidecarConfig(args);
  if (!loaded.ok()) {
    log->critical("Invalid configuration: {}", std::string(loaded.status().message()));
    return kExitConfigurationError;
  }
  if (loaded->help_requested) {
    std::fputs(loaded->help.c_str(), stdout);
    return 0;
  }
  const config::SidecarConfig& settings = loaded->config;
  logging::Configure(settings.log_level);
  for (const std::string& warning : loaded->warnings) log->warn("{}", warning);
  log->info("Starting kafka-sidecar with librdkafka {}: {}", rd_kafka_version_str(),
            config::DescribeRedacted(settings));

  const Connection& default_connection = loaded->default_connection;
  absl::StatusOr<kafka::ClusterMetadata> metadata =
      kafka::TestConnection(default_connection, std::chrono::milliseconds(settings.connect_timeout_ms));
  if (!metadata.ok()) {
    log->critical("Default connection failed: {}", std::string(metadata.status().message()));
    return kExitConfigurationError;
  }
  log->info("Default connection {} works: {} brokers, {} topics, controller {}", default_connection.Describe(),
            metadata->brokers.size(), metadata->topics.size(), metadata->controller_id);

  ConnectionRegistry connections(default_connection);
  // Created before the streams, which write dead letters through it.
  produce::ProducerPool producers(connections, settings.log_summary_interval);
  ConsumeDefaults consume_defaults;
  consume_defaults.max_in_flight = settings.max_in_flight;
  consume_defaults.max_in_flight_per_partition = settings.max_in_flight_per_partition;
  consume_defaults.shutdown_drain_timeout_s = settings.shutdown_drain_timeout_s;
  consume_defaults.log_summary_interval = settings.log_summary_interval;
  std::unique_ptr<ConsumeStreams> streams =
      MakeConsumeStreams(connections, consume_defaults, kafka::MakeRdKafkaClientFactory(),
                         std::make_shared<produce::PoolDeadLetterProducer>(producers));
  // Connect tests a job's connection before registering it, so refusing the
  // test refuses the connection; the default connection (id "") stays usable.
  server::ConnectionTester tester = kafka::TestConnection;
  if (!settings.allow_job_connections) {
    tester = [](const Connection& connection,
                std::chrono::milliseconds timeout) -> absl::StatusOr<kafka::ClusterMetadata> {
      if (connection.id.empty()) return kafka::TestConnection(connection, timeout);
      return absl::PermissionDeniedError(absl::StrCat(
          "connection \"", connection.id, "\" refused: this sidecar has allow_job_connections=false, so jobs use "
          "its own connection; call kafka_connector without bootstrap_servers (connection_id \"\")"));
    };
  }
  server::SidecarService service(*streams, producers, connections, tester,
                                 std::chrono::milliseconds(settings.connect_timeout_ms));

  // Installed before the server starts, so a signal that arrives while it
  // starts is queued instead of killing the process mid-way.
  absl::StatusOr<std::unique_ptr<shutdown::SignalWatcher>> signals = shutdown::SignalWatcher::Install();
  if (!signals.ok()) {
    log->critical("Cannot handle signals: {}", std::string(signals.status().message()));
    return kExitConfigurationError;
  }

  absl::StatusOr<std::unique_ptr<server::GrpcServer>> server =
      server::GrpcServer::Start({settings.listen_unix, settings.listen_tcp, settings.listen_unix_mode,
                                 settings.tls_cert, settings.tls_key, settings.tls_client_ca},
                                &service);
  if (!server.ok()) {
    log->critical("Cannot serve: {}", std::string(server.status().message()));
    return kExitConfigurationError;
  }
  const std::string& tcp = settings.listen_tcp;
  if (!tcp.empty() && tcp.rfind("127.", 0) != 0 && tcp.rfind("[::1]:", 0) != 0 && tcp.rfind("localhost:", 0) != 0 &&
      settings.tls_client_ca.empty()) {
    log->warn("listen_tcp {} accepts connections from other hosts without client certificates: "
              "set tls_client_ca, or prefer 127.0.0.1 or a Unix socket",
              tcp);
  }
  (*server)->SetServing(true);
  auto liveness = std::make_unique<LivenessMonitor>(
      *streams, std::chrono::seconds(settings.liveness_stall_s), std::chrono::seconds(1),
      [&server](bool serving) { (*server)->SetServiceServing(kLivenessServiceName, serving); });
  log->info("serving on {}", absl::StrJoin((*server)->addresses(), ", "));

  const int signal = (*signals)->Wait();

  shutdown::ShutdownSteps steps;
  steps.streams = streams.get();
  steps.set_serving = [&server](bool serving) { (*server)->SetServing(serving); };
  steps.shutdown_server = [&server](std::chrono::system_clock::time_point deadline) {
    (*server)->Shutdown(deadline);
  };
  steps.flush_producers = [&producers](shutdown::Clock::time_point deadline) {
    return producers.FlushAll(deadline);
  };
  steps.next_signal = [&signals](std::chrono::milliseconds timeout) { return (*signals)->WaitFor(timeout); };
  steps.produce_summary = [&producers] { return producers.FinalSummary(); };
  shutdown::ShutdownOptions options;
  options.drain_timeout = std::chrono::seconds(settings.shutdown_drain_timeout_s);
  const shutdown::ShutdownResult result = shutdown::RunShutdown(signal, steps, options);

  // Teardown in reverse order of use: the liveness checks stop, the server
  // waits for its calls, then the producers purge what the flush left, then
  // the streams go.
  liveness.reset();
  server->reset();
  producers.Close();
  streams.reset();
  return result.exit_code;
}

}  // namespace
}  // namespace kafkasidecar

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return kafkasidecar::Run(args);
}
