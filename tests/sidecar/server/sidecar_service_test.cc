#include "server/sidecar_service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <future>
#include <mutex>
#include <vector>

#include <grpcpp/generic/generic_stub.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/grpc_server.h"

namespace kafkasidecar::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Ends every Consume call at once with a status the test can recognise.
class FakeConsumeStreams : public ConsumeStreams {
 public:
  class EndingReactor : public grpc::ServerBidiReactor<v1::ConsumeRequest, v1::ConsumeResponse> {
   public:
    EndingReactor() { Finish(grpc::Status(grpc::StatusCode::ABORTED, "fake consume stream")); }
    void OnDone() override { delete this; }
  };

  grpc::ServerBidiReactor<v1::ConsumeRequest, v1::ConsumeResponse>* Open(grpc::CallbackServerContext*) override {
    ++opened;
    return new EndingReactor();
  }
  void BeginDrain() override {}
  bool WaitAllClosed(std::chrono::steady_clock::time_point) override { return true; }
  uint64_t ForceClose() override { return 0; }

  std::atomic<int> opened{0};
};

// Records the connections it tests and returns a preset result.
class FakeTester {
 public:
  ConnectionTester AsTester() {
    return [this](const Connection& connection, milliseconds timeout) -> absl::StatusOr<kafka::ClusterMetadata> {
      std::lock_guard<std::mutex> lock(mutex_);
      tested_.push_back(connection);
      timeouts_.push_back(timeout);
      return result_;
    };
  }
  void SetResult(absl::StatusOr<kafka::ClusterMetadata> result) {
    std::lock_guard<std::mutex> lock(mutex_);
    result_ = std::move(result);
  }
  std::vector<Connection> tested() {
    std::lock_guard<std::mutex> lock(mutex_);
    return tested_;
  }
  std::vector<milliseconds> timeouts() {
    std::lock_guard<std::mutex> lock(mutex_);
    return timeouts_;
  }

 private:
  std::mutex mutex_;
  absl::StatusOr<kafka::ClusterMetadata> result_ = kafka::ClusterMetadata{};
  std::vector<Connection> tested_;
  std::vector<milliseconds> timeouts_;
};

kafka::ClusterMetadata SampleMetadata() {
  kafka::ClusterMetadata metadata;
  metadata.brokers = {{1, "127.0.0.1", 9092}};
  metadata.topics = {{"orders", 3, ""}, {"broken", 0, "LEADER_NOT_AVAILABLE: Leader not available"}};
  metadata.controller_id = 1;
  return metadata;
}

// A loopback port that refuses connections: bound, never listening.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

Connection DefaultConnection(const std::string& servers) {
  Connection connection;
  connection.bootstrap_servers = servers;
  connection.security_protocol = "PLAINTEXT";
  connection.properties = {{"bootstrap.servers", servers}, {"security.protocol", "PLAINTEXT"}};
  return connection;
}

class SidecarServiceTest : public ::testing::Test {
 protected:
  SidecarServiceTest()
      : connections_(DefaultConnection(broker_.address())),
        producers_(connections_, 1000),
        service_(streams_, producers_, connections_, tester_.AsTester(), milliseconds(4321)) {
    std::string pattern = ::testing::TempDir() + "svcXXXXXX";
    dir_ = ::mkdtemp(pattern.data());
    socket_path_ = dir_ + "/sidecar.sock";
    auto server = GrpcServer::Start({socket_path_, "127.0.0.1:0"}, &service_);
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    server_->SetServing(true);
    channel_ = grpc::CreateChannel("unix:" + socket_path_, grpc::InsecureChannelCredentials());
    stub_ = v1::KafkaSidecar::NewStub(channel_);
  }

  ~SidecarServiceTest() override {
    server_.reset();
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // Returns the health status byte (1 SERVING, 2 NOT_SERVING) of `service`,
  // or -1 when the call failed.
  int HealthStatus(const std::string& service_name) {
    grpc::GenericStub generic(channel_);
    std::string request;
    if (!service_name.empty()) {
      request.push_back(0x0a);  // field 1, length-delimited
      request.push_back(static_cast<char>(service_name.size()));
      request += service_name;
    }
    grpc::Slice slice(request);
    grpc::ByteBuffer request_buffer(&slice, 1);
    grpc::ByteBuffer response_buffer;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    std::promise<grpc::Status> done;
    generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer,
                      &response_buffer, [&done](grpc::Status status) { done.set_value(status); });
    grpc::Status status = done.get_future().get();
    if (!status.ok()) return -1;
    std::vector<grpc::Slice> slices;
    response_buffer.Dump(&slices);
    std::string response;
    for (const grpc::Slice& part : slices) response.append(reinterpret_cast<const char*>(part.begin()), part.size());
    // HealthCheckResponse: field 1 (varint) is the status.
    if (response.size() < 2 || response[0] != 0x08) return -1;
    return response[1];
  }

