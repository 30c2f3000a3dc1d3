#!/usr/bin/env bash
# Measures consume and produce throughput of the sidecar against direct
# librdkafka clients, on this machine, over loopback only:
#
#   1. a fresh single-node broker 'bench' on 127.0.0.1:39800 (scripts/kafka-broker.sh);
#   2. the sidecar (build/sidecar/kafka-sidecar) on a Unix socket under var/bench/;
#   3. the C++ benchmark programs of bench/, compiled with g++ into build/bench/
#      (skipped, with a message, when they do not compile);
#   4. bench/bench.py, which produces the input, runs every consumer and
#      producer configuration once, checks that each consumer group committed
#      the end offsets, prints the table and writes docs/benchmarks.md.
#
# Each run is bounded by BENCH_RUN_TIMEOUT_S; the script stops the sidecar and
# the broker on exit. It reports numbers and applies no timing thresholds:
# the exit code is 0 when every run finished and passed its checks.
#
# Environment (defaults in brackets):
#   BENCH_MESSAGES          messages consumed per run [200000]
#   BENCH_MESSAGE_BYTES     value size of each message in bytes [200]
#   BENCH_PRODUCE_MESSAGES  records per produce run [50000]
#   BENCH_RUN_TIMEOUT_S     bound of one run in seconds [120]
#   BENCH_BROKER_PORT       broker port; the KRaft controller uses the next one [39800]
#   BENCH_DOC               where the results go; empty skips it [docs/benchmarks.md]
set -euo pipefail

readonly REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly BENCH_DIR="${REPO_ROOT}/var/bench"
readonly BIN_DIR="${REPO_ROOT}/build/bench"
readonly BROKER_NAME="bench"
readonly BROKER_PORT="${BENCH_BROKER_PORT:-39800}"
readonly BOOTSTRAP="127.0.0.1:${BROKER_PORT}"
readonly SOCKET="${BENCH_DIR}/sidecar.sock"
readonly SIDECAR_ADDRESS="unix://${SOCKET}"
readonly SIDECAR_BIN="${REPO_ROOT}/build/sidecar/kafka-sidecar"
readonly PYTHON="${REPO_ROOT}/.venv/bin/python"
readonly SIDECAR_START_TIMEOUT=30
# After SIGTERM the sidecar drains, and it gets this long before SIGKILL.
readonly SIDECAR_STOP_TIMEOUT=40

SIDECAR_PID=""
BROKER_STARTED=0

log() {
  echo "bench: $*" >&2
}

die() {
  echo "bench: $*" >&2
  exit 1
}

# Waits until the process has exited or the timeout has passed; returns 0 if
# it has exited.
wait_exited() {
  local pid="$1" timeout_s="$2"
  local deadline=$((SECONDS + timeout_s))
  while kill -0 "${pid}" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
  return 0
}

# Stops the sidecar this script started (SIGTERM, then SIGKILL), then the
# broker through its own script.
cleanup() {
  if [[ -n "${SIDECAR_PID}" ]] && kill -0 "${SIDECAR_PID}" 2>/dev/null; then
    kill -TERM "${SIDECAR_PID}" 2>/dev/null || true
    if ! wait_exited "${SIDECAR_PID}" "${SIDECAR_STOP_TIMEOUT}"; then
      log "the sidecar (pid ${SIDECAR_PID}) did not exit within ${SIDECAR_STOP_TIMEOUT} s; sending SIGKILL"
      kill -KILL "${SIDECAR_PID}" 2>/dev/null || true
    fi
  fi
  if ((BROKER_STARTED)); then
    log "stopping the broker"
    bash "${REPO_ROOT}/scripts/kafka-broker.sh" stop --name "${BROKER_NAME}" >&2 || true
  fi
}
trap cleanup EXIT

# Compiles one program of bench/ into build/bench/ unless the binary is newer
# than its source and the libraries it links. Returns 1 when it fails.
compile_program() {
  local name="$1"
  shift
  local source="${REPO_ROOT}/bench/${name}.cc"
  local binary="${BIN_DIR}/${name}"
  local inputs=("${source}" "$@")
  local input stale=0
  [[ -x "${binary}" ]] || stale=1
  for input in "${inputs[@]}"; do
    [[ "${input}" -nt "${binary}" ]] && stale=1
  done
  ((stale)) || return 0

  log "compiling bench/${name}.cc into build/bench/"
  local flags
  if [[ "$#" -eq 0 ]]; then
    flags=$(pkg-config --cflags --libs rdkafka) || return 1
    g++ -std=c++17 -O2 -Wall -Wextra -o "${binary}" "${source}" ${flags} \
      >"${BENCH_DIR}/compile-${name}.log" 2>&1 || return 1
  else
    # The C++ client library and the generated protocol code from build/,
    # as the CMake build made them.
    flags=$(pkg-config --cflags --libs grpc++ protobuf absl_status absl_statusor absl_strings) ||
      return 1
    g++ -std=c++17 -O2 -Wall -Wextra -o "${binary}" "${source}" \
      -I"${REPO_ROOT}/clients/cpp/include" -I"${REPO_ROOT}/build/proto/gen" \
      "$@" ${flags} -lpthread >"${BENCH_DIR}/compile-${name}.log" 2>&1 || return 1
  fi
}

