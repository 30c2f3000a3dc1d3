#include "logging/rate_limiter.h"

#include "gtest/gtest.h"

namespace kafkasidecar::logging {
namespace {

using std::chrono::seconds;

TEST(RateLimiter, AllowsFirstEventWithNothingSuppressed) {
  RateLimiter limiter(seconds(10));
  auto allowed = limiter.Allow(RateLimiter::Clock::time_point{} + seconds(100));
  ASSERT_TRUE(allowed.has_value());
  EXPECT_EQ(*allowed, 0u);
}

TEST(RateLimiter, SuppressesWithinIntervalAndReportsCountAfter) {
  RateLimiter limiter(seconds(10));
  const auto start = RateLimiter::Clock::time_point{} + seconds(100);
  ASSERT_TRUE(limiter.Allow(start).has_value());
  EXPECT_FALSE(limiter.Allow(start + seconds(1)).has_value());
  EXPECT_FALSE(limiter.Allow(start + seconds(5)).has_value());
  EXPECT_FALSE(limiter.Allow(start + seconds(9)).has_value());

  auto allowed = limiter.Allow(start + seconds(10));
  ASSERT_TRUE(allowed.has_value());
  EXPECT_EQ(*allowed, 3u);

  // The count restarts after each allowed event.
  EXPECT_FALSE(limiter.Allow(start + seconds(11)).has_value());
  allowed = limiter.Allow(start + seconds(25));
  ASSERT_TRUE(allowed.has_value());
  EXPECT_EQ(*allowed, 1u);
}

}  // namespace
}  // namespace kafkasidecar::logging
