#include "consume/consume_reactor.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consume/consume_log.h"
#include "consume/subscription.h"

namespace kafkasidecar {
namespace {

// How long ForceClose waits for force-closed sessions beyond their own
// commit and close bounds.
constexpr std::chrono::seconds kForceCloseSlack(5);

}  // namespace

// ---- StreamRegistry ----

StreamRegistry::StreamRegistry(const ConnectionLookup& connections, ConsumeDefaults defaults,
                               std::shared_ptr<kafka::ClientFactory> factory,
                               std::shared_ptr<DeadLetterProducer> dead_letters)
    : connections_(connections),
      defaults_(defaults),
      factory_(std::move(factory)),
      dead_letters_(std::move(dead_letters)) {}

std::optional<uint64_t> StreamRegistry::Register(ConsumeReactor* reactor) {
  std::lock_guard<std::mutex> lock(mu_);
  if (draining_) return std::nullopt;
  const uint64_t id = next_id_++;
  open_.emplace(id, reactor);
  return id;
}

void StreamRegistry::MarkClosed(uint64_t id, uint64_t abandoned) {
  std::lock_guard<std::mutex> lock(mu_);
  if (open_.erase(id) == 0) return;
  if (force_closing_.erase(id) > 0) force_abandoned_ += abandoned;
  closed_cv_.notify_all();
}

void StreamRegistry::BeginDrain() {
  std::lock_guard<std::mutex> lock(mu_);
  if (draining_) return;
  draining_ = true;
  ConsumeLogger()->info("draining {} open Consume streams", open_.size());
  for (auto it = open_.begin(); it != open_.end();) {
    if (it->second->BeginDrain()) {
      it = open_.erase(it);
    } else {
      ++it;
    }
  }
  closed_cv_.notify_all();
}

bool StreamRegistry::WaitAllClosed(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return closed_cv_.wait_until(lock, deadline, [this] { return open_.empty(); });
}

uint64_t StreamRegistry::ForceClose() {
  std::unique_lock<std::mutex> lock(mu_);
  draining_ = true;
  force_abandoned_ = 0;
  for (auto it = open_.begin(); it != open_.end();) {
    if (it->second->ForceClose()) {
      it = open_.erase(it);
    } else {
      force_closing_.insert(it->first);
      ++it;
    }
  }
  if (open_.empty()) return 0;

  // Each session ends within its commit and close bounds; the slack covers
  // librdkafka's handle destruction.
  const SessionSettings bounds;
  const auto bound = bounds.commit_timeout + bounds.close_timeout + kForceCloseSlack;
  const auto deadline = std::chrono::steady_clock::now() + bound;
  if (!closed_cv_.wait_until(lock, deadline, [this] { return force_closing_.empty(); })) {
    ConsumeLogger()->error("{} Consume streams did not close within {} s of the forced close",
                           force_closing_.size(),
                           std::chrono::duration_cast<std::chrono::seconds>(bound).count());
  }
  return force_abandoned_;
}

std::vector<std::string> StreamRegistry::StalledStreams(std::chrono::steady_clock::duration bound) {
  std::vector<std::string> stalled;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, reactor] : open_) {
    std::optional<std::chrono::steady_clock::duration> stall = reactor->LoopStall(now);
    if (!stall || *stall <= bound) continue;
    stalled.push_back(absl::StrCat(
        "stream ", id, " (poll loop stalled for ",
        std::chrono::duration_cast<std::chrono::seconds>(*stall).count(), " s)"));
  }
  return stalled;
}

// ---- ConsumeReactor ----

ConsumeReactor::ConsumeReactor(grpc::CallbackServerContext* context,
                               std::shared_ptr<StreamRegistry> registry)
    : context_(context), registry_(std::move(registry)) {
  id_ = registry_->Register(this);
  if (!id_) {
    ConsumeLogger()->info("rejected a Consume stream from {}: sidecar shutting down",
                          context_->peer());
    std::lock_guard<std::mutex> lock(mu_);
    end_requested_ = true;
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "sidecar shutting down: it accepts no new Consume streams; retry "
                              "against the restarted sidecar"));
    return;
  }
  ConsumeLogger()->info("stream {} opened by {}", *id_, context_->peer());
  {
    // BeginDrain may have finished the stream since Register.
    std::lock_guard<std::mutex> lock(mu_);
    if (end_requested_) return;
  }
  StartRead(&request_);
}

ConsumeSession* ConsumeReactor::session() {
  std::lock_guard<std::mutex> lock(mu_);
  return session_.get();
}

void ConsumeReactor::OnReadDone(bool ok) {
  if (!ok) {
    // The job closed its side of the stream, or the call ended.
    if (ConsumeSession* current = session()) {
      current->OnHalfClose();
    } else {
      Reject(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the stream closed before its first request; send a ConsumeRequest "
                          "with subscribe first"));
    }
    return;
  }
  if (!subscribed_) {
    HandleSubscribe();
  } else {
    HandleRequest();
  }
}

