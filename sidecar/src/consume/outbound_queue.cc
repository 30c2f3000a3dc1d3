#include "consume/outbound_queue.h"

#include <utility>

namespace kafkasidecar {

void OutboundQueue::PushMessage(v1::Message message) {
  Item item;
  item.message = std::move(message);
  items_.push_back(std::move(item));
}

void OutboundQueue::PushEvent(v1::Event event) {
  Item item;
  item.is_event = true;
  item.event = std::move(event);
  items_.push_back(std::move(item));
}

bool OutboundQueue::TakeFrame(v1::ConsumeResponse& frame) {
  frame.Clear();
  if (items_.empty()) return false;

  if (items_.front().is_event) {
    *frame.mutable_event() = std::move(items_.front().event);
    items_.pop_front();
    return true;
  }

  v1::MessageBatch* batch = frame.mutable_messages();
  size_t bytes = 0;
  while (!items_.empty() && !items_.front().is_event &&
         static_cast<size_t>(batch->messages_size()) < kMaxMessagesPerFrame) {
    const size_t size = items_.front().message.ByteSizeLong();
    if (batch->messages_size() > 0 && bytes + size > kMaxBytesPerFrame) break;
    bytes += size;
    *batch->add_messages() = std::move(items_.front().message);
    items_.pop_front();
  }
  return true;
}

size_t OutboundQueue::Clear() {
  size_t messages = 0;
  for (const Item& item : items_) {
    if (!item.is_event) ++messages;
  }
  items_.clear();
  return messages;
}

}  // namespace kafkasidecar
