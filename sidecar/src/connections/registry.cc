#include "connections/registry.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "logging/logging.h"

namespace kafkasidecar {
namespace {

// Names of the properties whose values differ or that only one side has.
std::vector<std::string> DifferingProperties(const std::map<std::string, std::string>& left,
                                             const std::map<std::string, std::string>& right) {
  std::vector<std::string> names;
  for (const auto& [name, value] : left) {
    auto it = right.find(name);
    if (it == right.end() || it->second != value) names.push_back(name);
  }
  for (const auto& [name, value] : right) {
    if (left.count(name) == 0) names.push_back(name);
  }
  return names;
}

}  // namespace

ConnectionRegistry::ConnectionRegistry(Connection default_connection) {
  default_connection.id = "";
  connections_.emplace("", std::make_shared<const Connection>(std::move(default_connection)));
}

std::shared_ptr<const Connection> ConnectionRegistry::Find(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second;
}

absl::Status ConnectionRegistry::CheckCanRegister(const Connection& connection) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return CheckCanRegisterLocked(connection);
}

absl::Status ConnectionRegistry::CheckCanRegisterLocked(const Connection& connection) const {
  if (connection.id.empty()) {
    return absl::InvalidArgumentError(
        "connection_id must not be empty: \"\" is the sidecar's default connection; choose a name");
  }
  auto it = connections_.find(connection.id);
  if (it == connections_.end() || it->second->properties == connection.properties) return absl::OkStatus();
  return absl::AlreadyExistsError(absl::StrCat(
      "connection \"", connection.id, "\" is already registered as ", it->second->Describe(),
      " and the new settings differ in ", absl::StrJoin(DifferingProperties(it->second->properties, connection.properties), ", "),
      ": register the new settings under another connection_id"));
}

absl::StatusOr<std::shared_ptr<const Connection>> ConnectionRegistry::Register(Connection connection) {
  std::shared_ptr<const Connection> registered;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    absl::Status status = CheckCanRegisterLocked(connection);
    if (!status.ok()) return status;
    auto it = connections_.find(connection.id);
    if (it != connections_.end()) return it->second;
    registered = std::make_shared<const Connection>(std::move(connection));
    connections_.emplace(registered->id, registered);
  }
  logging::Get(logging::kConnections)->info("Registered connection \"{}\": {}", registered->id,
                                            registered->Describe());
  return registered;
}

std::vector<std::string> ConnectionRegistry::Ids() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> ids;
  for (const auto& [id, connection] : connections_) ids.push_back(id);
  return ids;
}

}  // namespace kafkasidecar
