#!/usr/bin/env bash
# The HTTP endpoints of a running consumer: /metrics parsed back by
# Prometheus' own parser with the exact values of a known stream (bytes
# and each partition's committed offset included, the deprecated names
# equal to their successors), the process_* family agreeing with
# prometheus_client's own reading of the process, /health
# and /ready JSON, 404/405/limits, an idle client dropped after
# http.request_timeout_ms without holding anything up, /health answering
# within 50 ms while a large stream is written, and a port already taken
# refused at start with exit status 2.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 4

check_metrics() { /usr/bin/python3 "$AAC_SRC/tests/integration/check_metrics.py" "$@"; }

# A free loopback port from a random range.

port=$(free_port)
base=http://127.0.0.1:$port
timeout_ms=1000

# 2000 events, every 50th invalid (missing correlation_id), and the first 10
# again as a producer's retries: 2010 consumed, 1960 written, 10 duplicates
gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 2000 --invalid-every 50 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
head -n 10 "$TEST_DIR/events" >"$TEST_DIR/dups"
produce "$TEST_DIR/events"
# bytes of the values (after the key's tab) of the 2010 messages
value_bytes() { /usr/bin/python3 -c 'import sys; print(sum(len(l.rstrip(b"\n").split(b"\t", 1)[1]) for f in sys.argv[1:] for l in open(f, "rb")))' "$@"; }
bytes=$(value_bytes "$TEST_DIR/events" "$TEST_DIR/dups")

# a liveness of 6 s, which the configuration allows only with every wait
# of one call bounded below 5 s (the dead letters' wait is the longest)
start_consumer c1 AAC_HTTP_ENABLED=true AAC_HTTP_ADDRESS=127.0.0.1 AAC_HTTP_PORT="$port" \
  AAC_HTTP_REQUEST_TIMEOUT_MS=$timeout_ms AAC_HTTP_LIVENESS_TIMEOUT_MS=6000 \
  AAC_POSTGRES_STATEMENT_TIMEOUT_MS=4000 AAC_POSTGRES_CONNECT_TIMEOUT_S=4 \
  AAC_POSTGRES_TCP_USER_TIMEOUT_MS=4000 AAC_POSTGRES_KEEPALIVES_IDLE_S=2 \
  AAC_POSTGRES_KEEPALIVES_INTERVAL_S=1
wait_rows 1960 60
produce "$TEST_DIR/dups"

# --- /metrics: the stream's exact figures, via prometheus_client's parser ---
# (consumer lag comes from librdkafka's statistics every 5 s)
check_metrics "$base/metrics" --wait 30 --dump "$TEST_DIR/metrics.txt" \
  'aac_events_consumed_total==2010' 'aac_events_written_total==1960' \
  "aac_consumed_bytes_total==$bytes" 'aac_dead_letter_delivery_failures_total==0' \
  'aac_events_duplicate_total==10' 'aac_events_invalid_total==40' \
  'aac_dead_letters_total{reason="missing_field"}==40' \
  'aac_dead_letters_total{reason="invalid_json"}==0' \
  'aac_dead_letters_total{reason="db_rejected"}==0' \
  'aac_dead_letters_total{reason="retries_exhausted"}==0' \
  'aac_retries_total{class="transient"}==0' \
  'aac_batches_total>0' \
  'aac_batch_size_messages_count==aac_batches_total' \
  'aac_batch_size_messages_sum==aac_events_consumed_total' \
  'aac_batch_size_count==aac_batch_size_messages_count' \
  'aac_batch_size_sum==aac_batch_size_messages_sum' \
  'aac_last_poll_timestamp_seconds==aac_last_alive_timestamp_seconds' \
  'aac_batch_write_duration_seconds_count==aac_batches_total' \
  'aac_end_to_end_delay_seconds_count==1970' \
  'aac_partitions_assigned==4' \
  "aac_partition_paused{topic=\"$TOPIC\",partition=\"0\"}==0" \
  "aac_consumer_lag_messages{topic=\"$TOPIC\",partition=\"0\"}==0" "aac_consumer_lag_messages{topic=\"$TOPIC\",partition=\"1\"}==0" \
  "aac_consumer_lag_messages{topic=\"$TOPIC\",partition=\"2\"}==0" "aac_consumer_lag_messages{topic=\"$TOPIC\",partition=\"3\"}==0" \
  "aac_consumer_lag{topic=\"$TOPIC\",partition=\"0\"}==0" "aac_consumer_lag{topic=\"$TOPIC\",partition=\"3\"}==0" \
  'aac_consumption_paused==0' 'aac_postgres_up==1' 'aac_broker_up==1' \
  'aac_group_joined==1' 'aac_ready==1' 'aac_up==1' \
  'aac_last_commit_timestamp_seconds>1.7e9' 'process_start_time_seconds>1.7e9' \
  'aac_build_info{version="'"$("$AAC_BIN" version | cut -d' ' -f2)"'"}==1' ||
  fail "/metrics (see $TEST_DIR/metrics.txt)"
