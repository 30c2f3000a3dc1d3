#include "logging/logging.h"

#include <regex>
#include <string>

#include "gtest/gtest.h"
#include "logging/rdkafka_log.h"

namespace kafkasidecar::logging {
namespace {

TEST(LoggingFormat, WritesTabDelimitedUtcRecord) {
  const std::string line = FormatForTest("consume", spdlog::level::info, "Processed 5 messages");
  const std::regex pattern(
      R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\tINFO\tconsume\tProcessed 5 messages\n$)");
  EXPECT_TRUE(std::regex_match(line, pattern)) << line;
}

TEST(LoggingFormat, TimestampIsCurrentUtcTime) {
  std::time_t now = std::time(nullptr);
  const std::string line = FormatForTest("sidecar", spdlog::level::info, "x");
  std::tm utc{};
  gmtime_r(&now, &utc);
  char expected_date[16];
  std::strftime(expected_date, sizeof(expected_date), "%Y-%m-%dT%H", &utc);
  // The hour may roll over between the clock read and the formatting, so
  // the next hour is accepted too.
  now += 3600;
  gmtime_r(&now, &utc);
  char next_hour[16];
  std::strftime(next_hour, sizeof(next_hour), "%Y-%m-%dT%H", &utc);
  const std::string prefix = line.substr(0, 13);
  EXPECT_TRUE(prefix == expected_date || prefix == next_hour) << line;
}

TEST(LoggingFormat, NamesLevelsInUpperCase) {
  EXPECT_NE(FormatForTest("s", spdlog::level::warn, "m").find("\tWARNING\t"), std::string::npos);
  EXPECT_NE(FormatForTest("s", spdlog::level::err, "m").find("\tERROR\t"), std::string::npos);
  EXPECT_NE(FormatForTest("s", spdlog::level::critical, "m").find("\tCRITICAL\t"), std::string::npos);
  EXPECT_NE(FormatForTest("s", spdlog::level::debug, "m").find("\tDEBUG\t"), std::string::npos);
  EXPECT_NE(FormatForTest("s", spdlog::level::trace, "m").find("\tTRACE\t"), std::string::npos);
}

TEST(LoggingFormat, EscapesTabsAndLineBreaksInMessage) {
  const std::string line = FormatForTest("server", spdlog::level::info, "a\tb\nc\rd");
  EXPECT_NE(line.find("\tserver\ta\\tb\\nc\\rd\n"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(LoggingLevel, ParsesEveryAcceptedName) {
  EXPECT_EQ(*ParseLevel("trace"), spdlog::level::trace);
  EXPECT_EQ(*ParseLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(*ParseLevel("INFO"), spdlog::level::info);
  EXPECT_EQ(*ParseLevel("warning"), spdlog::level::warn);
  EXPECT_EQ(*ParseLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(*ParseLevel("error"), spdlog::level::err);
  EXPECT_EQ(*ParseLevel("critical"), spdlog::level::critical);
}

TEST(LoggingLevel, RejectsUnknownNameListingAcceptedOnes) {
  auto level = ParseLevel("verbose");
  ASSERT_FALSE(level.ok());
  EXPECT_EQ(level.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(level.status().message().find("\"verbose\""), absl::string_view::npos);
  EXPECT_NE(level.status().message().find("trace, debug, info, warning, error, critical"),
            absl::string_view::npos);
}

TEST(LoggingLevel, NameRoundTripsThroughParse) {
  for (auto level : {spdlog::level::trace, spdlog::level::debug, spdlog::level::info,
                     spdlog::level::warn, spdlog::level::err, spdlog::level::critical}) {
    EXPECT_EQ(*ParseLevel(LevelName(level)), level);
  }
}

TEST(LoggingRegistry, ConfigureChangesExistingAndNewLoggers) {
  auto produce = Get(kProduce);
  Configure(spdlog::level::err);
  EXPECT_EQ(produce->level(), spdlog::level::err);
  EXPECT_EQ(Get("created-after-configure")->level(), spdlog::level::err);
  Configure(spdlog::level::debug);
  EXPECT_EQ(produce->level(), spdlog::level::debug);
  EXPECT_EQ(Get(kProduce), produce);
  Configure(spdlog::level::info);
}

TEST(LoggingRegistry, ConfigureMakesSidecarLoggerTheDefault) {
  Configure(spdlog::level::info);
  EXPECT_EQ(spdlog::default_logger(), Get(kSidecar));
}

TEST(LibrdkafkaLog, MapsSyslogSeverities) {
  EXPECT_EQ(LevelFromSyslog(0), spdlog::level::critical);
  EXPECT_EQ(LevelFromSyslog(2), spdlog::level::critical);
  EXPECT_EQ(LevelFromSyslog(3), spdlog::level::err);
  EXPECT_EQ(LevelFromSyslog(4), spdlog::level::warn);
  EXPECT_EQ(LevelFromSyslog(5), spdlog::level::info);
  EXPECT_EQ(LevelFromSyslog(6), spdlog::level::info);
  EXPECT_EQ(LevelFromSyslog(7), spdlog::level::debug);
}

}  // namespace
}  // namespace kafkasidecar::logging
