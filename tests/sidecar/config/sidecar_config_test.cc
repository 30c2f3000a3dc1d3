#include "config/sidecar_config.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kafkasidecar::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class SidecarConfigTest : public ::testing::Test {
 protected:
  SidecarConfigTest() {
    std::string pattern = ::testing::TempDir() + "sidecarcfgXXXXXX";
    dir_ = ::mkdtemp(pattern.data());
  }
  ~SidecarConfigTest() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  absl::StatusOr<LoadedConfig> Load(const std::vector<std::string>& args) {
    return LoadSidecarConfig(args, [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    });
  }

  // Loads and expects INVALID_ARGUMENT; returns the message.
  std::string LoadError(const std::vector<std::string>& args) {
    absl::StatusOr<LoadedConfig> loaded = Load(args);
    EXPECT_FALSE(loaded.ok());
    if (loaded.ok()) return "";
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(loaded.status().message());
  }

  std::map<std::string, std::string> env_;
  std::string dir_;
};

const std::vector<std::string> kMinimal = {"--bootstrap-servers", "127.0.0.1:9092", "--listen-tcp",
                                           "127.0.0.1:50051"};

TEST_F(SidecarConfigTest, AppliesDefaults) {
  absl::StatusOr<LoadedConfig> loaded = Load(kMinimal);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const SidecarConfig& config = loaded->config;
  EXPECT_EQ(config.shutdown_drain_timeout_s, 30u);
  EXPECT_EQ(config.max_in_flight, 1000u);
  EXPECT_EQ(config.connect_timeout_ms, 10000u);
  EXPECT_EQ(config.log_level, spdlog::level::info);
  EXPECT_EQ(config.log_summary_interval, 1000u);
  EXPECT_EQ(config.listen_unix, "");
  EXPECT_EQ(config.listen_tcp, "127.0.0.1:50051");
  EXPECT_EQ(loaded->default_connection.id, "");
  EXPECT_EQ(loaded->default_connection.properties.at("bootstrap.servers"), "127.0.0.1:9092");
  EXPECT_EQ(loaded->default_connection.properties.at("security.protocol"), "PLAINTEXT");
  EXPECT_EQ(loaded->default_connection.connect_timeout_ms, 10000);
  EXPECT_TRUE(loaded->warnings.empty());
}

TEST_F(SidecarConfigTest, ReadsEveryEnvironmentVariable) {
  const std::string password_file = Write("password", "from-file\n");
  const std::string ca = Write("ca.pem", "x");
  const std::string cert = Write("cert.pem", "x");
  const std::string key = Write("key.pem", "x");
  env_ = {{"KAFKA_BOOTSTRAP_SERVERS", "k1:9093,k2:9093"},
          {"KAFKA_SECURITY_PROTOCOL", "SASL_SSL"},
          {"KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"},
          {"KAFKA_SASL_USERNAME", "etl"},
          {"KAFKA_SASL_PASSWORD_FILE", password_file},
          {"KAFKA_SSL_CA_LOCATION", ca},
          {"KAFKA_SSL_CERT_LOCATION", cert},
          {"KAFKA_SSL_KEY_LOCATION", key},
          {"KAFKA_SSL_KEY_PASSWORD", "key-pass"},
          {"KAFKA_ADDITIONAL_CONFIG", "linger.ms=5; socket.keepalive.enable=true"},
          {"SIDECAR_LISTEN_UNIX", dir_ + "/s.sock"},
          {"SIDECAR_LISTEN_TCP", "127.0.0.1:0"},
          {"SIDECAR_SHUTDOWN_DRAIN_TIMEOUT_S", "45"},
          {"SIDECAR_MAX_IN_FLIGHT", "64"},
          {"SIDECAR_CONNECT_TIMEOUT_MS", "2500"},
          {"SIDECAR_LOG_LEVEL", "debug"},
          {"SIDECAR_LOG_SUMMARY_INTERVAL", "250"}};
  absl::StatusOr<LoadedConfig> loaded = Load({});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const SidecarConfig& config = loaded->config;
  EXPECT_EQ(config.connection.bootstrap_servers, "k1:9093,k2:9093");
  EXPECT_EQ(config.connection.security_protocol, "SASL_SSL");
  EXPECT_EQ(config.connection.sasl_mechanism, "SCRAM-SHA-256");
  EXPECT_EQ(config.connection.sasl_username, "etl");
  EXPECT_EQ(config.connection.sasl_password, "from-file");
  EXPECT_EQ(config.connection.ssl_ca_location, ca);
  EXPECT_EQ(config.connection.ssl_cert_location, cert);
  EXPECT_EQ(config.connection.ssl_key_location, key);
  EXPECT_EQ(config.connection.ssl_key_password, "key-pass");
  EXPECT_EQ(config.connection.additional_config.at("linger.ms"), "5");
  EXPECT_EQ(config.connection.additional_config.at("socket.keepalive.enable"), "true");
  EXPECT_EQ(config.listen_unix, dir_ + "/s.sock");
  EXPECT_EQ(config.listen_tcp, "127.0.0.1:0");
  EXPECT_EQ(config.shutdown_drain_timeout_s, 45u);
  EXPECT_EQ(config.max_in_flight, 64u);
  EXPECT_EQ(config.connect_timeout_ms, 2500u);
  EXPECT_EQ(config.log_level, spdlog::level::debug);
  EXPECT_EQ(config.log_summary_interval, 250u);
  EXPECT_EQ(loaded->default_connection.properties.at("sasl.password"), "from-file");
  EXPECT_EQ(loaded->default_connection.connect_timeout_ms, 2500);
}

