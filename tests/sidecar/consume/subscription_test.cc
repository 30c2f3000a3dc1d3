#include "consume/subscription.h"

#include <gtest/gtest.h>

#include <string>

namespace kafkasidecar {
namespace {

v1::Subscribe ValidSubscribe() {
  v1::Subscribe subscribe;
  subscribe.add_topics("orders");
  subscribe.set_group_id("billing");
  return subscribe;
}

TEST(ParseSubscribe, FillsDefaults) {
  ConsumeDefaults defaults;
  defaults.max_in_flight = 77;
  defaults.shutdown_drain_timeout_s = 12;
  defaults.log_summary_interval = 500;

  absl::StatusOr<SessionSettings> settings = ParseSubscribe(ValidSubscribe(), defaults);
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->auto_offset_reset, "earliest");
  EXPECT_EQ(settings->on_error, v1::ON_ERROR_CONTINUE);
  EXPECT_EQ(settings->max_retries, 3u);
  EXPECT_EQ(settings->retry_backoff_ms, (std::vector<uint32_t>{100, 200, 400}));
  EXPECT_EQ(settings->max_in_flight, 77u);
  EXPECT_EQ(settings->commit_strategy, v1::COMMIT_STRATEGY_PER_MESSAGE);
  EXPECT_EQ(settings->drain_timeout, std::chrono::seconds(12));
  EXPECT_EQ(settings->log_summary_interval, 500u);
}

TEST(ParseSubscribe, KeepsExplicitValues) {
  v1::Subscribe subscribe = ValidSubscribe();
  subscribe.set_auto_offset_reset(v1::AUTO_OFFSET_RESET_NONE);
  subscribe.set_on_error(v1::ON_ERROR_RETRY);
  subscribe.set_max_retries(0);
  subscribe.add_retry_backoff_ms(5);
  subscribe.set_max_in_flight(3);
  subscribe.set_commit_strategy(v1::COMMIT_STRATEGY_BATCH);
  subscribe.set_commit_batch_size(10);
  subscribe.set_shutdown_drain_timeout_s(2);

  absl::StatusOr<SessionSettings> settings = ParseSubscribe(subscribe, ConsumeDefaults{});
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->auto_offset_reset, "error");
  EXPECT_EQ(settings->on_error, v1::ON_ERROR_RETRY);
  EXPECT_EQ(settings->max_retries, 0u) << "an explicit 0 is kept, unlike an unset field";
  EXPECT_EQ(settings->retry_backoff_ms, (std::vector<uint32_t>{5}));
  EXPECT_EQ(settings->max_in_flight, 3u);
  EXPECT_EQ(settings->commit_batch_size, 10u);
  EXPECT_EQ(settings->drain_timeout, std::chrono::seconds(2));
}

struct InvalidCase {
  std::string name;
  void (*mutate)(v1::Subscribe&);
  absl::StatusCode code;
  std::string expected_text;
};

class ParseSubscribeRejects : public testing::TestWithParam<InvalidCase> {};

TEST_P(ParseSubscribeRejects, NamesTheField) {
  v1::Subscribe subscribe = ValidSubscribe();
  GetParam().mutate(subscribe);
  absl::StatusOr<SessionSettings> settings = ParseSubscribe(subscribe, ConsumeDefaults{});
  ASSERT_FALSE(settings.ok());
  EXPECT_EQ(settings.status().code(), GetParam().code);
  EXPECT_NE(settings.status().message().find(GetParam().expected_text), std::string::npos)
      << settings.status();
}

INSTANTIATE_TEST_SUITE_P(
    Fields, ParseSubscribeRejects,
    testing::Values(
        InvalidCase{"NoTopics", [](v1::Subscribe& s) { s.clear_topics(); },
                    absl::StatusCode::kInvalidArgument, "subscribe.topics is empty"},
        InvalidCase{"EmptyTopicName", [](v1::Subscribe& s) { s.add_topics(""); },
                    absl::StatusCode::kInvalidArgument, "subscribe.topics[1] is empty"},
        InvalidCase{"EmptyGroup", [](v1::Subscribe& s) { s.clear_group_id(); },
                    absl::StatusCode::kInvalidArgument, "subscribe.group_id is empty"},
        InvalidCase{"UnknownOffsetReset",
                    [](v1::Subscribe& s) { s.set_auto_offset_reset(static_cast<v1::AutoOffsetReset>(9)); },
                    absl::StatusCode::kInvalidArgument, "subscribe.auto_offset_reset has unknown value 9"},
        InvalidCase{"UnknownOnError",
                    [](v1::Subscribe& s) { s.set_on_error(static_cast<v1::OnError>(8)); },
                    absl::StatusCode::kInvalidArgument, "subscribe.on_error has unknown value 8"},
        InvalidCase{"UnknownCommitStrategy",
                    [](v1::Subscribe& s) { s.set_commit_strategy(static_cast<v1::CommitStrategy>(7)); },
                    absl::StatusCode::kInvalidArgument, "subscribe.commit_strategy has unknown value 7"},
        InvalidCase{"BatchWithoutSize",
                    [](v1::Subscribe& s) { s.set_commit_strategy(v1::COMMIT_STRATEGY_BATCH); },
                    absl::StatusCode::kInvalidArgument, "subscribe.commit_batch_size is 0"},
        InvalidCase{"PeriodicWithoutInterval",
                    [](v1::Subscribe& s) { s.set_commit_strategy(v1::COMMIT_STRATEGY_PERIODIC); },
                    absl::StatusCode::kInvalidArgument, "subscribe.commit_interval_ms is 0"},
        InvalidCase{"DeadLetterTopicWithStop",
                    [](v1::Subscribe& s) {
                      s.set_on_error(v1::ON_ERROR_STOP);
                      s.set_dead_letter_topic("orders.dlq");
                    },
                    absl::StatusCode::kInvalidArgument, "subscribe.dead_letter_topic (\"orders.dlq\") is set with ON_ERROR_STOP"},
        InvalidCase{"DeadLetterTopicIsSubscribed",
                    [](v1::Subscribe& s) { s.set_dead_letter_topic(s.topics(0)); },
                    absl::StatusCode::kInvalidArgument, "is one of subscribe.topics"}),
    [](const testing::TestParamInfo<InvalidCase>& info) { return info.param.name; });

TEST(RetryBackoff, LastElementRepeats) {
  SessionSettings settings;
  settings.retry_backoff_ms = {100, 200, 400};
  EXPECT_EQ(RetryBackoff(settings, 1), std::chrono::milliseconds(100));
  EXPECT_EQ(RetryBackoff(settings, 2), std::chrono::milliseconds(200));
  EXPECT_EQ(RetryBackoff(settings, 3), std::chrono::milliseconds(400));
  EXPECT_EQ(RetryBackoff(settings, 9), std::chrono::milliseconds(400));
}

}  // namespace
}  // namespace kafkasidecar
