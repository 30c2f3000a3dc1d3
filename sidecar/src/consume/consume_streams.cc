#include "consume/consume_streams.h"

#include <utility>

#include "consume/consume_reactor.h"

namespace kafkasidecar {
namespace {

class ConsumeStreamsImpl final : public ConsumeStreams {
 public:
  ConsumeStreamsImpl(const ConnectionLookup& connections, ConsumeDefaults defaults,
                     std::shared_ptr<kafka::ClientFactory> factory,
                     std::shared_ptr<DeadLetterProducer> dead_letters)
      : registry_(std::make_shared<StreamRegistry>(connections, defaults, std::move(factory),
                                                   std::move(dead_letters))) {}

  grpc::ServerBidiReactor<v1::ConsumeRequest, v1::ConsumeResponse>* Open(
      grpc::CallbackServerContext* context) override {
    return new ConsumeReactor(context, registry_);
  }

  void BeginDrain() override { registry_->BeginDrain(); }

  bool WaitAllClosed(std::chrono::steady_clock::time_point deadline) override {
    return registry_->WaitAllClosed(deadline);
  }

  uint64_t ForceClose() override { return registry_->ForceClose(); }

  std::vector<std::string> StalledStreams(std::chrono::steady_clock::duration bound) override {
    return registry_->StalledStreams(bound);
  }

 private:
  std::shared_ptr<StreamRegistry> registry_;
};

}  // namespace

std::unique_ptr<ConsumeStreams> MakeConsumeStreams(
    const ConnectionLookup& connections, ConsumeDefaults defaults,
    std::shared_ptr<kafka::ClientFactory> factory,
    std::shared_ptr<DeadLetterProducer> dead_letters) {
  return std::make_unique<ConsumeStreamsImpl>(connections, defaults, std::move(factory),
                                              std::move(dead_letters));
}

}  // namespace kafkasidecar
