#!/usr/bin/env bash
# The command line as an operator meets it: every subcommand answers --help
# with status 0; a bad configuration of each kind exits 2 with exactly one
# line naming the file, line and key; and no secret ever reaches the
# output, not in check-config, not in debug logs of a running consumer,
# not when PostgreSQL is unreachable.
source "$(dirname "$0")/lib.sh"

for cmd in run migrate check-config validate version partitions dlq; do
  "$AAC_BIN" "$cmd" --help >"$TEST_DIR/help" 2>&1 || fail "$cmd --help exited $?"
  grep -qi 'usage' "$TEST_DIR/help" || fail "$cmd --help prints no usage"
done
rc=0; "$AAC_BIN" frobnicate 2>"$TEST_DIR/err" || rc=$?
assert_eq "$rc" 2 "unknown command status"
grep -qF 'unknown command "frobnicate"' "$TEST_DIR/err" || fail "unknown command: $(cat "$TEST_DIR/err")"

# the command table: the usage lists every command; "help COMMAND" is
# COMMAND --help; --help needs no configuration, not even a valid one
"$AAC_BIN" --help >"$TEST_DIR/usage" || fail "--help exited $?"
printf 'batch:\n  max_events: many\n' >"$TEST_DIR/broken.yaml"
for cmd in run migrate check-config validate version partitions dlq help; do
  grep -q "^  $cmd " "$TEST_DIR/usage" || fail "the usage does not list $cmd"
  "$AAC_BIN" help "$cmd" >"$TEST_DIR/help1" 2>&1 || fail "help $cmd exited $?"
  "$AAC_BIN" "$cmd" --help >"$TEST_DIR/help2" 2>&1 || fail "$cmd --help exited $?"
  cmp -s "$TEST_DIR/help1" "$TEST_DIR/help2" || fail "help $cmd differs from $cmd --help"
  grep -q "usage: agent-actions-consumer .*$cmd" "$TEST_DIR/help1" || fail "help $cmd: $(head -n 1 "$TEST_DIR/help1")"
  "$AAC_BIN" --config "$TEST_DIR/broken.yaml" "$cmd" -h >/dev/null 2>&1 || fail "$cmd -h with a bad configuration exited $?"
done
# what the help says the service does by itself, and where the
# configuration is documented once installed (not a source-tree path)
"$AAC_BIN" partitions --help | grep -A1 'The service itself runs `ensure` at start and then every' |
  grep -q '^partitions.upkeep_interval_s (default 21600 s: 6 hours)' ||
  fail "partitions --help: $("$AAC_BIN" partitions --help | grep -A2 -i 'service itself')"
grep -qx '  /etc/agent-actions-consumer/agent-actions-consumer.yaml' "$TEST_DIR/usage" ||
  fail "--help does not name the installed configuration file"
if grep -q 'config/agent-actions-consumer.yaml' "$TEST_DIR/usage"; then
  fail "--help names a source-tree path"
fi
rc=0; "$AAC_BIN" help frobnicate 2>"$TEST_DIR/err" || rc=$?
assert_eq "$rc" 2 "help for an unknown command"
rc=0; "$AAC_BIN" --bogus run 2>"$TEST_DIR/err" || rc=$?
assert_eq "$rc" 2 "unknown option before the command"
grep -qF 'unknown option "--bogus"' "$TEST_DIR/err" || fail "unknown option: $(cat "$TEST_DIR/err")"
rc=0; "$AAC_BIN" 2>"$TEST_DIR/err" >/dev/null || rc=$?
assert_eq "$rc" 2 "no command"
grep -q '^usage:' "$TEST_DIR/err" || fail "no command: no usage on stderr"
assert_eq "$("$AAC_BIN" --version)" "$("$AAC_BIN" version)" "--version"
"$AAC_BIN" --version --help | grep -q 'usage: agent-actions-consumer version' || fail "--version --help"

# --config FILE before or after the command, in each spelling
printf 'batch:\n  max_events: 77\n' >"$TEST_DIR/c.yaml"
for args in "--config $TEST_DIR/c.yaml check-config" "-c $TEST_DIR/c.yaml check-config" \
  "--config=$TEST_DIR/c.yaml check-config" "check-config --config $TEST_DIR/c.yaml" \
  "check-config -c $TEST_DIR/c.yaml" "check-config --config=$TEST_DIR/c.yaml" \
  "-c $TEST_DIR/broken.yaml check-config -c $TEST_DIR/c.yaml"; do
  # shellcheck disable=SC2086 # the words are meant to split
  out=$("$AAC_BIN" $args 2>&1) || fail "$args: $out"
  grep -q '^  max_events: 77$' <<<"$out" || fail "$args: the file was not read"
