// A Kafka connection the sidecar can use: the default one from its own
// configuration, or a named one a job registered through Connect.
#pragma once

#include <map>
#include <memory>
#include <string>

namespace kafkasidecar {

struct Connection {
  std::string id;  // "" for the default connection
  // Copies of the non-secret settings, for log lines and error messages.
  std::string bootstrap_servers;
  std::string security_protocol;
  std::string sasl_mechanism;
  std::string sasl_username;
  // Every librdkafka property of the connection, validated, secrets
  // included. Never log this map; kafka::IsSecretProperty returns whether a value
  // to hide.
  std::map<std::string, std::string> properties;
  // Bound for metadata requests and other connection tests.
  int connect_timeout_ms = 10000;

  // "bootstrap_servers (security_protocol[, mechanism, user])" for messages.
  std::string Describe() const;
};

// Lookup used by the Consume and Produce paths. Thread-safe.
class ConnectionLookup {
 public:
  virtual ~ConnectionLookup() = default;
  // Returns nullptr when no connection has that id.
  virtual std::shared_ptr<const Connection> Find(const std::string& id) const = 0;
};

}  // namespace kafkasidecar
