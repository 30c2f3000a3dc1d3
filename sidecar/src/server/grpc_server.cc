#include "server/grpc_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "logging/logging.h"

namespace kafkasidecar::server {
namespace {

// Large Produce batches exceed gRPC's default 4 MiB receive limit.
constexpr int kMaxMessageBytes = 64 * 1024 * 1024;

std::string ParentDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Returns true when some process accepts connections on the socket at `path`.
bool SomeoneListens(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* setting) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", setting, " \"", path, "\": ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// Server credentials of the TCP listener: TLS when a certificate is set,
// with required and verified client certificates when a client CA is set.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TcpCredentials(const ListenOptions& options) {
  if (options.tls_cert.empty()) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = ReadPem(options.tls_cert, "tls_cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(options.tls_key, "tls_key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!options.tls_client_ca.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(options.tls_client_ca, "tls_client_ca");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::Status PrepareSocketPath(const std::string& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    if (errno != ENOENT) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot use listen_unix \"", path, "\": ", std::strerror(errno)));
    }
    const std::string directory = ParentDirectory(path);
    struct stat directory_info {};
    if (::stat(directory.c_str(), &directory_info) == 0 && S_ISDIR(directory_info.st_mode)) {
      return absl::OkStatus();
    }
    // Group members (the job container) need search permission to reach
    // the socket. Other users get no access.
    if (::mkdir(directory.c_str(), 0750) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(absl::StrCat("cannot use listen_unix \"", path,
                                                        "\": cannot create the directory \"", directory,
                                                        "\": ", std::strerror(errno)));
    }
    logging::Get(logging::kServer)->info("Created socket directory {}", directory);
    return absl::OkStatus();
  }
  if (!S_ISSOCK(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("cannot use listen_unix \"", path,
                                                      "\": the file exists and is not a socket; "
                                                      "remove it or choose another path"));
  }
  if (SomeoneListens(path)) {
    return absl::FailedPreconditionError(absl::StrCat("cannot use listen_unix \"", path,
                                                      "\": another process serves on this socket; "
                                                      "stop it or choose another path"));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot remove the stale socket \"", path, "\": ", std::strerror(errno)));
  }
  logging::Get(logging::kServer)->info("Removed stale socket file {}", path);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const ListenOptions& options,
                                                               grpc::Service* service) {
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // gRPC sets SO_REUSEPORT by default, which would let a second sidecar
  // bind the same TCP port and take over part of the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);

  std::vector<std::string> wanted;
  if (!options.unix_path.empty()) {
    absl::Status prepared = PrepareSocketPath(options.unix_path);
    if (!prepared.ok()) return prepared;
    wanted.push_back(absl::StrCat("unix:", options.unix_path));
    builder.AddListeningPort(wanted.back(), grpc::InsecureServerCredentials());
  }
  int selected_port = 0;
  if (!options.tcp_address.empty()) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = TcpCredentials(options);
    if (!credentials.ok()) return credentials.status();
    wanted.push_back(options.tcp_address);
    builder.AddListeningPort(options.tcp_address, *credentials, &selected_port);
  }
  builder.RegisterService(service);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || (!options.tcp_address.empty() && selected_port == 0)) {
    if (server->server_ != nullptr) {
      server->server_->Shutdown();
      server->server_->Wait();
      server->server_.reset();
    }
    struct stat info {};
    if (!options.unix_path.empty() && ::lstat(options.unix_path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode)) {
      ::unlink(options.unix_path.c_str());
    }
    return absl::FailedPreconditionError(absl::StrCat("could not listen on ", absl::StrJoin(wanted, " and "),
                                                      ": the address is in use, not local, or not writable"));
  }

  if (!options.unix_path.empty()) {
    server->socket_path_ = options.unix_path;
    // gRPC creates the socket with the process umask; calls start only
    // after SetServing(true), so the mode is set before any job connects.
    if (::chmod(options.unix_path.c_str(), static_cast<mode_t>(options.unix_mode)) != 0) {
      const std::string error = std::strerror(errno);
      server->server_->Shutdown();
      server->server_->Wait();
      server->server_.reset();
      ::unlink(options.unix_path.c_str());
      return absl::FailedPreconditionError(
          absl::StrCat("cannot set the permissions of listen_unix \"", options.unix_path, "\": ", error));
    }
    struct stat info {};
    if (::lstat(options.unix_path.c_str(), &info) == 0) {
      server->socket_device_ = info.st_dev;
      server->socket_inode_ = info.st_ino;
    }
    server->addresses_.push_back(absl::StrCat("unix:", options.unix_path));
  }
  if (!options.tcp_address.empty()) {
    server->tcp_port_ = selected_port;
    const std::string host = options.tcp_address.substr(0, options.tcp_address.rfind(':'));
    server->addresses_.push_back(absl::StrCat(host, ":", selected_port));
  }
  server->SetServing(false);
  return server;
}

GrpcServer::~GrpcServer() {
  if (server_ == nullptr) return;  // Start failed
  Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
  if (!socket_path_.empty()) {
    struct stat info {};
    if (::lstat(socket_path_.c_str(), &info) == 0 && info.st_dev == socket_device_ &&
        info.st_ino == socket_inode_) {
      ::unlink(socket_path_.c_str());
    }
  }
}

void GrpcServer::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  // Only these two: the liveness service name has its own status.
  health->SetServingStatus("", serving);
  health->SetServingStatus(kServiceName, serving);
}

void GrpcServer::SetServiceServing(const std::string& service, bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(service, serving);
}

void GrpcServer::Shutdown(std::chrono::system_clock::time_point deadline) {
  if (shut_down_) return;
  shut_down_ = true;
  SetServing(false);
  server_->Shutdown(deadline);
}

}  // namespace kafkasidecar::server
