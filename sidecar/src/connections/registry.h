// The registered connections: the default one from the sidecar's
// configuration and the named ones that jobs registered through Connect.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "connections/connection.h"

namespace kafkasidecar {

// Thread-safe. Connections are immutable once registered and are never
// removed, so a pointer returned by Find stays valid and current.
class ConnectionRegistry : public ConnectionLookup {
 public:
  // `default_connection` is registered under the id "".
  explicit ConnectionRegistry(Connection default_connection);

  std::shared_ptr<const Connection> Find(const std::string& id) const override;

  // Fails with INVALID_ARGUMENT for the empty id, which belongs to the
  // default connection, and with ALREADY_EXISTS when `connection.id` is
  // registered with other librdkafka properties. The message names the
  // properties that differ, never their values.
  absl::Status CheckCanRegister(const Connection& connection) const;

  // Registers `connection` under its id after CheckCanRegister's checks.
  // Registering equal settings again returns the registered connection.
  absl::StatusOr<std::shared_ptr<const Connection>> Register(Connection connection);

  // Ids of the registered connections, "" first.
  std::vector<std::string> Ids() const;

 private:
  absl::Status CheckCanRegisterLocked(const Connection& connection) const;

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const Connection>> connections_;  // guarded by mutex_
};

}  // namespace kafkasidecar
