#include "consume/commit_tracker.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace kafkasidecar {
namespace {

const kafka::TopicPartition kOrders0{"orders", 0};
const kafka::TopicPartition kOrders1{"orders", 1};

std::optional<int64_t> CommittedOffsetFor(const std::vector<kafka::TopicPartitionOffset>& offsets,
                                          const kafka::TopicPartition& partition) {
  for (const kafka::TopicPartitionOffset& entry : offsets) {
    if (entry.partition == partition) return entry.offset;
  }
  return std::nullopt;
}

TEST(CommitTracker, NothingDeliveredHasNoPosition) {
  CommitTracker tracker;
  EXPECT_FALSE(tracker.Position(kOrders0).has_value());
  EXPECT_TRUE(tracker.TakeCommittable().empty());
}

TEST(CommitTracker, NothingResolvedCommitsNothing) {
  CommitTracker tracker;
  ASSERT_TRUE(tracker.Delivered(kOrders0, 500));
  ASSERT_TRUE(tracker.Delivered(kOrders0, 501));
  EXPECT_TRUE(tracker.TakeCommittable().empty());
}

TEST(CommitTracker, CommitsOnlyContiguousAckedOffsets) {
  CommitTracker tracker;
  for (int64_t offset = 10; offset < 15; ++offset) ASSERT_TRUE(tracker.Delivered(kOrders0, offset));

  EXPECT_EQ(tracker.Position(kOrders0), 10);
  ASSERT_TRUE(tracker.Resolve(kOrders0, 10));
  ASSERT_TRUE(tracker.Resolve(kOrders0, 11));
  EXPECT_EQ(tracker.Position(kOrders0), 12);
  EXPECT_EQ(tracker.Unresolved(kOrders0), 3u);

  for (int64_t offset = 12; offset < 15; ++offset) ASSERT_TRUE(tracker.Resolve(kOrders0, offset));
  EXPECT_EQ(tracker.Position(kOrders0), 15);
  EXPECT_EQ(tracker.UnresolvedTotal(), 0u);
}

TEST(CommitTracker, OutOfOrderAcksKeepPositionAtGap) {
  CommitTracker tracker;
  for (int64_t offset = 0; offset < 4; ++offset) ASSERT_TRUE(tracker.Delivered(kOrders0, offset));

  ASSERT_TRUE(tracker.Resolve(kOrders0, 3));
  ASSERT_TRUE(tracker.Resolve(kOrders0, 1));
  ASSERT_TRUE(tracker.Resolve(kOrders0, 2));
  EXPECT_EQ(tracker.Position(kOrders0), 0) << "offset 0 is unresolved, so nothing may be committed";
  EXPECT_TRUE(tracker.TakeCommittable().empty());

  ASSERT_TRUE(tracker.Resolve(kOrders0, 0));
  EXPECT_EQ(tracker.Position(kOrders0), 4);
}

TEST(CommitTracker, OffsetGapsDoNotHoldPositionBack) {
  // Compaction and transaction markers leave offsets that are never
  // delivered.
  CommitTracker tracker;
  ASSERT_TRUE(tracker.Delivered(kOrders0, 5));
  ASSERT_TRUE(tracker.Delivered(kOrders0, 9));
  ASSERT_TRUE(tracker.Delivered(kOrders0, 20));

  ASSERT_TRUE(tracker.Resolve(kOrders0, 5));
  EXPECT_EQ(tracker.Position(kOrders0), 9) << "the next unresolved delivered offset, not 6";
  ASSERT_TRUE(tracker.Resolve(kOrders0, 20));
  EXPECT_EQ(tracker.Position(kOrders0), 9);
  ASSERT_TRUE(tracker.Resolve(kOrders0, 9));
  EXPECT_EQ(tracker.Position(kOrders0), 21);
}

TEST(CommitTracker, UnresolvedRetryKeepsCommitBehindIt) {
  // A message waiting for its retry stays unresolved while later messages
  // of its partition are acked.
  CommitTracker tracker;
  for (int64_t offset = 0; offset < 3; ++offset) ASSERT_TRUE(tracker.Delivered(kOrders0, offset));
  ASSERT_TRUE(tracker.Resolve(kOrders0, 0));
  ASSERT_TRUE(tracker.Resolve(kOrders0, 2));

  std::vector<kafka::TopicPartitionOffset> committable = tracker.TakeCommittable();
  EXPECT_EQ(CommittedOffsetFor(committable, kOrders0), 1);

  ASSERT_TRUE(tracker.Resolve(kOrders0, 1));  // the retry finally resolved
  committable = tracker.TakeCommittable();
  EXPECT_EQ(CommittedOffsetFor(committable, kOrders0), 3);
}

TEST(CommitTracker, PartitionsAreIndependent) {
  CommitTracker tracker;
  ASSERT_TRUE(tracker.Delivered(kOrders0, 0));
  ASSERT_TRUE(tracker.Delivered(kOrders1, 0));
  ASSERT_TRUE(tracker.Resolve(kOrders1, 0));

  std::vector<kafka::TopicPartitionOffset> committable = tracker.TakeCommittable();
  EXPECT_FALSE(CommittedOffsetFor(committable, kOrders0).has_value());
  EXPECT_EQ(CommittedOffsetFor(committable, kOrders1), 1);
}

TEST(CommitTracker, TakeCommittableReportsOnlyAdvancedPartitions) {
  CommitTracker tracker;
  ASSERT_TRUE(tracker.Delivered(kOrders0, 0));
  ASSERT_TRUE(tracker.Delivered(kOrders1, 0));
  ASSERT_TRUE(tracker.Resolve(kOrders0, 0));
  ASSERT_TRUE(tracker.Resolve(kOrders1, 0));
  EXPECT_EQ(tracker.TakeCommittable().size(), 2u);
  EXPECT_TRUE(tracker.TakeCommittable().empty()) << "nothing advanced since the last commit";

  ASSERT_TRUE(tracker.Delivered(kOrders1, 1));
  ASSERT_TRUE(tracker.Resolve(kOrders1, 1));
  std::vector<kafka::TopicPartitionOffset> committable = tracker.TakeCommittable();
  ASSERT_EQ(committable.size(), 1u);
  EXPECT_EQ(committable[0].partition, kOrders1);
  EXPECT_EQ(committable[0].offset, 2);
}

TEST(CommitTracker, TakeCommittableLimitedToGivenPartitions) {
  CommitTracker tracker;
  ASSERT_TRUE(tracker.Delivered(kOrders0, 0));
  ASSERT_TRUE(tracker.Delivered(kOrders1, 0));
  ASSERT_TRUE(tracker.Resolve(kOrders0, 0));
  ASSERT_TRUE(tracker.Resolve(kOrders1, 0));

  const std::vector<kafka::TopicPartition> only = {kOrders1};
  std::vector<kafka::TopicPartitionOffset> committable = tracker.TakeCommittable(&only);
  ASSERT_EQ(committable.size(), 1u);
  EXPECT_EQ(committable[0].partition, kOrders1);
  EXPECT_EQ(CommittedOffsetFor(tracker.TakeCommittable(), kOrders0), 1);
}

TEST(CommitTracker, FailedCommitIsHandedOutAgain) {
  CommitTracker tracker;
  ASSERT_TRUE(tracker.Delivered(kOrders0, 0));
  ASSERT_TRUE(tracker.Resolve(kOrders0, 0));
  std::vector<kafka::TopicPartitionOffset> first = tracker.TakeCommittable();
  ASSERT_EQ(first.size(), 1u);

  tracker.CommitFailed(first);
  std::vector<kafka::TopicPartitionOffset> retried = tracker.TakeCommittable();
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].offset, 1);
  EXPECT_TRUE(tracker.TakeCommittable().empty());
}

