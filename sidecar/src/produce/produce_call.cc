#include "produce/produce_call.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "logging/logging.h"

namespace kafkasidecar::produce {
namespace {

// Kafka's own limit on topic name length.
constexpr size_t kMaxTopicLength = 249;

bool IsTopicCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// The state of one Produce call that delivery reports, the timeout task and
// the gRPC thread share. Reports may arrive after the call finished, so the
// state is reference-counted and outlives the reactor. Only the thread that
// sets `finished_` uses `reactor_` and `response_`, once.
class ProduceBatch : public std::enable_shared_from_this<ProduceBatch> {
 public:
  ProduceBatch(grpc::ServerUnaryReactor* reactor, v1::ProduceResponse* response, size_t record_count,
               bool wait_for_delivery, std::chrono::milliseconds timeout)
      : reactor_(reactor),
        response_(response),
        wait_for_delivery_(wait_for_delivery),
        timeout_(timeout),
        results_(record_count),
        reported_(record_count, false) {}

  // Called after a record was enqueued; a report is then pending for it.
  void ExpectReport() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++outstanding_;
  }

  void RecordEnqueueFailure(size_t index, const std::string& error) {
    std::lock_guard<std::mutex> lock(mutex_);
    results_[index].error = error;
    reported_[index] = true;
  }

  void RecordDelivery(size_t index, const DeliveryResult& result) {
    std::unique_lock<std::mutex> lock(mutex_);
    results_[index] = result;
    reported_[index] = true;
    --outstanding_;
    MaybeFinish(std::move(lock));
  }

  // All records were handed to the producer (or failed to be).
  void EnqueueDone() {
    std::unique_lock<std::mutex> lock(mutex_);
    enqueue_done_ = true;
    MaybeFinish(std::move(lock));
  }

  // The timeout passed: records still without a report get an error.
  void TimedOut() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (finished_) return;
    for (size_t i = 0; i < results_.size(); ++i) {
      if (reported_[i]) continue;
      results_[i].error =
          absl::StrCat("delivery not confirmed within ", timeout_.count(),
                       " ms (the topic may not exist or the brokers may be unreachable); "
                       "the record may still be delivered");
    }
    FinishLocked(std::move(lock), grpc::Status::OK);
  }

  // The client cancelled or the server is shutting down.
  void Cancelled() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (finished_) return;
    FinishLocked(std::move(lock),
                 grpc::Status(grpc::StatusCode::CANCELLED,
                              "Produce call cancelled before every delivery report arrived; "
                              "records already enqueued may still be delivered"));
  }

  // Fails the whole call before any record was enqueued.
  void Fail(const grpc::Status& status) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (finished_) return;
    FinishLocked(std::move(lock), status);
  }

 private:
  void MaybeFinish(std::unique_lock<std::mutex> lock) {
    if (finished_ || !enqueue_done_) return;
    if (wait_for_delivery_ && outstanding_ > 0) return;
    FinishLocked(std::move(lock), grpc::Status::OK);
  }

  // Copies the results and finishes the call, outside the lock because
  // Finish may run OnDone on this thread.
  void FinishLocked(std::unique_lock<std::mutex> lock, const grpc::Status& status) {
    finished_ = true;
    std::vector<DeliveryResult> results = results_;
    lock.unlock();
    if (status.ok()) {
      for (const DeliveryResult& result : results) {
        v1::RecordResult* entry = response_->add_results();
        entry->set_partition(result.partition);
        entry->set_offset(result.offset);
        entry->set_error(result.error);
      }
    }
    reactor_->Finish(status);
  }

  grpc::ServerUnaryReactor* const reactor_;
  v1::ProduceResponse* const response_;
  const bool wait_for_delivery_;
  const std::chrono::milliseconds timeout_;

  std::mutex mutex_;
  std::vector<DeliveryResult> results_;  // guarded by mutex_, in request order
  std::vector<bool> reported_;           // guarded by mutex_
  size_t outstanding_ = 0;               // guarded by mutex_
  bool enqueue_done_ = false;            // guarded by mutex_
  bool finished_ = false;                // guarded by mutex_
};

