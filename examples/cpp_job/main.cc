// Example C++ job: a stream transform. It consumes an input topic through the
// Kafka sidecar, upper-cases each value and produces it, with the same key
// and headers, to an output topic. A message is acked only after its
// transformed copy was delivered, so a crash never loses one (at-least-once:
// the output topic may receive a copy twice).
//
// SIGTERM or SIGINT finish the current message, send its ack and close the
// stream; the sidecar then commits and ends the call.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kafka_sidecar/sidecar_client.h"

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

extern "C" void RequestStop(int /*signal*/) { g_stop.store(true); }

constexpr char kUsage[] =
    "Usage: cpp_example_job [--sidecar-address ADDRESS] [--input-topic TOPIC]\n"
    "                       [--output-topic TOPIC] [--group-id GROUP]\n"
    "                       [--connection-id ID] [--log-level LEVEL]\n"
    "\n"
    "Consumes --input-topic through the Kafka sidecar, upper-cases each value and\n"
    "produces it to --output-topic. Each flag falls back to an environment variable:\n"
    "  --sidecar-address  KAFKA_SIDECAR_ADDRESS (default unix:///var/run/kafka-sidecar/sidecar.sock)\n"
    "  --input-topic      INPUT_TOPIC (required)\n"
    "  --output-topic     OUTPUT_TOPIC (required)\n"
    "  --group-id         GROUP_ID (default cpp-example-job)\n"
    "  --connection-id    KAFKA_CONNECTION_ID (default: the sidecar's default connection)\n"
    "  --log-level        LOG_LEVEL: trace, debug, info, warning, error (default info)\n"
    "Exit codes: 0 after a clean stop, 1 when the stream failed, 2 for a usage error.\n";

struct JobConfig {
  std::string sidecar_address;
  std::string input_topic;
  std::string output_topic;
  std::string group_id;
  std::string connection_id;
  std::string log_level;
};

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] != '\0' ? value : fallback;
}

// Parses "--flag value" and "--flag=value". Returns false after printing the
// problem and the usage text.
bool ParseArgs(int argc, char** argv, JobConfig& config) {
  std::map<std::string, std::string*> flags = {
      {"--sidecar-address", &config.sidecar_address},
      {"--input-topic", &config.input_topic},
      {"--output-topic", &config.output_topic},
      {"--group-id", &config.group_id},
      {"--connection-id", &config.connection_id},
      {"--log-level", &config.log_level},
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    std::string value;
    bool has_value = false;
    if (const auto equals = arg.find('='); equals != std::string::npos) {
      value = arg.substr(equals + 1);
      arg = arg.substr(0, equals);
      has_value = true;
    }
    const auto flag = flags.find(arg);
    if (flag == flags.end()) {
      std::fprintf(stderr, "Unknown option %s.\n\n%s", arg.c_str(), kUsage);
      return false;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "Option %s needs a value.\n\n%s", arg.c_str(), kUsage);
        return false;
      }
      value = argv[++i];
    }
    *flag->second = value;
  }

  if (config.sidecar_address.empty()) {
    config.sidecar_address = kafka_sidecar::SidecarClient::DefaultAddress();
  }
  if (config.input_topic.empty()) config.input_topic = EnvOr("INPUT_TOPIC", "");
  if (config.output_topic.empty()) config.output_topic = EnvOr("OUTPUT_TOPIC", "");
  if (config.group_id.empty()) config.group_id = EnvOr("GROUP_ID", "cpp-example-job");
  if (config.connection_id.empty()) config.connection_id = EnvOr("KAFKA_CONNECTION_ID", "");
  if (config.log_level.empty()) config.log_level = EnvOr("LOG_LEVEL", "info");

  if (config.input_topic.empty() || config.output_topic.empty()) {
    std::fprintf(stderr, "Set --input-topic and --output-topic (or INPUT_TOPIC and OUTPUT_TOPIC).\n\n%s",
                 kUsage);
    return false;
  }
  if (config.input_topic == config.output_topic) {
    std::fprintf(stderr,
                 "--input-topic and --output-topic are both %s; the job would consume its own "
                 "output. Use two topics.\n",
                 config.input_topic.c_str());
    return false;
  }
  if (spdlog::level::from_str(config.log_level) == spdlog::level::off && config.log_level != "off") {
    std::fprintf(stderr, "Invalid --log-level %s; use trace, debug, info, warning or error.\n",
                 config.log_level.c_str());
    return false;
  }
  return true;
}

void SetUpLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("cpp_example_job");
  // Tab-delimited like the DataPy jobs' logs, timestamps in UTC.
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ\t%l\t%n\t%v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

std::string ToUpper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  JobConfig config;
  if (!ParseArgs(argc, argv, config)) return 2;
  SetUpLogging(config.log_level);

  std::signal(SIGTERM, RequestStop);
  std::signal(SIGINT, RequestStop);

  kafka_sidecar::SidecarClient client(config.sidecar_address);

  kafka_sidecar::ProduceOptions produce_options;
  produce_options.connection_id = config.connection_id;

  const auto transform = [&](const kafka_sidecar::Message& message) -> absl::Status {
    kafka_sidecar::ProduceRecord record;
    record.key = message.key;
    if (message.value.has_value()) record.value = ToUpper(*message.value);
    record.headers = message.headers;

    auto results = client.Produce(config.output_topic, {record}, produce_options);
    if (!results.ok()) return results.status();
    const kafka_sidecar::RecordResult& delivered = results->front();
    if (!delivered.ok()) {
      return absl::UnavailableError(absl::StrCat("producing ", message.Id(), " to ",
                                                 config.output_topic, " failed: ", delivered.error));
    }
    spdlog::debug("{} -> {}/{}@{}", message.Id(), config.output_topic, delivered.partition,
                  delivered.offset);
    return absl::OkStatus();
  };

  const auto log_event = [](const kafka_sidecar::StreamEvent& event) {
    std::string partitions;
    for (const auto& [topic, partition] : event.partitions) {
      absl::StrAppend(&partitions, partitions.empty() ? "" : ",", topic, "/", partition);
    }
    spdlog::info("stream event {} {} {}", kafkasidecar::v1::Event::Type_Name(event.type),
                 partitions, event.detail);
  };

  kafka_sidecar::SubscribeOptions subscribe;
  subscribe.connection_id = config.connection_id;
  subscribe.topics = {config.input_topic};
  subscribe.group_id = config.group_id;
  subscribe.client_name = "cpp_example_job";
  // A failed produce is transient more often than not, so retry it before
  // giving up on the message.
  subscribe.on_error = kafka_sidecar::OnError::kRetry;

  spdlog::info("consuming {} as group {} via {}, producing to {}", config.input_topic,
               config.group_id, config.sidecar_address, config.output_topic);
  const kafka_sidecar::ConsumeResult result = client.Consume(subscribe, transform, g_stop, log_event);

  const kafka_sidecar::ConsumeStats& stats = result.stats;
  spdlog::info("Processed {} messages, Errors: {}, not processed (redelivered later): {}",
               stats.acked_success + stats.acked_error, stats.acked_error, stats.not_processed);
  if (!result.status.ok()) {
    spdlog::error("consume stream failed: {}", result.status.ToString());
    return 1;
  }
  spdlog::info("stopped cleanly ({})", stats.sidecar_draining ? "sidecar drained" : "stop signal");
  return 0;
}