TEST_F(SidecarConfigTest, FlagsWinOverEnvironmentOverFile) {
  const std::string file = Write("sidecar.conf",
                                 "# defaults for the pod\n"
                                 "bootstrap_servers = file:9092\n"
                                 "log_level = error\n"
                                 "max_in_flight = 10\n"
                                 "listen_tcp = 127.0.0.1:7000\n"
                                 "additional_config = linger.ms=1;batch.size=1000\n");
  env_ = {{"KAFKA_BOOTSTRAP_SERVERS", "env:9092"}, {"SIDECAR_LOG_LEVEL", "warning"},
          {"KAFKA_ADDITIONAL_CONFIG", "linger.ms=2"}};
  absl::StatusOr<LoadedConfig> loaded =
      Load({"--config", file, "--bootstrap-servers=flag:9092", "--kafka-property", "linger.ms=3"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const SidecarConfig& config = loaded->config;
  EXPECT_EQ(config.connection.bootstrap_servers, "flag:9092");
  EXPECT_EQ(config.log_level, spdlog::level::warn);
  EXPECT_EQ(config.max_in_flight, 10u);
  EXPECT_EQ(config.listen_tcp, "127.0.0.1:7000");
  EXPECT_EQ(config.connection.additional_config.at("linger.ms"), "3");
  EXPECT_EQ(config.connection.additional_config.at("batch.size"), "1000");
}

TEST_F(SidecarConfigTest, ReadsConfigFileNamedByEnvironment) {
  env_ = {{"SIDECAR_CONFIG", Write("c.conf", "bootstrap_servers=f:1\nlisten_tcp=127.0.0.1:1\n")}};
  absl::StatusOr<LoadedConfig> loaded = Load({});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.connection.bootstrap_servers, "f:1");
}

TEST_F(SidecarConfigTest, EmptyEnvironmentVariableCountsAsUnset) {
  env_ = {{"SIDECAR_LOG_LEVEL", ""}};
  absl::StatusOr<LoadedConfig> loaded = Load(kMinimal);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.log_level, spdlog::level::info);
}

TEST_F(SidecarConfigTest, SecretFileLosesOnlyTrailingLineBreak) {
  env_ = {{"KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"},
          {"KAFKA_SASL_MECHANISM", "PLAIN"},
          {"KAFKA_SASL_USERNAME", "u"},
          {"KAFKA_SASL_PASSWORD_FILE", Write("p", " pass word \r\n")}};
  absl::StatusOr<LoadedConfig> loaded = Load(kMinimal);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.connection.sasl_password, " pass word ");
}

