#!/usr/bin/env bash
# Runs the orders demo end to end on this machine:
#
#   1. a fresh single-node Kafka broker on 127.0.0.1:39192 (scripts/kafka-broker.sh);
#   2. the sidecar on a Unix socket under var/demo/;
#   3. topics orders-raw, account-events-processed and customer-events-processed,
#      3 partitions each;
#   4. a few thousand generated order events, some malformed, produced to
#      orders-raw through the sidecar;
#   5. the orders job (examples/orders_job), in the background, until its
#      group's committed offsets reach the end of orders-raw;
#   6. SIGTERM to the job and the sidecar at the same moment, as the kubelet
#      sends it to both containers of a pod, and a bounded wait for both;
#   7. a summary that checks the results against what was produced.
#
# Expects `make build` (or scripts/install.sh plus a CMake build) to have run.
# Exit code 0 when every check of the summary passed.
#
# Environment: DEMO_BROKER_PORT (default 39192; the KRaft controller uses the
# next port), DEMO_EVENT_COUNT (default 3000).
set -euo pipefail

readonly REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly DEMO_DIR="${REPO_ROOT}/var/demo"
readonly BROKER_NAME="demo"
readonly BROKER_PORT="${DEMO_BROKER_PORT:-39192}"
readonly BOOTSTRAP="127.0.0.1:${BROKER_PORT}"
readonly SOCKET="${DEMO_DIR}/sidecar.sock"
readonly SIDECAR_ADDRESS="unix://${SOCKET}"
readonly SIDECAR_BIN="${REPO_ROOT}/build/sidecar/kafka-sidecar"
readonly PYTHON="${REPO_ROOT}/.venv/bin/python"
readonly INPUT_TOPIC="orders-raw"
readonly ACCOUNT_TOPIC="account-events-processed"
readonly CUSTOMER_TOPIC="customer-events-processed"
readonly GROUP_ID="orders-job"
readonly EVENT_COUNT="${DEMO_EVENT_COUNT:-3000}"
# Bounds of the waits, in seconds.
readonly SIDECAR_START_TIMEOUT=30
readonly CATCH_UP_TIMEOUT=300
# The pod's terminationGracePeriodSeconds: after it the kubelet sends SIGKILL.
readonly GRACE_PERIOD=60

SIDECAR_PID=""
JOB_PID=""
BROKER_STARTED=0

log() {
  echo "demo: $*" >&2
}

die() {
  echo "demo: $*" >&2
  exit 1
}

# Stops what this script started and is still running, by PID, then the
# broker through its own script.
cleanup() {
  local pid
  for pid in "${JOB_PID}" "${SIDECAR_PID}"; do
    if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null; then
      kill -KILL "${pid}" 2>/dev/null || true
    fi
  done
  if ((BROKER_STARTED)); then
    log "stopping the broker"
    bash "${REPO_ROOT}/scripts/kafka-broker.sh" stop --name "${BROKER_NAME}" >&2 || true
  fi
}
trap cleanup EXIT

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

# Sets EXIT_CODE to the exit code of a child that has exited. Not usable in
# a command substitution, whose subshell cannot wait for this shell's children.
EXIT_CODE=""
collect_exit_code() {
  local pid="$1"
  EXIT_CODE=0
  wait "${pid}" || EXIT_CODE=$?
}

start_sidecar() {
  log "starting the sidecar on ${SIDECAR_ADDRESS}"
  "${SIDECAR_BIN}" \
    --listen-unix "${SOCKET}" \
    --bootstrap-servers "${BOOTSTRAP}" \
    --log-level info \
    >"${DEMO_DIR}/sidecar.log" 2>&1 &
  SIDECAR_PID=$!

  # The sidecar logs "serving" once it accepts calls.
  local deadline=$((SECONDS + SIDECAR_START_TIMEOUT))
  until [[ -S "${SOCKET}" ]] && grep -q "serving" "${DEMO_DIR}/sidecar.log"; do
    if ! kill -0 "${SIDECAR_PID}" 2>/dev/null; then
      tail -n 20 "${DEMO_DIR}/sidecar.log" >&2 || true
      collect_exit_code "${SIDECAR_PID}"
      SIDECAR_PID=""
      die "the sidecar exited with code ${EXIT_CODE} before serving; log: ${DEMO_DIR}/sidecar.log"
    fi
    ((SECONDS < deadline)) || die "the sidecar did not serve within ${SIDECAR_START_TIMEOUT} s; log: ${DEMO_DIR}/sidecar.log"
    sleep 0.1
  done
  log "the sidecar serves (pid ${SIDECAR_PID})"
}

