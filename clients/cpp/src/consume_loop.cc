#include "consume_loop.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "conversions.h"

namespace kafka_sidecar::internal {

namespace v1 = kafkasidecar::v1;

ConsumeLoop::ConsumeLoop(v1::KafkaSidecar::Stub& stub, grpc::Channel& channel,
                         std::string address, const SubscribeOptions& options,
                         const MessageHandler& handler, const std::atomic<bool>& stop,
                         const EventHandler& on_event, const ConsumeTuning& tuning)
    : stub_(stub),
      channel_(channel),
      address_(std::move(address)),
      options_(options),
      handler_(handler),
      stop_(stop),
      on_event_(on_event),
      tuning_(tuning) {}

absl::Status ConsumeLoop::Validate() const {
  if (!handler_) {
    return absl::InvalidArgumentError("Consume needs a message handler; pass a callable.");
  }
  if (options_.topics.empty()) {
    return absl::InvalidArgumentError(
        "SubscribeOptions.topics is empty; name at least one topic to consume.");
  }
  for (const std::string& topic : options_.topics) {
    if (topic.empty()) {
      return absl::InvalidArgumentError(
          "SubscribeOptions.topics contains an empty topic name; remove it.");
    }
  }
  if (options_.group_id.empty()) {
    return absl::InvalidArgumentError(
        "SubscribeOptions.group_id is empty; set the consumer group id.");
  }
  if (tuning_.max_acks_per_frame == 0) {
    return absl::InvalidArgumentError(
        "ConsumeTuning.max_acks_per_frame is 0; it must be at least 1.");
  }
  return absl::OkStatus();
}

ConsumeResult ConsumeLoop::Run() {
  ConsumeResult result;
  if (absl::Status invalid = Validate(); !invalid.ok()) {
    result.status = std::move(invalid);
    return result;
  }
  if (stop_.load()) {
    result.stats.stop_requested = true;
    return result;
  }

  const auto connect_deadline = std::chrono::system_clock::now() + tuning_.connect_timeout;
  if (!channel_.WaitForConnected(connect_deadline)) {
    result.status = absl::UnavailableError(absl::StrCat(
        "Consume: the sidecar at ", address_.empty() ? "the channel" : address_,
        " accepted no connection within ", tuning_.connect_timeout.count(),
        " ms. Check that the sidecar runs and listens there (KAFKA_SIDECAR_ADDRESS)."));
    return result;
  }

  stream_ = stub_.Consume(&context_);
  v1::ConsumeRequest subscribe;
  *subscribe.mutable_subscribe() = ToProto(options_);
  WriteOrMarkBroken(subscribe);

  std::thread reader([this] { ReadAll(); });

  bool stream_ended = false;
  while (!stream_ended) {
    if (!closing_ && ShouldStopTakingWork()) BeginClose();

    Clock::duration wait = tuning_.stop_poll_interval;
    if (closing_) {
      const Clock::time_point now = Clock::now();
      if (now >= close_deadline_ && !cancelled_) {
        // The sidecar did not end the call in time after the job's side
        // closed; cancelling makes the reader's Read() return.
        context_.TryCancel();
        cancelled_ = true;
      }
      wait = std::min<Clock::duration>(wait, std::max<Clock::duration>(close_deadline_ - now,
                                                                        Clock::duration::zero()));
    }

    Item item;
    if (!NextItem(item, wait, stream_ended)) continue;

    if (const auto* message = std::get_if<Message>(&item)) {
      HandleMessage(*message);
    } else {
      HandleEvent(std::get<StreamEvent>(item));
    }
  }

  reader.join();
  const grpc::Status finish = stream_->Finish();

  result.stats = stats_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    result.stats.messages_received = received_;
  }
  result.stats.sidecar_draining = draining_.load();

  if (!handler_failure_.ok()) {
    result.status = handler_failure_;
  } else if (cancelled_ && finish.error_code() == grpc::StatusCode::CANCELLED) {
    result.status = absl::DeadlineExceededError(absl::StrCat(
        "Consume: the sidecar at ", address_.empty() ? "the channel" : address_,
        " did not end the stream within ", tuning_.finish_timeout.count(),
        " ms after the job closed its side; the call was cancelled. Acks sent before were "
        "delivered, and anything not committed is redelivered."));
  } else {
    result.status = RpcStatus(finish, "Consume", address_);
  }
  return result;
}

