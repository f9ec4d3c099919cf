#!/usr/bin/env bash
# The systemd unit's start path and Type=notify as systemd sees it, on a
# NOTIFY_SOCKET of the test's own: `run --migrate` on an empty database
# while PostgreSQL is down waits (no READY=1, but pings that extend the
# start timeout), applies the migrations once it is up, then READY=1 once
# the consumer has its partitions and their stored offsets, WATCHDOG=1 from the consume loop at least every half of
# WATCHDOG_USEC, no pings while the loop is blocked on a frozen PostgreSQL
# (its backends SIGSTOPped), pings again after SIGCONT, and STOPPING=1 on
# SIGTERM. A private PostgreSQL: the suite's is shared.
source "$(dirname "$0")/lib.sh"

pgdir=$(mktemp -d /tmp/aac-notify.XXXXXX)
chmod 755 "$pgdir"
frozen=""
cleanup() {
  local rc=$?
  [ -n "$frozen" ] && kill -CONT $frozen 2>/dev/null || true
  cleanup_pids
  bash "$AAC_SRC/scripts/pg.sh" stop "$pgdir/data" >/dev/null 2>&1 || true
  rm -rf "$pgdir"
  finish_test "$rc"
}
trap cleanup EXIT
PGPORT=$(PG_EXTRA_OPTS="-c fsync=off" bash "$AAC_SRC/scripts/pg.sh" start "$pgdir/data")
export PGPORT
fresh_db # no migrations: `run --migrate` applies them
make_topics 2

# start_consumer with `run --migrate`
start_migrating() {
  local name=$1; shift
  env AAC_KAFKA_BOOTSTRAP_SERVERS="$AAC_TEST_BOOTSTRAP" AAC_KAFKA_TOPIC="$TOPIC" \
    AAC_KAFKA_GROUP_ID="$GROUP" AAC_HTTP_ENABLED=false AAC_LOG_LEVEL=info \
    AAC_BATCH_LINGER_MS=50 \
    AAC_KAFKA_CONSUMER_PROPERTIES_SESSION_TIMEOUT_MS=6000 \
    AAC_KAFKA_CONSUMER_PROPERTIES_HEARTBEAT_INTERVAL_MS=500 \
    "$@" "$AAC_BIN" run --migrate >>"$TEST_DIR/$name.log" 2>&1 &
  echo $! >"$TEST_DIR/$name.pid"
  TEST_PIDS+=($!)
}

# --- what waiting cannot fix exits at once: 2 and 3, not restarted by systemd
rc=0
AAC_POSTGRES_MIGRATIONS_DIR=$TEST_DIR/none "$AAC_BIN" run --migrate >"$TEST_DIR/bad.log" 2>&1 || rc=$?
assert_eq "$rc" 2 "run --migrate with no migrations directory"
grep -q 'could not open migrations directory' "$TEST_DIR/bad.log" || fail "$(cat "$TEST_DIR/bad.log")"
rc=0
AAC_POSTGRES_DBNAME=no_such_db timeout 20 "$AAC_BIN" run --migrate >"$TEST_DIR/bad.log" 2>&1 || rc=$?
assert_eq "$rc" 3 "run --migrate on a database that does not exist"
# the one line of every status-3 stop, with what to do
assert_eq "$(grep -c 'msg="fatal error, stopping"' "$TEST_DIR/bad.log")" 1 "fatal lines"
grep 'msg="fatal error, stopping"' "$TEST_DIR/bad.log" |
  grep -F 'error="cannot apply migrations: ' | grep -qF 'action="create the database or correct postgres.dbname' ||
  fail "$(cat "$TEST_DIR/bad.log")"
