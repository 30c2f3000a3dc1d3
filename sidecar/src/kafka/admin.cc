#include "kafka/admin.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "kafka/rdkafka_handles.h"
#include "logging/logging.h"

namespace kafkasidecar::kafka {
namespace {

using Clock = std::chrono::steady_clock;

// Maximum duration of one metadata request. Between requests the error events that
// librdkafka queued are read, so an authentication or TLS failure ends the
// test within about this time.
constexpr std::chrono::milliseconds kAttemptSlice(500);

// The error events librdkafka raised during the test. error_cb runs on the
// thread that calls rd_kafka_poll, here the testing thread, but the mutex
// keeps this correct if librdkafka ever calls it from elsewhere.
struct ErrorEvents {
  std::mutex mutex;
  std::optional<std::pair<rd_kafka_resp_err_t, std::string>> authentication;  // guarded by mutex
  std::optional<std::pair<rd_kafka_resp_err_t, std::string>> tls;             // guarded by mutex
  // The broker ended the TLS handshake because it wants a (valid) client
  // certificate. librdkafka reports this as a transport error.
  std::optional<std::pair<rd_kafka_resp_err_t, std::string>> client_certificate;  // guarded by mutex
  std::optional<std::pair<rd_kafka_resp_err_t, std::string>> last;            // guarded by mutex
};

void OnError(rd_kafka_t*, int code, const char* reason, void* opaque) {
  auto* events = static_cast<ErrorEvents*>(opaque);
  const auto error = static_cast<rd_kafka_resp_err_t>(code);
  std::lock_guard<std::mutex> lock(events->mutex);
  auto event = std::make_pair(error, std::string(reason != nullptr ? reason : rd_kafka_err2str(error)));
  switch (error) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
      events->authentication = event;
      break;
    case RD_KAFKA_RESP_ERR__SSL:
      events->tls = event;
      break;
    default:
      // TLS alerts 42 (bad certificate) and 116 (certificate required)
      // come from a broker with ssl.client.auth=required.
      if (absl::StrContains(event.second, "alert bad certificate") ||
          absl::StrContains(event.second, "alert certificate required")) {
        events->client_certificate = event;
      }
      // Transport, name resolution and "all brokers down" events: the test
      // keeps trying and reports the last one if it runs out of time.
      break;
  }
  events->last = std::move(event);
}

ClusterMetadata Convert(const rd_kafka_metadata_t& metadata, int32_t controller_id) {
  ClusterMetadata result;
  result.controller_id = controller_id;
  for (int i = 0; i < metadata.broker_cnt; ++i) {
    const rd_kafka_metadata_broker_t& broker = metadata.brokers[i];
    result.brokers.push_back({broker.id, broker.host != nullptr ? broker.host : "", broker.port});
  }
  for (int i = 0; i < metadata.topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& topic = metadata.topics[i];
    TopicMetadata entry;
    entry.name = topic.topic;
    entry.partition_count = topic.partition_cnt;
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      entry.error = absl::StrCat(rd_kafka_err2name(topic.err), ": ", rd_kafka_err2str(topic.err));
    }
    result.topics.push_back(std::move(entry));
  }
  std::sort(result.topics.begin(), result.topics.end(),
            [](const TopicMetadata& a, const TopicMetadata& b) { return a.name < b.name; });
  std::sort(result.brokers.begin(), result.brokers.end(),
            [](const BrokerMetadata& a, const BrokerMetadata& b) { return a.id < b.id; });
  return result;
}

// librdkafka before 2.6.1 builds the SCRAM client-final message with the
// client nonce twice, which Kafka 4 brokers reject as invalid credentials.
constexpr int kFirstVersionWithKafka4Scram = 0x020601ff;

std::string ScramAdvice(const Connection& connection) {
  if (!absl::StartsWith(connection.sasl_mechanism, "SCRAM") || rd_kafka_version() >= kFirstVersionWithKafka4Scram) {
    return "";
  }
  return absl::StrCat(". Note: this sidecar uses librdkafka ", rd_kafka_version_str(),
                      ", whose SCRAM exchange Kafka 4 brokers reject even with the right password; "
                      "with such brokers use librdkafka 2.6.1 or newer, or sasl_mechanism PLAIN over SASL_SSL");
}

std::string PropertyOr(const Connection& connection, const std::string& name, const std::string& fallback) {
  auto it = connection.properties.find(name);
  return it == connection.properties.end() ? fallback : it->second;
}

// Explains why rd_kafka_new rejected the TLS files, which librdkafka only
// reads there.
std::string ClientCreationReason(const Connection& connection, const std::string& error) {
  if (absl::StrContains(error, "ssl.key.location")) {
    const std::string key = PropertyOr(connection, "ssl.key.location", "");
    if (connection.properties.count("ssl.key.password") != 0) {
      return absl::StrCat("cannot load the private key ssl_key_location \"", key,
                          "\" with ssl_key_password: the key password is wrong, or the file is not a PEM key (",
                          error, ")");
    }
    return absl::StrCat("cannot load the private key ssl_key_location \"", key,
                        "\": if the key is encrypted, set ssl_key_password; otherwise check that it is a PEM key (",
                        error, ")");
  }
  if (absl::StrContains(error, "ssl.certificate.location")) {
    return absl::StrCat("cannot load the client certificate ssl_cert_location \"",
                        PropertyOr(connection, "ssl.certificate.location", ""), "\": expected a PEM certificate (",
                        error, ")");
  }
  if (absl::StrContains(error, "ssl.ca.location")) {
    return absl::StrCat("cannot load the CA certificates ssl_ca_location \"",
                        PropertyOr(connection, "ssl.ca.location", ""), "\": expected PEM certificates (", error,
                        ")");
  }
  return absl::StrCat("could not create a client: ", error);
}

