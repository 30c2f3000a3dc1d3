// The Produce RPC: enqueues a request's records on the connection's shared
// producer and returns each record's partition and offset.
#pragma once

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "kafkasidecar/v1/sidecar.pb.h"
#include "produce/producer.h"

namespace kafkasidecar::produce {

// Timeout of a Produce call whose request leaves timeout_ms at 0.
inline constexpr std::chrono::milliseconds kDefaultProduceTimeout(10000);

// Checks the request: a valid topic name, at least one record, no negative
// partition or timestamp. Errors are INVALID_ARGUMENT naming the field.
absl::Status ValidateProduceRequest(const v1::ProduceRequest& request);

// Handles one Produce call with the callback API. The returned reactor
// deletes itself in OnDone.
//
// Every record is enqueued in request order. With wait_for_delivery unset or
// true, the call finishes once every delivery report arrived or the timeout
// passed. The timeout is timeout_ms, else kDefaultProduceTimeout, and never
// extends past the client's deadline. Records without a report then carry an
// error saying that the record may still be delivered. With
// wait_for_delivery false, the call finishes after enqueueing, with
// partition and offset -1. Enqueueing runs on the calling gRPC thread and
// blocks while the producer's local queue is full.
grpc::ServerUnaryReactor* StartProduce(ProducerPool& pool, grpc::CallbackServerContext* context,
                                       const v1::ProduceRequest* request, v1::ProduceResponse* response);

}  // namespace kafkasidecar::produce
