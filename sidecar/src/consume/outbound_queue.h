// Responses waiting for the stream's single outstanding gRPC write, and the
// packing of waiting messages into MessageBatch frames.
#pragma once

#include <cstddef>
#include <deque>

#include "kafkasidecar/v1/sidecar.pb.h"

namespace kafkasidecar {

// Not thread-safe: the reactor guards it with its mutex.
class OutboundQueue {
 public:
  // Frame limits. A frame takes what is waiting when the previous write
  // completes; it never waits for more to arrive.
  static constexpr size_t kMaxMessagesPerFrame = 500;
  static constexpr size_t kMaxBytesPerFrame = 1 << 20;

  void PushMessage(v1::Message message);
  void PushEvent(v1::Event event);

  bool Empty() const { return items_.empty(); }
  size_t Size() const { return items_.size(); }

  // Moves the next frame into `frame`: the next event alone, or the
  // messages up to the next event, at most kMaxMessagesPerFrame of them and
  // at most kMaxBytesPerFrame of serialized size (a single larger message
  // still gets its own frame). Returns false when nothing is waiting.
  bool TakeFrame(v1::ConsumeResponse& frame);

  // Drops everything waiting, for a stream that is finishing. Returns how
  // many messages were dropped.
  size_t Clear();

 private:
  struct Item {
    bool is_event = false;
    v1::Message message;
    v1::Event event;
  };
  std::deque<Item> items_;
};

}  // namespace kafkasidecar
