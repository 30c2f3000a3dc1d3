#!/usr/bin/env bash
# Generates throwaway TLS material for the secure test broker and the
# security tests: a CA, a broker certificate, a client certificate (with a
# plain and an encrypted key) and a second CA that signed nothing the broker
# uses. Every certificate names DNS:localhost and IP:127.0.0.1, because
# librdkafka 2.x checks the broker's host name by default. Keys are PKCS#8,
# the only PEM key format Kafka's PEM key stores read.
#
# The output is for tests on 127.0.0.1 only and is never committed.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/gen-test-certs.sh OUTPUT_DIR [KEY_PASSWORD]

Writes into OUTPUT_DIR (created with mode 0700):
  ca.pem                  CA certificate that signed the broker and client
  broker.pem              broker key (PKCS#8) followed by its certificate,
                          for ssl.keystore.type=PEM
  client.crt, client.key  client certificate and unencrypted PKCS#8 key
  client-encrypted.key    the same key, encrypted with KEY_PASSWORD
  other-ca.pem            a CA that signed none of the above, for tests of
                          untrusted brokers
  wrong-host.pem          key and certificate signed by the CA for the name
                          wrong-host.invalid only, for host name checks
  key-password            KEY_PASSWORD (mode 0600)

KEY_PASSWORD defaults to a random value.
EOF
}

die() {
  echo "gen-test-certs: $*" >&2
  exit 1
}

main() {
  case "${1:-}" in
  -h | --help) usage && return 0 ;;
  "") usage >&2 && die "missing OUTPUT_DIR" ;;
  esac
  local out="$1"
  local key_password="${2:-$(openssl rand -hex 16)}"
  command -v openssl >/dev/null || die "openssl not found: install the openssl package"

  mkdir -p "${out}"
  chmod 0700 "${out}"
  local work
  work="$(mktemp -d "${out}/.work.XXXXXX")"

  # Subject alternative names for every certificate: the tests reach the
  # broker as 127.0.0.1, and localhost is accepted too.
  write_extensions "DNS:localhost,IP:127.0.0.1" >"${work}/san.ext"
  write_extensions "DNS:wrong-host.invalid" >"${work}/wrong-host-san.ext"

  make_ca "${work}" ca "kafka-sidecar test CA"
  make_ca "${work}" other-ca "kafka-sidecar untrusted test CA"
  make_leaf "${work}" broker "localhost"
  make_leaf "${work}" client "kafka-sidecar test client"
  make_leaf "${work}" wrong-host "wrong-host.invalid" "${work}/wrong-host-san.ext"

  openssl pkcs8 -topk8 -v2 aes-256-cbc -in "${work}/client.key" -out "${work}/client-encrypted.key" \
    -passout "file:"<(printf '%s' "${key_password}") 2>/dev/null ||
    die "encrypting the client key failed"

  cp "${work}/ca.crt" "${out}/ca.pem"
  cp "${work}/other-ca.crt" "${out}/other-ca.pem"
  cat "${work}/broker.key" "${work}/broker.crt" >"${out}/broker.pem"
  cat "${work}/wrong-host.key" "${work}/wrong-host.crt" >"${out}/wrong-host.pem"
  cp "${work}/client.crt" "${out}/client.crt"
  cp "${work}/client.key" "${out}/client.key"
  cp "${work}/client-encrypted.key" "${out}/client-encrypted.key"
  (umask 077 && printf '%s' "${key_password}" >"${out}/key-password")
  chmod 0600 "${out}/broker.pem" "${out}/wrong-host.pem" "${out}/client.key" "${out}/client-encrypted.key"
  rm -rf "${work}"
}

# make_ca WORK NAME SUBJECT: self-signed CA certificate and key.
make_ca() {
  local work="$1" name="$2" subject="$3"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=${subject}" \
    -keyout "${work}/${name}.key" -out "${work}/${name}.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    >/dev/null 2>&1 || die "creating the ${name} certificate failed"
}

# write_extensions SUBJECT_ALT_NAMES: X.509 extensions of a leaf certificate.
write_extensions() {
  cat <<EOF
subjectAltName=$1
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
EOF
}

# make_leaf WORK NAME COMMON_NAME [EXTENSIONS_FILE]: key (PKCS#8,
# unencrypted) and a certificate signed by the test CA.
make_leaf() {
  local work="$1" name="$2" common_name="$3" extensions="${4:-$1/san.ext}"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "${work}/${name}.key" >/dev/null 2>&1 ||
    die "creating the ${name} key failed"
  openssl req -new -key "${work}/${name}.key" -subj "/CN=${common_name}" -out "${work}/${name}.csr" \
    >/dev/null 2>&1 || die "creating the ${name} certificate request failed"
  openssl x509 -req -in "${work}/${name}.csr" -CA "${work}/ca.crt" -CAkey "${work}/ca.key" \
    -CAcreateserial -days 2 -extfile "${extensions}" -out "${work}/${name}.crt" >/dev/null 2>&1 ||
    die "signing the ${name} certificate failed"
}

main "$@"
