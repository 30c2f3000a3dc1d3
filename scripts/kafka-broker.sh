#!/usr/bin/env bash
# Starts and stops a single-node Apache Kafka broker (KRaft, combined broker
# and controller) on 127.0.0.1 for tests and the demo. The jars come from
# .cache/kafka/libs (Kafka 4.1.1) or, with --kafka-version 3.9,
# .cache/kafka-3.9/libs (Kafka 3.9.1), both filled by scripts/install.sh.
# Each broker has a name, and
# its configuration, data, log and pidfile live in .cache/kafka-broker/NAME,
# so brokers with different names and ports can run side by side.
set -euo pipefail

readonly REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly LOG4J_CONFIG="${REPO_ROOT}/scripts/broker/log4j2.properties"
readonly BROKER_ROOT="${REPO_ROOT}/.cache/kafka-broker"

name="test"
port=39092
controller_port=""
timeout_s=60
heap="512m"
secure=false
kafka_version="4.1"
# The jar directory of kafka_version, set after the command line is read.
kafka_libs=""

usage() {
  cat <<'EOF'
Usage: scripts/kafka-broker.sh COMMAND [OPTIONS]

Runs a single-node Apache Kafka 4.1.1 broker (KRaft, broker and controller
in one process) on 127.0.0.1 for tests and the demo, or with
--kafka-version 3.9 a Kafka 3.9.1 broker, which the SCRAM tests use because
librdkafka before 2.6.1 cannot log in with SCRAM to Kafka 4 brokers.

Commands:
  start    Format fresh storage, start the broker in the background and wait
           until it responds to a metadata request. Fails if a broker with this
           name is already running or the ports are in use.
  stop     Stop the broker (SIGTERM, then SIGKILL after 30 s) and delete its
           data. The log stays in .cache/kafka-broker/NAME/logs.
  status   Print whether the broker runs. Exit code 0 if it runs, 3 if not.
  wait     Wait until the running broker responds to a metadata request.

Options:
  --name NAME             Broker name; selects .cache/kafka-broker/NAME
                          (default: test).
  --port PORT             PLAINTEXT listener port for clients (default: 39092).
  --controller-port PORT  KRaft controller listener port (default: PORT + 1).
  --timeout SECONDS       How long start and wait wait for the broker
                          (default: 60).
  --heap SIZE             Java maximum heap, as for -Xmx (default: 512m).
  --secure                With start: also open TLS and SASL listeners on
                          the next consecutive ports (see below).
  --kafka-version VERSION With start: 4.1 runs Kafka 4.1.1 from
                          .cache/kafka/libs, 3.9 runs Kafka 3.9.1 from
                          .cache/kafka-3.9/libs (default: 4.1).
  -h, --help              Print this help.

Environment:
  JAVA   Java 17 or newer executable (default: Debian's OpenJDK 17, else the
         java on PATH).

Clients connect to 127.0.0.1:PORT (KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT).

With --secure, the controller listens on PORT + 1 (--controller-port is not
accepted) and these listeners open on 127.0.0.1:
  PORT + 2  SSL              TLS, the broker authenticates itself
  PORT + 3  SSL              mutual TLS (ssl.client.auth=required)
  PORT + 4  SASL_PLAINTEXT   PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
  PORT + 5  SASL_SSL         PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
  PORT + 6  SSL              TLS with a certificate for another host name
start generates a CA and certificates with scripts/gen-test-certs.sh into
.cache/kafka-broker/NAME/certs and one SASL user for every mechanism, with a
random password and key password. It writes the ports, the user, the
passwords and the certificate paths as JSON to
.cache/kafka-broker/NAME/secure.json (mode 0600), which tests read.
EOF
}

die() {
  echo "kafka-broker: $*" >&2
  exit 1
}

log() {
  echo "kafka-broker: $*" >&2
}

# --- paths of one broker ----------------------------------------------------

