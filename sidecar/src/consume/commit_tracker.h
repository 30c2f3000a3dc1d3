// The commit rule, as pure bookkeeping: which offset each partition may
// commit given the messages delivered to the job and which of them are
// resolved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "kafka/message.h"

namespace kafkasidecar {

// Per partition, the offsets delivered to the job, in delivery order, and
// whether each one is resolved. A message is resolved when the job acked it
// with success, or when the error policy moved past it (on_error=continue,
// or on_error=retry after the last retry).
//
// The commit position of a partition is the offset of its earliest
// unresolved delivered message, or the last delivered offset + 1 when all
// are resolved. Offsets that were never delivered (compacted away,
// transaction markers) therefore never hold the position back, and an
// unresolved message always does. The position never moves backwards.
//
// Not thread-safe: the consume session touches it from its poll thread only.
class CommitTracker {
 public:
  // Records a message handed to the job. Returns false, and records
  // nothing, when `offset` is not above the partition's last delivered
  // offset: that offset was delivered already in this assignment.
  bool Delivered(const kafka::TopicPartition& partition, int64_t offset);

  // Marks a delivered message resolved. Returns false when the partition is
  // not tracked (revoked and forgotten) or the offset is not pending there.
  bool Resolve(const kafka::TopicPartition& partition, int64_t offset);

  // The commit position, or nullopt when nothing was delivered from the
  // partition since it was assigned.
  std::optional<int64_t> Position(const kafka::TopicPartition& partition) const;

  // Delivered and not yet resolved.
  size_t Unresolved(const kafka::TopicPartition& partition) const;
  size_t UnresolvedTotal() const { return unresolved_total_; }

  // The positions that moved past what was last handed out for commit, or
  // whose last commit failed. Marks them handed out. With `only`, looks at
  // those partitions alone.
  std::vector<kafka::TopicPartitionOffset> TakeCommittable(
      const std::vector<kafka::TopicPartition>* only = nullptr);

  // A commit of these offsets failed: the next TakeCommittable returns
  // these partitions again, at their current position.
  void CommitFailed(const std::vector<kafka::TopicPartitionOffset>& offsets);

  // Drops a revoked partition. Later Resolve calls for it return false.
  void Forget(const kafka::TopicPartition& partition);

  std::vector<kafka::TopicPartition> Partitions() const;

 private:
  struct Entry {
    int64_t offset;
    bool resolved;
  };
  struct PartitionState {
    // Delivered offsets in increasing order, starting at the earliest
    // unresolved one: resolved entries at the front are dropped at once.
    std::deque<Entry> pending;
    int64_t last_delivered = -1;
    // Last position handed out by TakeCommittable; before that, the first
    // delivered offset, which needs no commit.
    int64_t handed_out = -1;
    bool commit_failed = false;
    size_t unresolved = 0;  // entries of `pending` not resolved
  };

  static int64_t PositionOf(const PartitionState& state);
  void Committable(const kafka::TopicPartition& partition, PartitionState& state,
                   std::vector<kafka::TopicPartitionOffset>& out);

  std::map<kafka::TopicPartition, PartitionState> partitions_;
  size_t unresolved_total_ = 0;
};

}  // namespace kafkasidecar
