#include "consume/outbound_queue.h"

#include <gtest/gtest.h>

#include <string>

namespace kafkasidecar {
namespace {

v1::Message MessageWithId(uint64_t id, size_t value_bytes = 10) {
  v1::Message message;
  message.set_delivery_id(id);
  message.set_topic("orders");
  message.set_value(std::string(value_bytes, 'x'));
  return message;
}

v1::Event EventOfType(v1::Event::Type type) {
  v1::Event event;
  event.set_type(type);
  return event;
}

TEST(OutboundQueue, EmptyQueueGivesNoFrame) {
  OutboundQueue queue;
  v1::ConsumeResponse frame;
  EXPECT_FALSE(queue.TakeFrame(frame));
}

TEST(OutboundQueue, WaitingMessagesShareOneFrame) {
  OutboundQueue queue;
  for (uint64_t id = 1; id <= 3; ++id) queue.PushMessage(MessageWithId(id));

  v1::ConsumeResponse frame;
  ASSERT_TRUE(queue.TakeFrame(frame));
  ASSERT_TRUE(frame.has_messages());
  ASSERT_EQ(frame.messages().messages_size(), 3);
  EXPECT_EQ(frame.messages().messages(0).delivery_id(), 1u);
  EXPECT_EQ(frame.messages().messages(2).delivery_id(), 3u);
  EXPECT_TRUE(queue.Empty());
}

TEST(OutboundQueue, EventsKeepTheirPlaceBetweenMessages) {
  OutboundQueue queue;
  queue.PushMessage(MessageWithId(1));
  queue.PushEvent(EventOfType(v1::Event::TYPE_PARTITIONS_REVOKED));
  queue.PushMessage(MessageWithId(2));

  v1::ConsumeResponse frame;
  ASSERT_TRUE(queue.TakeFrame(frame));
  ASSERT_TRUE(frame.has_messages());
  EXPECT_EQ(frame.messages().messages_size(), 1);

  ASSERT_TRUE(queue.TakeFrame(frame));
  ASSERT_TRUE(frame.has_event());
  EXPECT_EQ(frame.event().type(), v1::Event::TYPE_PARTITIONS_REVOKED);

  ASSERT_TRUE(queue.TakeFrame(frame));
  ASSERT_TRUE(frame.has_messages());
  EXPECT_EQ(frame.messages().messages(0).delivery_id(), 2u);
}

TEST(OutboundQueue, FrameHoldsAtMostMaxMessages) {
  OutboundQueue queue;
  const size_t total = OutboundQueue::kMaxMessagesPerFrame + 7;
  for (uint64_t id = 1; id <= total; ++id) queue.PushMessage(MessageWithId(id));

  v1::ConsumeResponse frame;
  ASSERT_TRUE(queue.TakeFrame(frame));
  EXPECT_EQ(static_cast<size_t>(frame.messages().messages_size()), OutboundQueue::kMaxMessagesPerFrame);
  ASSERT_TRUE(queue.TakeFrame(frame));
  EXPECT_EQ(frame.messages().messages_size(), 7);
  EXPECT_EQ(frame.messages().messages(0).delivery_id(), OutboundQueue::kMaxMessagesPerFrame + 1);
}

TEST(OutboundQueue, FrameStaysUnderByteLimit) {
  OutboundQueue queue;
  const size_t value_bytes = 300 * 1024;
  for (uint64_t id = 1; id <= 5; ++id) queue.PushMessage(MessageWithId(id, value_bytes));

  v1::ConsumeResponse frame;
  ASSERT_TRUE(queue.TakeFrame(frame));
  EXPECT_EQ(frame.messages().messages_size(), 3);
  EXPECT_LE(frame.ByteSizeLong(), OutboundQueue::kMaxBytesPerFrame + 64);
  ASSERT_TRUE(queue.TakeFrame(frame));
  EXPECT_EQ(frame.messages().messages_size(), 2);
}

TEST(OutboundQueue, OversizedMessageGetsItsOwnFrame) {
  OutboundQueue queue;
  queue.PushMessage(MessageWithId(1, OutboundQueue::kMaxBytesPerFrame + 10));
  queue.PushMessage(MessageWithId(2));

  v1::ConsumeResponse frame;
  ASSERT_TRUE(queue.TakeFrame(frame));
  ASSERT_EQ(frame.messages().messages_size(), 1);
  EXPECT_EQ(frame.messages().messages(0).delivery_id(), 1u);
  ASSERT_TRUE(queue.TakeFrame(frame));
  EXPECT_EQ(frame.messages().messages(0).delivery_id(), 2u);
}

TEST(OutboundQueue, ClearCountsDroppedMessages) {
  OutboundQueue queue;
  queue.PushMessage(MessageWithId(1));
  queue.PushEvent(EventOfType(v1::Event::TYPE_DRAINING));
  queue.PushMessage(MessageWithId(2));
  EXPECT_EQ(queue.Clear(), 2u);
  EXPECT_TRUE(queue.Empty());
}

}  // namespace
}  // namespace kafkasidecar
