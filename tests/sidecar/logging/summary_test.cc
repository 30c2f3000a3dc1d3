#include "logging/summary.h"

#include "gtest/gtest.h"

namespace kafkasidecar::logging {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(FormatSummary, FormatsCountsAndRate) {
  EXPECT_EQ(FormatSummary(5000, 3, seconds(10)), "Processed 5000 messages, Errors: 3, Rate: 500 msg/s");
}

TEST(FormatSummary, ShowsOneDecimalForSlowRates) {
  EXPECT_EQ(FormatSummary(3, 0, seconds(2)), "Processed 3 messages, Errors: 0, Rate: 1.5 msg/s");
}

TEST(FormatSummary, ReportsZeroRateWhenNoTimePassed) {
  EXPECT_EQ(FormatSummary(7, 1, seconds(0)), "Processed 7 messages, Errors: 1, Rate: 0.0 msg/s");
}

TEST(Summary, ProducesLineEveryIntervalMessages) {
  const auto start = Summary::Clock::time_point{} + seconds(50);
  Summary summary(3, start);
  EXPECT_FALSE(summary.Record(false, start + seconds(1)).has_value());
  EXPECT_FALSE(summary.Record(true, start + seconds(1)).has_value());
  auto line = summary.Record(false, start + seconds(2));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, "Processed 3 messages, Errors: 1, Rate: 1.5 msg/s");

  EXPECT_FALSE(summary.Record(false, start + seconds(3)).has_value());
  EXPECT_FALSE(summary.Record(false, start + seconds(3)).has_value());
  line = summary.Record(true, start + seconds(3));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, "Processed 6 messages, Errors: 2, Rate: 2.0 msg/s");
}

TEST(Summary, ZeroIntervalTurnsPeriodicLinesOff) {
  const auto start = Summary::Clock::time_point{} + seconds(50);
  Summary summary(0, start);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(summary.Record(false, start).has_value());
  EXPECT_EQ(summary.processed(), 10u);
  EXPECT_EQ(summary.Final(start + milliseconds(500)), "Processed 10 messages, Errors: 0, Rate: 20 msg/s");
}

}  // namespace
}  // namespace kafkasidecar::logging