TEST_F(SidecarConfigTest, SecretFileFromFlagAndConfigKey) {
  const std::string file = Write("c.conf", "ssl_key_password_file = " + Write("kp", "key-secret") + "\n");
  absl::StatusOr<LoadedConfig> loaded =
      Load({"--config", file, "--bootstrap-servers", "b:1", "--listen-tcp", "127.0.0.1:1", "--security-protocol",
            "SASL_SSL", "--sasl-mechanism", "PLAIN", "--sasl-username", "u", "--sasl-password-file",
            Write("sp", "sasl-secret\n"), "--ssl-cert-location", Write("c.pem", "x"), "--ssl-key-location",
            Write("k.pem", "x")});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.connection.sasl_password, "sasl-secret");
  EXPECT_EQ(loaded->config.connection.ssl_key_password, "key-secret");
  EXPECT_TRUE(loaded->warnings.empty());
}

TEST_F(SidecarConfigTest, UnreadableSecretFileNamesPathAndVariable) {
  env_ = {{"KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"},
          {"KAFKA_SASL_MECHANISM", "PLAIN"},
          {"KAFKA_SASL_USERNAME", "u"},
          {"KAFKA_SASL_PASSWORD_FILE", dir_ + "/absent"}};
  const std::string message = LoadError(kMinimal);
  EXPECT_THAT(message, HasSubstr("sasl_password"));
  EXPECT_THAT(message, HasSubstr("KAFKA_SASL_PASSWORD_FILE"));
  EXPECT_THAT(message, HasSubstr(dir_ + "/absent"));
  EXPECT_THAT(message, HasSubstr("No such file"));
}

TEST_F(SidecarConfigTest, RejectsPasswordAndPasswordFileTogether) {
  env_ = {{"KAFKA_SASL_PASSWORD", "secret-in-env"}, {"KAFKA_SASL_PASSWORD_FILE", Write("p", "x")}};
  const std::string message = LoadError(kMinimal);
  EXPECT_THAT(message, HasSubstr("sasl_password is given twice"));
  EXPECT_THAT(message, HasSubstr("KAFKA_SASL_PASSWORD_FILE"));
  EXPECT_THAT(message, Not(HasSubstr("secret-in-env")));
}