broker_dir() { echo "${BROKER_ROOT}/${name}"; }
data_dir() { echo "$(broker_dir)/data"; }
logs_dir() { echo "$(broker_dir)/logs"; }
config_file() { echo "$(broker_dir)/server.properties"; }
pid_file() { echo "$(broker_dir)/broker.pid"; }
certs_dir() { echo "$(broker_dir)/certs"; }
secure_file() { echo "$(broker_dir)/secure.json"; }

# Ports of the --secure listeners, relative to --port.
ssl_port() { echo $((port + 2)); }
mtls_port() { echo $((port + 3)); }
sasl_plaintext_port() { echo $((port + 4)); }
sasl_ssl_port() { echo $((port + 5)); }
wrong_host_port() { echo $((port + 6)); }

# The SASL user of a secure broker, for every mechanism.
readonly SECURE_USER="alice"

# --- configuration ------------------------------------------------------------

# Writes the listener settings. Every listener of the broker is declared here,
# so a new one (SSL, SASL) is added in this function only.
write_listener_config() {
  if [[ "${secure}" == true ]]; then
    write_secure_listener_config "$@"
    return
  fi
  cat <<EOF
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:${controller_port}
EOF
}

# The --secure listeners. PLAINTEXT stays for inter-broker traffic and for
# tests that create topics. The key store and trust store are PEM files.
write_secure_listener_config() {
  local password="$1"
  local plain_jaas="org.apache.kafka.common.security.plain.PlainLoginModule required user_${SECURE_USER}=\"${password}\";"
  local scram_jaas="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  local listener
  cat <<EOF
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller_port},SSL://127.0.0.1:$(ssl_port),MTLS://127.0.0.1:$(mtls_port),SASL_PLAINTEXT://127.0.0.1:$(sasl_plaintext_port),SASL_SSL://127.0.0.1:$(sasl_ssl_port),WRONGHOST://127.0.0.1:$(wrong_host_port)
advertised.listeners=PLAINTEXT://127.0.0.1:${port},SSL://127.0.0.1:$(ssl_port),MTLS://127.0.0.1:$(mtls_port),SASL_PLAINTEXT://127.0.0.1:$(sasl_plaintext_port),SASL_SSL://127.0.0.1:$(sasl_ssl_port),WRONGHOST://127.0.0.1:$(wrong_host_port)
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,MTLS:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,WRONGHOST:SSL
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:${controller_port}

ssl.keystore.type=PEM
ssl.keystore.location=$(certs_dir)/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$(certs_dir)/ca.pem
ssl.client.auth=none
listener.name.mtls.ssl.client.auth=required
listener.name.wronghost.ssl.keystore.type=PEM
listener.name.wronghost.ssl.keystore.location=$(certs_dir)/wrong-host.pem

sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
EOF
  for listener in sasl_plaintext sasl_ssl; do
    echo "listener.name.${listener}.plain.sasl.jaas.config=${plain_jaas}"
    echo "listener.name.${listener}.scram-sha-256.sasl.jaas.config=${scram_jaas}"
    echo "listener.name.${listener}.scram-sha-512.sasl.jaas.config=${scram_jaas}"
  done
}

# Writes secure.json: what clients of a --secure broker need.
write_secure_file() {
  local password="$1" key_password="$2"
  (
    umask 077
    cat >"$(secure_file)" <<EOF
{
  "plaintext": "127.0.0.1:${port}",
  "ssl": "127.0.0.1:$(ssl_port)",
  "mtls": "127.0.0.1:$(mtls_port)",
  "sasl_plaintext": "127.0.0.1:$(sasl_plaintext_port)",
  "sasl_ssl": "127.0.0.1:$(sasl_ssl_port)",
  "wrong_host": "127.0.0.1:$(wrong_host_port)",
  "mechanisms": ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
  "username": "${SECURE_USER}",
  "password": "${password}",
  "ca": "$(certs_dir)/ca.pem",
  "other_ca": "$(certs_dir)/other-ca.pem",
  "client_cert": "$(certs_dir)/client.crt",
  "client_key": "$(certs_dir)/client.key",
  "client_encrypted_key": "$(certs_dir)/client-encrypted.key",
  "key_password": "${key_password}"
}
EOF
  )
}