# a migration that fails: the action sends the operator to `migrate status`
mkdir "$TEST_DIR/badmig"
cp "$AAC_SRC"/migrations/*.sql "$TEST_DIR/badmig/"
printf 'SELECT 1/0;\n' >"$TEST_DIR/badmig/0099_broken.up.sql"
printf 'SELECT 1;\n' >"$TEST_DIR/badmig/0099_broken.down.sql"
fresh_db "${TEST_NAME}_badmig"
rc=0
AAC_POSTGRES_MIGRATIONS_DIR=$TEST_DIR/badmig timeout 20 "$AAC_BIN" run --migrate \
  >"$TEST_DIR/bad.log" 2>&1 || rc=$?
assert_eq "$rc" 3 "run --migrate with a failing migration"
assert_eq "$(grep -c 'msg="fatal error, stopping"' "$TEST_DIR/bad.log")" 1 "fatal lines"
grep 'msg="fatal error, stopping"' "$TEST_DIR/bad.log" | grep -F '0099_broken.up.sql' | grep -F 'SQLSTATE 22012' |
  grep -qF 'action="run agent-actions-consumer migrate status' || fail "$(cat "$TEST_DIR/bad.log")"
fresh_db # back to the empty database the rest of the test starts from
# a wrong password: a role that must give its password (scram-sha-256)
sql "CREATE ROLE aac_pw LOGIN PASSWORD 'Right-Pa55-91c3'" >/dev/null
hba=$pgdir/data/pg_hba.conf
printf 'host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$hba"
chown --reference="$pgdir/data/PG_VERSION" "$hba"
sql "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
rc=0
AAC_POSTGRES_USER=aac_pw AAC_POSTGRES_PASSWORD=Wr0ng-Pa55-c4d2 timeout 20 "$AAC_BIN" run --migrate \
  >"$TEST_DIR/bad.log" 2>&1 || rc=$?
assert_eq "$rc" 3 "run --migrate with a wrong password"
grep 'msg="fatal error, stopping"' "$TEST_DIR/bad.log" | grep 'SQLSTATE 28P01' |
  grep -qF 'action="check postgres.user and its password' || fail "$(cat "$TEST_DIR/bad.log")"
grep -q 'Wr0ng-Pa55' "$TEST_DIR/bad.log" && fail "the password was printed"

sock=$TEST_DIR/notify.sock
msgs=$TEST_DIR/notify.log
/usr/bin/python3 "$AAC_SRC/tests/integration/notify_listen.py" "$sock" "$msgs" &
TEST_PIDS+=($!)
wait_for 1 10 grep -c LISTENING "$msgs"

count() { grep -c -- "$1" "$msgs" || true; }
now() { date +%s.%N; }
# seconds since the last WATCHDOG=1
since_ping() {
  awk -v now="$(now)" '/ WATCHDOG=1/ { t = $1 } END { printf "%.1f\n", t ? now - t : -1 }' "$msgs"
}
# the largest gap between two WATCHDOG=1 after time $1
max_gap() {
  awk -v from="$1" '$1 >= from && / WATCHDOG=1/ { if (p && $1 - p > m) m = $1 - p; p = $1 }
       END { printf "%.3f\n", m }' "$msgs"
}

# --- start while PostgreSQL is down: alive, extending, not ready -------------
bash "$AAC_SRC/scripts/pg.sh" stop "$pgdir/data"
python3 "$AAC_SRC/tests/integration/gen_events.py" --count 200 --ids "$TEST_DIR/ids" >"$TEST_DIR/ev1"
python3 "$AAC_SRC/tests/integration/gen_events.py" --count 1 --start 200 --ids "$TEST_DIR/ids" >"$TEST_DIR/ev2"
produce "$TEST_DIR/ev1"
# 1 s watchdog: a ping at least every 0.5 s
start_migrating c1 NOTIFY_SOCKET="$sock" WATCHDOG_USEC=1000000 AAC_POSTGRES_CONNECT_TIMEOUT_S=2 \
  AAC_RETRY_MAX_BACKOFF_MS=500
wait_for yes 20 bash -c "grep -q 'PostgreSQL not available for migrations, waiting' '$TEST_DIR/c1.log' && echo yes"
sleep 2
kill -0 "$(consumer_pid c1)" 2>/dev/null || fail "run --migrate gave up while PostgreSQL was down"
assert_eq "$(count READY=1)" 0 "READY=1 while PostgreSQL is down"
n=$(count 'WATCHDOG=1|EXTEND_TIMEOUT_USEC=1000000')
[ "$n" -ge 3 ] || fail "expected pings extending the start timeout while waiting, got $n: $(cat "$msgs")"

bash "$AAC_SRC/scripts/pg.sh" start "$pgdir/data" >/dev/null
wait_for 1 30 count READY=1
want=$(ls "$AAC_SRC"/migrations/*.up.sql | sed -E 's|.*/0*([0-9]+)_.*|\1|' | paste -sd, -)
assert_eq "$(sql "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations")" "$want" "migrations applied by run --migrate"
assert_eq "$(grep -c 'msg="migration applied"' "$TEST_DIR/c1.log")" "$(ls "$AAC_SRC"/migrations/*.up.sql | wc -l)" "migrations logged"
grep -q ' READY=1|STATUS=consuming$' "$msgs" || fail "READY line: $(grep READY "$msgs")"
# READY came after both partitions' stored offsets were read
assert_eq "$(grep -c 'msg="partition ready"' "$TEST_DIR/c1.log")" 2 "partitions with stored offsets at READY"
wait_rows 200 60
# after READY the pings are plain WATCHDOG=1
t_ready=$(awk '/ READY=1/ { print $1; exit }' "$msgs")
sleep 3
after=$(awk -v t="$t_ready" '$1 > t && / WATCHDOG=1$/' "$msgs" | wc -l)
[ "$after" -ge 5 ] || fail "expected >= 5 WATCHDOG=1 in 3 s after READY, got $after"
gap=$(max_gap "$t_ready")
awk -v g="$gap" 'BEGIN { exit !(g < 0.95) }' || fail "largest gap between pings $gap s (watchdog 1 s)"
echo "after READY: $after pings in ~3 s, largest gap $gap s"

