#!/usr/bin/env bash
# Builds the project and runs every test suite: the C++ unit tests (ctest),
# the C++ tests against the real broker (build/tests/broker_tests) and the
# Python tests (pytest tests/). Expects scripts/install.sh to have run, as
# `make test` does.
#
# Uses the broker at KAFKA_BOOTSTRAP_SERVERS when it is set. Otherwise it
# starts one broker for the whole run and stops it on exit. A failing suite
# does not stop the later ones; the exit code is non-zero if any failed.
set -euo pipefail

readonly REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly BUILD_DIR="${REPO_ROOT}/build"
readonly BROKER_SCRIPT="${REPO_ROOT}/scripts/kafka-broker.sh"
readonly BROKER_NAME="run-tests-$$"

broker_started=false
failed_suites=()

log() {
  echo "run-tests: $*" >&2
}

stop_broker() {
  if [[ "${broker_started}" == true ]]; then
    "${BROKER_SCRIPT}" stop --name "${BROKER_NAME}" || log "stopping broker ${BROKER_NAME} failed"
  fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts this run's broker on the first port pair from 39100 up where both
# the client and the controller port are free, so that runs of this script
# and a broker from `make broker-start` (port 39092) can run side by side.
start_broker() {
  local port
  for ((port = 39100; port < 39200; port += 2)); do
    if ! port_in_use "${port}" && ! port_in_use "$((port + 1))"; then
      broker_started=true
      "${BROKER_SCRIPT}" start --name "${BROKER_NAME}" --port "${port}"
      export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:${port}"
      return 0
    fi
  done
  log "no free port pair in 39100-39199 on 127.0.0.1 for the test broker"
  return 1
}

# Runs one suite and records its name if it fails.
run_suite() {
  local name="$1"
  shift
  log "running ${name}: $*"
  if ! "$@"; then
    failed_suites+=("${name}")
    log "${name} failed"
  fi
}

# Creates the topic that the producer's unit tests write to, and exports its
# name as SIDECAR_PRODUCER_TEST_TOPIC.
create_producer_test_topic() {
  export SIDECAR_PRODUCER_TEST_TOPIC="sidecar-producer-unit-test-$$"
  (cd "${REPO_ROOT}/tests" && "${REPO_ROOT}/.venv/bin/python" -c '
import os
from support.broker import KafkaTestClient
client = KafkaTestClient(os.environ["KAFKA_BOOTSTRAP_SERVERS"])
client.create_topic(os.environ["SIDECAR_PRODUCER_TEST_TOPIC"], 1)
client.close()
')
}

main() {
  cd "${REPO_ROOT}"

  cmake -S . -B "${BUILD_DIR}" -G Ninja
  cmake --build "${BUILD_DIR}" -j2

  # The broker starts first: a few unit tests also check the producer and
  # the connection test against it, and skip without KAFKA_BOOTSTRAP_SERVERS.
  trap stop_broker EXIT
  if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
    log "using the broker at KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS}"
  else
    start_broker
  fi
  create_producer_test_topic

  if [[ -x "${BUILD_DIR}/tests/sidecar_unit_tests" ]]; then
    run_suite "C++ unit tests" ctest --test-dir "${BUILD_DIR}" --output-on-failure --no-tests=error -j2
  else
    log "no C++ unit tests are built (tests/sidecar/**/*_test.cc is empty)"
  fi

  if [[ -x "${BUILD_DIR}/tests/broker_tests" ]]; then
    run_suite "C++ broker tests" "${BUILD_DIR}/tests/broker_tests"
  fi
  run_suite "Python tests" "${REPO_ROOT}/.venv/bin/python" -m pytest "${REPO_ROOT}/tests"

  if ((${#failed_suites[@]} > 0)); then
    log "FAILED: ${failed_suites[*]}"
    return 1
  fi
  log "all test suites passed"
}

main "$@"