  v1::ConnectRequest ConnectRequest(const std::string& id, const std::string& servers) {
    v1::ConnectRequest request;
    request.set_connection_id(id);
    request.mutable_settings()->set_bootstrap_servers(servers);
    return request;
  }

  RefusingPort broker_;
  FakeConsumeStreams streams_;
  FakeTester tester_;
  ConnectionRegistry connections_;
  produce::ProducerPool producers_;
  SidecarService service_;
  std::string dir_;
  std::string socket_path_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::KafkaSidecar::Stub> stub_;
};

TEST_F(SidecarServiceTest, HealthIsServingForEmptyAndServiceName) {
  EXPECT_EQ(HealthStatus(""), 1);
  EXPECT_EQ(HealthStatus(kServiceName), 1);
  server_->SetServing(false);
  EXPECT_EQ(HealthStatus(""), 2);
  EXPECT_EQ(HealthStatus(kServiceName), 2);
}

TEST_F(SidecarServiceTest, ListensOnTcpToo) {
  ASSERT_GT(server_->tcp_port(), 0);
  ASSERT_EQ(server_->addresses().size(), 2u);
  EXPECT_EQ(server_->addresses()[0], "unix:" + socket_path_);
  EXPECT_EQ(server_->addresses()[1], "127.0.0.1:" + std::to_string(server_->tcp_port()));
  auto tcp_stub = v1::KafkaSidecar::NewStub(grpc::CreateChannel(server_->addresses()[1],
                                                                 grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::CheckConnectionRequest request;
  v1::ConnectionInfo info;
  EXPECT_TRUE(tcp_stub->CheckConnection(&context, request, &info).ok());
}

TEST_F(SidecarServiceTest, ConsumeDelegatesToStreams) {
  grpc::ClientContext context;
  auto stream = stub_->Consume(&context);
  v1::ConsumeResponse response;
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(status.error_message(), "fake consume stream");
  EXPECT_EQ(streams_.opened.load(), 1);
}

TEST_F(SidecarServiceTest, CheckConnectionReturnsMetadataOfDefault) {
  tester_.SetResult(SampleMetadata());
  grpc::ClientContext context;
  v1::CheckConnectionRequest request;
  v1::ConnectionInfo info;
  grpc::Status status = stub_->CheckConnection(&context, request, &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.connection_id(), "");
  EXPECT_EQ(info.bootstrap_servers(), broker_.address());
  EXPECT_EQ(info.security_protocol(), "PLAINTEXT");
  ASSERT_EQ(info.brokers_size(), 1);
  EXPECT_EQ(info.brokers(0).host(), "127.0.0.1");
  EXPECT_EQ(info.brokers(0).port(), 9092);
  ASSERT_EQ(info.topics_size(), 2);
  EXPECT_EQ(info.topics(0).name(), "orders");
  EXPECT_EQ(info.topics(0).partition_count(), 3);
  EXPECT_THAT(info.topics(1).error(), HasSubstr("LEADER_NOT_AVAILABLE"));
  EXPECT_EQ(info.controller_id(), 1);
  ASSERT_EQ(tester_.timeouts().size(), 1u);
  EXPECT_EQ(tester_.timeouts()[0], milliseconds(4321));
}

TEST_F(SidecarServiceTest, CheckConnectionPassesRequestTimeout) {
  grpc::ClientContext context;
  v1::CheckConnectionRequest request;
  request.set_timeout_ms(750);
  v1::ConnectionInfo info;
  ASSERT_TRUE(stub_->CheckConnection(&context, request, &info).ok());
  EXPECT_EQ(tester_.timeouts().at(0), milliseconds(750));
}

TEST_F(SidecarServiceTest, CheckConnectionUnknownIdIsNotFound) {
  grpc::ClientContext context;
  v1::CheckConnectionRequest request;
  request.set_connection_id("billing");
  v1::ConnectionInfo info;
  grpc::Status status = stub_->CheckConnection(&context, request, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("\"billing\""));
  EXPECT_TRUE(tester_.tested().empty());
}

TEST_F(SidecarServiceTest, ConnectRegistersAfterSuccessfulTest) {
  tester_.SetResult(SampleMetadata());
  grpc::ClientContext context;
  v1::ConnectionInfo info;
  grpc::Status status = stub_->Connect(&context, ConnectRequest("orders", "127.0.0.1:9093"), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.connection_id(), "orders");
  EXPECT_EQ(info.bootstrap_servers(), "127.0.0.1:9093");
  ASSERT_NE(connections_.Find("orders"), nullptr);
  EXPECT_EQ(connections_.Find("orders")->properties.at("bootstrap.servers"), "127.0.0.1:9093");
  ASSERT_EQ(tester_.tested().size(), 1u);
  EXPECT_EQ(tester_.tested()[0].id, "orders");
}

TEST_F(SidecarServiceTest, ConnectFailureIsReturnedAndNotRegistered) {
  tester_.SetResult(absl::UnauthenticatedError("connection test of b:1 failed: authentication failed"));
  grpc::ClientContext context;
  v1::ConnectionInfo info;
  grpc::Status status = stub_->Connect(&context, ConnectRequest("orders", "127.0.0.1:9093"), &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("authentication failed"));
  EXPECT_EQ(connections_.Find("orders"), nullptr);
}

TEST_F(SidecarServiceTest, ConnectRejectsInvalidSettingsWithoutTesting) {
  v1::ConnectRequest request = ConnectRequest("orders", "127.0.0.1:9093");
  request.mutable_settings()->set_security_protocol("SASL_SSL");
  request.mutable_settings()->set_sasl_mechanism("PLAIN");
  request.mutable_settings()->set_sasl_password("never-echo-this");
  grpc::ClientContext context;
  v1::ConnectionInfo info;
  grpc::Status status = stub_->Connect(&context, request, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("settings.sasl_username"));
  EXPECT_THAT(status.error_message(), Not(HasSubstr("never-echo-this")));
  EXPECT_TRUE(tester_.tested().empty());
}

TEST_F(SidecarServiceTest, ConnectRejectsEmptyId) {
  grpc::ClientContext context;
  v1::ConnectionInfo info;
  grpc::Status status = stub_->Connect(&context, ConnectRequest("", "127.0.0.1:9093"), &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("connection_id must not be empty"));
}

TEST_F(SidecarServiceTest, ConnectConflictFailsBeforeTesting) {
  {
    grpc::ClientContext context;
    v1::ConnectionInfo info;
    ASSERT_TRUE(stub_->Connect(&context, ConnectRequest("orders", "127.0.0.1:9093"), &info).ok());
  }
  {
    grpc::ClientContext context;
    v1::ConnectionInfo info;
    EXPECT_TRUE(stub_->Connect(&context, ConnectRequest("orders", "127.0.0.1:9093"), &info).ok());
  }
  grpc::ClientContext context;
  v1::ConnectionInfo info;
  grpc::Status status = stub_->Connect(&context, ConnectRequest("orders", "127.0.0.1:9094"), &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(status.error_message(), HasSubstr("bootstrap.servers"));
  EXPECT_EQ(tester_.tested().size(), 2u);
}

TEST_F(SidecarServiceTest, ProduceValidatesRequest) {
  grpc::ClientContext context;
  v1::ProduceRequest request;
  request.set_topic("orders");
  v1::ProduceResponse response;
  grpc::Status status = stub_->Produce(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("records must not be empty"));
}

TEST_F(SidecarServiceTest, ProduceUnknownConnectionIsNotFound) {
  grpc::ClientContext context;
  v1::ProduceRequest request;
  request.set_connection_id("billing");
  request.set_topic("orders");
  request.add_records()->set_value("x");
  v1::ProduceResponse response;
  grpc::Status status = stub_->Produce(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("unknown connection_id \"billing\""));
}

TEST_F(SidecarServiceTest, ProduceTimesOutPerRecordInRequestOrder) {
  grpc::ClientContext context;
  v1::ProduceRequest request;
  request.set_topic("orders");
  request.set_timeout_ms(400);
  for (int i = 0; i < 3; ++i) request.add_records()->set_value("v" + std::to_string(i));
  request.mutable_records(1)->set_partition(0);
  v1::ProduceResponse response;
  const auto start = Clock::now();
  grpc::Status status = stub_->Produce(&context, request, &response);
  const auto elapsed = Clock::now() - start;
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 3);
  for (const v1::RecordResult& result : response.results()) {
    EXPECT_EQ(result.partition(), -1);
    EXPECT_EQ(result.offset(), -1);
    EXPECT_THAT(result.error(), HasSubstr("delivery not confirmed within 400 ms"));
  }
  EXPECT_GE(elapsed, milliseconds(390));
  EXPECT_LT(elapsed, milliseconds(3000));
}

TEST_F(SidecarServiceTest, ProduceWithoutWaitingReturnsAtOnce) {
  grpc::ClientContext context;
  v1::ProduceRequest request;
  request.set_topic("orders");
  request.set_wait_for_delivery(false);
  request.set_timeout_ms(30000);
  request.add_records()->set_value("v");
  v1::ProduceResponse response;
  const auto start = Clock::now();
  grpc::Status status = stub_->Produce(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  ASSERT_EQ(response.results_size(), 1);
  EXPECT_EQ(response.results(0).error(), "");
  EXPECT_EQ(response.results(0).partition(), -1);
}

TEST_F(SidecarServiceTest, ProduceIsBoundedByClientDeadline) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + milliseconds(1500));
  v1::ProduceRequest request;
  request.set_topic("orders");
  request.set_timeout_ms(60000);
  request.add_records()->set_value("v");
  v1::ProduceResponse response;
  const auto start = Clock::now();
  stub_->Produce(&context, request, &response);
  EXPECT_LT(Clock::now() - start, milliseconds(5000));
}

TEST_F(SidecarServiceTest, ServerShutdownEndsWaitingProduce) {
  auto pending = std::async(std::launch::async, [this] {
    grpc::ClientContext context;
    v1::ProduceRequest request;
    request.set_topic("orders");
    request.set_timeout_ms(60000);
    request.add_records()->set_value("v");
    v1::ProduceResponse response;
    return stub_->Produce(&context, request, &response);
  });
  // The call is running once the shared producer exists.
  const auto wait_start = Clock::now();
  while (Clock::now() - wait_start < std::chrono::seconds(5)) {
    if (pending.wait_for(milliseconds(20)) == std::future_status::ready) break;
    if (producers_.FlushAll(Clock::now()) > 0) break;
  }
  const auto start = Clock::now();
  server_->Shutdown(std::chrono::system_clock::now() + milliseconds(200));
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_FALSE(pending.get().ok());
  EXPECT_LT(Clock::now() - start, milliseconds(5000));
  server_->Shutdown(std::chrono::system_clock::now());  // second call is a no-op
}

TEST_F(SidecarServiceTest, SocketFileIsRemovedOnExit) {
  struct stat info {};
  ASSERT_EQ(::lstat(socket_path_.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  server_.reset();
  EXPECT_NE(::lstat(socket_path_.c_str(), &info), 0);
}

class SocketPathTest : public ::testing::Test {
 protected:
  SocketPathTest() {
    std::string pattern = ::testing::TempDir() + "sockXXXXXX";
    dir_ = ::mkdtemp(pattern.data());
  }
  ~SocketPathTest() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  // Creates a socket file at `path`; listening when `listen` is true.
  int MakeSocket(const std::string& path, bool listen) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    if (listen) EXPECT_EQ(::listen(fd, 1), 0);
    return fd;
  }

  std::string dir_;
};

TEST_F(SocketPathTest, RemovesStaleSocket) {
  const std::string path = dir_ + "/stale.sock";
  ::close(MakeSocket(path, /*listen=*/false));
  ASSERT_TRUE(PrepareSocketPath(path).ok());
  struct stat info {};
  EXPECT_NE(::lstat(path.c_str(), &info), 0);
}

TEST_F(SocketPathTest, RefusesSocketSomeoneServesOn) {
  const std::string path = dir_ + "/live.sock";
  const int fd = MakeSocket(path, /*listen=*/true);
  absl::Status status = PrepareSocketPath(path);
  ::close(fd);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("another process serves on this socket"));
}

TEST_F(SocketPathTest, RefusesRegularFile) {
  const std::string path = dir_ + "/data.txt";
  std::ofstream(path) << "keep me";
  absl::Status status = PrepareSocketPath(path);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("is not a socket"));
  std::ifstream kept(path);
  std::string contents;
  std::getline(kept, contents);
  EXPECT_EQ(contents, "keep me");
}

