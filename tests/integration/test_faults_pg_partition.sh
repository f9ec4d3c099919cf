#!/usr/bin/env bash
# Fault: the PostgreSQL host vanishes without closing anything (a network
# partition, a frozen VM): its packets are lost both ways, so the kernel
# neither acknowledges the consumer's data nor answers keepalive probes.
#
# The test's own PostgreSQL runs in a network namespace this test creates,
# reachable from here only through a veth pair on a private /30 of
# 198.18.0.0/15 (RFC 2544 benchmark range); setting the namespace's end of
# the pair down makes every packet to and from the host vanish. The
# consumer runs with small postgres.keepalives_* / tcp_user_timeout_ms so
# that the test takes seconds.
#
# Checks, while the host is gone: the consumer notices within the bound
# (an outage logged, /ready 503) instead of blocking in a call; its loop is
# never stalled (/health 200 on every sample, http.liveness_timeout_ms 8 s);
# the server ends the backends of the connections the consumer gave up on
# (server-side keepalives), so none is left holding locks. After the host
# answers again: the consumer resumes by itself and every event is stored
# exactly once, none dead-lettered.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"

command -v ip >/dev/null || fail "ip not found (apt-get install iproute2)"

# --- the host behind a veth pair -------------------------------------------------
# names unique to this run (interface names: 15 characters at most)
NS=aac-part-$$
VH=aacph$$
VN=aacpn$$
for _ in $(seq 1 50); do
  net=198.18.$((RANDOM % 256)).$((RANDOM % 64 * 4))
  ip -o -4 addr show | grep -q " ${net%.*}\." || break
done
HOST_ADDR=${net%.*}.$((${net##*.} + 1)) # this side
PG_ADDR=${net%.*}.$((${net##*.} + 2))   # the database host
ip netns add "$NS" || fail "could not create network namespace $NS"
on_exit ip netns del "$NS"
ip link add "$VH" type veth peer name "$VN" || fail "could not create veth pair $VH/$VN"
on_exit ip link del "$VH"
ip link set "$VN" netns "$NS"
ip addr add "$HOST_ADDR/30" dev "$VH"
ip link set "$VH" up
ip netns exec "$NS" ip addr add "$PG_ADDR/30" dev "$VN"
ip netns exec "$NS" ip link set "$VN" up
ip netns exec "$NS" ip link set lo up
partition() { ip netns exec "$NS" ip link set "$VN" "$1"; }

# faults_cleanup (trap) stops and removes it: FAULTS_PG
FAULTS_PG=$(mktemp -d /tmp/aac-faults-pg.XXXXXX)
chmod 755 "$FAULTS_PG"
PGPORT=$(PG_EXTRA_OPTS="-c fsync=off -c listen_addresses=127.0.0.1,$PG_ADDR" \
  ip netns exec "$NS" bash "$AAC_SRC/scripts/pg.sh" start "$FAULTS_PG/data")
export PGPORT
echo "host all all $HOST_ADDR/32 trust" >>"$FAULTS_PG/data/pg_hba.conf"
# from inside the namespace: reaches the server while the link is down
ns_sql() {
  ip netns exec "$NS" psql -qXAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -d "${PGDATABASE:-postgres}" -c "$1"
}
ns_sql "SELECT pg_reload_conf()" >/dev/null
export PGHOST=$PG_ADDR # everything else (sql, migrate, the consumer) crosses the veth
assert_eq "$(sql "SELECT inet_client_addr()")" "$HOST_ADDR" "client address seen by the server"

fresh_db
migrate_up
make_topics 4
gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 3000 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
head -n 1000 "$TEST_DIR/events" >"$TEST_DIR/before"
tail -n 2000 "$TEST_DIR/events" >"$TEST_DIR/during"
produce "$TEST_DIR/before"
start_consumer_http c1 AAC_RETRY_MAX_BACKOFF_MS=1000 AAC_HTTP_LIVENESS_TIMEOUT_MS=8000 \
  AAC_POSTGRES_STATEMENT_TIMEOUT_MS=7000 AAC_POSTGRES_CONNECT_TIMEOUT_S=2 AAC_POSTGRES_KEEPALIVES_IDLE_S=1 \
  AAC_POSTGRES_KEEPALIVES_INTERVAL_S=1 AAC_POSTGRES_KEEPALIVES_COUNT=2 \
  AAC_POSTGRES_TCP_USER_TIMEOUT_MS=3000
HEALTH_URL=${READY_URL%/ready}/health
health_code() { curl -s -m 2 -o /dev/null -w '%{http_code}' "$HEALTH_URL"; }
consumer_sessions() {
  ns_sql "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'agent-actions-consumer/%'"
}
for _ in $(seq 1 300); do # a consumer that cannot start fails here, not after a minute
  alive c1
  [ "$(rows)" = 1000 ] && break
  sleep 0.1
done
assert_eq "$(rows)" 1000 "rows stored before the partition"
wait_for 200 20 ready_code
[ "$(consumer_sessions)" -ge 1 ] || fail "no session of the consumer on the server"

# --- the host vanishes -----------------------------------------------------------
partition down
t0=$(date +%s)
produce "$TEST_DIR/during"
# the bound: tcp_user_timeout 3 s (1 s keepalive probes), then the retry;
# before the fix the write blocked for ~15 min (TCP retransmissions)
noticed=""
for _ in $(seq 1 150); do
  if grep -q 'msg="batch not written, retrying".*reason=postgres_unavailable' "$TEST_DIR/c1.log"; then
    noticed=$(($(date +%s) - t0))
    break
  fi
  [ "$(health_code)" = 200 ] || fail "/health not 200 $(($(date +%s) - t0)) s into the partition: the consume loop is blocked"
  sleep 0.1
done
[ -n "$noticed" ] || fail "no outage logged 15 s into the partition: the consumer is blocked on the vanished host"
echo "outage logged $noticed s after the host vanished"
wait_for 503 10 ready_code
# the server gives up on the connections too (its keepalives, set by the
# consumer's session): no backend is left holding locks when the host returns
wait_for 0 15 consumer_sessions
echo "the server ended the consumer's sessions $(($(date +%s) - t0)) s after the host vanished"
while [ $(($(date +%s) - t0)) -lt 15 ]; do
  alive c1
  [ "$(health_code)" = 200 ] || fail "/health not 200 $(($(date +%s) - t0)) s into the partition: the consume loop is blocked"
  [ "$(ready_code)" = 503 ] || fail "/ready not 503 $(($(date +%s) - t0)) s into the partition"
  sleep 0.5
done
assert_eq "$(ns_sql "SELECT count(*) FROM agent_actions")" 1000 "rows stored during the partition"

# --- the host answers again ------------------------------------------------------
partition up
t1=$(date +%s)
wait_rows 3000 30
echo "all rows $(($(date +%s) - t1)) s after the host came back"
wait_for 200 20 ready_code
sleep 1 # anything late would show up now
alive c1
check_exactly_once "$TEST_DIR/ids"
metrics --wait 10 'aac_postgres_up==1' 'aac_ready==1' 'aac_up==1' 'aac_consumption_paused==0' \
  'aac_events_written_total==3000' 'aac_dead_letters_total{reason="retries_exhausted"}==0' ||
  fail "/metrics after the partition"
assert_eq "$(topic_count "$TOPIC.dlq")" 0 "messages on the dead-letter topic"
grep -q 'fatal error' "$TEST_DIR/c1.log" && fail "a fatal error was logged"
stop_consumer c1
pass "host gone 15 s: outage logged after $noticed s, /health 200 throughout, 3000 rows once"
