#!/usr/bin/env bash
# test_devbroker: the development broker through real clients: kcat speaks
# the Kafka protocol to it, `aac-dev-broker ctl` drives its control socket.
# Runs against the shared fixture broker (topics named after this run, so a
# rerun never sees old data), then starts a private broker to check startup,
# argument errors and a clean, leak-free shutdown.
# shellcheck disable=SC1091
source "$(dirname "$0")/lib.sh"

B=$AAC_TEST_BOOTSTRAP
T=devbroker-$$
N=500

# kcat with a bound: a broken broker must fail the test, not hang it
kc() { timeout 60 kcat -b "$B" "$@"; }
# number of messages in topic $1, read from the beginning up to the end
count() { kc -C -t "$1" -o beginning -e -q | wc -l; }
# partition count from the metadata; "err" when the topic reports an error
partitions() {
  local md
  md=$(kc -L -t "$1") || { echo "kcat-failed"; return; }
  if grep -q "topic \"$1\" with .* partitions: " <<<"$md"; then echo err; return; fi
  sed -n "s/^ *topic \"$1\" with \([0-9]*\) partitions:$/\1/p" <<<"$md"
}
# asserts that `broker_ctl ARGS...` fails with exit 1 and an "error:" line
ctl_error() {
  local out rc=0
  out=$(broker_ctl "$@") || rc=$?
  assert_eq "$rc" 1 "exit status of ctl $*"
  [[ $out == "error: "* ]] || fail "ctl $*: expected an error reply, got '$out'"
}

# --- control socket basics -------------------------------------------------
assert_eq "$(broker_ctl ping)" "ok pong" "ping"
broker_ctl help | grep -q "topic-create NAME PARTITIONS" || fail "help lists no topic-create"

# --- topic creation, produce and consume ----------------------------------
assert_eq "$(broker_ctl topic-create "$T" 4)" "ok topic=$T partitions=4 replication=3" "topic-create"
assert_eq "$(partitions "$T")" 4 "partition count in metadata"
ctl_error topic-create "$T" 4 # exists already

# one key: every message in one partition; distinct keys: spread over all 4
seq 1 "$N" | kc -P -t "$T" -k key || fail "kcat could not produce with -k"
seq 1 "$N" | sed 's/.*/k&:&/' | kc -P -t "$T" -K: || fail "kcat could not produce with -K"
assert_eq "$(count "$T")" $((2 * N)) "messages read back"
assert_eq "$(kc -C -t "$T" -o beginning -e -q -f '%k %p\n' | grep -c '^key ')" "$N" "keyed messages"
assert_eq "$(kc -C -t "$T" -o beginning -e -q -f '%k %p\n' | awk '$1 == "key" {print $2}' |
  sort -u | wc -l)" 1 "partitions holding key 'key'"
assert_eq "$(kc -C -t "$T" -o beginning -e -q -f '%p\n' | sort -u | wc -l)" 4 "partitions used"
pass "topic with 4 partitions, $((2 * N)) messages produced and read back"

# --- a broker down and up again: production waits, then resumes -----------
TD=$T-down
broker_ctl topic-create "$TD" 1 >/dev/null
assert_eq "$(broker_ctl partition-leader "$TD" 0 2)" "ok topic=$TD partition=0 leader=2" "leader"
b2=$(kc -L | sed -n 's/^ *broker 2 at \([^ ]*\).*/\1/p')
[ -n "$b2" ] || fail "no address for broker 2 in the metadata"
assert_eq "$(broker_ctl broker-down 2)" "ok broker=2 down" "broker-down"
if timeout 20 kcat -b "$b2" -L >/dev/null 2>&1; then fail "broker 2 ($b2) still answers while down"; fi
seq 1 100 | kc -P -t "$TD" 2>"$TEST_DIR/down.err" &
producer=$!
TEST_PIDS+=("$producer")
sleep 2
kill -0 "$producer" 2>/dev/null || fail "produce finished while the partition leader was down"
assert_eq "$(broker_ctl broker-up 2)" "ok broker=2 up" "broker-up"
wait "$producer" || { cat "$TEST_DIR/down.err" >&2; fail "produce did not resume after broker-up"; }
assert_eq "$(count "$TD")" 100 "messages after broker-up"
timeout 20 kcat -b "$b2" -L >/dev/null 2>&1 || fail "broker 2 ($b2) does not answer after broker-up"
pass "broker down blocks its partition; broker up lets production finish"

# --- injected request errors are observable -------------------------------
# Broker-level: three Produce errors on the leader; the producer retries
# through them (the mock appends nothing on an injected error), so the
# count is exact and the error stack empties.
TE=$T-err
broker_ctl topic-create "$TE" 1 >/dev/null
broker_ctl partition-leader "$TE" 0 3 >/dev/null
assert_eq "$(broker_ctl broker-request-error 3 Produce REQUEST_TIMED_OUT 0 3)" \
  "ok broker=3 api=Produce error=REQUEST_TIMED_OUT rtt_ms=0 count=3" "broker-request-error"
