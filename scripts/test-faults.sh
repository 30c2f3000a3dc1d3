#!/usr/bin/env bash
# Runs the fault matrix (tests/faults/matrix.py) at full size: thousands of
# messages per scenario against a real broker, with jobs and sidecars killed,
# stopped and restarted, and prints the table of produced, processed, lost
# and duplicate messages per scenario. Expects scripts/install.sh to have
# run and build/sidecar/kafka-sidecar to be built, as `make test-faults` does.
#
# Starts its own broker (name faults-PID, first free port pair from 39600)
# and stops it on exit. Arguments go to matrix.py, e.g. `--only 1,2` or
# `--size reduced`. SIDECAR_EXECUTABLE selects another sidecar build.
set -euo pipefail

readonly REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly BROKER_SCRIPT="${REPO_ROOT}/scripts/kafka-broker.sh"
readonly BROKER_NAME="faults-$$"

broker_started=false

log() {
  echo "test-faults: $*" >&2
}

stop_broker() {
  if [[ "${broker_started}" == true ]]; then
    "${BROKER_SCRIPT}" stop --name "${BROKER_NAME}" || log "stopping broker ${BROKER_NAME} failed"
  fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_broker() {
  local port
  for ((port = 39600; port < 39700; port += 2)); do
    if ! port_in_use "${port}" && ! port_in_use "$((port + 1))"; then
      broker_started=true
      "${BROKER_SCRIPT}" start --name "${BROKER_NAME}" --port "${port}"
      export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:${port}"
      return 0
    fi
  done
  log "no free port pair in 39600-39699 on 127.0.0.1 for the fault broker"
  return 1
}

main() {
  cd "${REPO_ROOT}"
  local sidecar="${SIDECAR_EXECUTABLE:-${REPO_ROOT}/build/sidecar/kafka-sidecar}"
  if [[ ! -x "${sidecar}" ]]; then
    log "${sidecar} not found: build it with \`make build\` or set SIDECAR_EXECUTABLE"
    return 1
  fi
  trap stop_broker EXIT
  start_broker
  "${REPO_ROOT}/.venv/bin/python" "${REPO_ROOT}/tests/faults/matrix.py" "$@"
}

main "$@"
