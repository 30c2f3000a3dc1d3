// One Consume stream's consumer: delivery to the job, acks, retries,
// commits, rebalances and the stream's end.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "connections/connection.h"
#include "consume/commit_tracker.h"
#include "consume/consume_log.h"
#include "consume/dead_letter.h"
#include "consume/subscription.h"
#include "kafka/client_factory.h"
#include "kafka/consumer.h"
#include "kafkasidecar/v1/sidecar.pb.h"

namespace kafkasidecar {

// The outbound side of a Consume stream, implemented by the gRPC reactor.
// Thread-safe.
class StreamOutput {
 public:
  virtual ~StreamOutput() = default;
  virtual void SendMessage(v1::Message message) = 0;
  virtual void SendEvent(v1::Event event) = 0;
  // Ends the stream with `status`. The session calls it once, last.
  virtual void EndStream(grpc::Status status) = 0;
};

// Threads:
// - The poll thread, started by Start(), is the only thread that calls the
//   Kafka consumer (Wakeup excepted) and the only one that touches the
//   delivery state: the commit tracker, in-flight deliveries, retries, the
//   backlog, the assignment and the counters. It processes acks, commits
//   (asynchronously after acks, synchronously on revoke and at the end),
//   sends messages and events through StreamOutput, and ends the stream.
// - gRPC reaction threads and the shutdown coordinator only call the inbox
//   methods (OnAcks ... ForceClose). They queue the request under inbox_mu_
//   and wake the poll thread; they never block on Kafka.
// - The dead-letter producer's delivery callbacks queue their results in
//   the inbox the same way, through DeadLetterMailbox.
// - Any thread may call LoopStall.
class ConsumeSession {
 public:
  // Called on the poll thread once the final commit and the consumer close
  // are done, just before EndStream. `abandoned` counts deliveries that
  // were never resolved (in flight or waiting for a retry).
  using ClosedCallback = std::function<void(uint64_t abandoned)>;

  // `output` must outlive the session. `dead_letters` is required when
  // settings.dead_letter_topic is set.
  ConsumeSession(SessionSettings settings, std::shared_ptr<const Connection> connection,
                 std::shared_ptr<kafka::ClientFactory> factory, StreamOutput* output,
                 ClosedCallback on_closed,
                 std::shared_ptr<DeadLetterProducer> dead_letters = nullptr);

  // Ends the stream if it is still open (as ForceClose does) and joins the
  // poll thread. When the stream already ended, as it has when the reactor
  // destroys the session after the stream finished, the thread only has to
  // return from EndStream. Otherwise the wait is bounded by the final commit
  // (settings.commit_timeout), the consumer close (settings.close_timeout)
  // and librdkafka's handle destruction.
  ~ConsumeSession();

  ConsumeSession(const ConsumeSession&) = delete;
  ConsumeSession& operator=(const ConsumeSession&) = delete;

  void Start();

  // Inbox: thread-safe, non-blocking, safe to call after the stream ended.
  void OnAcks(const v1::AckBatch& batch);
  // The job closed its side: final commit, close, EndStream(OK).
  void OnHalfClose();
  // The stream broke (client gone, cancelled): final commit and close.
  void OnStreamBroken();
  // Ends the stream with `status` after the final commit.
  void EndWithStatus(grpc::Status status);
  void BeginDrain();
  // Ends the stream with UNAVAILABLE after committing what was acked.
  void ForceClose();

  // How long the poll thread has been in its current loop iteration, or in
  // the current step of opening or ending the stream. Returns nullopt before
  // Start and after the stream ended. Thread-safe.
  std::optional<std::chrono::steady_clock::duration> LoopStall(
      std::chrono::steady_clock::time_point now) const;

 private:
  struct InFlight {
    std::shared_ptr<const kafka::Message> message;
    uint32_t attempt = 1;
  };
  // A message the error policy gave up on, while its dead-letter write
  // waits for the broker's acknowledgement.
  struct PendingDeadLetter {
    InFlight entry;
    std::string error;
  };
  // Shared with the dead-letter delivery callbacks, which may run after the
  // session ended. `session` is cleared under `mu` when the stream ends.
  struct DeadLetterMailbox {
    std::mutex mu;
    ConsumeSession* session = nullptr;
  };

  // Poll thread.
  void Run();
  bool Open();
  void Loop();
  void FinishStream();
  void End(grpc::Status status);

  void TakeInbox();
  bool InboxHasWorkLocked() const;
  bool ProcessAck(const v1::Ack& ack);
  bool HandleJobError(InFlight entry, uint64_t delivery_id, const std::string& error);
  void WarnJobError(spdlog::level::level_enum level, const std::string& text);
  void Resolve(const InFlight& entry);

  bool SendToDeadLetter(InFlight entry, const std::string& error);
  void OnDeadLetterResult(uint64_t id, const absl::Status& status);
  void ApplyDeadLetterResult(uint64_t id, const absl::Status& status);
  void WaitForDeadLetters(std::chrono::steady_clock::time_point deadline);
  void MarkProgress();