assert_eq "$(broker_ctl error-count 3 Produce)" "ok broker=3 api=Produce count=3" "errors queued"
seq 1 20 | kc -P -t "$TE" -d msg 2>"$TEST_DIR/retry.err" || fail "produce failed despite retries"
grep -q "Request timed out" "$TEST_DIR/retry.err" || fail "kcat never saw the injected error"
assert_eq "$(broker_ctl error-count 3 Produce)" "ok broker=3 api=Produce count=0" "errors used up"
assert_eq "$(count "$TE")" 20 "messages after retried errors"

# Cluster-level, no retries: the injected error fails the delivery. A new
# topic led by broker 2: a broker that ever had a Produce error stack of
# its own consults it instead of the cluster's, and the shared broker's
# brokers 3 (above) and 1 and 3 (test_faults_dlq_fatal,
# test_pipeline_shutdown_bounds, in whatever order ctest runs them) get
# one; no test gives broker 2 one.
TC=$T-clu
broker_ctl topic-create "$TC" 1 >/dev/null
broker_ctl partition-leader "$TC" 0 2 >/dev/null
assert_eq "$(broker_ctl request-error Produce REQUEST_TIMED_OUT 1)" \
  "ok api=Produce error=REQUEST_TIMED_OUT count=1" "request-error"
if echo x | kc -P -t "$TC" -X message.send.max.retries=0 2>"$TEST_DIR/fail.err"; then
  fail "produce succeeded despite an injected error and no retries"
fi
grep -q "Request timed out" "$TEST_DIR/fail.err" || fail "kcat's failure names another error"
# ...and clear-errors removes what is left of a stack
broker_ctl request-error Produce 7 100 >/dev/null # 7: REQUEST_TIMED_OUT by number
assert_eq "$(broker_ctl clear-errors Produce)" "ok api=Produce cleared" "clear-errors"
echo y | kc -P -t "$TC" -X message.send.max.retries=0 || fail "produce failed after clear-errors"
assert_eq "$(count "$TC")" 1 "messages after clear-errors"

# Topic error in metadata, then cleared
broker_ctl topic-error "$T" UNKNOWN_TOPIC_OR_PART >/dev/null
assert_eq "$(partitions "$T")" err "metadata with a topic error"
broker_ctl topic-error "$T" NO_ERROR >/dev/null
assert_eq "$(partitions "$T")" 4 "metadata after clearing the topic error"
pass "request errors: retried, failing without retries, cleared; topic error in metadata"

# --- bad commands get errors; the broker keeps answering -------------------
ctl_error no-such-command
ctl_error topic-create
ctl_error topic-create "$T-x" 0
ctl_error topic-create "$T-x" 3 9
ctl_error topic-create 'bad/name' 3
ctl_error broker-down 0
ctl_error broker-up 99
ctl_error rtt 1 -5
ctl_error request-error NoSuchApi REQUEST_TIMED_OUT
ctl_error request-error Produce NO_SUCH_ERROR
ctl_error request-error Produce REQUEST_TIMED_OUT 0
ctl_error broker-request-error 7 Produce REQUEST_TIMED_OUT 0
ctl_error coordinator cluster g 1
ctl_error partition-leader "$T" 99 1
ctl_error ping extra
rc=0
"$AAC_DEV_BROKER" ctl "$TEST_DIR/no-such.sock" ping >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "ctl exit status without a broker"
if command -v python3 >/dev/null; then
  # raw bytes the ctl client would never send: an oversized line, a NUL
  got=$(python3 - "$AAC_TEST_BROKER_CTL" <<'PY'
import socket, sys
def ask(data):
    s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        d = s.recv(4096)
        if not d: return out
        out += d
print(ask(b"x" * 5000).decode().strip())
print(ask(b"pi\0ng\nping\n").decode().replace("\n", "|"))
print(ask(b"ping\nrtt 1 10").decode().replace("\n", "|"))
PY
  )
  assert_eq "$got" "error: line too long (limit 1023 bytes)
error: line contains a NUL byte|ok pong|
ok pong|error: command not terminated by a newline, not run|" "raw protocol errors"
fi
assert_eq "$(broker_ctl ping)" "ok pong" "ping after bad commands"
assert_eq "$(broker_ctl rtt all 0)" "ok broker=all rtt_ms=0" "rtt"
assert_eq "$(broker_ctl coordinator group "$T-g" 1)" "ok group=$T-g coordinator=1" "coordinator"
pass "bad commands answered with error, exit 1; the broker still answers"

# --- clients killed with -9 don't hurt the broker --------------------------
# kcat itself, not under timeout: kill -9 must reach the Kafka client
kcat -b "$B" -G "$T-g" "$T" -o beginning -q -u >"$TEST_DIR/group.out" 2>/dev/null &
consumer=$!
TEST_PIDS+=("$consumer")
wait_for yes 60 bash -c "[ -s '$TEST_DIR/group.out' ] && echo yes"
kill -9 "$consumer"
if command -v python3 >/dev/null; then
  # a control client that dies half-way through a line
  python3 -c "
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'topic-cre')
time.sleep(60)" "$AAC_TEST_BROKER_CTL" &
half=$!
TEST_PIDS+=("$half")
sleep 0.5
kill -9 "$half"
fi
{ wait "$consumer" "${half:-$consumer}"; } 2>/dev/null || true
assert_eq "$(broker_ctl ping)" "ok pong" "ping after kill -9 of clients"
assert_eq "$(count "$T")" $((2 * N)) "messages after a consumer was killed"
pass "kill -9 of a group consumer and of a control client"