TEST_F(SidecarConfigTest, WarnsAboutPasswordOnCommandLine) {
  absl::StatusOr<LoadedConfig> loaded =
      Load({"--bootstrap-servers", "b:1", "--listen-tcp", "127.0.0.1:1", "--security-protocol", "SASL_PLAINTEXT",
            "--sasl-mechanism", "PLAIN", "--sasl-username", "u", "--sasl-password", "cmdline-secret"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->warnings.size(), 1u);
  EXPECT_THAT(loaded->warnings[0], HasSubstr("KAFKA_SASL_PASSWORD_FILE"));
  EXPECT_THAT(loaded->warnings[0], Not(HasSubstr("cmdline-secret")));
}

TEST_F(SidecarConfigTest, RejectsMissingBootstrapServersNamingSources) {
  const std::string message = LoadError({"--listen-tcp", "127.0.0.1:1"});
  EXPECT_THAT(message, HasSubstr("missing bootstrap_servers"));
  EXPECT_THAT(message, HasSubstr("--bootstrap-servers"));
  EXPECT_THAT(message, HasSubstr("KAFKA_BOOTSTRAP_SERVERS"));
}

TEST_F(SidecarConfigTest, RejectsUnknownProtocolNamingSource) {
  env_ = {{"KAFKA_SECURITY_PROTOCOL", "TLS"}};
  const std::string message = LoadError(kMinimal);
  EXPECT_THAT(message, HasSubstr("security_protocol (set by KAFKA_SECURITY_PROTOCOL) \"TLS\""));
  EXPECT_THAT(message, HasSubstr("PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"));
}

TEST_F(SidecarConfigTest, RejectsSaslWithoutCredentials) {
  env_ = {{"KAFKA_SECURITY_PROTOCOL", "SASL_SSL"}, {"KAFKA_SASL_MECHANISM", "PLAIN"}};
  EXPECT_THAT(LoadError(kMinimal), HasSubstr("missing sasl_username"));
  env_["KAFKA_SASL_USERNAME"] = "u";
  const std::string message = LoadError(kMinimal);
  EXPECT_THAT(message, HasSubstr("missing sasl_password"));
  EXPECT_THAT(message, HasSubstr("KAFKA_SASL_PASSWORD_FILE"));
}

TEST_F(SidecarConfigTest, RejectsMissingListener) {
  const std::string message = LoadError({"--bootstrap-servers", "b:1"});
  EXPECT_THAT(message, HasSubstr("no listener configured"));
  EXPECT_THAT(message, HasSubstr("SIDECAR_LISTEN_UNIX"));
  EXPECT_THAT(message, HasSubstr("SIDECAR_LISTEN_TCP"));
}

TEST_F(SidecarConfigTest, RejectsBadListenAddress) {
  const std::string message = LoadError({"--bootstrap-servers", "b:1", "--listen-tcp", "localhost"});
  EXPECT_THAT(message, HasSubstr("listen_tcp (set by --listen-tcp)"));
  EXPECT_THAT(message, HasSubstr("host:port"));
}

TEST_F(SidecarConfigTest, RejectsOverlongSocketPath) {
  const std::string message =
      LoadError({"--bootstrap-servers", "b:1", "--listen-unix", "/tmp/" + std::string(120, 's')});
  EXPECT_THAT(message, HasSubstr("listen_unix"));
  EXPECT_THAT(message, HasSubstr("at most 107 bytes"));
}

TEST_F(SidecarConfigTest, RejectsNonNumericAndOutOfRangeNumbers) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--max-in-flight", "many"},         {"--max-in-flight", "0"},
      {"--max-in-flight", "-5"},           {"--max-in-flight", "100001"},
      {"--connect-timeout-ms", "50"},      {"--shutdown-drain-timeout-s", "3601"},
      {"--log-summary-interval", "0"},     {"--connect-timeout-ms", "99999999999999999999999"},
      {"--shutdown-drain-timeout-s", "1.5"}};
  for (const auto& [flag, value] : cases) {
    std::vector<std::string> args = kMinimal;
    args.push_back(flag);
    args.push_back(value);
    const std::string message = LoadError(args);
    EXPECT_THAT(message, HasSubstr("\"" + value + "\" (set by " + flag + ")")) << flag << " " << value;
    EXPECT_THAT(message, HasSubstr("expected a whole number from")) << flag << " " << value;
  }
}

TEST_F(SidecarConfigTest, AcceptsRangeBoundaries) {
  std::vector<std::string> args = kMinimal;
  for (const std::string& item : {"--shutdown-drain-timeout-s=0", "--max-in-flight=100000",
                                  "--connect-timeout-ms=100", "--log-summary-interval=1"}) {
    args.push_back(item);
  }
  absl::StatusOr<LoadedConfig> loaded = Load(args);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.shutdown_drain_timeout_s, 0u);
  EXPECT_EQ(loaded->config.max_in_flight, 100000u);
}

TEST_F(SidecarConfigTest, RejectsUnknownLogLevel) {
  std::vector<std::string> args = kMinimal;
  args.push_back("--log-level=loud");
  const std::string message = LoadError(args);
  EXPECT_THAT(message, HasSubstr("log_level \"loud\" (set by --log-level)"));
  EXPECT_THAT(message, HasSubstr("trace, debug, info, warning, error, critical"));
}

TEST_F(SidecarConfigTest, RejectsUnknownFlagAndMissingValue) {
  EXPECT_THAT(LoadError({"--bootstrap"}), HasSubstr("unknown option --bootstrap"));
  EXPECT_THAT(LoadError({"--bootstrap-servers"}), HasSubstr("missing value for --bootstrap-servers"));
  EXPECT_THAT(LoadError({"stray"}), HasSubstr("unexpected argument \"stray\""));
}

TEST_F(SidecarConfigTest, RejectsFlagGivenTwice) {
  std::vector<std::string> args = kMinimal;
  args.push_back("--bootstrap-servers=other:1");
  EXPECT_THAT(LoadError(args), HasSubstr("bootstrap_servers is given twice"));
}

