#!/usr/bin/env bash
# PostgreSQL over TLS with sslmode=verify-full, a client certificate and a
# password, against a throwaway server of the test's own (the fixture's has
# no TLS): the CA, the server's and the client's certificates are made here
# with openssl. pg_hba lets the service's role in only over TLS, with a
# client certificate whose CN is the role (clientcert=verify-full) and its
# password (scram-sha-256).
#
# Checks: `migrate up` connects with the postgres.* keys (sslmode,
# sslrootcert, sslcert, sslkey, password_file) and the tables it creates
# belong to that role; a short `run` configured by a postgres.uri_file
# (host, port, user and TLS settings in the URI, its database overridden by
# postgres.dbname, beating the PG* variables of the test's environment)
# writes every valid event, over connections pg_stat_ssl shows encrypted
# with the client's certificate; a wrong CA fails with libpq's "certificate
# verify failed" (migrate exits non-zero, run logs it and writes nothing);
# verify-full refuses a host name the certificate does not name; no client
# certificate, no entry; a CRL that revokes the server's certificate
# (postgres.sslcrl) is refused; no secret appears in any output.
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || fail "openssl not installed (scripts/install-deps.sh)"

TLS_PG=$(mktemp -d /tmp/aac-tls-pg.XXXXXX)
chmod 755 "$TLS_PG"
tls_cleanup() {
  local rc=$?
  cleanup_pids
  bash "$AAC_SRC/scripts/pg.sh" stop "$TLS_PG/data" || true
  rm -rf "$TLS_PG"
  finish_test "$rc"
}
trap tls_cleanup EXIT

# ---- certificates ------------------------------------------------------------
pki=$TEST_DIR/pki
mkdir -p "$pki"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
make_ca() { # NAME CN
  openssl req -x509 -new "${ec[@]}" -keyout "$pki/$1.key" -out "$pki/$1.crt" -days 2 \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>>"$pki/openssl.log" || fail "openssl: $(cat "$pki/openssl.log")"
}
make_cert() { # NAME CN EXTENSIONS (signed by ca)
  openssl req -new "${ec[@]}" -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "/CN=$2" 2>>"$pki/openssl.log" &&
    openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
      -days 2 -out "$pki/$1.crt" -extfile <(printf '%s\n' "$3") 2>>"$pki/openssl.log" ||
    fail "openssl: $(cat "$pki/openssl.log")"
  chmod 600 "$pki/$1.key"
}
make_ca ca "aac test CA"
make_ca wrong-ca "another CA"
make_cert server localhost $'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth'
make_cert client aac_tls 'extendedKeyUsage=clientAuth'
# the server's files belong to the server's OS user, its key readable by it alone
install -m 644 "$pki/server.crt" "$TLS_PG/server.crt"
install -m 600 "$pki/server.key" "$TLS_PG/server.key"
install -m 644 "$pki/ca.crt" "$TLS_PG/ca.crt"
[ "$(id -u)" = 0 ] && chown postgres: "$TLS_PG/server.crt" "$TLS_PG/server.key" "$TLS_PG/ca.crt"

# ---- the server ---------------------------------------------------------------
TLS_PORT=$(free_port)
PG_EXTRA_OPTS="-c fsync=off -c ssl=on -c ssl_cert_file=$TLS_PG/server.crt -c ssl_key_file=$TLS_PG/server.key -c ssl_ca_file=$TLS_PG/ca.crt" \
  bash "$AAC_SRC/scripts/pg.sh" start "$TLS_PG/data" "$TLS_PORT" >/dev/null
tls_sql() { PGHOST=127.0.0.1 PGPORT=$TLS_PORT PGUSER=postgres PGDATABASE=${2:-postgres} psql -qXAt -v ON_ERROR_STOP=1 -c "$1"; }
password='Tls-Pa55-8c1e07'
tls_sql "CREATE ROLE aac_tls LOGIN PASSWORD '$password'" >/dev/null
tls_sql "CREATE DATABASE tlsdb OWNER aac_tls" >/dev/null
hba=$TLS_PG/data/pg_hba.conf
cat >"$hba" <<'HBA'
# the test's own superuser, for its checks
host    all    postgres 127.0.0.1/32 trust
# the service's role: TLS, a client certificate naming it, and its password
hostssl tlsdb  aac_tls  127.0.0.1/32 scram-sha-256 clientcert=verify-full
host    all    all      127.0.0.1/32 reject
HBA
chown --reference="$TLS_PG/data/PG_VERSION" "$hba"
tls_sql "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
printf '%s\n' "$password" >"$TEST_DIR/pg-password"
chmod 600 "$TEST_DIR/pg-password"

