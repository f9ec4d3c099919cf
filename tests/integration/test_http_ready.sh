#!/usr/bin/env bash
# /ready follows PostgreSQL: 200 while it answers, 503 with reason
# postgres_unavailable (and paused_by_outage) once it is stopped, 200 again
# when it is back, with every event produced meanwhile stored exactly once.
# /health stays 200, and fast, through the outage. The suite's PostgreSQL is
# shared, so this test stops a private one of its own.
source "$(dirname "$0")/lib.sh"

pgdir=$(mktemp -d /tmp/aac-http-ready.XXXXXX)
chmod 755 "$pgdir"
cleanup() {
  local rc=$?
  cleanup_pids
  bash "$AAC_SRC/scripts/pg.sh" stop "$pgdir/data" || true
  rm -rf "$pgdir"
  finish_test "$rc"
}
trap cleanup EXIT
PGPORT=$(PG_EXTRA_OPTS="-c fsync=off" bash "$AAC_SRC/scripts/pg.sh" start "$pgdir/data")
export PGPORT # the consumer, psql and migrate all follow PG* variables
fresh_db
migrate_up
make_topics 2

port=$(free_port)
base=http://127.0.0.1:$port
code_of() { curl -s -o "$TEST_DIR/last.json" -w '%{http_code}' "$base$1"; }
reasons() { /usr/bin/python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)["reasons"]))' <"$TEST_DIR/last.json"; }
ready_state() { echo "$(code_of /ready) $(reasons)"; }

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 500 --ids "$TEST_DIR/ids" >"$TEST_DIR/before"
python3 "$gen" --count 300 --start 500 --ids "$TEST_DIR/ids" >"$TEST_DIR/during"
produce "$TEST_DIR/before"
start_consumer c1 AAC_HTTP_ENABLED=true AAC_HTTP_ADDRESS=127.0.0.1 AAC_HTTP_PORT="$port" \
  AAC_RETRY_MAX_BACKOFF_MS=1000
wait_rows 500 60
wait_for "200 " 20 ready_state

# --- PostgreSQL stops; events keep coming -----------------------------------
bash "$AAC_SRC/scripts/pg.sh" stop "$pgdir/data"
t0=$(date +%s)
produce "$TEST_DIR/during"
wait_for "503 postgres_unavailable,paused_by_outage" 15 ready_state
echo "/ready 503 $(($(date +%s) - t0)) s after PostgreSQL stopped"
/usr/bin/python3 - "$TEST_DIR/last.json" <<'PY' || fail "/ready body during the outage: $(cat "$TEST_DIR/last.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "not_ready", d
assert d["last_error"]["class"] == "transient", d
assert d["last_error"]["reason"] == "postgres_unavailable", d
assert d["last_error"]["message"], d
PY
# liveness is not readiness: the loop still polls, and answers stay fast
: >"$TEST_DIR/latency"
for _ in $(seq 1 50); do
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$base/health" >>"$TEST_DIR/latency"
  sleep 0.02
done
summary=$(awk '$1 != 200 { bad++ } { if ($2 > max) max = $2 } END { printf "max=%.1fms non200=%d", max * 1000, bad }' "$TEST_DIR/latency")
echo "/health during the outage: $summary"
awk '$1 != 200 || $2 > 0.050 { exit 1 }' "$TEST_DIR/latency" || fail "/health during the outage: $summary"
/usr/bin/python3 "$AAC_SRC/tests/integration/check_metrics.py" "$base/metrics" \
  'aac_postgres_up==0' 'aac_consumption_paused==1' 'aac_ready==0' 'aac_up==1' \
  'aac_retries_total{class="transient"}>0' 'aac_events_written_total==500' ||
  fail "/metrics during the outage"

# --- PostgreSQL is back on the same port ------------------------------------
bash "$AAC_SRC/scripts/pg.sh" start "$pgdir/data" >/dev/null
assert_eq "$(bash "$AAC_SRC/scripts/pg.sh" port "$pgdir/data")" "$PGPORT" "PostgreSQL port after restart"
wait_for "200 " 30 ready_state
wait_rows 800 60
sleep 1
check_exactly_once "$TEST_DIR/ids"
/usr/bin/python3 "$AAC_SRC/tests/integration/check_metrics.py" "$base/metrics" --wait 10 \
  'aac_postgres_up==1' 'aac_consumption_paused==0' 'aac_ready==1' \
  'aac_events_written_total==800' 'aac_events_consumed_total>=800' ||
  fail "/metrics after the outage"

stop_consumer c1
pass "503 postgres_unavailable during the outage, 200 after, 800 events stored once; /health $summary"