  void PollOnce();
  void HandleFetched(std::shared_ptr<const kafka::Message> message);
  void HandleConsumerError(const kafka::ConsumerError& error);
  void Deliver(std::shared_ptr<const kafka::Message> message);
  void SendDelivery(std::shared_ptr<const kafka::Message> message, uint32_t attempt);
  void DeliverDueRetries();
  void DeliverBacklog();
  void PushBacklog(std::shared_ptr<const kafka::Message> message);
  void RemoveFromBacklogCounts(const kafka::Message& message);
  size_t Unacked() const;
  bool WindowFull() const;
  bool PartitionFull(const kafka::TopicPartition& partition) const;
  bool HoldPartition(const kafka::TopicPartition& partition, bool paused) const;
  void UpdatePause();
  void StartDraining();
  std::chrono::milliseconds NextPollTimeout() const;

  void OnRebalance(const kafka::RebalanceEvent& event);
  void AssignPartitions(const std::vector<kafka::TopicPartition>& partitions);
  void RevokePartitions(const std::vector<kafka::TopicPartition>& partitions, bool lost,
                        const std::string& reason);
  void WaitForAcks(const std::set<kafka::TopicPartition>& partitions);
  size_t InFlightIn(const std::set<kafka::TopicPartition>& partitions) const;

  void CommitIfDue();
  std::vector<kafka::TopicPartitionOffset> CommitSync(
      const std::vector<kafka::TopicPartition>* only);
  void CommitAsync();
  void OnCommitResult(const absl::Status& status,
                      const std::vector<kafka::TopicPartitionOffset>& offsets);
  void NoteCommitFailure(const std::vector<kafka::TopicPartitionOffset>& offsets,
                         const absl::Status& status, const char* kind);

  void SendEvent(v1::Event::Type type, const std::vector<kafka::TopicPartition>& partitions,
                 std::string detail);
  void MaybeLogSummary();
  std::string Summary() const;

  // Immutable after construction.
  const SessionSettings settings_;
  const std::shared_ptr<const Connection> connection_;
  const std::shared_ptr<kafka::ClientFactory> factory_;
  const std::shared_ptr<DeadLetterProducer> dead_letter_producer_;
  const std::shared_ptr<DeadLetterMailbox> dead_letter_mailbox_;
  StreamOutput* const output_;
  const ClosedCallback on_closed_;
  const std::string log_prefix_;  // "stream 7 group \"orders\""
  const std::shared_ptr<spdlog::logger> logger_;

  // Inbox, guarded by inbox_mu_.
  std::mutex inbox_mu_;
  std::condition_variable inbox_cv_;
  std::vector<v1::Ack> inbox_acks_;
  bool inbox_half_closed_ = false;
  bool inbox_broken_ = false;
  bool inbox_drain_ = false;
  bool inbox_force_ = false;
  std::optional<grpc::Status> inbox_end_;
  std::vector<std::pair<uint64_t, absl::Status>> inbox_dead_letter_results_;
  // The consumer to wake, while it exists. Set and cleared by the poll
  // thread under inbox_mu_, so Wakeup never reaches a destroyed consumer.
  kafka::Consumer* wakeup_target_ = nullptr;

  // Poll thread only.
  std::unique_ptr<kafka::Consumer> consumer_;
  CommitTracker tracker_;
  std::unordered_map<uint64_t, InFlight> in_flight_;  // by delivery id
  // Failed deliveries waiting for their retry, by due time. Each keeps its
  // offset unresolved in the tracker, so the partition's commit stays
  // behind it.
  std::multimap<std::chrono::steady_clock::time_point, InFlight> retries_;
  // Dead-letter writes waiting for the broker, by write id. Each keeps its
  // offset unresolved in the tracker until the broker acknowledged it.
  std::map<uint64_t, PendingDeadLetter> dead_letters_;
  uint64_t last_dead_letter_id_ = 0;
  // Messages fetched while the window was full or draining, in fetch order,
  // which keeps each partition's order. Delivered before newer ones.
  std::deque<std::shared_ptr<const kafka::Message>> backlog_;
  size_t backlog_bytes_ = 0;
  std::map<kafka::TopicPartition, size_t> backlog_by_partition_;
  // Set while the backlog is above half of its bound after reaching it.
  bool backlog_holding_ = false;
  std::set<kafka::TopicPartition> assigned_;
  std::set<kafka::TopicPartition> paused_;  // paused by this session
  uint64_t last_delivery_id_ = 0;
  std::optional<grpc::Status> end_status_;
  bool drain_requested_ = false;
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  bool ending_ = false;  // set once FinishStream runs
  uint64_t resolved_since_commit_ = 0;
  std::chrono::steady_clock::time_point next_periodic_commit_;
  std::optional<std::chrono::steady_clock::time_point> commit_retry_at_;
  // When the outstanding asynchronous commit was issued; nullopt when none
  // is outstanding.
  std::optional<std::chrono::steady_clock::time_point> async_commit_since_;
  std::chrono::steady_clock::time_point started_;
  uint64_t next_summary_at_ = 0;
  KeyedRateLimiter rate_limiter_;
  uint64_t delivered_ = 0;
  uint64_t redelivered_ = 0;
  uint64_t processed_ = 0;
  uint64_t job_errors_ = 0;
  uint64_t dropped_acks_ = 0;
  uint64_t skipped_duplicates_ = 0;
  uint64_t commit_failures_ = 0;
  uint64_t dead_lettered_ = 0;
  uint64_t job_error_warnings_ = 0;  // job errors logged at warning or above

  // Steady-clock time in nanoseconds at which the poll thread last made
  // progress; 0 before Start and after the stream ended. Written by the poll
  // thread, read by LoopStall on any thread.
  std::atomic<int64_t> progress_ns_{0};

  std::thread thread_;
};

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace kafkasidecar