TEST_F(SocketPathTest, CreatesMissingDirectoryForGroupAccess) {
  ASSERT_TRUE(PrepareSocketPath(dir_ + "/run/s.sock").ok());
  struct stat info {};
  ASSERT_EQ(::stat((dir_ + "/run").c_str(), &info), 0);
  EXPECT_TRUE(S_ISDIR(info.st_mode));
  EXPECT_EQ(info.st_mode & 07777, 0750u);
}

TEST_F(SocketPathTest, RefusesDirectoryItCannotCreate) {
  absl::Status status = PrepareSocketPath(dir_ + "/missing/deeper/s.sock");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("cannot create the directory"));
  EXPECT_THAT(std::string(status.message()), HasSubstr(dir_ + "/missing/deeper"));
}

TEST(GrpcServerStart, PortInUseFailsNamingAddress) {
  FakeConsumeStreams streams;
  FakeTester tester;
  ConnectionRegistry connections(DefaultConnection("127.0.0.1:9"));
  produce::ProducerPool producers(connections, 1000);
  SidecarService first_service(streams, producers, connections, tester.AsTester(), milliseconds(1000));
  SidecarService second_service(streams, producers, connections, tester.AsTester(), milliseconds(1000));
  auto first = GrpcServer::Start({"", "127.0.0.1:0"}, &first_service);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = (*first)->addresses()[0];
  auto second = GrpcServer::Start({"", taken}, &second_service);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(taken));
}

}  // namespace
}  // namespace kafkasidecar::server
