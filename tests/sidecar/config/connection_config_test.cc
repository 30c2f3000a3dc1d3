#include "config/connection_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kafkasidecar::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class TempFiles {
 public:
  TempFiles() {
    std::string pattern = ::testing::TempDir() + "conncfgXXXXXX";
    dir_ = ::mkdtemp(pattern.data());
  }
  ~TempFiles() { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << contents;
    return path;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

ConnectionConfig Plaintext() {
  ConnectionConfig config;
  config.bootstrap_servers = "127.0.0.1:9092";
  return config;
}

ConnectionConfig SaslSsl() {
  ConnectionConfig config;
  config.bootstrap_servers = "broker-1:9093,broker-2:9093";
  config.security_protocol = "SASL_SSL";
  config.sasl_mechanism = "SCRAM-SHA-512";
  config.sasl_username = "etl-user";
  config.sasl_password = "hunter2-secret";
  return config;
}

std::string ErrorOf(const ConnectionConfig& config) {
  absl::Status status = ValidateConnectionConfig(config);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  return std::string(status.message());
}

TEST(ValidateConnectionConfig, AcceptsPlaintext) { EXPECT_TRUE(ValidateConnectionConfig(Plaintext()).ok()); }

TEST(ValidateConnectionConfig, AcceptsSaslSslWithLowerCaseNames) {
  ConnectionConfig config = SaslSsl();
  config.security_protocol = "sasl_ssl";
  config.sasl_mechanism = "scram-sha-256";
  EXPECT_TRUE(ValidateConnectionConfig(config).ok());
}

TEST(ValidateConnectionConfig, RejectsMissingBootstrapServers) {
  ConnectionConfig config = Plaintext();
  config.bootstrap_servers = "  ";
  const std::string message = ErrorOf(config);
  EXPECT_THAT(message, HasSubstr("missing bootstrap_servers"));
  EXPECT_THAT(message, HasSubstr("host:port"));
}

TEST(ValidateConnectionConfig, RejectsBadHostPortEntries) {
  for (const std::string servers : {"broker", "broker:", "broker:0", "broker:65536", "broker:12x", ":9092",
                                    "a:9092,,b:9092", "::1:9092", "[::1:9092", "bro ker:9092"}) {
    ConnectionConfig config = Plaintext();
    config.bootstrap_servers = servers;
    const std::string message = ErrorOf(config);
    EXPECT_THAT(message, HasSubstr("bootstrap_servers")) << servers;
  }
}

TEST(ValidateConnectionConfig, AcceptsIpv6InBracketsAndSeveralBrokers) {
  ConnectionConfig config = Plaintext();
  config.bootstrap_servers = "[::1]:9092, 127.0.0.1:9093,kafka-0.kafka.svc:9092";
  EXPECT_TRUE(ValidateConnectionConfig(config).ok());
}

TEST(ValidateConnectionConfig, RejectsUnknownProtocolListingAccepted) {
  ConnectionConfig config = Plaintext();
  config.security_protocol = "TLS";
  const std::string message = ErrorOf(config);
  EXPECT_THAT(message, HasSubstr("security_protocol \"TLS\""));
  EXPECT_THAT(message, HasSubstr("PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"));
}

TEST(ValidateConnectionConfig, RejectsSaslWithoutMechanism) {
  ConnectionConfig config = SaslSsl();
  config.sasl_mechanism = "";
  const std::string message = ErrorOf(config);
  EXPECT_THAT(message, HasSubstr("missing sasl_mechanism"));
  EXPECT_THAT(message, HasSubstr("PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"));
}

TEST(ValidateConnectionConfig, RejectsUnknownMechanism) {
  ConnectionConfig config = SaslSsl();
  config.sasl_mechanism = "GSSAPI";
  const std::string message = ErrorOf(config);
  EXPECT_THAT(message, HasSubstr("sasl_mechanism \"GSSAPI\""));
  EXPECT_THAT(message, HasSubstr("PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"));
}

TEST(ValidateConnectionConfig, RejectsSaslWithoutUsername) {
  ConnectionConfig config = SaslSsl();
  config.sasl_username = "";
  EXPECT_THAT(ErrorOf(config), HasSubstr("missing sasl_username"));
}

TEST(ValidateConnectionConfig, RejectsSaslWithoutPassword) {
  ConnectionConfig config = SaslSsl();
  config.sasl_password = "";
  EXPECT_THAT(ErrorOf(config), HasSubstr("missing sasl_password"));
}

TEST(ValidateConnectionConfig, RejectsSaslSettingsWithPlaintext) {
  ConnectionConfig config = Plaintext();
  config.sasl_password = "hunter2-secret";
  const std::string message = ErrorOf(config);
  EXPECT_THAT(message, HasSubstr("sasl_password is set but security_protocol is PLAINTEXT"));
  EXPECT_THAT(message, Not(HasSubstr("hunter2")));
}

TEST(ValidateConnectionConfig, RejectsSslFilesWithoutTls) {
  TempFiles files;
  ConnectionConfig config = Plaintext();
  config.security_protocol = "SASL_PLAINTEXT";
  config.sasl_mechanism = "PLAIN";
  config.sasl_username = "u";
  config.sasl_password = "p";
  config.ssl_ca_location = files.Write("ca.pem", "x");
  EXPECT_THAT(ErrorOf(config), HasSubstr("ssl_ca_location is set but security_protocol is SASL_PLAINTEXT"));
}

TEST(ValidateConnectionConfig, RejectsCertificateWithoutKey) {
  TempFiles files;
  ConnectionConfig config = Plaintext();
  config.security_protocol = "SSL";
  config.ssl_cert_location = files.Write("client.pem", "x");
  EXPECT_THAT(ErrorOf(config), HasSubstr("ssl_cert_location is set without ssl_key_location"));
}

TEST(ValidateConnectionConfig, RejectsKeyPasswordWithoutKey) {
  ConnectionConfig config = Plaintext();
  config.security_protocol = "SSL";
  config.ssl_key_password = "key-secret";
  const std::string message = ErrorOf(config);
  EXPECT_THAT(message, HasSubstr("ssl_key_password is set without ssl_key_location"));
  EXPECT_THAT(message, Not(HasSubstr("key-secret")));
}

TEST(ValidateConnectionConfig, RejectsUnreadableCertificateNamingPath) {
  TempFiles files;
  ConnectionConfig config = Plaintext();
  config.security_protocol = "SSL";
  config.ssl_ca_location = files.dir() + "/missing-ca.pem";
  const std::string message = ErrorOf(config);
  EXPECT_THAT(message, HasSubstr("ssl_ca_location"));
  EXPECT_THAT(message, HasSubstr("missing-ca.pem"));
  EXPECT_THAT(message, HasSubstr("No such file"));
}

TEST(ValidateConnectionConfig, RejectsKeyThatIsDirectory) {
  TempFiles files;
  ConnectionConfig config = Plaintext();
  config.security_protocol = "SSL";
  config.ssl_cert_location = files.Write("client.pem", "x");
  config.ssl_key_location = files.dir();
  EXPECT_THAT(ErrorOf(config), HasSubstr("is a directory"));
}

TEST(ValidateConnectionConfig, AcceptsCaDirectoryAndProbe) {
  TempFiles files;
  ConnectionConfig config = Plaintext();
  config.security_protocol = "SSL";
  config.ssl_ca_location = files.dir();
  EXPECT_TRUE(ValidateConnectionConfig(config).ok());
  config.ssl_ca_location = "probe";
  EXPECT_TRUE(ValidateConnectionConfig(config).ok());
}

TEST(ValidateConnectionConfig, RejectsDebugContextsThatTraceCredentials) {
  for (const std::string contexts : {"all", "broker,security", " Security "}) {
    ConnectionConfig config = Plaintext();
    config.additional_config["debug"] = contexts;
    EXPECT_THAT(ErrorOf(config), HasSubstr("can trace credentials")) << contexts;
  }
  ConnectionConfig config = Plaintext();
  config.additional_config["debug"] = "broker,protocol";
  EXPECT_TRUE(ValidateConnectionConfig(config).ok());
}

TEST(ValidateConnectionConfig, LabelNamesSettingSource) {
  ConnectionConfig config = Plaintext();
  config.security_protocol = "BOGUS";
  absl::Status status = ValidateConnectionConfig(config, ConnectRequestLabel);
  EXPECT_THAT(std::string(status.message()), HasSubstr("settings.security_protocol \"BOGUS\""));
}

TEST(MakeConnection, BuildsLibrdkafkaProperties) {
  TempFiles files;
  ConnectionConfig config = SaslSsl();
  config.ssl_ca_location = files.Write("ca.pem", "x");
  config.ssl_cert_location = files.Write("cert.pem", "x");
  config.ssl_key_location = files.Write("key.pem", "x");
  config.ssl_key_password = "key-secret";
  config.additional_config["linger.ms"] = "5";

  absl::StatusOr<Connection> connection = MakeConnection("orders", config, 2500);
  ASSERT_TRUE(connection.ok()) << connection.status();
  const auto& properties = connection->properties;
  EXPECT_EQ(properties.at("bootstrap.servers"), "broker-1:9093,broker-2:9093");
  EXPECT_EQ(properties.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(properties.at("sasl.mechanisms"), "SCRAM-SHA-512");
  EXPECT_EQ(properties.at("sasl.username"), "etl-user");
  EXPECT_EQ(properties.at("sasl.password"), "hunter2-secret");
  EXPECT_EQ(properties.at("ssl.ca.location"), config.ssl_ca_location);
  EXPECT_EQ(properties.at("ssl.certificate.location"), config.ssl_cert_location);
  EXPECT_EQ(properties.at("ssl.key.location"), config.ssl_key_location);
  EXPECT_EQ(properties.at("ssl.key.password"), "key-secret");
  EXPECT_EQ(properties.at("linger.ms"), "5");
  EXPECT_EQ(connection->id, "orders");
  EXPECT_EQ(connection->connect_timeout_ms, 2500);
  EXPECT_EQ(connection->bootstrap_servers, "broker-1:9093,broker-2:9093");
  EXPECT_EQ(connection->security_protocol, "SASL_SSL");
  EXPECT_EQ(connection->sasl_mechanism, "SCRAM-SHA-512");
  EXPECT_EQ(connection->sasl_username, "etl-user");
  EXPECT_THAT(connection->Describe(), Not(HasSubstr("hunter2")));
}

TEST(MakeConnection, PlaintextHasNoSaslOrSslProperties) {
  absl::StatusOr<Connection> connection = MakeConnection("", Plaintext(), 10000);
  ASSERT_TRUE(connection.ok()) << connection.status();
  EXPECT_EQ(connection->properties.at("security.protocol"), "PLAINTEXT");
  EXPECT_EQ(connection->properties.count("sasl.mechanisms"), 0u);
  EXPECT_EQ(connection->properties.count("ssl.ca.location"), 0u);
}

TEST(MakeConnection, AdditionalConfigOverridesSettings) {
  ConnectionConfig config = Plaintext();
  config.additional_config["bootstrap.servers"] = "127.0.0.1:9999";
  absl::StatusOr<Connection> connection = MakeConnection("", config, 10000);
  ASSERT_TRUE(connection.ok()) << connection.status();
  EXPECT_EQ(connection->properties.at("bootstrap.servers"), "127.0.0.1:9999");
  EXPECT_EQ(connection->bootstrap_servers, "127.0.0.1:9999");
}

TEST(MakeConnection, RejectsUnknownLibrdkafkaPropertyByName) {
  ConnectionConfig config = Plaintext();
  config.additional_config["no.such.property"] = "1";
  absl::StatusOr<Connection> connection = MakeConnection("", config, 10000);
  ASSERT_FALSE(connection.ok());
  EXPECT_EQ(connection.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(connection.status().message()), HasSubstr("additional_config"));
  EXPECT_THAT(std::string(connection.status().message()), HasSubstr("no.such.property"));
}

TEST(MakeConnection, RejectsInvalidLibrdkafkaValueByName) {
  ConnectionConfig config = Plaintext();
  config.additional_config["linger.ms"] = "soon";
  absl::StatusOr<Connection> connection = MakeConnection("", config, 10000);
  ASSERT_FALSE(connection.ok());
  EXPECT_THAT(std::string(connection.status().message()), HasSubstr("linger.ms"));
  EXPECT_THAT(std::string(connection.status().message()), HasSubstr("soon"));
}

TEST(MakeConnection, HidesSecretValueOfRejectedProperty) {
  ConnectionConfig config = Plaintext();
  config.additional_config["sasl.oauthbearer.client.secret"] = "very-secret-value";
  config.additional_config["sasl.oauthbearer.method"] = "not-a-method";
  absl::StatusOr<Connection> connection = MakeConnection("", config, 10000);
  ASSERT_FALSE(connection.ok());
  EXPECT_THAT(std::string(connection.status().message()), Not(HasSubstr("very-secret-value")));
}

TEST(FromProto, CopiesEverySetting) {
  v1::ConnectionSettings settings;
  settings.set_bootstrap_servers("b:1");
  settings.set_security_protocol("SASL_SSL");
  settings.set_sasl_mechanism("PLAIN");
  settings.set_sasl_username("u");
  settings.set_sasl_password("p");
  settings.set_ssl_ca_location("ca");
  settings.set_ssl_cert_location("cert");
  settings.set_ssl_key_location("key");
  settings.set_ssl_key_password("kp");
  (*settings.mutable_additional_config())["acks"] = "all";
  const ConnectionConfig config = FromProto(settings);
  EXPECT_EQ(config.bootstrap_servers, "b:1");
  EXPECT_EQ(config.security_protocol, "SASL_SSL");
  EXPECT_EQ(config.sasl_mechanism, "PLAIN");
  EXPECT_EQ(config.sasl_username, "u");
  EXPECT_EQ(config.sasl_password, "p");
  EXPECT_EQ(config.ssl_ca_location, "ca");
  EXPECT_EQ(config.ssl_cert_location, "cert");
  EXPECT_EQ(config.ssl_key_location, "key");
  EXPECT_EQ(config.ssl_key_password, "kp");
  EXPECT_EQ(config.additional_config.at("acks"), "all");
}

TEST(DescribeRedacted, HidesPasswordsAndSecretProperties) {
  ConnectionConfig config = SaslSsl();
  config.ssl_key_password = "key-secret";
  config.additional_config["sasl.oauthbearer.client.secret"] = "oauth-secret";
  config.additional_config["linger.ms"] = "5";
  const std::string text = DescribeRedacted(config);
  EXPECT_THAT(text, Not(HasSubstr("hunter2")));
  EXPECT_THAT(text, Not(HasSubstr("key-secret")));
  EXPECT_THAT(text, Not(HasSubstr("oauth-secret")));
  EXPECT_THAT(text, HasSubstr("sasl_password=<redacted>"));
  EXPECT_THAT(text, HasSubstr("ssl_key_password=<redacted>"));
  EXPECT_THAT(text, HasSubstr("sasl.oauthbearer.client.secret=<redacted>"));
  EXPECT_THAT(text, HasSubstr("linger.ms=5"));
  EXPECT_THAT(text, HasSubstr("sasl_username=etl-user"));
}

}  // namespace
}  // namespace kafkasidecar::config