TEST(CommitTracker, RetriedCommitUsesCurrentPosition) {
  CommitTracker tracker;
  for (int64_t offset = 0; offset < 3; ++offset) ASSERT_TRUE(tracker.Delivered(kOrders0, offset));
  ASSERT_TRUE(tracker.Resolve(kOrders0, 0));
  std::vector<kafka::TopicPartitionOffset> first = tracker.TakeCommittable();  // offset 1
  ASSERT_TRUE(tracker.Resolve(kOrders0, 1));
  std::vector<kafka::TopicPartitionOffset> second = tracker.TakeCommittable();  // offset 2
  ASSERT_EQ(second.size(), 1u);

  // The older commit's failure arrives after the newer commit went out.
  tracker.CommitFailed(first);
  std::vector<kafka::TopicPartitionOffset> retried = tracker.TakeCommittable();
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].offset, 2);
}

TEST(CommitTracker, CommitPositionNeverMovesBackwards) {
  CommitTracker tracker;
  int64_t last_committed = -1;
  // Deliver 0..49, resolve in a scrambled order, and check every commit.
  for (int64_t offset = 0; offset < 50; ++offset) ASSERT_TRUE(tracker.Delivered(kOrders0, offset));
  for (int64_t step = 0; step < 50; ++step) {
    const int64_t offset = (step * 17) % 50;
    ASSERT_TRUE(tracker.Resolve(kOrders0, offset));
    for (const kafka::TopicPartitionOffset& entry : tracker.TakeCommittable()) {
      EXPECT_GT(entry.offset, last_committed);
      last_committed = entry.offset;
    }
  }
  EXPECT_EQ(last_committed, 50);
}