TEST_F(SidecarConfigTest, RejectsUnknownKeyInFileWithLineNumber) {
  const std::string file = Write("bad.conf", "bootstrap_servers=b:1\n\nbootstrap=b:2\n");
  const std::string message = LoadError({"--config", file, "--listen-tcp", "127.0.0.1:1"});
  EXPECT_THAT(message, HasSubstr("unknown key \"bootstrap\""));
  EXPECT_THAT(message, HasSubstr(file + " line 3"));
}

TEST_F(SidecarConfigTest, RejectsFileLineWithoutEquals) {
  const std::string file = Write("bad.conf", "bootstrap_servers\n");
  EXPECT_THAT(LoadError({"--config", file}), HasSubstr(file + " line 1: expected key=value"));
}

TEST_F(SidecarConfigTest, RejectsMissingConfigFile) {
  const std::string message = LoadError({"--config", dir_ + "/none.conf"});
  EXPECT_THAT(message, HasSubstr("none.conf"));
  EXPECT_THAT(message, HasSubstr("--config"));
}

TEST_F(SidecarConfigTest, RejectsMalformedKafkaProperty) {
  std::vector<std::string> args = kMinimal;
  args.push_back("--kafka-property=linger.ms");
  EXPECT_THAT(LoadError(args), HasSubstr("expected NAME=VALUE"));
}

TEST_F(SidecarConfigTest, RejectsUnknownLibrdkafkaProperty) {
  env_ = {{"KAFKA_ADDITIONAL_CONFIG", "lingerms=5"}};
  const std::string message = LoadError(kMinimal);
  EXPECT_THAT(message, HasSubstr("additional_config"));
  EXPECT_THAT(message, HasSubstr("lingerms"));
}

TEST_F(SidecarConfigTest, RejectsUnreadableCertificateNamingSetting) {
  env_ = {{"KAFKA_SECURITY_PROTOCOL", "SSL"}, {"KAFKA_SSL_CA_LOCATION", dir_ + "/ca-missing.pem"}};
  const std::string message = LoadError(kMinimal);
  EXPECT_THAT(message, HasSubstr("ssl_ca_location (set by KAFKA_SSL_CA_LOCATION)"));
  EXPECT_THAT(message, HasSubstr("ca-missing.pem"));
}

