#!/usr/bin/env bash
# Makes what docker-compose.tls.yml mounts: a private CA, PostgreSQL's and
# Kafka's server certificates signed by it, Kafka's PKCS#12 keystore and
# JAAS file, and the two passwords (random, kept when they exist). For
# development and trying the overlay; in production use your own CA and
# secret store (docs/deployment.md#tls).
#
#   scripts/tls-certs.sh [DIR]    default: tls/ beside docker-compose.yml
#
# DIR/ca.crt            the CA certificate (the consumer's sslrootcert and ssl.ca.location)
# DIR/postgres.crt,.key PostgreSQL's certificate, for the name `postgres`
# DIR/pg-password       the database user's password
# DIR/kafka-password    the SASL/SCRAM password of the consumer's Kafka user
# DIR/kafka/            mounted at /etc/kafka/secrets by the kafka service:
#                       kafka.p12 (key and certificate for the name `kafka`),
#                       kafka.p12.password, kafka_server_jaas.conf
#
# The containers read these files through bind mounts as their own users
# (postgres, Kafka's appuser, the consumer's uid 10001), so they are
# readable by all on this host: keep DIR on a machine you trust.
set -euo pipefail
command -v openssl >/dev/null || { echo "tls-certs.sh: openssl not installed" >&2; exit 1; }
dir=${1:-$(cd "$(dirname "$0")/.." && pwd)/tls}
mkdir -p "$dir/kafka"
cd "$dir"
log=$dir/openssl.log
: >"$log"
ssl() { openssl "$@" 2>>"$log" || { cat "$log" >&2; echo "tls-certs.sh: openssl $1 failed" >&2; exit 1; }; }
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

if [ ! -s ca.key ]; then
  ssl req -x509 -new "${ec[@]}" -keyout ca.key -out ca.crt -days 825 \
    -subj "/CN=agent-actions-consumer development CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  chmod 600 ca.key
fi
# NAME: a key and a certificate for the host name NAME (and localhost)
server_cert() {
  ssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$1"
  ssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -out "$1.crt" \
    -extfile <(printf 'subjectAltName=DNS:%s,DNS:localhost\nextendedKeyUsage=serverAuth\n' "$1")
  rm -f "$1.csr"
}
server_cert postgres
server_cert kafka
# hex: nothing that Kafka's SCRAM syntax ([password=...]) or a URI would need escaped
for p in pg-password kafka-password kafka/kafka.p12.password; do
  [ -s "$p" ] || openssl rand -hex 24 >"$p"
done
ssl pkcs12 -export -in kafka.crt -inkey kafka.key -certfile ca.crt -name kafka \
  -out kafka/kafka.p12 -passout "file:kafka/kafka.p12.password"
rm -f kafka.key
cat >kafka/kafka_server_jaas.conf <<'JAAS'
KafkaServer {
  org.apache.kafka.common.security.scram.ScramLoginModule required;
};
JAAS
chmod 755 "$dir" kafka
chmod 644 ca.crt postgres.crt postgres.key pg-password kafka-password kafka.crt kafka/*
rm -f "$log"
echo "tls-certs.sh: wrote $dir (CA, postgres and kafka certificates, passwords)"
