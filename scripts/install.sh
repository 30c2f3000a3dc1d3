#!/usr/bin/env bash
# Installs what building, testing and the demo need: Debian packages, the
# Python virtualenv .venv with the development requirements and the Python
# client, and the jars of the Kafka test brokers: Kafka 4.1.1 in
# .cache/kafka/libs and Kafka 3.9.1 in .cache/kafka-3.9/libs.
#
# Safe to run again: each step checks first (dpkg status, hash stamps of the
# requirement files) and does nothing when its result is already present.
set -euo pipefail

readonly REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly VENV="${REPO_ROOT}/.venv"
readonly KAFKA_LIBS="${REPO_ROOT}/.cache/kafka/libs"
readonly BROKER_POM="${REPO_ROOT}/scripts/broker/pom.xml"
# Kafka 3.9.1, the compatibility broker of the SCRAM tests (docs/test-broker.md).
readonly KAFKA_39_LIBS="${REPO_ROOT}/.cache/kafka-3.9/libs"
readonly BROKER_POM_39="${REPO_ROOT}/scripts/broker/pom-3.9.xml"
readonly PYTHON_CLIENT="${REPO_ROOT}/clients/python"

# Build tools and C++ libraries (Debian 12 versions: librdkafka 2.0.2,
# gRPC 1.51, protobuf 3.21), Java 17 and Maven for the test broker, and
# openssl, which draws the broker's cluster id.
readonly APT_PACKAGES=(
  g++ make pkg-config cmake ninja-build
  librdkafka-dev libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev googletest libgtest-dev libgmock-dev
  openjdk-17-jre-headless maven openssl
  python3 python3-venv
)

log() {
  echo "install: $*" >&2
}

die() {
  echo "install: $*" >&2
  exit 1
}

# Prints the SHA-256 of the given files that exist, one line for all.
hash_files() {
  local file
  for file in "$@"; do
    [[ -f "${file}" ]] && cat "${file}"
  done | sha256sum | cut -d' ' -f1
}

stamp_matches() {
  local stamp_file="$1" expected="$2"
  [[ -f "${stamp_file}" && "$(cat "${stamp_file}")" == "${expected}" ]]
}

install_apt_packages() {
  local missing=() package sudo=()
  for package in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("${package}")
    fi
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi

  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "not root and sudo not found: install as root: apt-get install ${missing[*]}"
    sudo=(sudo)
  fi
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  # env passes the variable through sudo, which resets the environment.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_python_requirements() {
  local requirements="${REPO_ROOT}/requirements-dev.txt"
  local stamp="${VENV}/.requirements-dev.sha256"
  local expected

  if [[ ! -x "${VENV}/bin/python" ]] || ! "${VENV}/bin/python" -c 'import sys' 2>/dev/null; then
    log "creating virtualenv ${VENV}"
    rm -rf "${VENV}"
    python3 -m venv "${VENV}"
  fi

  expected="$(hash_files "${requirements}")"
  if ! stamp_matches "${stamp}" "${expected}"; then
    log "installing ${requirements}"
    "${VENV}/bin/python" -m pip install -q --disable-pip-version-check -r "${requirements}"
    echo "${expected}" >"${stamp}"
  fi
}

# Installs clients/python in editable mode. The stamp covers its packaging
# files and the protocol, from which its build step generates the gRPC
# stubs. An editable install picks up changes to its sources by itself.
install_python_client() {
  local stamp="${VENV}/.clients-python.sha256"
  local expected

  if [[ ! -f "${PYTHON_CLIENT}/pyproject.toml" ]]; then
    log "skipping the Python client: ${PYTHON_CLIENT}/pyproject.toml not found"
    return 0
  fi
  expected="$(hash_files "${PYTHON_CLIENT}/pyproject.toml" "${PYTHON_CLIENT}/setup.py" \
    "${PYTHON_CLIENT}/setup.cfg" "${REPO_ROOT}/proto/kafkasidecar/v1/sidecar.proto")"
  if ! stamp_matches "${stamp}" "${expected}"; then
    log "installing ${PYTHON_CLIENT} (editable)"
    "${VENV}/bin/python" -m pip install -q --disable-pip-version-check -e "${PYTHON_CLIENT}"
    echo "${expected}" >"${stamp}"
  fi
}

# install_kafka_jars POM LIBS: copies the runtime jars that POM resolves
# into LIBS. Maven runs again only when POM changes, because LIBS/.pom.sha256
# stores its hash. Maven's output goes to maven.log next to LIBS.
install_kafka_jars() {
  local pom="$1" libs="$2"
  local stamp="${libs}/.pom.sha256"
  local expected
  expected="$(hash_files "${pom}")"
  if stamp_matches "${stamp}" "${expected}" && compgen -G "${libs}/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi

  log "copying the Kafka broker jars of ${pom} into ${libs}"
  rm -rf "${libs}"
  mkdir -p "${libs}"
  local maven_log
  maven_log="$(dirname "${libs}")/maven.log"
  if ! mvn -B -f "${pom}" dependency:copy-dependencies \
    -DoutputDirectory="${libs}" -DincludeScope=runtime >"${maven_log}" 2>&1; then
    tail -n 40 "${maven_log}" >&2
    die "resolving the Kafka jars of ${pom} with Maven failed; full output in ${maven_log}"
  fi
  echo "${expected}" >"${stamp}"
}

main() {
  local started=${SECONDS}
  install_apt_packages
  install_python_requirements
  install_python_client
  install_kafka_jars "${BROKER_POM}" "${KAFKA_LIBS}"
  install_kafka_jars "${BROKER_POM_39}" "${KAFKA_39_LIBS}"
  log "done in $((SECONDS - started)) s"
}

main "$@"