# --- PostgreSQL frozen: the loop blocks in a write, the pings stop -----------
frozen=$(sql "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name LIKE 'agent-actions-consumer%'")
[ -n "$frozen" ] || fail "no backend of the consumer found"
kill -STOP $frozen
t_freeze=$(now)
produce "$TEST_DIR/ev2" # the write of this event blocks
sleep 3.5
s=$(since_ping)
awk -v s="$s" 'BEGIN { exit !(s >= 2.5) }' || fail "pings went on while PostgreSQL was frozen (last $s s ago)"
echo "frozen PostgreSQL: no ping for $s s"
kill -CONT $frozen
frozen=""
wait_for 0.0 10 bash -c "awk -v now=\$(date +%s.%N) '/ WATCHDOG=1/ { t = \$1 } END { print (now - t < 0.8) ? \"0.0\" : \"late\" }' '$msgs'"
wait_rows 201 30
assert_eq "$(awk -v t="$t_freeze" '$1 > t && / STOPPING/' "$msgs" | wc -l)" 0 "STOPPING before SIGTERM"

# --- SIGTERM: STOPPING=1 ------------------------------------------------------
stop_consumer c1
wait_for 1 5 count STOPPING=1
grep -q ' STOPPING=1|STATUS=stopping: shutdown requested$' "$msgs" || fail "STOPPING line: $(grep STOPPING "$msgs")"
assert_eq "$(count READY=1)" 1 "READY=1 sent once"
check_exactly_once "$TEST_DIR/ids"
pass "run --migrate: exits 2 and 3 (no database, wrong password) at once, waits for PostgreSQL, migrates; no READY while down, READY after offsets, $after pings/3 s (gap $gap s), none for $s s while frozen, STOPPING on SIGTERM"