# the individual keys; PG* of the environment point at the fixture's
# server, and every key set here must win over them
tls_env=(AAC_POSTGRES_HOST=localhost AAC_POSTGRES_PORT="$TLS_PORT" AAC_POSTGRES_DBNAME=tlsdb
  AAC_POSTGRES_USER=aac_tls AAC_POSTGRES_PASSWORD_FILE="$TEST_DIR/pg-password"
  AAC_POSTGRES_SSLMODE=verify-full AAC_POSTGRES_SSLROOTCERT="$pki/ca.crt"
  AAC_POSTGRES_SSLCERT="$pki/client.crt" AAC_POSTGRES_SSLKEY="$pki/client.key")
outputs=()
# aac NAME [VAR=value...] ARGS...: the service's command, its output in $TEST_DIR/NAME.out
aac() {
  local name=$1; shift
  local vars=()
  while [ $# -gt 0 ] && [[ $1 == *=* ]]; do vars+=("$1"); shift; done
  outputs+=("$TEST_DIR/$name.out")
  env "${vars[@]}" "$AAC_BIN" "$@" >"$TEST_DIR/$name.out" 2>&1
}

# ---- (1) migrate up over verify-full with a client certificate ----------------------
aac migrate "${tls_env[@]}" migrate up || fail "migrate up over TLS: $(cat "$TEST_DIR/migrate.out")"
assert_eq "$(tls_sql "SELECT tableowner FROM pg_tables WHERE tablename = 'consumer_offsets'" tlsdb)" aac_tls \
  "owner of the tables migrate created"

# ---- (2) a wrong CA, a wrong host name, no client certificate, a revoked server ----------
status=0
aac wrong-ca "${tls_env[@]}" AAC_POSTGRES_SSLROOTCERT="$pki/wrong-ca.crt" migrate status || status=$?
[ "$status" != 0 ] || fail "migrate status trusted a server its CA did not sign"
grep -q 'could not connect to PostgreSQL: .*certificate verify failed' "$TEST_DIR/wrong-ca.out" ||
  fail "the wrong CA is not said clearly: $(cat "$TEST_DIR/wrong-ca.out")"
echo "wrong CA: exit $status: $(head -n 1 "$TEST_DIR/wrong-ca.out")"
status=0
aac wrong-host "${tls_env[@]}" AAC_POSTGRES_HOST=127.0.0.1 migrate status || status=$?
[ "$status" != 0 ] || fail "verify-full accepted a host name the certificate does not name"
grep -q 'server certificate for "localhost".* does not match host name "127.0.0.1"' "$TEST_DIR/wrong-host.out" ||
  fail "the host name mismatch is not said: $(cat "$TEST_DIR/wrong-host.out")"
status=0
aac no-cert "${tls_env[@]}" AAC_POSTGRES_SSLCERT= AAC_POSTGRES_SSLKEY= HOME="$TEST_DIR" migrate status || status=$?
[ "$status" != 0 ] || fail "connected without the client certificate pg_hba requires"
grep -q 'certificate' "$TEST_DIR/no-cert.out" || fail "no client certificate: $(cat "$TEST_DIR/no-cert.out")"
# postgres.sslcrl: a CRL of the CA revoking the server's certificate
cat >"$pki/ca.cnf" <<CNF
[ca]
default_ca = aac
[aac]
database = $pki/index.txt
crlnumber = $pki/crlnumber
default_md = sha256
default_crl_days = 2
CNF
: >"$pki/index.txt"
echo 01 >"$pki/crlnumber"
ca=(openssl ca -config "$pki/ca.cnf" -keyfile "$pki/ca.key" -cert "$pki/ca.crt")
"${ca[@]}" -gencrl -out "$pki/crl-empty.pem" 2>>"$pki/openssl.log" &&
  "${ca[@]}" -revoke "$pki/server.crt" 2>>"$pki/openssl.log" &&
  "${ca[@]}" -gencrl -out "$pki/crl.pem" 2>>"$pki/openssl.log" ||
  fail "openssl ca: $(cat "$pki/openssl.log")"
# libpq says only "certificate verify failed": openssl tells why
why=$(openssl verify -crl_check -CAfile "$pki/ca.crt" -CRLfile "$pki/crl.pem" "$pki/server.crt" 2>&1 || true)
grep -q 'certificate revoked' <<<"$why" || fail "the CRL does not revoke the server's certificate: $why"
aac crl-empty "${tls_env[@]}" AAC_POSTGRES_SSLCRL="$pki/crl-empty.pem" migrate status ||
  fail "a CRL revoking nothing: $(cat "$TEST_DIR/crl-empty.out")"
status=0
aac revoked "${tls_env[@]}" AAC_POSTGRES_SSLCRL="$pki/crl.pem" migrate status || status=$?
[ "$status" != 0 ] || fail "postgres.sslcrl: a revoked server certificate was accepted"
grep -q 'certificate verify failed' "$TEST_DIR/revoked.out" || fail "revoked: $(cat "$TEST_DIR/revoked.out")"
# the same files without the CRL connect: each refusal above is its setting's
aac status "${tls_env[@]}" migrate status || fail "migrate status over TLS: $(cat "$TEST_DIR/status.out")"

# ---- (3) a short run, configured by a connection URI in a file ----------------------
make_topics 2
python3 "$AAC_SRC/tests/integration/gen_events.py" --count 200 --invalid-every 20 >"$TEST_DIR/events"
produce "$TEST_DIR/events"
# host, port, user and the TLS settings from the URI (over PGHOST, PGPORT,
# PGUSER of this environment), its database replaced by postgres.dbname
printf 'postgresql://aac_tls@localhost:%s/nosuchdb?sslmode=verify-full&sslrootcert=%s&sslcert=%s&sslkey=%s\n' \
  "$TLS_PORT" "$pki/ca.crt" "$pki/client.crt" "$pki/client.key" >"$TEST_DIR/pg-uri"
chmod 600 "$TEST_DIR/pg-uri"
uri_env=(AAC_POSTGRES_URI_FILE="$TEST_DIR/pg-uri" AAC_POSTGRES_DBNAME=tlsdb
  AAC_POSTGRES_PASSWORD_FILE="$TEST_DIR/pg-password")
aac check "${uri_env[@]}" check-config || fail "check-config: $(cat "$TEST_DIR/check.out")"
grep -qF "uri_file: \"$TEST_DIR/pg-uri\"" "$TEST_DIR/check.out" || fail "check-config: $(grep uri "$TEST_DIR/check.out")"
start_consumer run "${uri_env[@]}"
for _ in $(seq 1 600); do
  [ "$(tls_sql "SELECT count(*) FROM agent_actions" tlsdb)" = 190 ] && break
  kill -0 "$(consumer_pid run)" 2>/dev/null || break
  sleep 0.1
done
assert_eq "$(tls_sql "SELECT count(*) FROM agent_actions" tlsdb)" 190 "rows written over TLS"
tls_conns=$(tls_sql "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
  WHERE a.usename = 'aac_tls' AND a.datname = 'tlsdb' AND s.ssl AND s.client_dn = '/CN=aac_tls'")
[ "$tls_conns" -ge 1 ] || fail "no TLS connection with the client certificate in pg_stat_ssl"
plain=$(tls_sql "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
  WHERE a.usename = 'aac_tls' AND NOT s.ssl")
assert_eq "$plain" 0 "connections of the service without TLS"
stop_consumer run
# nothing reached the fixture's server, which the PG* variables name
assert_eq "$(sql "SELECT count(*) FROM pg_database WHERE datname = 'tlsdb'")" 0 "a tlsdb on the fixture's server"

# ---- (4) run with the wrong CA: the error is logged, nothing is written -------------
printf 'postgresql://aac_tls@localhost:%s/tlsdb?sslmode=verify-full&sslrootcert=%s&sslcert=%s&sslkey=%s\n' \
  "$TLS_PORT" "$pki/wrong-ca.crt" "$pki/client.crt" "$pki/client.key" >"$TEST_DIR/pg-uri-wrong"
python3 "$AAC_SRC/tests/integration/gen_events.py" --count 10 >"$TEST_DIR/more"
produce "$TEST_DIR/more"
start_consumer wrong AAC_POSTGRES_URI_FILE="$TEST_DIR/pg-uri-wrong" AAC_POSTGRES_PASSWORD_FILE="$TEST_DIR/pg-password"
for _ in $(seq 1 300); do grep -q 'certificate verify failed' "$TEST_DIR/wrong.log" && break; sleep 0.1; done
grep -q 'error="could not connect to PostgreSQL: .*certificate verify failed' "$TEST_DIR/wrong.log" ||
  fail "run with the wrong CA: $(head -n 5 "$TEST_DIR/wrong.log")"
stop_consumer wrong
assert_eq "$(tls_sql "SELECT count(*) FROM agent_actions" tlsdb)" 190 "rows after the run with the wrong CA"

# ---- (5) no secret anywhere ------------------------------------------------------------
for f in "${outputs[@]}" "$TEST_DIR/run.log" "$TEST_DIR/wrong.log" "$TEST_DIR/migrate.log"; do
  [ -e "$f" ] || continue
  grep -qF -e "$password" -e "postgresql://aac_tls@" "$f" && fail "a secret appears in $(basename "$f")"
done
pass "migrate and run over verify-full with a client certificate (keys and URI), a wrong CA, host name, missing certificate and revoked server refused"