start_job() {
  log "starting the orders job"
  # Context variables are overridden through the environment, as in a pod:
  # ${kafka.bootstrap_servers} reads KAFKA__BOOTSTRAP_SERVERS.
  KAFKA__BOOTSTRAP_SERVERS="${BOOTSTRAP}" \
    KAFKA__SIDECAR_ADDRESS="${SIDECAR_ADDRESS}" \
    ORDERS__DUCKDB_PATH="${DEMO_DIR}/orders.duckdb" \
    "${PYTHON}" "${REPO_ROOT}/examples/orders_job/orders_job.py" \
    --context "${REPO_ROOT}/examples/orders_job/context.json" \
    --result-file "${DEMO_DIR}/orders_job_result.json" \
    2>"${DEMO_DIR}/orders_job.log" &
  JOB_PID=$!
  log "the orders job runs (pid ${JOB_PID})"
}

main() {
  [[ -x "${SIDECAR_BIN}" ]] || die "${SIDECAR_BIN} not found; run 'make build' first"
  [[ -x "${PYTHON}" ]] || die "${PYTHON} not found; run scripts/install.sh first"

  rm -rf "${DEMO_DIR}"
  mkdir -p "${DEMO_DIR}"

  if bash "${REPO_ROOT}/scripts/kafka-broker.sh" status --name "${BROKER_NAME}" >/dev/null 2>&1; then
    die "a broker named '${BROKER_NAME}' already runs (another demo?); stop it with: scripts/kafka-broker.sh stop --name ${BROKER_NAME}"
  fi
  log "starting a fresh broker '${BROKER_NAME}' on ${BOOTSTRAP}"
  # From here on the broker may run, even if start fails while waiting.
  BROKER_STARTED=1
  bash "${REPO_ROOT}/scripts/kafka-broker.sh" start --name "${BROKER_NAME}" --port "${BROKER_PORT}" >&2 ||
    die "the broker did not start; if port ${BROKER_PORT} or $((BROKER_PORT + 1)) is in use, run with DEMO_BROKER_PORT set to a free port"

  start_sidecar

  "${PYTHON}" "${REPO_ROOT}/scripts/demo_kafka.py" --bootstrap-servers "${BOOTSTRAP}" \
    create-topics "${INPUT_TOPIC}:3" "${ACCOUNT_TOPIC}:3" "${CUSTOMER_TOPIC}:3"

  log "producing ${EVENT_COUNT} order events through the sidecar"
  "${PYTHON}" "${REPO_ROOT}/examples/orders_job/generate_orders.py" \
    --count "${EVENT_COUNT}" \
    --topic "${INPUT_TOPIC}" \
    --sidecar-address "${SIDECAR_ADDRESS}" \
    --manifest "${DEMO_DIR}/manifest.json"

  start_job

  log "waiting until group ${GROUP_ID} has committed the end of ${INPUT_TOPIC}"
  local caught_up=1
  "${PYTHON}" "${REPO_ROOT}/scripts/demo_kafka.py" --bootstrap-servers "${BOOTSTRAP}" \
    wait-caught-up --group "${GROUP_ID}" --topic "${INPUT_TOPIC}" \
    --timeout "${CATCH_UP_TIMEOUT}" --watch-pid "${JOB_PID}" --watch-pid "${SIDECAR_PID}" ||
    caught_up=0
  ((caught_up)) || log "continuing to the shutdown and the summary, which shows what is missing"

  log "sending SIGTERM to the job and the sidecar at the same moment"
  kill -TERM "${JOB_PID}" "${SIDECAR_PID}" 2>/dev/null || true

  local pid name
  for pid in "${JOB_PID}" "${SIDECAR_PID}"; do
    if ! wait_exited "${pid}" "${GRACE_PERIOD}"; then
      name=$([[ "${pid}" == "${JOB_PID}" ]] && echo "job" || echo "sidecar")
      log "the ${name} (pid ${pid}) did not exit within ${GRACE_PERIOD} s; sending SIGKILL"
      kill -KILL "${pid}" 2>/dev/null || true
    fi
  done
  local job_exit sidecar_exit
  collect_exit_code "${JOB_PID}"
  job_exit="${EXIT_CODE}"
  collect_exit_code "${SIDECAR_PID}"
  sidecar_exit="${EXIT_CODE}"
  JOB_PID=""
  SIDECAR_PID=""
  log "job exit code ${job_exit}, sidecar exit code ${sidecar_exit}"
  log "logs: ${DEMO_DIR}/orders_job.log, ${DEMO_DIR}/sidecar.log"

  local summary_exit=0
  "${PYTHON}" "${REPO_ROOT}/scripts/demo_summary.py" \
    --bootstrap-servers "${BOOTSTRAP}" \
    --group "${GROUP_ID}" \
    --input-topic "${INPUT_TOPIC}" \
    --route "ACCOUNT_ADD=${ACCOUNT_TOPIC}" \
    --route "CUSTOMER_ADD=${CUSTOMER_TOPIC}" \
    --manifest "${DEMO_DIR}/manifest.json" \
    --duckdb "${DEMO_DIR}/orders.duckdb" \
    --job-result "${DEMO_DIR}/orders_job_result.json" \
    --job-exit "${job_exit}" \
    --sidecar-exit "${sidecar_exit}" || summary_exit=$?
  return "${summary_exit}"
}

main "$@"