TEST_F(SidecarConfigTest, RejectsNonLoopbackListenerUnlessAllowed) {
  const std::string message = LoadError({"--bootstrap-servers", "b:1", "--listen-tcp", "0.0.0.0:7000"});
  EXPECT_THAT(message, HasSubstr("listen_tcp (set by --listen-tcp)"));
  EXPECT_THAT(message, HasSubstr("--allow-non-loopback"));

  absl::StatusOr<LoadedConfig> loaded =
      Load({"--bootstrap-servers", "b:1", "--listen-tcp", "0.0.0.0:7000", "--allow-non-loopback", "true"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->config.allow_non_loopback);
}

TEST_F(SidecarConfigTest, ParsesSocketModeAsOctal) {
  absl::StatusOr<LoadedConfig> loaded =
      Load({"--bootstrap-servers", "b:1", "--listen-unix", dir_ + "/s.sock", "--listen-unix-mode", "0600"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.listen_unix_mode, 0600u);
  EXPECT_THAT(DescribeRedacted(loaded->config), HasSubstr("listen_unix_mode=0600"));

  const std::string message =
      LoadError({"--bootstrap-servers", "b:1", "--listen-unix", dir_ + "/s.sock", "--listen-unix-mode", "0066"});
  EXPECT_THAT(message, HasSubstr("invalid listen_unix_mode \"0066\" (set by --listen-unix-mode)"));
}

TEST_F(SidecarConfigTest, TlsListenerNeedsCertificateKeyAndTcp) {
  EXPECT_THAT(LoadError({"--bootstrap-servers", "b:1", "--listen-unix", dir_ + "/s.sock", "--tls-cert", "c.pem",
                         "--tls-key", "k.pem"}),
              HasSubstr("set listen_tcp"));
  EXPECT_THAT(LoadError({"--bootstrap-servers", "b:1", "--listen-tcp", "127.0.0.1:0", "--tls-cert", "c.pem"}),
              HasSubstr("tls_cert and tls_key go together"));
  const std::string missing = dir_ + "/no-such-cert.pem";
  const std::string message = LoadError({"--bootstrap-servers", "b:1", "--listen-tcp", "127.0.0.1:0", "--tls-cert",
                                         missing, "--tls-key", missing});
  EXPECT_THAT(message, HasSubstr("cannot read tls_cert (set by --tls-cert) \"" + missing + "\""));
}

TEST_F(SidecarConfigTest, JobConnectionsCanBeDisabledByEnvironment) {
  absl::StatusOr<LoadedConfig> loaded = Load({"--bootstrap-servers", "b:1", "--listen-unix", dir_ + "/s.sock"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->config.allow_job_connections);

  env_ = {{"SIDECAR_ALLOW_JOB_CONNECTIONS", "false"}};
  loaded = Load({"--bootstrap-servers", "b:1", "--listen-unix", dir_ + "/s.sock"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->config.allow_job_connections);
  EXPECT_THAT(DescribeRedacted(loaded->config), HasSubstr("allow_job_connections=false"));

  env_ = {{"SIDECAR_ALLOW_JOB_CONNECTIONS", "maybe"}};
  EXPECT_THAT(LoadError({"--bootstrap-servers", "b:1", "--listen-unix", dir_ + "/s.sock"}),
              HasSubstr("invalid allow_job_connections \"maybe\" (set by SIDECAR_ALLOW_JOB_CONNECTIONS)"));
}

TEST_F(SidecarConfigTest, HelpListsEverySettingWithoutSecrets) {
  env_ = {{"KAFKA_SASL_PASSWORD", "env-secret"}};
  absl::StatusOr<LoadedConfig> loaded = Load({"--sasl-password", "flag-secret", "--help"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->help_requested);
  const std::string& help = loaded->help;
  for (const std::string item :
       {"--config", "SIDECAR_CONFIG", "--listen-unix", "SIDECAR_LISTEN_UNIX", "--listen-tcp", "SIDECAR_LISTEN_TCP",
        "--bootstrap-servers", "KAFKA_BOOTSTRAP_SERVERS", "--security-protocol", "KAFKA_SECURITY_PROTOCOL",
        "--sasl-mechanism", "KAFKA_SASL_MECHANISM", "--sasl-username", "KAFKA_SASL_USERNAME", "--sasl-password",
        "KAFKA_SASL_PASSWORD", "KAFKA_SASL_PASSWORD_FILE", "--ssl-ca-location", "KAFKA_SSL_CA_LOCATION",
        "--ssl-cert-location", "KAFKA_SSL_CERT_LOCATION", "--ssl-key-location", "KAFKA_SSL_KEY_LOCATION",
        "--ssl-key-password", "KAFKA_SSL_KEY_PASSWORD", "KAFKA_SSL_KEY_PASSWORD_FILE", "--kafka-property",
        "KAFKA_ADDITIONAL_CONFIG", "--shutdown-drain-timeout-s", "Default: 30", "--max-in-flight",
        "Default: 1000", "--connect-timeout-ms", "Default: 10000", "--log-level", "Default: info",
        "--log-summary-interval", "SIDECAR_LOG_SUMMARY_INTERVAL", "--help"}) {
    EXPECT_THAT(help, HasSubstr(item));
  }
  EXPECT_THAT(help, Not(HasSubstr("env-secret")));
  EXPECT_THAT(help, Not(HasSubstr("flag-secret")));
}

TEST_F(SidecarConfigTest, DescribeRedactedHidesSecrets) {
  env_ = {{"KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"},
          {"KAFKA_SASL_MECHANISM", "PLAIN"},
          {"KAFKA_SASL_USERNAME", "u"},
          {"KAFKA_SASL_PASSWORD", "dump-secret"}};
  absl::StatusOr<LoadedConfig> loaded = Load(kMinimal);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::string text = DescribeRedacted(loaded->config);
  EXPECT_THAT(text, Not(HasSubstr("dump-secret")));
  EXPECT_THAT(text, HasSubstr("sasl_password=<redacted>"));
  EXPECT_THAT(text, HasSubstr("max_in_flight=1000"));
  EXPECT_THAT(text, HasSubstr("log_level=info"));
}

}  // namespace
}  // namespace kafkasidecar::config