done
for args in "--config" "check-config --config" "-c" "run -c"; do
  rc=0
  # shellcheck disable=SC2086 # the words are meant to split
  "$AAC_BIN" $args 2>"$TEST_DIR/err" >/dev/null || rc=$?
  assert_eq "$rc" 2 "$args without a file"
  grep -qF -- '--config needs a file name' "$TEST_DIR/err" || fail "$args: $(cat "$TEST_DIR/err")"
done
# the command's own words: named when unexpected, a cluster kept whole,
# nothing after "--" taken for --config
rc=0; "$AAC_BIN" check-config --list-env extra 2>"$TEST_DIR/err" >/dev/null || rc=$?
assert_eq "$rc" 2 "check-config --list-env extra"
grep -qF 'check-config: unexpected argument "extra"' "$TEST_DIR/err" || fail "$(cat "$TEST_DIR/err")"
rc=0; "$AAC_BIN" check-config -xc "$TEST_DIR/c.yaml" 2>"$TEST_DIR/err" >/dev/null || rc=$?
assert_eq "$rc" 2 "check-config -xc FILE"
grep -qF 'unexpected argument "-xc"' "$TEST_DIR/err" || fail "$(cat "$TEST_DIR/err")"
rc=0; "$AAC_BIN" validate -- --config 2>"$TEST_DIR/err" >/dev/null || rc=$?
assert_eq "$rc" 2 "validate -- --config"
grep -qF 'could not open --config' "$TEST_DIR/err" || fail "validate -- --config: $(cat "$TEST_DIR/err")"
# validate's options (getopt_long): an unknown one is status 2 and named;
# "--" ends them, "-" is standard input
for bad in --bogus --json=1 -x; do
  rc=0; "$AAC_BIN" validate "$bad" 2>"$TEST_DIR/err" >/dev/null || rc=$?
  assert_eq "$rc" 2 "validate $bad status"
  grep -qF "validate: unknown option \"$bad\"" "$TEST_DIR/err" || fail "validate $bad: $(cat "$TEST_DIR/err")"
done
rc=0; out=$(printf '{}\n' | "$AAC_BIN" validate --json --normalized -- -) || rc=$?
assert_eq "$rc" 1 "validate of an invalid line from stdin"
echo "$out" | grep -q '"valid":false' || fail "validate --json: $out"

# bad configurations: status 2, one line, naming what is wrong
check_bad() { # yaml, expected substring
  printf "%b" "$1" >"$TEST_DIR/bad.yaml"
  local rc=0
  "$AAC_BIN" check-config --config "$TEST_DIR/bad.yaml" >"$TEST_DIR/out" 2>"$TEST_DIR/err" || rc=$?
  assert_eq "$rc" 2 "status for: $1"
  assert_eq "$(wc -l <"$TEST_DIR/err")" 1 "error lines for: $1"
  grep -qF -- "$2" "$TEST_DIR/err" || fail "error for '$1' lacks '$2': $(cat "$TEST_DIR/err")"
  [ ! -s "$TEST_DIR/out" ] || fail "check-config printed a configuration for a bad file"
}
check_bad 'batch:\n  max_evnts: 5\n' "bad.yaml:2: batch.max_evnts: unknown key"
check_bad 'batch:\n  linger_ms: soon\n' "bad.yaml:2: batch.linger_ms: expected an integer"
check_bad 'batch:\n  max_events: 0\n' "bad.yaml:2: batch.max_events: 0 is out of range"
check_bad 'kafka:\n  topic: ""\n' "bad.yaml:2: kafka.topic: a value is required"
check_bad 'batch: [\n' "bad.yaml:2: malformed YAML"
# librdkafka's properties, judged by librdkafka as the clients will be
check_bad 'kafka:\n  properties:\n    socket.timeout.mx: 5\n' \
  'kafka property socket.timeout.mx: No such configuration property'
check_bad 'kafka:\n  consumer_properties:\n    auto.offset.reset: middle\n' \
  'kafka property auto.offset.reset: Invalid value "middle"'
check_bad 'kafka:\n  producer_properties:\n    max.in.flight.requests.per.connection: 10\n' \
  'the dead-letter producer'"'"'s configuration: `max.in.flight` must be set <= 5'
check_bad 'kafka:\n  producer_properties:\n    acks: 1\n' \
  'kafka.producer_properties: acks cannot be changed'
check_bad 'kafka:\n  consumer_properties:\n    statistics.interval.ms: 0\n' \
  'kafka property statistics.interval.ms: 0 turns'