void ConsumeLoop::ReadAll() {
  v1::ConsumeResponse response;
  while (stream_->Read(&response)) {
    std::lock_guard<std::mutex> lock(mu_);
    if (response.has_messages()) {
      for (const v1::Message& message : response.messages().messages()) {
        queue_.emplace_back(FromProto(message));
        ++received_;
      }
    } else if (response.has_event()) {
      StreamEvent event = FromProto(response.event());
      if (event.type == v1::Event::TYPE_DRAINING) draining_.store(true);
      queue_.emplace_back(std::move(event));
    }
    item_ready_.notify_one();
  }
  stream_over_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  reader_done_ = true;
  item_ready_.notify_one();
}

bool ConsumeLoop::ShouldStopTakingWork() const {
  // After the stream ended or a write failed no ack can reach the sidecar,
  // so a handler would only repeat work that is redelivered anyway.
  return stop_.load() || draining_.load() || stream_over_.load() || write_broken_;
}

bool ConsumeLoop::NextItem(Item& item, Clock::duration timeout, bool& stream_ended) {
  std::unique_lock<std::mutex> lock(mu_);
  if (queue_.empty() && !reader_done_) {
    // Nothing to do until the sidecar sends more, and it may be waiting for
    // our acks (max_in_flight), so send them before waiting.
    lock.unlock();
    FlushAcks();
    lock.lock();
    item_ready_.wait_for(lock, timeout, [this] { return !queue_.empty() || reader_done_; });
  }
  if (!queue_.empty()) {
    item = std::move(queue_.front());
    queue_.pop_front();
    return true;
  }
  stream_ended = reader_done_;
  return false;
}

void ConsumeLoop::HandleMessage(const Message& message) {
  // Checked again per message: draining or a stop request that arrived while
  // the previous handler ran must stop the loop before the next one starts.
  if (!closing_ && ShouldStopTakingWork()) BeginClose();
  if (closing_) {
    ++stats_.not_processed;
    return;
  }

  absl::Status outcome;
  try {
    outcome = handler_(message);
  } catch (const std::exception& error) {
    outcome = absl::InternalError(absl::StrCat("handler threw: ", error.what()));
  } catch (...) {
    outcome = absl::InternalError("handler threw a non-standard exception");
  }

  if (outcome.ok()) {
    ++stats_.acked_success;
  } else {
    ++stats_.acked_error;
  }
  if (pending_acks_.acks_size() == 0) oldest_pending_ack_ = Clock::now();
  *pending_acks_.add_acks() = MakeAck(message.delivery_id, outcome);

  if (!outcome.ok() && options_.on_error == OnError::kStop) {
    // The sidecar ends the stream with ABORTED on this ack. Working on more
    // messages would only repeat side effects that are never committed.
    BeginClose();
    return;
  }
  if (static_cast<size_t>(pending_acks_.acks_size()) >= tuning_.max_acks_per_frame ||
      Clock::now() - oldest_pending_ack_ >= tuning_.ack_flush_interval) {
    FlushAcks();
  }
}

void ConsumeLoop::HandleEvent(const StreamEvent& event) {
  if (!on_event_ || !handler_failure_.ok()) return;
  try {
    on_event_(event);
  } catch (const std::exception& error) {
    handler_failure_ = absl::InternalError(
        absl::StrCat("Consume: the event handler threw: ", error.what(), "; the call was cancelled."));
  } catch (...) {
    handler_failure_ = absl::InternalError(
        "Consume: the event handler threw a non-standard exception; the call was cancelled.");
  }
  if (!handler_failure_.ok()) {
    FlushAcks();
    context_.TryCancel();
    cancelled_ = true;
    closing_ = true;
  }
}

void ConsumeLoop::BeginClose() {
  if (closing_) return;
  closing_ = true;
  stats_.stop_requested = stop_.load();
  close_deadline_ = Clock::now() + tuning_.finish_timeout;
  FlushAcks();
  if (!write_broken_) stream_->WritesDone();
}

void ConsumeLoop::FlushAcks() {
  if (pending_acks_.acks_size() == 0) return;
  v1::ConsumeRequest request;
  request.mutable_acks()->Swap(&pending_acks_);
  WriteOrMarkBroken(request);
  if (!write_broken_) ++stats_.ack_frames_sent;
}

void ConsumeLoop::WriteOrMarkBroken(const v1::ConsumeRequest& request) {
  if (write_broken_) return;
  if (!stream_->Write(request)) {
    // The call has ended; the reader sees the end too and Finish() returns
    // the reason. Acks not written are not committed and get redelivered.
    write_broken_ = true;
  }
}

}  // namespace kafka_sidecar::internal
