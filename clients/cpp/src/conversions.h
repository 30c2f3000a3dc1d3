// Conversions between the client's structs and the protocol's messages.
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "kafka_sidecar/sidecar_client.h"
#include "kafkasidecar/v1/sidecar.pb.h"

namespace kafka_sidecar::internal {

Message FromProto(const kafkasidecar::v1::Message& message);
StreamEvent FromProto(const kafkasidecar::v1::Event& event);

kafkasidecar::v1::Subscribe ToProto(const SubscribeOptions& options);
kafkasidecar::v1::ProduceRecord ToProto(const ProduceRecord& record);

// Turns a handler's status into the ack for `delivery_id`.
kafkasidecar::v1::Ack MakeAck(uint64_t delivery_id, const absl::Status& result);

// Converts the status of an RPC named `rpc`. Transport failures (the sidecar
// unreachable, gone, or too slow) get the address and a hint prepended; a
// status the sidecar itself returned keeps its message.
absl::Status RpcStatus(const grpc::Status& status, const std::string& rpc,
                       const std::string& address);

}  // namespace kafka_sidecar::internal
