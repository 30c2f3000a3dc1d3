// One Consume call: the bidirectional stream, its reader thread and the
// handler loop that turns handler results into acks.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include <grpcpp/grpcpp.h>

#include "kafka_sidecar/sidecar_client.h"
#include "kafkasidecar/v1/sidecar.grpc.pb.h"

namespace kafka_sidecar::internal {

// Threads: the caller's thread runs Run(), calls the handlers and is the only
// writer of the stream. A reader thread started by Run() is the only caller
// of Read(); it hands frames over through `queue_`. Run() joins it before
// returning, so no thread outlives the call.
class ConsumeLoop {
 public:
  ConsumeLoop(kafkasidecar::v1::KafkaSidecar::Stub& stub, grpc::Channel& channel,
              std::string address, const SubscribeOptions& options,
              const MessageHandler& handler, const std::atomic<bool>& stop,
              const EventHandler& on_event, const ConsumeTuning& tuning);
  ConsumeLoop(const ConsumeLoop&) = delete;
  ConsumeLoop& operator=(const ConsumeLoop&) = delete;

  ConsumeResult Run();

 private:
  using Item = std::variant<Message, StreamEvent>;
  using Clock = std::chrono::steady_clock;

  absl::Status Validate() const;
  // Reader thread body: reads until the stream ends.
  void ReadAll();

  // Waits up to `timeout` for the next item. Returns false when nothing came;
  // sets `stream_ended` once the reader is done and the queue is empty.
  bool ShouldStopTakingWork() const;
  bool NextItem(Item& item, Clock::duration timeout, bool& stream_ended);
  void HandleMessage(const Message& message);
  void HandleEvent(const StreamEvent& event);
  // Stops taking work: sends pending acks and closes the job's side.
  void BeginClose();
  void FlushAcks();
  void WriteOrMarkBroken(const kafkasidecar::v1::ConsumeRequest& request);

  kafkasidecar::v1::KafkaSidecar::Stub& stub_;
  grpc::Channel& channel_;
  const std::string address_;
  const SubscribeOptions& options_;
  const MessageHandler& handler_;
  const std::atomic<bool>& stop_;
  const EventHandler& on_event_;
  const ConsumeTuning& tuning_;

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<kafkasidecar::v1::ConsumeRequest,
                                           kafkasidecar::v1::ConsumeResponse>>
      stream_;

  // Shared by the reader and the caller's thread, guarded by `mu_`.
  std::mutex mu_;
  std::condition_variable item_ready_;
  std::deque<Item> queue_;
  bool reader_done_ = false;
  uint64_t received_ = 0;
  // Set by the reader as soon as DRAINING arrives, ahead of the queued event,
  // so the handler loop stops after the message it is on.
  std::atomic<bool> draining_{false};
  // Set by the reader once Read() returned false.
  std::atomic<bool> stream_over_{false};

  // Caller's thread only.
  ConsumeStats stats_;
  kafkasidecar::v1::AckBatch pending_acks_;
  Clock::time_point oldest_pending_ack_;
  bool closing_ = false;
  bool write_broken_ = false;
  bool cancelled_ = false;
  Clock::time_point close_deadline_;
  absl::Status handler_failure_;  // an exception from the event handler
};

}  // namespace kafka_sidecar::internal
