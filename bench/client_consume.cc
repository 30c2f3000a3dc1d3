// Consumer for scripts/bench.sh through the sidecar with the C++ client
// library (clients/cpp). Its handler only counts, and every message is acked
// as success; the sidecar commits with its default per_message strategy.
//
// Output on stdout, for bench/bench.py (steady clock, nanoseconds):
//   first_message_ns N    when the handler saw the first message
//   all_processed_ns N    when the handler returned for the --messages-th one
// It keeps the stream open until SIGTERM or SIGINT, so that bench.py can wait
// for the commits, and then closes it. Exit codes: 0 after a clean close, 1
// when the stream failed, 2 on a usage error.

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "kafka_sidecar/sidecar_client.h"

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

extern "C" void RequestStop(int /*signal*/) { g_stop.store(true); }

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Options {
  std::string sidecar_address;
  std::string topic;
  std::string group;
  int64_t messages = 0;
  int64_t max_in_flight = 0;
};

bool ParseArgs(int argc, char** argv, Options& options) {
  std::map<std::string, std::string> values;
  for (int i = 1; i + 1 < argc; i += 2) values[argv[i]] = argv[i + 1];
  options.sidecar_address = values["--sidecar-address"];
  options.topic = values["--topic"];
  options.group = values["--group"];
  options.messages = std::atoll(values["--messages"].c_str());
  options.max_in_flight = std::atoll(values["--max-in-flight"].c_str());
  if (argc % 2 == 0 || options.sidecar_address.empty() || options.topic.empty() ||
      options.group.empty() || options.messages < 1 || options.max_in_flight < 1) {
    std::fprintf(stderr,
                 "Usage: client_consume --sidecar-address ADDRESS --topic TOPIC --group GROUP "
                 "--messages N --max-in-flight M (N, M >= 1)\n");
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseArgs(argc, argv, options)) return 2;
  std::signal(SIGTERM, RequestStop);
  std::signal(SIGINT, RequestStop);

  kafka_sidecar::SidecarClient client(options.sidecar_address);
  kafka_sidecar::SubscribeOptions subscribe;
  subscribe.topics = {options.topic};
  subscribe.group_id = options.group;
  subscribe.max_in_flight = static_cast<uint32_t>(options.max_in_flight);
  subscribe.client_name = "bench_client_consume";

  // The handler runs on the thread that called Consume, so a plain counter is enough.
  int64_t count = 0;
  const auto count_message = [&](const kafka_sidecar::Message& /*message*/) -> absl::Status {
    if (count == 0) {
      std::printf("first_message_ns %lld\n", static_cast<long long>(SteadyNowNs()));
      std::fflush(stdout);
    }
    ++count;
    if (count == options.messages) {
      std::printf("all_processed_ns %lld\n", static_cast<long long>(SteadyNowNs()));
      std::fflush(stdout);
    }
    return absl::OkStatus();
  };

  const kafka_sidecar::ConsumeResult result = client.Consume(subscribe, count_message, g_stop);
  if (!result.status.ok()) {
    std::fprintf(stderr, "client_consume: the stream failed after %lld messages: %s\n",
                 static_cast<long long>(count), result.status.ToString().c_str());
    return 1;
  }
  return 0;
}
