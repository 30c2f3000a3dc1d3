#include "produce/dead_letter_producer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "kafka/admin.h"

namespace kafkasidecar::produce {
namespace {

// How long a write may wait for room in the producer's local queue.
constexpr std::chrono::seconds kEnqueueWait(5);

}  // namespace

absl::Status PoolDeadLetterProducer::CheckTopic(const Connection& connection, const std::string& topic,
                                                std::chrono::milliseconds timeout) {
  absl::StatusOr<kafka::ClusterMetadata> metadata = kafka::TestConnection(connection, timeout);
  if (!metadata.ok()) return metadata.status();
  for (const kafka::TopicMetadata& entry : metadata->topics) {
    if (entry.name != topic) continue;
    if (!entry.error.empty()) {
      return absl::UnavailableError(absl::StrCat("the broker reported an error for topic \"", topic,
                                                 "\": ", entry.error));
    }
    return absl::OkStatus();
  }
  return absl::NotFoundError(
      absl::StrCat("topic \"", topic, "\" does not exist on ", connection.Describe()));
}

absl::Status PoolDeadLetterProducer::Send(const Connection& connection, const std::string& topic,
                                          const v1::ProduceRecord& record,
                                          DeliveryCallback on_delivery) {
  absl::StatusOr<std::shared_ptr<SharedProducer>> producer = producers_.Get(connection.id);
  if (!producer.ok()) return producer.status();
  return (*producer)->Enqueue(
      topic, record, Clock::now() + kEnqueueWait,
      [on_delivery = std::move(on_delivery)](const DeliveryResult& result) {
        if (result.error.empty()) {
          on_delivery(absl::OkStatus());
        } else {
          on_delivery(absl::UnavailableError(result.error));
        }
      });
}

}  // namespace kafkasidecar::produce
