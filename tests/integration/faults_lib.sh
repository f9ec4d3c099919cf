# Sourced by tests/integration/test_faults_*.sh after lib.sh: what the
# fault-injection tests share. Not a test itself (ctest runs test_*.sh).
#
#   private_pg_start               a PostgreSQL of the test's own (exports
#                                  PGPORT; stopped and removed on exit), for
#                                  faults that must not touch the suite's
#   private_pg_stop / _restart     an outage of it (same port after restart)
#   on_exit CMD...                 run CMD when the test ends (undo a fault)
#   lock_table TABLE / unlock_table an ACCESS EXCLUSIVE lock on TABLE, held
#                                  by a session of its own until unlocked
#                                  (or the test ends)
#   start_consumer_http NAME ...   start_consumer with /metrics on a free
#                                  port; sets METRICS_URL and READY_URL
#   metrics EXPECTATION...         check_metrics.py against METRICS_URL
#   alive NAME                     fails unless consumer NAME still runs
#   source_invalid FILE            "partition offset" of every source message
#                                  without a correlation_id (gen_events'
#                                  --invalid-every), as Kafka stored them
#   wait_exit NAME TIMEOUT         EXIT_STATUS of consumer NAME, which must
#                                  stop by itself within TIMEOUT s
#   check_fatal NAME WORDS         one "fatal error, stopping" line, saying WORDS
#   check_dead_letters FILE REASON the dead-letter topic holds exactly one
#                                  message per line of FILE (original
#                                  "partition offset"), nothing else, each
#                                  with every header right, its value the
#                                  original bytes

FAULTS_PG=""
FAULTS_UNDO=()

faults_cleanup() {
  local rc=$? c
  for c in "${FAULTS_UNDO[@]:-}"; do
    [ -n "$c" ] && eval "$c" >/dev/null 2>&1 || true
  done
  cleanup_pids
  if [ -n "$FAULTS_PG" ]; then
    bash "$AAC_SRC/scripts/pg.sh" stop "$FAULTS_PG/data" || true
    rm -rf "$FAULTS_PG"
  fi
  finish_test "$rc" # lib.sh's: the consumers' log lines must parse
}
trap faults_cleanup EXIT

on_exit() { FAULTS_UNDO+=("$*"); }

lock_table() {
  PGAPPNAME=aac-locker psql -qX -v ON_ERROR_STOP=1 >"$TEST_DIR/locker.log" 2>&1 <<SQL &
BEGIN;
LOCK TABLE $1 IN ACCESS EXCLUSIVE MODE;
SELECT pg_sleep(300);
SQL
  TEST_PIDS+=($!)
  on_exit unlock_table
  wait_for 1 10 sql "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = '$1' AND l.mode = 'AccessExclusiveLock' AND l.granted"
}
unlock_table() {
  sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'aac-locker'" >/dev/null
}

private_pg_start() {
  FAULTS_PG=$(mktemp -d /tmp/aac-faults-pg.XXXXXX)
  chmod 755 "$FAULTS_PG"
  PGPORT=$(PG_EXTRA_OPTS="-c fsync=off ${1:-}" bash "$AAC_SRC/scripts/pg.sh" start "$FAULTS_PG/data")
  export PGPORT
}
private_pg_stop() { bash "$AAC_SRC/scripts/pg.sh" stop "$FAULTS_PG/data"; }
private_pg_restart() {
  bash "$AAC_SRC/scripts/pg.sh" start "$FAULTS_PG/data" >/dev/null
  assert_eq "$(bash "$AAC_SRC/scripts/pg.sh" port "$FAULTS_PG/data")" "$PGPORT" "PostgreSQL port after restart"
}

start_consumer_http() {
  local name=$1 port
  shift
  port=$(free_port)
  METRICS_URL=http://127.0.0.1:$port/metrics
  READY_URL=http://127.0.0.1:$port/ready
  start_consumer "$name" AAC_HTTP_ENABLED=true AAC_HTTP_ADDRESS=127.0.0.1 AAC_HTTP_PORT="$port" "$@"
}

