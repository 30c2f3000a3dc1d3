#include "shutdown/signal_watcher.h"

#include <csignal>

#include "gtest/gtest.h"

namespace kafkasidecar::shutdown {
namespace {

using std::chrono::milliseconds;

TEST(SignalWatcher, DeliversRealSigterm) {
  auto watcher = SignalWatcher::Install();
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  ASSERT_EQ(::raise(SIGTERM), 0);
  EXPECT_EQ((*watcher)->Wait(), SIGTERM);
}

TEST(SignalWatcher, DeliversEachSignalInOrder) {
  auto watcher = SignalWatcher::Install();
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  ASSERT_EQ(::raise(SIGINT), 0);
  ASSERT_EQ(::raise(SIGTERM), 0);
  EXPECT_EQ((*watcher)->WaitFor(milliseconds(1000)), SIGINT);
  EXPECT_EQ((*watcher)->WaitFor(milliseconds(1000)), SIGTERM);
  EXPECT_EQ((*watcher)->WaitFor(milliseconds(50)), std::nullopt);
}

TEST(SignalWatcher, NotifyWakesWaiter) {
  auto watcher = SignalWatcher::Install();
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  (*watcher)->Notify(SIGTERM);
  EXPECT_EQ((*watcher)->Wait(), SIGTERM);
}

TEST(SignalWatcher, SecondInstallFailsWhileFirstExists) {
  auto first = SignalWatcher::Install();
  ASSERT_TRUE(first.ok());
  auto second = SignalWatcher::Install();
  EXPECT_FALSE(second.ok());
  first->reset();
  EXPECT_TRUE(SignalWatcher::Install().ok());
}

}  // namespace
}  // namespace kafkasidecar::shutdown
