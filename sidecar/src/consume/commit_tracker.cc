#include "consume/commit_tracker.h"

#include <algorithm>

namespace kafkasidecar {

bool CommitTracker::Delivered(const kafka::TopicPartition& partition, int64_t offset) {
  PartitionState& state = partitions_[partition];
  if (offset <= state.last_delivered) return false;
  // The first delivered offset is where the group's consumption of this
  // assignment started; committing it would change nothing.
  if (state.last_delivered < 0) state.handed_out = offset;
  state.pending.push_back({offset, false});
  state.last_delivered = offset;
  ++state.unresolved;
  ++unresolved_total_;
  return true;
}

bool CommitTracker::Resolve(const kafka::TopicPartition& partition, int64_t offset) {
  auto found = partitions_.find(partition);
  if (found == partitions_.end()) return false;
  std::deque<Entry>& pending = found->second.pending;

  auto entry = std::lower_bound(pending.begin(), pending.end(), offset,
                                [](const Entry& e, int64_t value) { return e.offset < value; });
  if (entry == pending.end() || entry->offset != offset || entry->resolved) return false;
  entry->resolved = true;
  --found->second.unresolved;
  --unresolved_total_;

  // Keep the front unresolved, so the position is the front's offset.
  while (!pending.empty() && pending.front().resolved) pending.pop_front();
  return true;
}

int64_t CommitTracker::PositionOf(const PartitionState& state) {
  if (!state.pending.empty()) return state.pending.front().offset;
  return state.last_delivered + 1;
}

std::optional<int64_t> CommitTracker::Position(const kafka::TopicPartition& partition) const {
  auto found = partitions_.find(partition);
  if (found == partitions_.end() || found->second.last_delivered < 0) return std::nullopt;
  return PositionOf(found->second);
}

size_t CommitTracker::Unresolved(const kafka::TopicPartition& partition) const {
  auto found = partitions_.find(partition);
  return found == partitions_.end() ? 0 : found->second.unresolved;
}

void CommitTracker::Committable(const kafka::TopicPartition& partition, PartitionState& state,
                                std::vector<kafka::TopicPartitionOffset>& out) {
  if (state.last_delivered < 0) return;  // nothing delivered: nothing to commit
  const int64_t position = PositionOf(state);
  // PositionOf only grows; the max() keeps a commit from ever repeating a
  // lower offset even if that ever changed.
  if (position > state.handed_out || (state.commit_failed && position >= state.handed_out)) {
    state.handed_out = std::max(state.handed_out, position);
    state.commit_failed = false;
    out.push_back({partition, state.handed_out});
  }
}

std::vector<kafka::TopicPartitionOffset> CommitTracker::TakeCommittable(
    const std::vector<kafka::TopicPartition>* only) {
  std::vector<kafka::TopicPartitionOffset> out;
  if (only == nullptr) {
    for (auto& [partition, state] : partitions_) Committable(partition, state, out);
    return out;
  }
  for (const kafka::TopicPartition& partition : *only) {
    auto found = partitions_.find(partition);
    if (found != partitions_.end()) Committable(partition, found->second, out);
  }
  return out;
}

void CommitTracker::CommitFailed(const std::vector<kafka::TopicPartitionOffset>& offsets) {
  for (const kafka::TopicPartitionOffset& entry : offsets) {
    auto found = partitions_.find(entry.partition);
    // A partition revoked since is not retried: its new owner commits it.
    if (found == partitions_.end()) continue;
    found->second.commit_failed = true;
  }
}

void CommitTracker::Forget(const kafka::TopicPartition& partition) {
  auto found = partitions_.find(partition);
  if (found == partitions_.end()) return;
  unresolved_total_ -= found->second.unresolved;
  partitions_.erase(found);
}

std::vector<kafka::TopicPartition> CommitTracker::Partitions() const {
  std::vector<kafka::TopicPartition> out;
  out.reserve(partitions_.size());
  for (const auto& [partition, state] : partitions_) out.push_back(partition);
  return out;
}

}  // namespace kafkasidecar
