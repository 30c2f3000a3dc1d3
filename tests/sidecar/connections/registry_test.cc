#include "connections/registry.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kafkasidecar {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

Connection MakeNamed(const std::string& id, const std::string& servers, const std::string& password = "") {
  Connection connection;
  connection.id = id;
  connection.bootstrap_servers = servers;
  connection.properties = {{"bootstrap.servers", servers}};
  if (!password.empty()) connection.properties["sasl.password"] = password;
  return connection;
}

TEST(ConnectionRegistry, FindsDefaultUnderEmptyId) {
  ConnectionRegistry registry(MakeNamed("ignored", "default:9092"));
  auto found = registry.Find("");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->id, "");
  EXPECT_EQ(found->bootstrap_servers, "default:9092");
}

TEST(ConnectionRegistry, UnknownIdReturnsNull) {
  ConnectionRegistry registry(MakeNamed("", "default:9092"));
  EXPECT_EQ(registry.Find("orders"), nullptr);
}

TEST(ConnectionRegistry, RegistersAndFindsNamedConnection) {
  ConnectionRegistry registry(MakeNamed("", "default:9092"));
  auto registered = registry.Register(MakeNamed("orders", "orders:9092"));
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_EQ(registry.Find("orders"), *registered);
  EXPECT_THAT(registry.Ids(), ElementsAre("", "orders"));
}

TEST(ConnectionRegistry, ReRegisteringEqualSettingsReturnsExisting) {
  ConnectionRegistry registry(MakeNamed("", "default:9092"));
  auto first = registry.Register(MakeNamed("orders", "orders:9092", "secret-1"));
  ASSERT_TRUE(first.ok());
  auto second = registry.Register(MakeNamed("orders", "orders:9092", "secret-1"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*first, *second);
}

TEST(ConnectionRegistry, DifferentSettingsFailAlreadyExists) {
  ConnectionRegistry registry(MakeNamed("", "default:9092"));
  ASSERT_TRUE(registry.Register(MakeNamed("orders", "orders:9092", "secret-1")).ok());
  auto conflicting = registry.Register(MakeNamed("orders", "orders:9092", "secret-2"));
  ASSERT_FALSE(conflicting.ok());
  EXPECT_EQ(conflicting.status().code(), absl::StatusCode::kAlreadyExists);
  const std::string message(conflicting.status().message());
  EXPECT_THAT(message, HasSubstr("\"orders\""));
  EXPECT_THAT(message, HasSubstr("differ in sasl.password"));
  EXPECT_THAT(message, Not(HasSubstr("secret-1")));
  EXPECT_THAT(message, Not(HasSubstr("secret-2")));
  EXPECT_EQ(registry.Find("orders")->properties.at("sasl.password"), "secret-1");
  EXPECT_EQ(registry.CheckCanRegister(MakeNamed("orders", "other:9092")).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(ConnectionRegistry, RejectsEmptyId) {
  ConnectionRegistry registry(MakeNamed("", "default:9092"));
  auto result = registry.Register(MakeNamed("", "other:9092"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("connection_id must not be empty"));
  EXPECT_EQ(registry.Find("")->bootstrap_servers, "default:9092");
}

TEST(ConnectionRegistry, ConcurrentConflictingRegistrationsKeepOne) {
  ConnectionRegistry registry(MakeNamed("", "default:9092"));
  std::vector<std::thread> threads;
  std::atomic<int> successes{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (registry.Register(MakeNamed("shared", "host-" + std::to_string(i) + ":9092")).ok()) ++successes;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(successes.load(), 1);
  EXPECT_NE(registry.Find("shared"), nullptr);
}

}  // namespace
}  // namespace kafkasidecar
