# Sourced by tests/integration/test_*.sh. Gives each test its own database,
# topic and consumer group on the shared servers, so tests never see each
# other's rows, and helpers to run the service and assert.
set -euo pipefail
: "${AAC_TEST_STATE:?run through ctest}" "${AAC_BIN:?}" "${AAC_SRC:?}"
# shellcheck disable=SC1091
source "$AAC_TEST_STATE/env"

TEST_NAME=$(basename "$0" .sh)
TEST_DIR=$AAC_TEST_STATE/$TEST_NAME
rm -rf "$TEST_DIR"
mkdir -p "$TEST_DIR"
TEST_PIDS=()

fail() { echo "FAIL: $TEST_NAME: $*" >&2; exit 1; }
pass() { echo "PASS: $TEST_NAME${1:+: $1}"; }

cleanup_pids() {
  local p
  for p in "${TEST_PIDS[@]:-}"; do
    [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
  done
}
trap cleanup_pids EXIT

# A fresh database named after the test; sets PGDATABASE.
fresh_db() {
  local db=${1:-$TEST_NAME}
  psql -qX -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
    -c "CREATE DATABASE \"$db\"" >/dev/null
  export PGDATABASE=$db
}

# psql returning one unaligned value
sql() { psql -qXAt -v ON_ERROR_STOP=1 -c "$1"; }

broker_ctl() { "$AAC_BIN" dev-broker ctl "$AAC_TEST_BROKER_CTL" "$@"; }

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
