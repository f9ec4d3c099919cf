#!/usr/bin/env bash
# What `cmake --install` puts on a host works without the tree it was built
# from: a scratch copy of the sources is built (Release, as a package would
# be), installed under DESTDIR with --prefix /usr and /opt/aac, and both
# the sources and the build tree are removed. Then, from the installed
# files only: `migrate status` and `migrate up` find the installed
# migrations through the default postgres.migrations_dir; the unit's
# Documentation= files exist; `systemd-analyze verify --root` passes on the
# unit with no warning; and the unit's ExecStart= command line, run as
# systemd would (NOTIFY_SOCKET, WATCHDOG_USEC from WatchdogSec=), migrates
# an empty database, sends READY=1 and stops cleanly on SIGTERM.
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d /tmp/aac-install.XXXXXX)
cleanup() {
  local rc=$?
  rm -rf "$work"
  finish_test "$rc"
}
trap cleanup EXIT
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (scripts/install-deps.sh installs systemd)"

# --- build a scratch copy, install it twice, remove sources and build --------
mkdir "$work/src"
cp -r "$AAC_SRC"/{CMakeLists.txt,consumer,include,migrations,config,docs} "$work/src/"
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DAAC_INTEGRATION=OFF -DAAC_DEV_BROKER=OFF \
  >"$TEST_DIR/cmake.log" 2>&1 || { cat "$TEST_DIR/cmake.log"; fail "cmake configure"; }
cmake --build "$work/build" -j2 --target agent-actions-consumer >>"$TEST_DIR/cmake.log" 2>&1 ||
  { tail -n 30 "$TEST_DIR/cmake.log"; fail "cmake build"; }
root=$work/root
opt=$work/opt
DESTDIR=$root cmake --install "$work/build" --prefix /usr >>"$TEST_DIR/cmake.log" 2>&1 || fail "install /usr"
DESTDIR=$opt cmake --install "$work/build" --prefix /opt/aac >>"$TEST_DIR/cmake.log" 2>&1 || fail "install /opt/aac"
rm -rf "$work/src" "$work/build"

bin=$root/usr/bin/agent-actions-consumer
conf=$root/etc/agent-actions-consumer/agent-actions-consumer.yaml
[ -x "$bin" ] || fail "no $bin"
[ -f "$conf" ] || fail "no $conf"
[ -f "$root/usr/share/agent-actions-consumer/migrations/0001_agent_actions.up.sql" ] ||
  fail "migrations not installed"

# --- migrate from the installed files only -----------------------------------
fresh_db
"$bin" --config "$conf" migrate status >"$TEST_DIR/status1" 2>&1 || { cat "$TEST_DIR/status1"; fail "migrate status (/usr)"; }
migrations=$(ls "$AAC_SRC"/migrations/*.up.sql | wc -l)
assert_eq "$(grep -c ' pending$' "$TEST_DIR/status1")" "$migrations" "pending migrations seen by the installed binary"
"$opt/opt/aac/bin/agent-actions-consumer" --config "$conf" migrate up >"$TEST_DIR/up" 2>&1 ||
  { cat "$TEST_DIR/up"; fail "migrate up (/opt/aac)"; }
"$bin" --config "$conf" migrate status >"$TEST_DIR/status2" 2>&1 || { cat "$TEST_DIR/status2"; fail "migrate status after up"; }
assert_eq "$(grep -c ' applied ' "$TEST_DIR/status2")" "$migrations" "applied migrations"
# and the configured directory still wins over the default
rc=0
AAC_POSTGRES_MIGRATIONS_DIR=$work/none "$bin" --config "$conf" migrate status >"$TEST_DIR/status3" 2>&1 || rc=$?
assert_eq "$rc" 1 "migrate status with a missing configured directory"
grep -q "could not open migrations directory \"$work/none\"" "$TEST_DIR/status3" || fail "$(cat "$TEST_DIR/status3")"

# --- the unit: Documentation= installed, systemd-analyze verify --------------
unit=$root/etc/systemd/system/agent-actions-consumer.service
mkdir -p "$(dirname "$unit")" "$root/usr/lib/systemd"
cp "$AAC_SRC/config/agent-actions-consumer.service" "$unit"
docs=$(sed -n 's|^Documentation=file://||p' "$unit")
[ -n "$docs" ] || fail "the unit has no Documentation=file://"
for d in $docs; do [ -f "$root$d" ] || fail "Documentation= $d is not installed"; done
# verify needs the system's own units (sysinit.target...) under the root
cp -a /lib/systemd/system "$root/usr/lib/systemd/"
systemd-analyze verify --root="$root" --man=no agent-actions-consumer.service >"$TEST_DIR/verify" 2>&1 ||
  { cat "$TEST_DIR/verify"; fail "systemd-analyze verify"; }
[ ! -s "$TEST_DIR/verify" ] || { cat "$TEST_DIR/verify"; fail "systemd-analyze verify printed warnings"; }
# it does check: the same unit without the binary fails
mv "$bin" "$work/bin.moved"
systemd-analyze verify --root="$root" --man=no agent-actions-consumer.service >/dev/null 2>&1 &&
  fail "systemd-analyze verify passed with the binary missing"
mv "$work/bin.moved" "$bin"

# --- the unit's ExecStart=, as systemd runs it --------------------------------
fresh_db
make_topics 1
grep -q '^Type=notify$' "$unit" || fail "unit is not Type=notify"
wd=$(sed -n 's/^WatchdogSec=\([0-9]*\)s$/\1/p' "$unit")
[ -n "$wd" ] || fail "no WatchdogSec=Ns in the unit"
read -r -a cmdline <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
assert_eq "${cmdline[*]}" "/usr/bin/agent-actions-consumer run --migrate" "ExecStart="
cmdline[0]=$root${cmdline[0]}
sock=$TEST_DIR/notify.sock
/usr/bin/python3 "$AAC_SRC/tests/integration/notify_listen.py" "$sock" "$TEST_DIR/notify.log" &
TEST_PIDS+=($!)
wait_for 1 10 grep -c LISTENING "$TEST_DIR/notify.log"
env NOTIFY_SOCKET="$sock" WATCHDOG_USEC=$((wd * 1000000)) \
  AAC_CONFIG="$conf" AAC_KAFKA_BOOTSTRAP_SERVERS="$AAC_TEST_BOOTSTRAP" AAC_KAFKA_TOPIC="$TOPIC" \
  AAC_KAFKA_GROUP_ID="$GROUP" AAC_HTTP_ENABLED=false \
  "${cmdline[@]}" >"$TEST_DIR/run.log" 2>&1 &
pid=$!
TEST_PIDS+=($pid)
wait_for 1 30 grep -c ' READY=1' "$TEST_DIR/notify.log"
assert_eq "$(sql "SELECT count(*) FROM schema_migrations")" "$migrations" "migrations applied by ExecStart="
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
assert_eq "$rc" 0 "exit status after SIGTERM"
grep -q ' STOPPING=1' "$TEST_DIR/notify.log" || fail "no STOPPING=1"
pass "installed under /usr and /opt/aac, sources and build removed: migrate status/up, Documentation=, systemd-analyze verify, ExecStart= READY/STOPPING"
