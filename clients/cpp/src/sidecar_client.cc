#include "kafka_sidecar/sidecar_client.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "consume_loop.h"
#include "conversions.h"

namespace kafka_sidecar {

namespace v1 = kafkasidecar::v1;

namespace {

constexpr char kDefaultAddress[] = "unix:///var/run/kafka-sidecar/sidecar.sock";

// The sidecar's own delivery bound when a request leaves it at 0.
constexpr std::chrono::milliseconds kSidecarDefaultDeliveryTimeout{10000};
// Slack for the sidecar's work around the delivery wait itself.
constexpr std::chrono::milliseconds kRpcSlack{5000};

std::chrono::system_clock::time_point DeadlineAfter(std::chrono::milliseconds duration) {
  return std::chrono::system_clock::now() + duration;
}

}  // namespace

std::string Message::Id() const { return absl::StrCat(topic, "/", partition, "@", offset); }

SidecarClient::SidecarClient(const std::string& address)
    : address_(address),
      channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
      stub_(v1::KafkaSidecar::NewStub(channel_)) {}

SidecarClient::SidecarClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), stub_(v1::KafkaSidecar::NewStub(channel_)) {}

std::string SidecarClient::DefaultAddress() {
  const char* from_env = std::getenv("KAFKA_SIDECAR_ADDRESS");
  if (from_env != nullptr && from_env[0] != '\0') return from_env;
  return kDefaultAddress;
}

ConsumeResult SidecarClient::Consume(const SubscribeOptions& options,
                                     const MessageHandler& handler,
                                     const std::atomic<bool>& stop, const EventHandler& on_event,
                                     const ConsumeTuning& tuning) {
  internal::ConsumeLoop loop(*stub_, *channel_, address_, options, handler, stop, on_event,
                             tuning);
  return loop.Run();
}

absl::StatusOr<std::vector<RecordResult>> SidecarClient::Produce(
    const std::string& topic, const std::vector<ProduceRecord>& records,
    const ProduceOptions& options) {
  if (topic.empty()) {
    return absl::InvalidArgumentError("Produce: topic is empty; name the topic to produce to.");
  }
  if (options.delivery_timeout.count() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Produce: delivery_timeout is ", options.delivery_timeout.count(),
                     " ms; use 0 for the sidecar's default or a positive value."));
  }
  if (records.empty()) return std::vector<RecordResult>{};

  v1::ProduceRequest request;
  request.set_connection_id(options.connection_id);
  request.set_topic(topic);
  request.set_wait_for_delivery(options.wait_for_delivery);
  request.set_timeout_ms(static_cast<uint32_t>(options.delivery_timeout.count()));
  for (const ProduceRecord& record : records) *request.add_records() = internal::ToProto(record);

  const std::chrono::milliseconds delivery_wait = options.delivery_timeout.count() > 0
                                                      ? options.delivery_timeout
                                                      : kSidecarDefaultDeliveryTimeout;
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.set_deadline(DeadlineAfter(options.connect_timeout + delivery_wait + kRpcSlack));

  v1::ProduceResponse response;
  const grpc::Status status = stub_->Produce(&context, request, &response);
  if (!status.ok()) return internal::RpcStatus(status, "Produce", address_);

  if (response.results_size() != request.records_size()) {
    return absl::InternalError(absl::StrCat("Produce to ", topic, ": the sidecar returned ",
                                            response.results_size(), " results for ",
                                            request.records_size(), " records."));
  }
  std::vector<RecordResult> results;
  results.reserve(response.results_size());
  for (const v1::RecordResult& result : response.results()) {
    results.push_back(RecordResult{result.partition(), result.offset(), result.error()});
  }
  return results;
}

absl::StatusOr<v1::ConnectionInfo> SidecarClient::CheckConnection(
    const std::string& connection_id, std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CheckConnection: timeout is ", timeout.count(), " ms; it must be positive."));
  }
  v1::CheckConnectionRequest request;
  request.set_connection_id(connection_id);
  request.set_timeout_ms(static_cast<uint32_t>(timeout.count()));

  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.set_deadline(DeadlineAfter(timeout + kRpcSlack));

  v1::ConnectionInfo info;
  const grpc::Status status = stub_->CheckConnection(&context, request, &info);
  if (!status.ok()) return internal::RpcStatus(status, "CheckConnection", address_);
  return info;
}

absl::Status ToAbslStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace kafka_sidecar