# Sets CPP_ARGS to the --rdkafka-consume and --client-consume options of the
# programs that compiled.
CPP_ARGS=()
build_programs() {
  mkdir -p "${BIN_DIR}"
  if ! command -v g++ >/dev/null || ! command -v pkg-config >/dev/null; then
    log "g++ or pkg-config not found: skipping the C++ runs"
    return
  fi
  if compile_program rdkafka_consume; then
    CPP_ARGS+=(--rdkafka-consume "${BIN_DIR}/rdkafka_consume")
  else
    log "bench/rdkafka_consume.cc did not compile (${BENCH_DIR}/compile-rdkafka_consume.log): skipping its run"
  fi
  local client_lib="${REPO_ROOT}/build/clients/cpp/libkafka_sidecar_client_cpp.a"
  local proto_lib="${REPO_ROOT}/build/proto/libsidecar_proto.a"
  if [[ ! -f "${client_lib}" || ! -f "${proto_lib}" ]]; then
    log "${client_lib} or ${proto_lib} not found (run 'make build'): skipping the C++ client run"
  elif compile_program client_consume "${client_lib}" "${proto_lib}"; then
    CPP_ARGS+=(--client-consume "${BIN_DIR}/client_consume")
  else
    log "bench/client_consume.cc did not compile (${BENCH_DIR}/compile-client_consume.log): skipping its run"
  fi
}

start_sidecar() {
  log "starting the sidecar on ${SIDECAR_ADDRESS}"
  "${SIDECAR_BIN}" \
    --listen-unix "${SOCKET}" \
    --bootstrap-servers "${BOOTSTRAP}" \
    --log-level info \
    >"${BENCH_DIR}/sidecar.log" 2>&1 &
  SIDECAR_PID=$!

  # The sidecar logs "serving" once it accepts calls.
  local deadline=$((SECONDS + SIDECAR_START_TIMEOUT))
  until [[ -S "${SOCKET}" ]] && grep -q "serving" "${BENCH_DIR}/sidecar.log"; do
    if ! kill -0 "${SIDECAR_PID}" 2>/dev/null; then
      tail -n 20 "${BENCH_DIR}/sidecar.log" >&2 || true
      SIDECAR_PID=""
      die "the sidecar exited before serving; log: ${BENCH_DIR}/sidecar.log"
    fi
    ((SECONDS < deadline)) || die "the sidecar did not serve within ${SIDECAR_START_TIMEOUT} s; log: ${BENCH_DIR}/sidecar.log"
    sleep 0.1
  done
  log "the sidecar serves (pid ${SIDECAR_PID})"
}

main() {
  [[ -x "${SIDECAR_BIN}" ]] || die "${SIDECAR_BIN} not found; run 'make build' first"
  [[ -x "${PYTHON}" ]] || die "${PYTHON} not found; run scripts/install.sh first"

  rm -rf "${BENCH_DIR}"
  mkdir -p "${BENCH_DIR}"
  build_programs

  if bash "${REPO_ROOT}/scripts/kafka-broker.sh" status --name "${BROKER_NAME}" >/dev/null 2>&1; then
    die "a broker named '${BROKER_NAME}' already runs (another benchmark?); stop it with: scripts/kafka-broker.sh stop --name ${BROKER_NAME}"
  fi
  log "starting a fresh broker '${BROKER_NAME}' on ${BOOTSTRAP}"
  # From here on the broker may run, even if start fails while waiting.
  BROKER_STARTED=1
  bash "${REPO_ROOT}/scripts/kafka-broker.sh" start --name "${BROKER_NAME}" --port "${BROKER_PORT}" >&2 ||
    die "the broker did not start; if port ${BROKER_PORT} or $((BROKER_PORT + 1)) is in use, set BENCH_BROKER_PORT to a free port"

  start_sidecar

  local doc_args=()
  if [[ -n "${BENCH_DOC-docs/benchmarks.md}" ]]; then
    doc_args=(--doc "${REPO_ROOT}/${BENCH_DOC:-docs/benchmarks.md}")
  fi
  PYTHONPATH="${REPO_ROOT}/clients/python/src${PYTHONPATH:+:${PYTHONPATH}}" \
    "${PYTHON}" "${REPO_ROOT}/bench/bench.py" \
    --bootstrap-servers "${BOOTSTRAP}" \
    --sidecar-address "${SIDECAR_ADDRESS}" \
    --messages "${BENCH_MESSAGES:-200000}" \
    --message-bytes "${BENCH_MESSAGE_BYTES:-200}" \
    --produce-messages "${BENCH_PRODUCE_MESSAGES:-50000}" \
    --run-timeout "${BENCH_RUN_TIMEOUT_S:-120}" \
    --results "${BENCH_DIR}/results.json" \
    "${CPP_ARGS[@]}" "${doc_args[@]}"
}

main "$@"