check_bad 'http:\n  liveness_timeout_ms: 30000\n' \
  'http.liveness_timeout_ms: 30000 is below 61000: the service may wait 60000 ms in one call (postgres.statement_timeout_ms)'
# run says it before waiting for anything: PostgreSQL on port 1 would be
# waited for until the timeout
for args in run "run --migrate"; do
  rc=0
  # shellcheck disable=SC2086
  AAC_HTTP_ENABLED=false AAC_POSTGRES_PORT=1 AAC_KAFKA_PROPERTIES_SOCKET_TIMEOUT_MX=5 timeout 30 "$AAC_BIN" $args \
    2>"$TEST_DIR/err" >/dev/null || rc=$?
  assert_eq "$rc" 2 "$args with a misspelled librdkafka property"
  assert_eq "$(wc -l <"$TEST_DIR/err")" 1 "$args: lines logged"
  grep -qF 'msg="could not load the configuration" error="kafka property socket.timeout.mx: No such configuration property' \
    "$TEST_DIR/err" || fail "$args: $(cat "$TEST_DIR/err")"
done
rc=0; "$AAC_BIN" check-config --config /nonexistent.yaml 2>"$TEST_DIR/err" || rc=$?
assert_eq "$rc" 2 "unreadable file status"
grep -q 'cannot read /nonexistent.yaml' "$TEST_DIR/err" || fail "unreadable file message"
rc=0; AAC_BATCH_MAX_EVENTS=many "$AAC_BIN" check-config 2>"$TEST_DIR/err" >/dev/null || rc=$?
assert_eq "$rc" 2 "bad environment variable status"
rc=0; AAC_BATCH_MAX_EVENTS=many "$AAC_BIN" run 2>"$TEST_DIR/err" >/dev/null || rc=$?
assert_eq "$rc" 2 "run with a bad configuration"

# secrets: nowhere in any output
pg_secret='Pg-S3cret-7f3a'; file_secret='File-S3cret-91bd'; sasl_secret='Sasl-S3cret-c2e8'
printf '%s\n' "$file_secret" >"$TEST_DIR/pw"
cat >"$TEST_DIR/secret.yaml" <<YAML
postgres:
  password: "$pg_secret"
kafka:
  properties:
    sasl.password: "$sasl_secret"
    sasl.username: "alice"
YAML
"$AAC_BIN" check-config --config "$TEST_DIR/secret.yaml" >"$TEST_DIR/dump" 2>&1 || fail "check-config"
grep -q 'sasl.username: "alice"' "$TEST_DIR/dump" || fail "check-config hides a non-secret"

fresh_db
migrate_up
make_topics 2
python3 "$AAC_SRC/tests/integration/gen_events.py" --count 500 --invalid-every 50 >"$TEST_DIR/events"
produce "$TEST_DIR/events"
# trust authentication ignores the password, so the consumer works with it
start_consumer c1 AAC_LOG_LEVEL=debug AAC_POSTGRES_PASSWORD="$pg_secret" \
  AAC_KAFKA_PROPERTIES_SASL_PASSWORD="$sasl_secret" AAC_KAFKA_PROPERTIES_DEBUG=conf,security
wait_rows 490 60
stop_consumer c1
# PostgreSQL unreachable, password from a file: the failure is logged, in
# JSON lines here (lib.sh's exit check parses every line of every log);
# libpq's message quotes the server's address
start_consumer c2 AAC_LOG_LEVEL=debug AAC_LOG_FORMAT=json AAC_POSTGRES_PORT=1 \
  AAC_POSTGRES_PASSWORD_FILE="$TEST_DIR/pw"
for _ in $(seq 1 300); do grep -q 'PostgreSQL not available' "$TEST_DIR/c2.log" && break; sleep 0.1; done
grep -q '^{"ts":"[^"]*","level":"warn","msg":"PostgreSQL not available at start, waiting",.*"error":"could not connect to PostgreSQL: .*\\"' \
  "$TEST_DIR/c2.log" || fail "the connection failure was not logged in JSON: $(head -n 3 "$TEST_DIR/c2.log")"
stop_consumer c2
for s in "$pg_secret" "$file_secret" "$sasl_secret"; do
  if grep -l -- "$s" "$TEST_DIR/dump" "$TEST_DIR/c1.log" "$TEST_DIR/c2.log"; then
    fail "a secret was printed"
  fi
done
# the check means something only if librdkafka dumped its SASL settings
grep -q 'sasl.password = \[redacted\]' "$TEST_DIR/c1.log" || fail "no configuration dump in the debug log"
pass "help, bad configurations and secrets"