class ProduceReactor : public grpc::ServerUnaryReactor {
 public:
  void Start(ProducerPool& pool, grpc::CallbackServerContext* context, const v1::ProduceRequest& request,
             v1::ProduceResponse* response) {
    auto log = logging::Get(logging::kProduce);
    absl::Status valid = ValidateProduceRequest(request);
    if (!valid.ok()) {
      log->debug("Rejected Produce to topic \"{}\": {}", request.topic(), std::string(valid.message()));
      Finish(ToGrpc(valid));
      return;
    }
    absl::StatusOr<std::shared_ptr<SharedProducer>> producer = pool.Get(request.connection_id());
    if (!producer.ok()) {
      log->warn("Rejected Produce to topic \"{}\": {}", request.topic(), std::string(producer.status().message()));
      Finish(ToGrpc(producer.status()));
      return;
    }

    std::chrono::milliseconds timeout =
        request.timeout_ms() > 0 ? std::chrono::milliseconds(request.timeout_ms()) : kDefaultProduceTimeout;
    const auto client_deadline = context->deadline();
    const auto system_now = std::chrono::system_clock::now();
    if (client_deadline < system_now + timeout) {
      timeout = std::max(std::chrono::milliseconds(0),
                         std::chrono::duration_cast<std::chrono::milliseconds>(client_deadline - system_now));
    }
    const Clock::time_point deadline = Clock::now() + timeout;
    const bool wait_for_delivery = !request.has_wait_for_delivery() || request.wait_for_delivery();

    batch_ = std::make_shared<ProduceBatch>(this, response, static_cast<size_t>(request.records_size()),
                                            wait_for_delivery, timeout);
    for (int i = 0; i < request.records_size(); ++i) {
      const size_t index = static_cast<size_t>(i);
      std::shared_ptr<ProduceBatch> batch = batch_;
      absl::Status enqueued = (*producer)->Enqueue(
          request.topic(), request.records(i), deadline,
          [batch, index](const DeliveryResult& result) { batch->RecordDelivery(index, result); });
      if (enqueued.ok()) {
        batch_->ExpectReport();
      } else {
        log->debug("Enqueueing record {} for topic {} failed: {}", index, request.topic(), std::string(enqueued.message()));
        batch_->RecordEnqueueFailure(index, std::string(enqueued.message()));
      }
    }
    if (wait_for_delivery) {
      std::weak_ptr<ProduceBatch> weak = batch_;
      (*producer)->RunAt(deadline, [weak] {
        if (auto batch = weak.lock()) batch->TimedOut();
      });
    }
    batch_->EnqueueDone();
  }

  void OnCancel() override {
    if (batch_ != nullptr) batch_->Cancelled();
  }

  void OnDone() override { delete this; }

 private:
  // Set in Start before any callback can refer to it. Delivery reports keep
  // their own references, so the batch may outlive this reactor.
  std::shared_ptr<ProduceBatch> batch_;
};

}  // namespace

absl::Status ValidateProduceRequest(const v1::ProduceRequest& request) {
  const std::string& topic = request.topic();
  if (topic.empty()) return absl::InvalidArgumentError("topic must not be empty: name the topic to produce to");
  if (topic.size() > kMaxTopicLength || topic == "." || topic == ".." ||
      !std::all_of(topic.begin(), topic.end(), IsTopicCharacter)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid topic \"", topic,
                     "\": a topic name has 1 to 249 ASCII letters, digits, '.', '_' or '-' and is not . or .."));
  }
  if (request.records_size() == 0) {
    return absl::InvalidArgumentError("records must not be empty: send at least one record");
  }
  for (int i = 0; i < request.records_size(); ++i) {
    const v1::ProduceRecord& record = request.records(i);
    if (record.has_partition() && record.partition() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("records[", i, "].partition ", record.partition(),
                       " is invalid: partitions are numbered from 0; leave it unset to let the partitioner choose"));
    }
    if (record.has_timestamp_ms() && record.timestamp_ms() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("records[", i, "].timestamp_ms ", record.timestamp_ms(),
                       " is invalid: use Unix milliseconds, or leave it unset to let the producer stamp the record"));
    }
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* StartProduce(ProducerPool& pool, grpc::CallbackServerContext* context,
                                       const v1::ProduceRequest* request, v1::ProduceResponse* response) {
  auto* reactor = new ProduceReactor();
  reactor->Start(pool, context, *request, response);
  return reactor;
}

}  // namespace kafkasidecar::produce
