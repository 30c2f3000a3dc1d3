#include "kafka/admin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kafkasidecar::kafka {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A loopback TCP listener. With `reply` it answers every connection with
// that text and closes it, which is what a client sees when it speaks TLS to
// a server that does not. Without `reply` it only reserves a port.
class LoopbackListener {
 public:
  explicit LoopbackListener(std::string reply = "") : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    if (!reply_.empty()) {
      EXPECT_EQ(::listen(fd_, 16), 0);
      thread_ = std::thread([this] { Serve(); });
    }
  }
  ~LoopbackListener() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void Serve() {
    while (!stop_) {
      pollfd entry{fd_, POLLIN, 0};
      if (::poll(&entry, 1, 50) <= 0) continue;
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      (void)!::write(client, reply_.data(), reply_.size());
      ::close(client);
    }
  }

  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

Connection MakeTestConnection(const std::string& servers) {
  Connection connection;
  connection.bootstrap_servers = servers;
  connection.security_protocol = "PLAINTEXT";
  connection.properties = {{"bootstrap.servers", servers}, {"security.protocol", "PLAINTEXT"}};
  return connection;
}

TEST(TestConnection, RefusedPortFailsUnavailableNamingBrokers) {
  // Bound but not listening: connections to the port are refused.
  LoopbackListener reserved;
  const Connection connection = MakeTestConnection(reserved.address());
  const auto start = Clock::now();
  absl::StatusOr<ClusterMetadata> result = TestConnection(connection, milliseconds(1500));
  const auto elapsed = Clock::now() - start;

  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(reserved.address()));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("connection refused"));
  EXPECT_GE(elapsed, milliseconds(1400));
  EXPECT_LT(elapsed, milliseconds(6000));
}

TEST(TestConnection, TlsToNonTlsServerFailsFastNamingTls) {
  LoopbackListener plain_server("HTTP/1.1 400 Bad Request\r\n\r\nthis is not a TLS server\r\n");
  Connection connection = MakeTestConnection(plain_server.address());
  connection.security_protocol = "SSL";
  connection.properties["security.protocol"] = "SSL";
  const auto start = Clock::now();
  absl::StatusOr<ClusterMetadata> result = TestConnection(connection, milliseconds(8000));
  const auto elapsed = Clock::now() - start;

  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("TLS handshake"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(plain_server.address()));
  EXPECT_LT(elapsed, milliseconds(5000));
}

TEST(TestConnection, RejectedPropertyFailsInvalidArgument) {
  Connection connection = MakeTestConnection("127.0.0.1:9");
  connection.properties["no.such.property"] = "1";
  absl::StatusOr<ClusterMetadata> result = TestConnection(connection, milliseconds(1000));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("no.such.property"));
}

TEST(TestConnection, UnloadableCertificateFailsInvalidArgument) {
  Connection connection = MakeTestConnection("127.0.0.1:9");
  connection.properties["security.protocol"] = "SSL";
  connection.properties["ssl.ca.location"] = ::testing::TempDir() + "/no-such-ca.pem";
  absl::StatusOr<ClusterMetadata> result = TestConnection(connection, milliseconds(1000));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("ssl.ca.location"));
}

TEST(TestConnection, FailureNeverContainsPassword) {
  LoopbackListener reserved;
  Connection connection = MakeTestConnection(reserved.address());
  connection.security_protocol = "SASL_PLAINTEXT";
  connection.sasl_mechanism = "PLAIN";
  connection.sasl_username = "etl";
  connection.properties["security.protocol"] = "SASL_PLAINTEXT";
  connection.properties["sasl.mechanisms"] = "PLAIN";
  connection.properties["sasl.username"] = "etl";
  connection.properties["sasl.password"] = "do-not-print-me";
  absl::StatusOr<ClusterMetadata> result = TestConnection(connection, milliseconds(800));
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), Not(HasSubstr("do-not-print-me")));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("user etl"));
}

TEST(RedactSecrets, ReplacesSecretValuesOnly) {
  Connection connection = MakeTestConnection("b:1");
  connection.properties["sasl.password"] = "pa55word";
  connection.properties["ssl.key.password"] = "keypass";
  connection.properties["sasl.username"] = "alice";
  EXPECT_EQ(RedactSecrets(connection, "alice tried pa55word and keypass"),
            "alice tried <redacted> and <redacted>");
}

// Runs only where a test broker is available (KAFKA_BOOTSTRAP_SERVERS).
TEST(TestConnection, ListsBrokersAndTopicsOfRunningBroker) {
  const char* servers = std::getenv("KAFKA_BOOTSTRAP_SERVERS");
  if (servers == nullptr || *servers == '\0') GTEST_SKIP() << "KAFKA_BOOTSTRAP_SERVERS is not set";
  absl::StatusOr<ClusterMetadata> result = TestConnection(MakeTestConnection(servers), milliseconds(10000));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_FALSE(result->brokers.empty());
  EXPECT_GE(result->brokers[0].id, 0);
  EXPECT_FALSE(result->brokers[0].host.empty());
  EXPECT_GT(result->brokers[0].port, 0);
  EXPECT_GE(result->controller_id, 0);
}

// A SASL client talking to the test broker's PLAINTEXT listener fails the
// SASL handshake. Runs only where KAFKA_BOOTSTRAP_SERVERS is set.
TEST(TestConnection, SaslHandshakeFailureIsUnauthenticated) {
  const char* servers = std::getenv("KAFKA_BOOTSTRAP_SERVERS");
  if (servers == nullptr || *servers == '\0') GTEST_SKIP() << "KAFKA_BOOTSTRAP_SERVERS is not set";
  Connection connection = MakeTestConnection(servers);
  connection.properties["security.protocol"] = "SASL_PLAINTEXT";
  connection.properties["sasl.mechanisms"] = "SCRAM-SHA-256";
  connection.properties["sasl.username"] = "etl";
  connection.properties["sasl.password"] = "do-not-print-me";
  const auto start = Clock::now();
  absl::StatusOr<ClusterMetadata> result = TestConnection(connection, milliseconds(8000));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("authentication failed"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(servers));
  EXPECT_THAT(std::string(result.status().message()), Not(HasSubstr("do-not-print-me")));
  EXPECT_LT(Clock::now() - start, milliseconds(5000));
}

}  // namespace
}  // namespace kafkasidecar::kafka