TEST(CommitTracker, RedeliveredOffsetIsRejected) {
  CommitTracker tracker;
  ASSERT_TRUE(tracker.Delivered(kOrders0, 4));
  EXPECT_FALSE(tracker.Delivered(kOrders0, 4));
  EXPECT_FALSE(tracker.Delivered(kOrders0, 2));
  EXPECT_EQ(tracker.Unresolved(kOrders0), 1u);
}

TEST(CommitTracker, ResolveTwiceOrUnknownOffsetReturnsFalse) {
  CommitTracker tracker;
  ASSERT_TRUE(tracker.Delivered(kOrders0, 0));
  ASSERT_TRUE(tracker.Delivered(kOrders0, 1));
  EXPECT_TRUE(tracker.Resolve(kOrders0, 1));
  EXPECT_FALSE(tracker.Resolve(kOrders0, 1));
  EXPECT_FALSE(tracker.Resolve(kOrders0, 7));
  EXPECT_FALSE(tracker.Resolve(kOrders1, 0));
  EXPECT_EQ(tracker.UnresolvedTotal(), 1u);
}

TEST(CommitTracker, RevokedPartitionDropsLaterAcks) {
  CommitTracker tracker;
  ASSERT_TRUE(tracker.Delivered(kOrders0, 0));
  ASSERT_TRUE(tracker.Delivered(kOrders0, 1));
  ASSERT_TRUE(tracker.Resolve(kOrders0, 0));
  tracker.Forget(kOrders0);

  EXPECT_FALSE(tracker.Resolve(kOrders0, 1));
  EXPECT_FALSE(tracker.Position(kOrders0).has_value());
  EXPECT_TRUE(tracker.TakeCommittable().empty());
  EXPECT_EQ(tracker.UnresolvedTotal(), 0u);

  // A later assignment of the partition starts over.
  ASSERT_TRUE(tracker.Delivered(kOrders0, 1));
  EXPECT_EQ(tracker.Position(kOrders0), 1);
}

TEST(CommitTracker, FailedCommitOfForgottenPartitionIsNotRetried) {
  CommitTracker tracker;
  ASSERT_TRUE(tracker.Delivered(kOrders0, 0));
  ASSERT_TRUE(tracker.Resolve(kOrders0, 0));
  std::vector<kafka::TopicPartitionOffset> sent = tracker.TakeCommittable();
  tracker.Forget(kOrders0);
  tracker.CommitFailed(sent);
  EXPECT_TRUE(tracker.TakeCommittable().empty());
}

}  // namespace
}  // namespace kafkasidecar