# Settings that only some Kafka versions know. Kafka 3.9.1 has no share
# coordinator and would log these as unknown.
write_version_config() {
  if [[ "${kafka_version}" == "4.1" ]]; then
    echo "share.coordinator.state.topic.replication.factor=1"
    echo "share.coordinator.state.topic.min.isr=1"
  fi
}

write_config() {
  {
    echo "# Written by scripts/kafka-broker.sh for broker '${name}'."
    echo "process.roles=broker,controller"
    echo "node.id=1"
    write_listener_config "$@"
    cat <<EOF
log.dirs=$(data_dir)

# One node: every internal topic has one replica, and the group coordinator
# topic has one partition so that it is ready quickly.
offsets.topic.num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
$(write_version_config)

# Consumers joining a new group get their assignment at once instead of
# after the default 3 s delay.
group.initial.rebalance.delay.ms=0

# Tests and the demo create their topics with explicit partition counts.
# Producing to a missing topic fails instead of creating it with one
# partition, as it does on clusters that disable auto-creation.
auto.create.topics.enable=false
num.partitions=1

# Small thread pools: the machine that runs the tests has 2 cores.
num.network.threads=2
num.io.threads=2
background.threads=2
EOF
  } >"$(config_file)"
}

# --- processes ----------------------------------------------------------------

find_java() {
  if [[ -n "${JAVA:-}" ]]; then
    echo "${JAVA}"
    return
  fi
  local candidate
  for candidate in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
    if [[ -x "${candidate}" ]]; then
      echo "${candidate}"
      return
    fi
  done
  command -v java || die "java not found: install openjdk-17-jre-headless (scripts/install.sh) or set JAVA"
}

# Prints the PID from the pidfile if that process is this broker's JVM. A
# stale pidfile (process gone, or PID reused by another program) prints
# nothing.
running_pid() {
  local pid
  [[ -f "$(pid_file)" ]] || return 0
  pid="$(cat "$(pid_file)")"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 0
  # The process can exit between the check and the read, hence the 2>/dev/null.
  if { tr '\0' ' ' <"/proc/${pid}/cmdline"; } 2>/dev/null | grep -qF -- "$(config_file)"; then
    echo "${pid}"
  fi
}