metrics() {
  /usr/bin/python3 "$AAC_SRC/tests/integration/check_metrics.py" "$METRICS_URL" "$@"
}

ready_code() { curl -s -o /dev/null -w '%{http_code}' "$READY_URL"; }

alive() {
  kill -0 "$(consumer_pid "$1")" 2>/dev/null || {
    tail -n 20 "$TEST_DIR/$1.log" >&2
    fail "consumer $1 exited"
  }
}

source_invalid() {
  kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC" -e -q -f '%p %o %s\n' 2>/dev/null |
    grep -v '"correlation_id"' | cut -d' ' -f1,2 | sort >"$1"
}

check_dead_letters() {
  local want=$1 reason=$2
  kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC.dlq" -e -q -J >"$TEST_DIR/dlq.json" 2>/dev/null
  kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC" -e -q -J >"$TEST_DIR/source.json" 2>/dev/null
  /usr/bin/python3 - "$TEST_DIR/dlq.json" "$TEST_DIR/source.json" "$want" "$TOPIC" "$GROUP" \
    "$reason" <<'PY' || fail "dead letters on $TOPIC.dlq (want $(wc -l <"$want"), reason $reason)"
import json, re, sys
dlq_file, src_file, want_file, topic, group, reason = sys.argv[1:]
src = {}
for l in open(src_file):
    m = json.loads(l)
    src[(m["partition"], m["offset"])] = m
want = {tuple(map(int, l.split())) for l in open(want_file) if l.strip()}
got = []
for l in open(dlq_file):
    m = json.loads(l)
    h = m.get("headers") or []
    hd = dict(zip(h[0::2], h[1::2]))
    for k in ("aac.original.topic", "aac.original.partition", "aac.original.offset",
              "aac.original.timestamp", "aac.consumer.group", "aac.error.class",
              "aac.error.reason", "aac.error.path", "aac.error.message", "aac.attempts",
              "aac.failed.at", "aac.service.version"):
        assert k in hd, f"header {k} missing: {hd}"
    assert hd["aac.original.topic"] == topic, hd
    assert hd["aac.consumer.group"] == group, hd
    assert hd["aac.error.class"] == "permanent", hd
    assert hd["aac.error.reason"] == reason, hd
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", hd["aac.failed.at"]), hd
    assert int(hd["aac.attempts"]) >= 1, hd
    key = (int(hd["aac.original.partition"]), int(hd["aac.original.offset"]))
    o = src.get(key)
    assert o is not None, f"no source message at {key}"
    assert m["key"] == o["key"] and m["payload"] == o["payload"], f"{key}: key or value differs"
    assert str(o["ts"]) == hd["aac.original.timestamp"], (o["ts"], hd)
    got.append(key)
dups = len(got) - len(set(got))
missing = want - set(got)
extra = set(got) - want
if dups or missing or extra:
    print(f"dead letters: {len(got)}, duplicated {dups}, missing {sorted(missing)[:10]}, "
          f"unexpected {sorted(extra)[:10]}", file=sys.stderr)
    sys.exit(1)
PY
}

# wait_exit NAME TIMEOUT: waits for consumer NAME to exit by itself and
# sets EXIT_STATUS; fails if it is still running after TIMEOUT s. (Not in
# a $(...): only this shell can wait for its child.)
wait_exit() {
  local pid
  pid=$(consumer_pid "$1")
  for _ in $(seq 1 $(($2 * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "consumer $1 still running after $2 s"
  EXIT_STATUS=0
  wait "$pid" || EXIT_STATUS=$?
}

# check_fatal NAME WORDS: consumer NAME logged exactly one fatal line, and
# it contains WORDS (what to do).
check_fatal() {
  local n
  n=$(grep -c 'msg="fatal error, stopping"' "$TEST_DIR/$1.log" || true)
  assert_eq "$n" 1 "fatal lines logged by $1"
  grep 'msg="fatal error, stopping"' "$TEST_DIR/$1.log" | grep -qF -- "$2" ||
    fail "the fatal line does not say '$2': $(grep 'fatal error' "$TEST_DIR/$1.log")"
}
