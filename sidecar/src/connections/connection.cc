#include "connections/connection.h"

#include "absl/strings/str_cat.h"

namespace kafkasidecar {

std::string Connection::Describe() const {
  std::string protocol = security_protocol.empty() ? "PLAINTEXT" : security_protocol;
  std::string text = absl::StrCat(bootstrap_servers, " (", protocol);
  if (!sasl_mechanism.empty()) absl::StrAppend(&text, ", ", sasl_mechanism);
  if (!sasl_username.empty()) absl::StrAppend(&text, ", user ", sasl_username);
  absl::StrAppend(&text, ")");
  return text;
}

}  // namespace kafkasidecar