# each partition's committed offset is the one stored in PostgreSQL, and
# together they cover the 2010 messages (offsets from 0 on fresh topics)
committed=()
while read -r p o; do
  committed+=("aac_committed_offset{topic=\"$TOPIC\",partition=\"$p\"}==$o")
done < <(sql "SELECT kafka_partition, next_offset FROM consumer_offsets
              WHERE consumer_group = '$GROUP' AND topic = '$TOPIC' ORDER BY 1" | tr '|' ' ')
assert_eq "${#committed[@]}" 4 "partitions in consumer_offsets"
assert_eq "$(sql "SELECT sum(next_offset) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'")" 2010 "offsets stored"
check_metrics "$base/metrics" "${committed[@]}" || fail "aac_committed_offset differs from consumer_offsets"
# the process family, against prometheus_client reading the same process
/usr/bin/python3 "$AAC_SRC/tests/integration/check_process_metrics.py" "$base/metrics" \
  "$(consumer_pid c1)" || fail "process_* metrics"
# every reason code is a series, zeros included (a bounded label set)
reasons=$(grep -c '^aac_dead_letters_total{reason=' "$TEST_DIR/metrics.txt")
[ "$reasons" -ge 20 ] || fail "only $reasons dead-letter reasons exposed"
assert_eq "$(grep -c '^aac_dead_letters_total{reason="none"}' "$TEST_DIR/metrics.txt")" 0 "reason none"

# --- /health and /ready ----------------------------------------------------
json_field() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }
code=$(curl -s -o "$TEST_DIR/health.json" -w '%{http_code}' "$base/health")
assert_eq "$code" 200 "/health"
assert_eq "$(json_field 'd["status"]' <"$TEST_DIR/health.json")" ok "/health status"
assert_eq "$(json_field 'd["counters"]["written"]' <"$TEST_DIR/health.json")" 1960 "/health written"
assert_eq "$(json_field 'd["counters"]["dead_lettered"]' <"$TEST_DIR/health.json")" 40 "/health dead letters"
assert_eq "$(json_field 'sorted(d["partitions_assigned"])' <"$TEST_DIR/health.json")" "[0, 1, 2, 3]" "/health partitions"
assert_eq "$(json_field 'd["last_commit_at"][-1]' <"$TEST_DIR/health.json")" Z "/health last_commit_at"
code=$(curl -s -o "$TEST_DIR/ready.json" -w '%{http_code}' "$base/ready")
assert_eq "$code" 200 "/ready: $(cat "$TEST_DIR/ready.json")"
assert_eq "$(json_field 'd["reasons"]' <"$TEST_DIR/ready.json")" "[]" "/ready reasons"