port_in_use() {
  # A successful connect means something listens on the port.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Sends one Metadata request (API key 3, version 4) to the client listener
# and succeeds if the response lists at least one broker. Uses only the
# Python standard library so that it runs before the virtualenv exists.
responds_to_metadata() {
  python3 - "${port}" <<'PY'
import socket
import struct
import sys

port = int(sys.argv[1])
client_id = b"kafka-broker.sh"
correlation_id = 7
# Request header v1: api_key, api_version, correlation_id, client_id.
# Metadata v4 body: topics = null (all topics), allow_auto_topic_creation.
body = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
body += struct.pack(">ib", -1, 0)
try:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(struct.pack(">i", len(body)) + body)
        data = b""
        # Response: size, correlation_id, throttle_time_ms, brokers count.
        while len(data) < 16:
            chunk = conn.recv(16 - len(data))
            if not chunk:
                sys.exit(1)
            data += chunk
except OSError:
    sys.exit(1)
_, received_id, _, broker_count = struct.unpack(">iiii", data)
sys.exit(0 if received_id == correlation_id and broker_count > 0 else 1)
PY
}

# Prints the end of the JVM's own output (startup failures such as a bad
# JVM option land there) and of the broker's log.
print_log_tail() {
  local log_file
  for log_file in "$(logs_dir)/console.log" "$(logs_dir)/server.log"; do
    if [[ -s "${log_file}" ]]; then
      log "last lines of ${log_file}:"
      tail -n 40 "${log_file}" >&2
    fi
  done
}

# Waits up to 10 s until the background child has exec'd the JVM, so that
# running_pid recognises it. Before the exec the child's command line is
# still the shell's, and a busy machine can delay the exec by seconds.
wait_for_exec() {
  local pid="$1" deadline=$((SECONDS + 10))
  while [[ -z "$(running_pid)" ]] && kill -0 "${pid}" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.05
  done
}

# Polls until the broker responds to a metadata request, the JVM exits, or
# timeout_s passes.
wait_until_ready() {
  local deadline=$((SECONDS + timeout_s))
  while true; do
    if [[ -z "$(running_pid)" ]]; then
      print_log_tail
      die "broker '${name}' is not running (it exited or was never started)"
    fi
    if responds_to_metadata; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      print_log_tail
      die "broker '${name}' did not respond to a metadata request on 127.0.0.1:${port} within ${timeout_s} s"
    fi
    sleep 0.2
  done
}

# Prints a random KRaft cluster id: 16 random bytes in URL-safe base64
# without padding, as kafka-storage.sh random-uuid prints them. Ids that
# start with '-' are drawn again because the command line would read them
# as an option.
new_cluster_id() {
  local id
  while true; do
    id="$(openssl rand 16 | base64 | tr '+/' '-_' | tr -d '=')"
    [[ "${id}" != -* ]] && break
  done
  echo "${id}"
}

# --- commands -----------------------------------------------------------------

cmd_start() {
  local java pid cluster_id started=${SECONDS}

  [[ -d "${kafka_libs}" ]] && compgen -G "${kafka_libs}/kafka_2.13-*.jar" >/dev/null ||
    die "Kafka ${kafka_version} jars not found in ${kafka_libs}: run scripts/install.sh first"
  pid="$(running_pid)"
  [[ -z "${pid}" ]] || die "broker '${name}' is already running (pid ${pid}); run: $0 stop --name ${name}"
  port_in_use "${port}" && die "port ${port} on 127.0.0.1 is in use: choose another with --port"
  port_in_use "${controller_port}" &&
    die "controller port ${controller_port} on 127.0.0.1 is in use: choose another with --controller-port"
  if [[ "${secure}" == true ]]; then
    local secure_port
    for secure_port in $(ssl_port) $(mtls_port) $(sasl_plaintext_port) $(sasl_ssl_port) $(wrong_host_port); do
      port_in_use "${secure_port}" &&
        die "port ${secure_port} on 127.0.0.1 (a --secure listener) is in use: choose another --port"
    done
  fi
  java="$(find_java)"

  rm -rf "$(broker_dir)"
  mkdir -p "$(data_dir)" "$(logs_dir)"
  local -a scram_users=()
  if [[ "${secure}" == true ]]; then
    # Distinctive values, so that tests can search every output for them.
    local password key_password
    password="S3cr3t-canary-$(openssl rand -hex 12)"
    key_password="K3y-canary-$(openssl rand -hex 12)"
    "${REPO_ROOT}/scripts/gen-test-certs.sh" "$(certs_dir)" "${key_password}" ||
      die "generating certificates for broker '${name}' failed"
    write_config "${password}"
    write_secure_file "${password}" "${key_password}"
    scram_users=(
      --add-scram "SCRAM-SHA-256=[name=${SECURE_USER},password=${password}]"
      --add-scram "SCRAM-SHA-512=[name=${SECURE_USER},password=${password}]"
    )
    chmod 0600 "$(config_file)"
  else
    write_config
  fi

  cluster_id="$(new_cluster_id)"
  if ! "${java}" -Xmx256m -cp "${kafka_libs}/*" \
    -Dlog4j2.configurationFile="${LOG4J_CONFIG}" -Dkafka.logs.dir="$(logs_dir)/format" \
    kafka.tools.StorageTool format --standalone --cluster-id "${cluster_id}" \
    --config "$(config_file)" "${scram_users[@]}" >"$(logs_dir)/format.log" 2>&1; then
    cat "$(logs_dir)/format.log" >&2
    die "formatting the storage of broker '${name}' failed"
  fi

  # setsid detaches the broker from the caller's process group, so Ctrl+C in
  # the shell that ran this script does not reach it. It runs until stop.
  setsid "${java}" -Xms128m -Xmx"${heap}" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="${LOG4J_CONFIG}" -Dkafka.logs.dir="$(logs_dir)" \
    -cp "${kafka_libs}/*" kafka.Kafka "$(config_file)" \
    </dev/null >"$(logs_dir)/console.log" 2>&1 &
  echo $! >"$(pid_file)"
  wait_for_exec "$!"

  wait_until_ready
  log "broker '${name}' (Kafka ${kafka_version}) ready on 127.0.0.1:${port} (pid $(cat "$(pid_file)"), $((SECONDS - started)) s, log $(logs_dir)/server.log)"
}

cmd_stop() {
  local pid deadline
  pid="$(running_pid)"
  if [[ -n "${pid}" ]]; then
    kill -TERM "${pid}" 2>/dev/null || true
    deadline=$((SECONDS + 30))
    while kill -0 "${pid}" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.2
    done
    if kill -0 "${pid}" 2>/dev/null; then
      log "broker '${name}' (pid ${pid}) did not stop within 30 s; sending SIGKILL"
      kill -KILL "${pid}" 2>/dev/null || true
    fi
    log "broker '${name}' stopped (pid ${pid})"
  else
    log "broker '${name}' is not running"
  fi
  rm -rf "$(data_dir)" "$(pid_file)"
}

cmd_status() {
  local pid
  pid="$(running_pid)"
  if [[ -n "${pid}" ]]; then
    echo "broker '${name}' is running (pid ${pid}), config $(config_file)"
    return 0
  fi
  echo "broker '${name}' is not running"
  return 3
}

cmd_wait() {
  wait_until_ready
  log "broker '${name}' ready on 127.0.0.1:${port}"
}

# --- command line -------------------------------------------------------------

main() {
  local command="${1:-}"
  case "${command}" in
  -h | --help | help)
    usage
    return 0
    ;;
  start | stop | status | wait) shift ;;
  "") usage >&2 && die "missing command: expected start, stop, status or wait" ;;
  *) die "unknown command '${command}': expected start, stop, status or wait (see --help)" ;;
  esac

  while (($# > 0)); do
    case "$1" in
    --name) name="${2:?--name needs a value}" && shift 2 ;;
    --port) port="${2:?--port needs a value}" && shift 2 ;;
    --controller-port) controller_port="${2:?--controller-port needs a value}" && shift 2 ;;
    --timeout) timeout_s="${2:?--timeout needs a value}" && shift 2 ;;
    --heap) heap="${2:?--heap needs a value}" && shift 2 ;;
    --secure) secure=true && shift ;;
    --kafka-version) kafka_version="${2:?--kafka-version needs a value}" && shift 2 ;;
    -h | --help) usage && return 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
  done

  [[ "${name}" =~ ^[A-Za-z0-9_.-]+$ ]] || die "invalid --name '${name}': use letters, digits, '.', '_' or '-'"
  [[ "${port}" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65535)) ||
    die "invalid --port '${port}': expected a number from 1 to 65534"
  if [[ "${secure}" == true ]]; then
    [[ -z "${controller_port}" ]] || die "--controller-port cannot be combined with --secure, which uses PORT + 1"
    ((port < 65529)) || die "invalid --port '${port}' with --secure: PORT + 6 must be a valid port"
  fi
  controller_port="${controller_port:-$((port + 1))}"
  [[ "${controller_port}" =~ ^[0-9]+$ ]] && ((controller_port > 0 && controller_port < 65536)) ||
    die "invalid --controller-port '${controller_port}': expected a number from 1 to 65535"
  ((controller_port != port)) || die "--controller-port must differ from --port (both ${port})"
  [[ "${timeout_s}" =~ ^[0-9]+$ ]] || die "invalid --timeout '${timeout_s}': expected whole seconds"
  [[ "${heap}" =~ ^[0-9]+[kKmMgG]?$ ]] || die "invalid --heap '${heap}': expected a size such as 512m or 1g"

  case "${kafka_version}" in
  4.1) kafka_libs="${REPO_ROOT}/.cache/kafka/libs" ;;
  3.9) kafka_libs="${REPO_ROOT}/.cache/kafka-3.9/libs" ;;
  *) die "invalid --kafka-version '${kafka_version}': expected 4.1 or 3.9" ;;
  esac

  "cmd_${command}"
}

main "$@"