# --- the service binary carries no broker ----------------------------------
rc=0
"$AAC_BIN" dev-broker --help >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "exit status of the service's removed dev-broker command"
# the dynamic symbol table (nm -D, binutils): no reference to rdkafka_mock.h
nm -D "$AAC_DEV_BROKER" | grep -q ' rd_kafka_mock_cluster_new' ||
  fail "nm sees no rd_kafka_mock_cluster_new in aac-dev-broker (the check below would be void)"
if nm -D "$AAC_BIN" | grep -q 'rd_kafka_mock_'; then
  fail "agent-actions-consumer references librdkafka's mock cluster: $(nm -D "$AAC_BIN" | grep -m 3 rd_kafka_mock_)"
fi
pass "the service binary neither runs nor links the mock cluster"

# --- a private broker: startup, bad arguments, clean exit -----------------
rc=0
"$AAC_DEV_BROKER" --brokers 0 >/dev/null 2>"$TEST_DIR/args.err" || rc=$?
assert_eq "$rc" 2 "exit status for --brokers 0"
assert_eq "$(wc -l <"$TEST_DIR/args.err")" 1 "lines of error output for bad arguments"
rc=0
"$AAC_DEV_BROKER" --topic 'a:x' >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "exit status for a bad --topic"
"$AAC_DEV_BROKER" --help | grep -q -- "--bootstrap-file" || fail "--help lacks the options"
# getopt_long: a missing value, an unknown option and a stray word, each
# named in one line
for args in "--brokers|--brokers: missing value" "--bogus|unknown argument '--bogus'" \
  "extra|unknown argument 'extra'" "--topic=a:0|partitions must be an integer"; do
  rc=0
  "$AAC_DEV_BROKER" ${args%%|*} >/dev/null 2>"$TEST_DIR/args.err" || rc=$?
  assert_eq "$rc" 2 "exit status for ${args%%|*}"
  grep -qF -- "${args#*|}" "$TEST_DIR/args.err" || fail "${args%%|*}: $(cat "$TEST_DIR/args.err")"
done

pb=$TEST_DIR/private.bootstrap
ps=$TEST_DIR/private.sock
"$AAC_DEV_BROKER" --brokers 2 --bootstrap-file "$pb" --control "$ps" --topic pre:2 \
  --topic dflt --default-partitions 3 >"$TEST_DIR/private.out" 2>"$TEST_DIR/private.log" &
private=$!
TEST_PIDS+=("$private")
wait_for yes 30 bash -c "[ -s '$pb' ] && echo yes"
grep -Eq '^127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+$' "$pb" || fail "bootstrap file: $(cat "$pb")"
assert_eq "$(cat "$TEST_DIR/private.out")" "$(cat "$pb")" "bootstrap on stdout"
B=$(cat "$pb") # kc, count and partitions now talk to the private broker
assert_eq "$(partitions pre)" 2 "partitions of --topic pre:2"
assert_eq "$(partitions dflt)" 3 "partitions of --topic with --default-partitions 3"
seq 1 50 | kc -P -t pre || fail "produce to the private broker"
assert_eq "$(count pre)" 50 "messages on the private broker"
# leave state behind for the shutdown to free: queued errors, a topic error
AAC_TEST_BROKER_CTL=$ps broker_ctl broker-request-error 1 Fetch REQUEST_TIMED_OUT 5 4 >/dev/null
AAC_TEST_BROKER_CTL=$ps broker_ctl request-error Produce REQUEST_TIMED_OUT 3 >/dev/null
AAC_TEST_BROKER_CTL=$ps broker_ctl topic-error pre LEADER_NOT_AVAILABLE >/dev/null
holder=""
if command -v python3 >/dev/null; then
  # connections still open at the shutdown: replies never read, a half line
  python3 - "$ps" <<'PY' &
import socket, sys, time
a = socket.socket(socket.AF_UNIX); a.connect(sys.argv[1]); a.sendall(b"help\n" * 2000)
b = socket.socket(socket.AF_UNIX); b.connect(sys.argv[1]); b.sendall(b"rtt 1 5")
time.sleep(60)
PY
  holder=$!
  TEST_PIDS+=("$holder")
  sleep 1
fi
kill -TERM "$private"
rc=0
wait "$private" || rc=$?
[ -z "$holder" ] || kill "$holder" 2>/dev/null || true
if [ "$rc" != 0 ] || grep -Eq 'Sanitizer|runtime error' "$TEST_DIR/private.log"; then
  cat "$TEST_DIR/private.log" >&2
  fail "private broker exited with status $rc"
fi
[ ! -e "$pb" ] || fail "bootstrap file left behind after exit"
[ ! -e "$ps" ] || fail "control socket left behind after exit"
pass "private broker: bootstrap file, topics, SIGTERM exits 0 with nothing left behind, clients or not"
