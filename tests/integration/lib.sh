# Sourced by tests/integration/test_*.sh. Gives each test its own database,
# topic and consumer group on the shared servers, so tests never see each
# other's rows, and helpers to run the service and assert.
set -euo pipefail
: "${AAC_TEST_STATE:?run through ctest}" "${AAC_BIN:?}" "${AAC_DEV_BROKER:?}" "${AAC_SRC:?}"
# shellcheck disable=SC1091
source "$AAC_TEST_STATE/env"

TEST_NAME=$(basename "$0" .sh)
TEST_DIR=$AAC_TEST_STATE/$TEST_NAME
rm -rf "$TEST_DIR"
mkdir -p "$TEST_DIR"
TEST_PIDS=()
CONSUMER_LOGS=() # every log start_consumer wrote, checked at exit

fail() { echo "FAIL: $TEST_NAME: $*" >&2; exit 1; }

# A TCP port nobody listens on, below the kernel's ephemeral range
# (ip_local_port_range, 32768 and up): a port in that range can be taken
# at any moment as the local end of some client's connection, and the
# server then fails with "Address already in use".
free_port() {
  local p low
  low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % (low - 20000)))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  fail "no free port"
}
pass() { echo "PASS: $TEST_NAME${1:+: $1}"; }

cleanup_pids() {
  local p
  for p in "${TEST_PIDS[@]:-}"; do
    [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
  done
}
# Every line a consumer logged must parse (logfmt or JSON lines): checked
# once the test is over and its consumers are gone, so a test that passed
# fails on a line that does not.
check_logs() {
  [ "${#CONSUMER_LOGS[@]}" -gt 0 ] || return 0
  local f files=()
  for f in $(printf '%s\n' "${CONSUMER_LOGS[@]}" | sort -u); do [ -e "$f" ] && files+=("$f"); done
  [ "${#files[@]}" -gt 0 ] || return 0
  python3 "$AAC_SRC/tests/integration/check_log.py" "${files[@]}"
}
finish_test() { # [status]: a test's own EXIT trap ends with it, passing the status it saw
  local rc=${1:-$?}
  cleanup_pids
  if [ "$rc" = 0 ] && ! check_logs; then
    echo "FAIL: $TEST_NAME: log lines that do not parse (above)" >&2
    exit 1
  fi
}
trap finish_test EXIT

# A fresh database named after the test; sets PGDATABASE.
fresh_db() {
  local db=${1:-$TEST_NAME}
  psql -qX -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
    -c "CREATE DATABASE \"$db\"" >/dev/null
  export PGDATABASE=$db
}

# psql returning one unaligned value
sql() { psql -qXAt -v ON_ERROR_STOP=1 -c "$1"; }

broker_ctl() { "$AAC_DEV_BROKER" ctl "$AAC_TEST_BROKER_CTL" "$@"; }

# Equality assertion with a message.
assert_eq() {
  [ "$1" = "$2" ] || fail "${3:-values differ}: expected '$2', got '$1'"
}

# Waits until `cmd` prints `want` or `timeout` seconds pass.
wait_for() {
  local want=$1 timeout=$2; shift 2
  local got=""
  for _ in $(seq 1 $((timeout * 10))); do
    got=$("$@" 2>/dev/null || true)
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  fail "waited ${timeout}s for '$*' to print '$want'; last: '$got'"
}

# --- the service -----------------------------------------------------------

# Topic and group named after the test, so tests never share state.
TOPIC=${TEST_NAME//_/-}
GROUP=$TOPIC-group

# Creates $TOPIC with N partitions and its dead-letter topic.
make_topics() {
  broker_ctl topic-create "$TOPIC" "${1:-4}" >/dev/null
  broker_ctl topic-create "$TOPIC.dlq" 1 >/dev/null
}

# Applies the migrations to $PGDATABASE.
migrate_up() { "$AAC_BIN" migrate up >"$TEST_DIR/migrate.log" 2>&1 || { cat "$TEST_DIR/migrate.log"; fail "migrate up"; }; }

# Starts a consumer in the background: start_consumer NAME [VAR=value...].
# Short group timeouts: the development broker completes a rebalance only
# after the session timeout.
# Its pid goes to $TEST_DIR/NAME.pid and its log to $TEST_DIR/NAME.log.
start_consumer() {
  local name=$1; shift
  env AAC_KAFKA_BOOTSTRAP_SERVERS="$AAC_TEST_BOOTSTRAP" AAC_KAFKA_TOPIC="$TOPIC" \
    AAC_KAFKA_GROUP_ID="$GROUP" AAC_HTTP_ENABLED=false AAC_LOG_LEVEL=info \
    AAC_BATCH_LINGER_MS=50 \
    AAC_KAFKA_CONSUMER_PROPERTIES_SESSION_TIMEOUT_MS=6000 \
    AAC_KAFKA_CONSUMER_PROPERTIES_MAX_POLL_INTERVAL_MS=10000 \
    AAC_KAFKA_CONSUMER_PROPERTIES_HEARTBEAT_INTERVAL_MS=500 \
    "$@" "$AAC_BIN" run >>"$TEST_DIR/$name.log" 2>&1 &
  echo $! >"$TEST_DIR/$name.pid"
  TEST_PIDS+=($!)
  CONSUMER_LOGS+=("$TEST_DIR/$name.log")
}

consumer_pid() { cat "$TEST_DIR/$1.pid"; }

# Sends SIGTERM and waits for a clean exit; fails on any other status.
stop_consumer() {
  local name=$1 pid rc=0
  pid=$(consumer_pid "$name")
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || { tail -n 20 "$TEST_DIR/$name.log" >&2; fail "$name exited with status $rc"; }
}

# produce FILE: "key<TAB>value" lines to $TOPIC.
produce() {
  kcat -b "$AAC_TEST_BOOTSTRAP" -P -t "${2:-$TOPIC}" -K $'\t' -z none -X linger.ms=5 -l "$1" ||
    fail "kcat could not produce $1"
}

# Number of messages on a topic (reads it whole).
topic_count() {
  kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$1" -e -q -f '%o\n' 2>/dev/null | wc -l
}

rows() { sql "SELECT count(*) FROM agent_actions"; }

# Waits until agent_actions holds `want` rows.
wait_rows() { wait_for "$1" "${2:-120}" rows; }

# Checks that every id in FILE is stored exactly once and nothing else is.
check_exactly_once() {
  local ids=$1 want
  want=$(wc -l <"$ids")
  psql -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL || fail "could not load $ids"
DROP TABLE IF EXISTS expected_ids;
CREATE TABLE expected_ids (event_id uuid PRIMARY KEY);
\copy expected_ids FROM '$ids'
SQL
  assert_eq "$(sql "SELECT count(*) FROM agent_actions")" "$want" "rows stored"
  assert_eq "$(sql "SELECT count(DISTINCT event_id) FROM agent_actions")" "$want" "distinct event_ids"
  assert_eq "$(sql "SELECT count(*) FROM expected_ids e WHERE NOT EXISTS (SELECT 1 FROM agent_actions a WHERE a.event_id = e.event_id)")" 0 "events missing"
  assert_eq "$(sql "SELECT count(*) FROM agent_actions a WHERE NOT EXISTS (SELECT 1 FROM expected_ids e WHERE a.event_id = e.event_id)")" 0 "unexpected events"
}

# Fails unless topic $1 holds exactly $2 messages, every partition from
# offset 0: the development broker drops a partition's oldest messages
# beyond ~5 MB, and a test must never mistake that for the consumer's loss.
check_topic_complete() {
  local got
  got=$(kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$1" -e -q -f '%p %o\n' 2>/dev/null |
    awk '{c++; if (!($1 in lo) || $2 < lo[$1]) lo[$1] = $2}
         END {bad = 0; for (p in lo) if (lo[p] != 0) bad++; print c + 0, bad}')
  assert_eq "$got" "$2 0" "messages on $1 and partitions missing their oldest (broker retention)"
}

# The rollups equal an aggregate over the raw rows (`rollups check`, every
# hour there is), and every message committed is a row, a duplicate or a
# dead letter (aac_ingest_balance).
check_rollups() {
  local out rc=0
  out=$("$AAC_BIN" rollups check --since 1970-01-01 --until 2200-01-01 2>&1) || rc=$?
  [ "$rc" = 0 ] || fail "rollups differ from the raw rows (rollups check exit $rc):
$(echo "$out" | head -n 10)"
  assert_eq "$(sql "SELECT count(*) FROM aac_ingest_balance WHERE unaccounted <> 0")" 0 \
    "hours whose messages are not rows + duplicates + dead letters"
}