# --- routes, methods, limits -----------------------------------------------
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$base/nope")" 404 "unknown path"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$base/metrics")" 405 "POST"
curl -s -D - -o /dev/null -X DELETE "$base/ready" | tr -d '\r' | grep -qx 'Allow: GET, HEAD' ||
  fail "405 without Allow"
big=$(head -c 20000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "$base/health" || true)
[[ "$code" =~ ^4 || "$code" = 000 ]] || fail "oversized headers answered $code"

# an idle client is dropped after request_timeout_ms; others are served meanwhile
exec 3<>"/dev/tcp/127.0.0.1/$port"
t0=$(date +%s%N)
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$base/health")" 200 "health beside an idle client"
read -r -t 10 -u 3 _ || true # returns at EOF
dt=$((($(date +%s%N) - t0) / 1000000))
exec 3<&-
[ "$dt" -ge $((timeout_ms - 200)) ] && [ "$dt" -le $((timeout_ms + 2000)) ] ||
  fail "idle client dropped after ${dt} ms (request_timeout_ms=$timeout_ms)"

# --- /health latency while a large stream is written ------------------------
# 24000 events (about 3 MB a partition: within the dev broker's retention),
# sampled from before the first is produced until the last is stored
python3 "$gen" --count 24000 --start 100000 --invalid-every 1000 >"$TEST_DIR/big"
: >"$TEST_DIR/latency"
(
  while [ ! -e "$TEST_DIR/sampling.stop" ]; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$base/health" >>"$TEST_DIR/latency"
    sleep 0.01
  done
) &
sampler=$!
t0=$(date +%s%N)
produce "$TEST_DIR/big"
wait_rows 25936 180
dt=$((($(date +%s%N) - t0) / 1000000))
touch "$TEST_DIR/sampling.stop"
wait "$sampler"
awk -v ms="$dt" '$1 != 200 { bad++ } { n++; if ($2 > max) max = $2 }
  END { printf "n=%d max=%.1fms non200=%d (24000 events written in %d ms)\n", n, max * 1000, bad, ms }' \
  "$TEST_DIR/latency" >"$TEST_DIR/latency.summary"
echo "/health while writing: $(cat "$TEST_DIR/latency.summary")"
[ "$(wc -l <"$TEST_DIR/latency")" -ge 20 ] || fail "too few samples: $(cat "$TEST_DIR/latency.summary")"
awk '$1 != 200 || $2 > 0.050 { exit 1 }' "$TEST_DIR/latency" ||
  fail "/health slower than 50 ms or not 200 while writing: $(cat "$TEST_DIR/latency.summary")"

# --- a port already taken: exit 2 with one line ------------------------------
rc=0
env AAC_KAFKA_BOOTSTRAP_SERVERS="$AAC_TEST_BOOTSTRAP" AAC_KAFKA_TOPIC="$TOPIC" \
  AAC_KAFKA_GROUP_ID="$GROUP-2" AAC_HTTP_ENABLED=true AAC_HTTP_ADDRESS=127.0.0.1 \
  AAC_HTTP_PORT="$port" "$AAC_BIN" run >"$TEST_DIR/taken.out" 2>"$TEST_DIR/taken.err" || rc=$?
assert_eq "$rc" 2 "exit status with the port taken"
assert_eq "$(wc -l <"$TEST_DIR/taken.err")" 1 "one line on stderr: $(cat "$TEST_DIR/taken.err")"
CONSUMER_LOGS+=("$TEST_DIR/taken.err") # a log line like any other
grep -q "could not listen on http.address 127.0.0.1 port $port: Address already in use" \
  "$TEST_DIR/taken.err" || fail "unexpected message: $(cat "$TEST_DIR/taken.err")"

stop_consumer c1
grep -q "msg=\"http server listening\" address=127.0.0.1 port=$port" "$TEST_DIR/c1.log" ||
  fail "bound port not logged"
pass "metrics exact after 2010 messages; /health $(cat "$TEST_DIR/latency.summary")"
