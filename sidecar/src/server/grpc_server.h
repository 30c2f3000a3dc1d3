// The gRPC server: listeners on a Unix socket and/or TCP, the service, and
// the standard gRPC health service.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace kafkasidecar::server {

// Service name that health checks use for the sidecar's API.
inline constexpr char kServiceName[] = "kafkasidecar.v1.KafkaSidecar";

struct ListenOptions {
  std::string unix_path;    // empty for none
  std::string tcp_address;  // host:port, empty for none; port 0 picks one
  // Permission bits of the socket file, set before the server accepts calls.
  uint32_t unix_mode = 0660;
  // PEM files of the TCP listener; all empty for plaintext. tls_client_ca
  // makes clients present a certificate that it signed.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
};

class GrpcServer {
 public:
  // Prepares the Unix socket path with PrepareSocketPath, starts listening
  // and serving `service`, and reports health NOT_SERVING until
  // SetServing(true). Errors name the address.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const ListenOptions& options, grpc::Service* service);

  // Shuts down (if Shutdown was not called) with a deadline of one second,
  // waits for the server, and removes the socket file it created.
  ~GrpcServer();

  // "unix:PATH" and "HOST:PORT" with the bound port, for logs and clients.
  const std::vector<std::string>& addresses() const { return addresses_; }
  int tcp_port() const { return tcp_port_; }

  // Sets the health status of "" and kServiceName.
  void SetServing(bool serving);
  // Sets the health status of one service name, such as the liveness one.
  void SetServiceServing(const std::string& service, bool serving);

  // Stops accepting calls, waits for running calls until `deadline`, then
  // cancels them. Safe to call twice.
  void Shutdown(std::chrono::system_clock::time_point deadline);

 private:
  GrpcServer() = default;

  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> addresses_;
  int tcp_port_ = 0;
  std::string socket_path_;
  // Identity of the socket file this server created, so that exit removes
  // that file and not one a newer process put at the same path.
  dev_t socket_device_ = 0;
  ino_t socket_inode_ = 0;
  bool shut_down_ = false;
};

// Makes `path` free for a new Unix socket by removing a stale socket file,
// one that no process accepts connections on, and creates a missing parent
// directory (one level, mode 0750). Fails with FAILED_PRECONDITION when a
// process still serves on the socket, when the path is not a socket, or when
// the directory cannot be created.
absl::Status PrepareSocketPath(const std::string& path);

}  // namespace kafkasidecar::server
