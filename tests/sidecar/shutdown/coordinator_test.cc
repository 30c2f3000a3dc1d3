#include "shutdown/coordinator.h"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kafkasidecar::shutdown {
namespace {

using ::testing::ElementsAre;
using std::chrono::milliseconds;

// Records every step in order. Its streams close when a test calls
// CloseAll, or never.
class RecordingStreams : public ConsumeStreams {
 public:
  explicit RecordingStreams(std::vector<std::string>* steps) : steps_(steps) {}

  grpc::ServerBidiReactor<v1::ConsumeRequest, v1::ConsumeResponse>* Open(grpc::CallbackServerContext*) override {
    return nullptr;
  }
  void BeginDrain() override { Record("drain"); }
  bool WaitAllClosed(Clock::time_point deadline) override {
    std::unique_lock<std::mutex> lock(mutex_);
    return closed_changed_.wait_until(lock, deadline, [this] { return closed_; });
  }
  uint64_t ForceClose() override {
    Record("force_close");
    return abandoned;
  }
  void CloseAll() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    closed_changed_.notify_all();
  }
  void Record(const std::string& step) {
    std::lock_guard<std::mutex> lock(mutex_);
    steps_->push_back(step);
  }

  uint64_t abandoned = 0;

 private:
  std::vector<std::string>* steps_;
  std::mutex mutex_;
  std::condition_variable closed_changed_;
  bool closed_ = false;
};

class CoordinatorTest : public ::testing::Test {
 protected:
  CoordinatorTest() : streams_(&steps_) {
    parts_.streams = &streams_;
    parts_.set_serving = [this](bool serving) { streams_.Record(serving ? "serving" : "not_serving"); };
    parts_.shutdown_server = [this](std::chrono::system_clock::time_point deadline) {
      server_grace_ = deadline - std::chrono::system_clock::now();
      streams_.Record("server_shutdown");
    };
    parts_.flush_producers = [this](Clock::time_point deadline) -> uint64_t {
      flush_budget_ = deadline - Clock::now();
      streams_.Record("flush");
      return undelivered_;
    };
    parts_.produce_summary = [] { return std::string("Processed 0 messages, Errors: 0, Rate: 0.0 msg/s"); };
  }

  std::vector<std::string> steps_;
  RecordingStreams streams_;
  ShutdownSteps parts_;
  Clock::duration flush_budget_{};
  std::chrono::system_clock::duration server_grace_{};
  uint64_t undelivered_ = 0;
};

TEST_F(CoordinatorTest, CleanDrainExitsZeroInOrder) {
  streams_.CloseAll();
  ShutdownOptions options;
  options.drain_timeout = std::chrono::seconds(5);
  const ShutdownResult result = RunShutdown(SIGTERM, parts_, options);
  EXPECT_THAT(steps_, ElementsAre("drain", "not_serving", "server_shutdown", "flush"));
  EXPECT_FALSE(result.forced);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.abandoned, 0u);
  // The flush may use what remains of the drain timeout.
  EXPECT_GT(flush_budget_, std::chrono::seconds(4));
  EXPECT_GT(server_grace_, milliseconds(1500));
}

TEST_F(CoordinatorTest, StreamsClosingDuringDrainEndWaitEarly) {
  ShutdownOptions options;
  options.drain_timeout = std::chrono::seconds(30);
  std::thread closer([this] {
    std::this_thread::sleep_for(milliseconds(300));
    streams_.CloseAll();
  });
  const auto start = Clock::now();
  const ShutdownResult result = RunShutdown(SIGINT, parts_, options);
  closer.join();
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_THAT(steps_, ElementsAre("drain", "not_serving", "server_shutdown", "flush"));
}

TEST_F(CoordinatorTest, MissedDeadlineForcesCloseAndExitsOne) {
  streams_.abandoned = 7;
  ShutdownOptions options;
  options.drain_timeout = std::chrono::seconds(1);
  options.min_flush = milliseconds(500);
  const auto start = Clock::now();
  const ShutdownResult result = RunShutdown(SIGTERM, parts_, options);
  const auto elapsed = Clock::now() - start;
  EXPECT_THAT(steps_, ElementsAre("drain", "not_serving", "force_close", "server_shutdown", "flush"));
  EXPECT_TRUE(result.forced);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.abandoned, 7u);
  EXPECT_GE(elapsed, milliseconds(1000));
  // The drain used its whole timeout, so the flush gets the minimum.
  EXPECT_GT(flush_budget_, milliseconds(400));
  EXPECT_LE(flush_budget_, milliseconds(500));
}

TEST_F(CoordinatorTest, SecondSignalEndsDrainEarly) {
  int polls = 0;
  parts_.next_signal = [&polls](milliseconds) -> std::optional<int> {
    ++polls;
    if (polls < 2) return std::nullopt;
    return SIGINT;
  };
  ShutdownOptions options;
  options.drain_timeout = std::chrono::seconds(30);
  const auto start = Clock::now();
  const ShutdownResult result = RunShutdown(SIGINT, parts_, options);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(result.forced);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(steps_, ElementsAre("drain", "not_serving", "force_close", "server_shutdown", "flush"));
}

TEST_F(CoordinatorTest, ReportsUndeliveredRecords) {
  streams_.CloseAll();
  undelivered_ = 3;
  ShutdownOptions options;
  options.drain_timeout = std::chrono::seconds(1);
  const ShutdownResult result = RunShutdown(SIGTERM, parts_, options);
  EXPECT_EQ(result.undelivered, 3u);
  EXPECT_EQ(result.exit_code, 0);
}

TEST_F(CoordinatorTest, ZeroDrainTimeoutForcesAtOnce) {
  ShutdownOptions options;
  options.drain_timeout = std::chrono::seconds(0);
  const auto start = Clock::now();
  const ShutdownResult result = RunShutdown(SIGTERM, parts_, options);
  EXPECT_TRUE(result.forced);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
}  // namespace kafkasidecar::shutdown