void ConsumeReactor::HandleSubscribe() {
  if (!request_.has_subscribe()) {
    Reject(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first ConsumeRequest of a stream must carry subscribe; this one "
                        "carried acks"));
    return;
  }
  absl::StatusOr<SessionSettings> settings = ParseSubscribe(request_.subscribe(), registry_->defaults());
  if (!settings.ok()) {
    Reject(ToGrpcStatus(settings.status()));
    return;
  }
  settings->stream_id = *id_;
  if (!settings->dead_letter_topic.empty() && registry_->dead_letters() == nullptr) {
    Reject(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        absl::StrCat("subscribe.dead_letter_topic (\"", settings->dead_letter_topic,
                                     "\") needs a dead-letter producer, which this server has not "
                                     "got; leave it empty")));
    return;
  }

  std::shared_ptr<const Connection> connection = registry_->connections().Find(settings->connection_id);
  if (connection == nullptr) {
    Reject(grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("connection \"", settings->connection_id,
                                     "\" is not registered; call Connect with this connection_id "
                                     "first, or use \"\" for the sidecar's default connection")));
    return;
  }

  subscribed_ = true;
  ConsumeSession* started = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!draining_ && !end_requested_) {
      const uint64_t id = *id_;
      std::shared_ptr<StreamRegistry> registry = registry_;
      session_ = std::make_unique<ConsumeSession>(
          std::move(*settings), std::move(connection), registry_->factory(), this,
          [registry, id](uint64_t abandoned) { registry->MarkClosed(id, abandoned); },
          registry_->dead_letters());
      started = session_.get();
    }
  }
  if (started == nullptr) {
    Reject(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "sidecar shutting down: it accepts no new Consume streams; retry against "
                        "the restarted sidecar"));
    return;
  }
  started->Start();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (end_requested_) return;
  }
  StartRead(&request_);
}

void ConsumeReactor::HandleRequest() {
  ConsumeSession* current = session();
  if (current == nullptr) return;  // the stream was finished before its session started
  if (request_.has_subscribe()) {
    current->EndWithStatus(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        "this stream is already subscribed; a stream takes one subscribe, so open a new stream "
        "for another subscription"));
    return;
  }
  if (!request_.has_acks()) {
    current->EndWithStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                        "a ConsumeRequest carried neither subscribe nor acks"));
    return;
  }
  current->OnAcks(request_.acks());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (end_requested_) return;
  }
  StartRead(&request_);
}

void ConsumeReactor::Reject(grpc::Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (end_requested_) return;
    end_requested_ = true;
  }
  if (id_) {
    ConsumeLogger()->info("stream {} rejected: {}", *id_, status.error_message());
    registry_->MarkClosed(*id_, 0);
  }
  std::lock_guard<std::mutex> lock(mu_);
  FinishLocked(std::move(status));
}

void ConsumeReactor::OnWriteDone(bool ok) {
  ConsumeSession* broken_session = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    write_in_flight_ = false;
    if (finish_pending_) {
      finish_called_ = true;
      Finish(std::move(*finish_pending_));
      finish_pending_.reset();
      return;
    }
    if (ok) {
      StartNextWriteLocked();
      return;
    }
    queue_.Clear();
    broken_session = session_.get();
  }
  // The client is gone: the session commits what was acked and ends.
  if (broken_session != nullptr) broken_session->OnStreamBroken();
}

void ConsumeReactor::OnCancel() {
  if (ConsumeSession* current = session()) {
    current->OnStreamBroken();
    return;
  }
  Reject(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled"));
}

void ConsumeReactor::OnDone() {
  if (id_) registry_->MarkClosed(*id_, 0);
  // Destroys the session, which joins its poll thread. OnDone follows
  // Finish, the poll thread's last call, so the join is short.
  delete this;
}

bool ConsumeReactor::BeginDrain() {
  std::lock_guard<std::mutex> lock(mu_);
  draining_ = true;
  if (session_ != nullptr) {
    session_->BeginDrain();
    return false;
  }
  // Not subscribed yet: there is nothing to drain.
  if (!end_requested_) {
    end_requested_ = true;
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "sidecar shutting down: it accepts no new Consume streams; retry "
                              "against the restarted sidecar"));
  }
  return true;
}

std::optional<std::chrono::steady_clock::duration> ConsumeReactor::LoopStall(
    std::chrono::steady_clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (session_ == nullptr) return std::nullopt;
  return session_->LoopStall(now);
}

bool ConsumeReactor::ForceClose() {
  std::lock_guard<std::mutex> lock(mu_);
  force_ = true;
  draining_ = true;
  if (session_ != nullptr) {
    session_->ForceClose();
    // A client that stopped reading would hold the pending Finish forever.
    if (finish_pending_) context_->TryCancel();
    return false;
  }
  if (!end_requested_) {
    end_requested_ = true;
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "sidecar shutting down"));
  }
  return true;
}

void ConsumeReactor::SendMessage(v1::Message message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (end_requested_) return;
  queue_.PushMessage(std::move(message));
  StartNextWriteLocked();
}

void ConsumeReactor::SendEvent(v1::Event event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (end_requested_) return;
  queue_.PushEvent(std::move(event));
  StartNextWriteLocked();
}

void ConsumeReactor::EndStream(grpc::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  end_requested_ = true;
  FinishLocked(std::move(status));
}

void ConsumeReactor::FinishLocked(grpc::Status status) {
  if (finish_called_ || finish_pending_) return;
  // Messages not yet written are dropped: they were never acked, so
  // nothing was committed for them.
  queue_.Clear();
  if (write_in_flight_) {
    finish_pending_ = std::move(status);
    if (force_) context_->TryCancel();
    return;
  }
  finish_called_ = true;
  // gRPC runs the completion of Finish, and so OnDone, on its own threads.
  Finish(std::move(status));
}

void ConsumeReactor::StartNextWriteLocked() {
  if (write_in_flight_ || finish_called_ || finish_pending_) return;
  if (!queue_.TakeFrame(frame_)) return;
  write_in_flight_ = true;
  // The write's completion runs on a gRPC thread, never inline here.
  StartWrite(&frame_);
}

}  // namespace kafkasidecar