absl::Status Failure(absl::StatusCode code, const Connection& connection, const std::string& reason) {
  return absl::Status(code, RedactSecrets(connection, absl::StrCat("connection test of ", connection.Describe(),
                                                                   " failed: ", reason)));
}

}  // namespace

std::string RedactSecrets(const Connection& connection, std::string text) {
  for (const auto& [name, value] : connection.properties) {
    // Very short values would garble the text and are not worth hiding.
    if (IsSecretProperty(name) && value.size() >= 3) {
      text = absl::StrReplaceAll(text, {{value, "<redacted>"}});
    }
  }
  return text;
}

absl::StatusOr<ClusterMetadata> TestConnection(const Connection& connection, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  auto log = logging::Get(logging::kConnections);

  absl::StatusOr<ConfPtr> conf = MakeConf(connection.properties);
  if (!conf.ok()) {
    return Failure(absl::StatusCode::kInvalidArgument, connection, std::string(conf.status().message()));
  }
  ErrorEvents events;
  rd_kafka_conf_set_opaque(conf->get(), &events);
  rd_kafka_conf_set_error_cb(conf->get(), &OnError);

  std::array<char, 512> error_text{};
  // On success rd_kafka_new takes ownership of the configuration; on
  // failure it stays with the caller.
  HandlePtr handle(rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), error_text.data(), error_text.size()));
  if (handle == nullptr) {
    return Failure(absl::StatusCode::kInvalidArgument, connection,
                   ClientCreationReason(connection, error_text.data()));
  }
  conf->release();

  rd_kafka_resp_err_t last_error = RD_KAFKA_RESP_ERR__TIMED_OUT;
  while (true) {
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0) break;
    const auto attempt = std::min(remaining, kAttemptSlice);

    const rd_kafka_metadata_t* raw_metadata = nullptr;
    last_error = rd_kafka_metadata(handle.get(), /*all_topics=*/1, nullptr, &raw_metadata,
                                   static_cast<int>(attempt.count()));
    if (last_error == RD_KAFKA_RESP_ERR_NO_ERROR) {
      MetadataPtr metadata(raw_metadata);
      // The metadata response carried the controller, so this reads
      // librdkafka's cache without waiting.
      const int32_t controller_id = rd_kafka_controllerid(handle.get(), 0);
      ClusterMetadata result = Convert(*metadata, controller_id);
      log->debug("Connection test of {} succeeded: {} brokers, {} topics", connection.Describe(),
                 result.brokers.size(), result.topics.size());
      return result;
    }

    // Serves error_cb for the events queued so far.
    rd_kafka_poll(handle.get(), 0);
    std::lock_guard<std::mutex> lock(events.mutex);
    if (events.authentication.has_value()) {
      return Failure(absl::StatusCode::kUnauthenticated, connection,
                     absl::StrCat("authentication failed: ", events.authentication->second, ScramAdvice(connection)));
    }
    if (events.tls.has_value()) {
      const std::string& reason = events.tls->second;
      if (absl::StrContains(reason, "certificate verify failed")) {
        return Failure(absl::StatusCode::kUnavailable, connection,
                       absl::StrCat("TLS verification failed: the broker's certificate is not signed by a CA in "
                                    "ssl_ca_location \"",
                                    PropertyOr(connection, "ssl.ca.location", "(system CAs)"),
                                    "\" or does not name the broker's host: ", reason));
      }
      return Failure(absl::StatusCode::kUnavailable, connection, absl::StrCat("TLS handshake failed: ", reason));
    }
    if (events.client_certificate.has_value()) {
      const bool has_certificate = connection.properties.count("ssl.certificate.location") != 0 ||
                                   connection.properties.count("ssl.certificate.pem") != 0;
      const std::string advice =
          has_certificate ? "the broker rejected the client certificate ssl_cert_location: check that a CA the "
                            "broker trusts signed it"
                          : "the broker requires a client certificate (mutual TLS) and none is configured: set "
                            "ssl_cert_location and ssl_key_location";
      return Failure(absl::StatusCode::kUnauthenticated, connection,
                     absl::StrCat(advice, " (", events.client_certificate->second, ")"));
    }
  }

  std::lock_guard<std::mutex> lock(events.mutex);
  const std::string waited = absl::StrCat("no metadata within ", timeout.count(), " ms");
  if (!events.last.has_value()) {
    return Failure(absl::StatusCode::kUnavailable, connection,
                   absl::StrCat("timed out: ", waited, " (", rd_kafka_err2str(last_error), ")"));
  }
  const auto& [error, reason] = *events.last;
  std::string category = "brokers unreachable";
  if (absl::StrContains(reason, "Connection refused")) category = "connection refused";
  if (error == RD_KAFKA_RESP_ERR__RESOLVE) category = "broker host name not resolved";
  return Failure(absl::StatusCode::kUnavailable, connection, absl::StrCat(category, ": ", reason, " (", waited, ")"));
}

}  // namespace kafkasidecar::kafka
