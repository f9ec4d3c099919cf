#!/usr/bin/env bash
# The monitoring files against the real thing, without Grafana: a consumer
# takes a known stream; its /metrics passes `promtool check metrics`;
# Debian's Prometheus (own port on 127.0.0.1, own storage, scraping every
# second) loads config/prometheus/*.yml; every expression of the Grafana
# dashboard and of the recording rules then parses and returns at least one
# series, every rule evaluates without error, the stream's figures read
# through Prometheus are exact, and the only alert active is the delay one
# (the stream's timestamps are days old).
source "$(dirname "$0")/lib.sh"
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
  fail "prometheus not installed (scripts/install-deps.sh)"
fresh_db
migrate_up
make_topics 4

# A free loopback port from a random range.
check_promql() { /usr/bin/python3 "$AAC_SRC/tests/integration/check_promql.py" "$prom" "$@"; }

# Prometheus stopped with the test, whatever its outcome
prom_pid=""
stop_prometheus() {
  [ -n "$prom_pid" ] || return 0
  kill -TERM "$prom_pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$prom_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$prom_pid" 2>/dev/null || true
}
trap 'rc=$?; stop_prometheus; finish_test "$rc"' EXIT

port=$(free_port)
base=http://127.0.0.1:$port
gen=$AAC_SRC/tests/integration/gen_events.py

# --- stream A before Prometheus: 2000 events, 40 invalid ---------------------
python3 "$gen" --count 2000 --invalid-every 50 >"$TEST_DIR/events_a"
produce "$TEST_DIR/events_a"
start_consumer c1 AAC_HTTP_ENABLED=true AAC_HTTP_ADDRESS=127.0.0.1 AAC_HTTP_PORT="$port"
wait_rows 1960 60
# consumer lag is known once librdkafka's statistics (every 5 s) came in
lag_series() { curl -s "$base/metrics" | grep -c '^aac_consumer_lag_messages{'; }
wait_for 4 30 lag_series

# --- promtool's linter on the exposition ------------------------------------
curl -s "$base/metrics" >"$TEST_DIR/metrics.txt"
promtool check metrics <"$TEST_DIR/metrics.txt" >"$TEST_DIR/check-metrics.txt" 2>&1 ||
  fail "promtool check metrics: $(cat "$TEST_DIR/check-metrics.txt")"
grep -q '^aac_events_written_total 1960$' "$TEST_DIR/metrics.txt" || fail "metrics.txt is not the stream's"

# --- Prometheus ---------------------------------------------------------------
pport=$(free_port)
prom=http://127.0.0.1:$pport
cat >"$TEST_DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $AAC_SRC/config/prometheus/recording.yml
  - $AAC_SRC/config/prometheus/alerts.yml
scrape_configs:
  - job_name: agent-actions-consumer
    static_configs:
      - targets: ["127.0.0.1:$port"]
EOF
promtool check config "$TEST_DIR/prometheus.yml" >/dev/null || fail "promtool check config"
prometheus --config.file="$TEST_DIR/prometheus.yml" --storage.tsdb.path="$TEST_DIR/prom-data" \
  --web.listen-address="127.0.0.1:$pport" --storage.tsdb.retention.time=1h --log.level=warn \
  >"$TEST_DIR/prometheus.log" 2>&1 &
prom_pid=$!
ready() { curl -s -o /dev/null -w '%{http_code}' "$prom/-/ready"; }
wait_for 200 30 ready
# two scrapes: rate() has its two samples
check_promql wait 'count_over_time(up{job="agent-actions-consumer"}[1m])' '>=' 2 30 ||
  fail "no scrapes (see $TEST_DIR/prometheus.log)"
check_promql wait 'up{job="agent-actions-consumer"}' == 1 5 || fail "target not up"

# --- stream B while scraped: 500 events, 20 invalid, 10 duplicates of A --------
# (the delay is observed for every valid event, duplicates included: 2450)
# (the dead letters and duplicates fall in the 1-minute rate windows below)
python3 "$gen" --count 500 --start 2000 --invalid-every 25 >"$TEST_DIR/events_b"
head -n 10 "$TEST_DIR/events_a" >>"$TEST_DIR/events_b"
produce "$TEST_DIR/events_b"
wait_rows 2440 60

# the stream's figures, as Prometheus scraped them
for kv in 'aac_events_written_total 2440' 'aac_events_consumed_total 2510' \
  'aac_events_duplicate_total 10' 'aac_events_invalid_total 60' \
  'aac_dead_letters_total{reason="missing_field"} 60' 'sum(aac_dead_letters_total) 60' \
  'aac_end_to_end_delay_seconds_count 2450' 'aac_partitions_assigned 4' 'aac_ready 1' \
  'sum(aac_committed_offset) 2510' 'aac_dead_letter_delivery_failures_total 0' \
  'process_open_fds > bool 0 1'; do
  check_promql wait "${kv% *}" == "${kv##* }" 15 || fail "Prometheus' figures differ from the stream's"
done

# --- every expression of the dashboard and the rules ---------------------------
# Grafana's variables: $__rate_interval as 1 minute (Prometheus started less
# than a minute ago, so every scrape is in the window), the job, all instances
check_promql rules "$AAC_SRC/config/prometheus/recording.yml" "$AAC_SRC/config/prometheus/alerts.yml" \
  --dashboard "$AAC_SRC/config/grafana/dashboards/agent-actions-consumer.json" \
  --var __rate_interval=1m --var __interval=1s --var __range=1m \
  --var job=agent-actions-consumer --var 'instance=.+' || fail "PromQL of the dashboard or the rules"

# a healthy consumer: no alert but the delay one (event timestamps days old:
# p99 in the +Inf bucket), pending for its 15 minutes
check_promql alerts 15 AacEndToEndDelayHigh:pending || fail "alerts"

stop_prometheus
prom_pid=""
stop_consumer c1
pass "promtool check metrics, every dashboard and rule expression returns series, figures exact"
