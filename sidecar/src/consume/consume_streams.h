// The set of live Consume streams, and the part of the shutdown sequence
// that concerns them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "connections/connection.h"
#include "kafkasidecar/v1/sidecar.grpc.pb.h"

namespace kafkasidecar {

namespace kafka {
class ClientFactory;
}

class DeadLetterProducer;  // consume/dead_letter.h

struct ConsumeDefaults {
  uint32_t max_in_flight = 1000;
  // Delivered, unacked messages per partition of a stream; 0 for no bound.
  uint32_t max_in_flight_per_partition = 0;
  // Bound of the messages a stream keeps fetched but not yet delivered
  // while its window is full. Fetching pauses at the bound and resumes
  // below half of it.
  size_t backlog_max_messages = 1000;
  size_t backlog_max_bytes = 8 * 1024 * 1024;
  uint32_t shutdown_drain_timeout_s = 30;
  uint64_t log_summary_interval = 1000;
};

class ConsumeStreams {
 public:
  virtual ~ConsumeStreams() = default;

  // Called by the gRPC service for each Consume call. The returned reactor
  // deletes itself in OnDone, as the callback API expects.
  virtual grpc::ServerBidiReactor<v1::ConsumeRequest, v1::ConsumeResponse>* Open(
      grpc::CallbackServerContext* context) = 0;

  // Shutdown step 1: stop fetching and send DRAINING on every open stream.
  // Streams opened afterwards are rejected with UNAVAILABLE.
  virtual void BeginDrain() = 0;

  // Shutdown step 3: waits until every stream has closed (each one after its
  // final commit and consumer close). Returns false at the deadline.
  virtual bool WaitAllClosed(std::chrono::steady_clock::time_point deadline) = 0;

  // After a missed deadline: commits what was acked, closes every consumer
  // and ends every stream with UNAVAILABLE. Returns how many delivered
  // messages were abandoned unacked.
  virtual uint64_t ForceClose() = 0;

  // Streams whose poll loop has not completed an iteration for longer than
  // `bound`, as "stream 7 group \"orders\" (poll loop stalled for 12 s)".
  // The loop iterates at least every 200 ms while it is healthy.
  virtual std::vector<std::string> StalledStreams(std::chrono::steady_clock::duration /*bound*/) {
    return {};
  }
};

// `connections` must outlive every stream: a stream's reactor can outlive
// the returned object until the gRPC server has shut down. Without
// `dead_letters`, a subscribe that sets dead_letter_topic is rejected.
std::unique_ptr<ConsumeStreams> MakeConsumeStreams(
    const ConnectionLookup& connections, ConsumeDefaults defaults,
    std::shared_ptr<kafka::ClientFactory> factory,
    std::shared_ptr<DeadLetterProducer> dead_letters = nullptr);

}  // namespace kafkasidecar
