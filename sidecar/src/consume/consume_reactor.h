// The gRPC side of a Consume stream, and the registry of open streams that
// the shutdown sequence works on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "connections/connection.h"
#include "consume/consume_session.h"
#include "consume/consume_streams.h"
#include "consume/dead_letter.h"
#include "consume/outbound_queue.h"
#include "kafka/client_factory.h"
#include "kafkasidecar/v1/sidecar.grpc.pb.h"

namespace kafkasidecar {

class ConsumeReactor;

// Open streams, shared by ConsumeStreams and every reactor (a reactor may
// outlive ConsumeStreams until gRPC calls its OnDone). Thread-safe.
//
// A stream counts as open from Register until MarkClosed: until its
// session has made its final commit and closed its consumer, or until it
// ended without a session (rejected subscribe).
//
// Lock order: the registry's mutex, then a reactor's mutex, then a
// session's inbox mutex. Reactors never call into the registry while
// holding their own mutex.
class StreamRegistry {
 public:
  // `connections` must outlive every stream, that is, the gRPC server.
  StreamRegistry(const ConnectionLookup& connections, ConsumeDefaults defaults,
                 std::shared_ptr<kafka::ClientFactory> factory,
                 std::shared_ptr<DeadLetterProducer> dead_letters);

  // Returns the new stream's id, or nullopt once draining has begun.
  std::optional<uint64_t> Register(ConsumeReactor* reactor);
  // Idempotent. `abandoned` counts toward ForceClose's result when that
  // stream was force-closed.
  void MarkClosed(uint64_t id, uint64_t abandoned);

  void BeginDrain();
  bool WaitAllClosed(std::chrono::steady_clock::time_point deadline);
  uint64_t ForceClose();
  std::vector<std::string> StalledStreams(std::chrono::steady_clock::duration bound);

  const ConnectionLookup& connections() const { return connections_; }
  const ConsumeDefaults& defaults() const { return defaults_; }
  const std::shared_ptr<kafka::ClientFactory>& factory() const { return factory_; }
  // Null when the sidecar has no dead-letter producer.
  const std::shared_ptr<DeadLetterProducer>& dead_letters() const { return dead_letters_; }

 private:
  const ConnectionLookup& connections_;
  const ConsumeDefaults defaults_;
  const std::shared_ptr<kafka::ClientFactory> factory_;
  const std::shared_ptr<DeadLetterProducer> dead_letters_;

  std::mutex mu_;
  std::condition_variable closed_cv_;
  bool draining_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, ConsumeReactor*> open_;
  std::set<uint64_t> force_closing_;
  uint64_t force_abandoned_ = 0;
};

// One Consume call. Created by ConsumeStreams::Open, deleted by itself in
// OnDone.
//
// Threads: gRPC runs the reactions (OnReadDone, OnWriteDone, OnCancel,
// OnDone); the session's poll thread calls the StreamOutput methods; the
// shutdown coordinator calls BeginDrain and ForceClose through the
// registry. mu_ guards the write queue and the finish state. One read and
// one write are outstanding at most; Finish waits for the outstanding
// write.
class ConsumeReactor final
    : public grpc::ServerBidiReactor<v1::ConsumeRequest, v1::ConsumeResponse>,
      public StreamOutput {
 public:
  ConsumeReactor(grpc::CallbackServerContext* context, std::shared_ptr<StreamRegistry> registry);

  // Called by the registry under its mutex. Each returns true when the
  // stream had no session yet and was finished here, so the registry
  // closes it itself.
  bool BeginDrain();
  bool ForceClose();
  // How long the session's poll loop has been in its current iteration;
  // nullopt without a running session. Called under the registry's mutex.
  std::optional<std::chrono::steady_clock::duration> LoopStall(
      std::chrono::steady_clock::time_point now);
  std::optional<uint64_t> id() const { return id_; }

  // gRPC reactions.
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // StreamOutput, from the session's poll thread.
  void SendMessage(v1::Message message) override;
  void SendEvent(v1::Event event) override;
  void EndStream(grpc::Status status) override;

 private:
  void HandleSubscribe();
  void HandleRequest();
  // Finishes a stream that has no session, and reports it closed.
  void Reject(grpc::Status status);
  void FinishLocked(grpc::Status status);
  void StartNextWriteLocked();
  ConsumeSession* session();

  grpc::CallbackServerContext* const context_;
  const std::shared_ptr<StreamRegistry> registry_;
  std::optional<uint64_t> id_;  // nullopt when registration was refused

  // The target of the one outstanding read; only touched by StartRead and
  // OnReadDone, which gRPC never runs concurrently.
  v1::ConsumeRequest request_;
  bool subscribed_ = false;  // reaction threads only

  std::mutex mu_;
  OutboundQueue queue_;
  v1::ConsumeResponse frame_;  // the outstanding write's message
  bool write_in_flight_ = false;
  bool end_requested_ = false;  // no more sends or reads
  bool finish_called_ = false;
  std::optional<grpc::Status> finish_pending_;  // waits for the outstanding write
  bool draining_ = false;
  bool force_ = false;

  // Declared last: destroyed first, so the poll thread is joined while the
  // members above still exist. Set once under mu_.
  std::unique_ptr<ConsumeSession> session_;
};

}  // namespace kafkasidecar
