#!/usr/bin/env bash
# The end-to-end benchmark (issue 8), one command:
#
#   bash bench/run.sh [--events N] [--seed S] [--invalid-fraction F] [--quick]
#                     [--sweep 500,1000,...] [--sweep-events N]
#                     [--rates 5000,20000] [--rate-seconds S]
#                     [--build-dir DIR] [--out DIR] [--keep] [--fetch-wait-ms MS|default]
#                     [--copy-tx-rows N] [--sweep-linger-ms MS] [--backlog-only]
#
# Starts a throwaway PostgreSQL (settings below, the same for every
# measurement) and the development broker, produces N events (default
# 1,000,000) with bench_produce, and measures:
#   1. the COPY ceiling: the consumer's valid rows loaded by psql \copy into
#      an identical empty table (a second database with the migrations);
#   2. the consumer end to end over the backlog (default settings): from its
#      start until the last batch is committed (commit timestamps), CPU
#      seconds per million events and peak RSS of the consumer process;
#      then again with batch.writers=1 (one PostgreSQL connection), and
#      with postgres.binary_copy=false (COPY text format);
#   3. a sweep of batch.max_events over a backlog;
#   4. latency at fixed produce rates: produce time (the event's timestamp)
#      to commit time (pg_xact_commit_timestamp of the row), p50/p99/max;
# and, for every consumer run, the service's account of its threads' time
# (aac_thread_seconds_total) from the first commit to the end of the run;
# then prints one table, writes results.json and two PNG charts to the
# output directory (default bench/out/<date>-<time>/). Every consumer run
# must end with rows == valid events produced, or the run is void (exit 1).
# BENCH_LOG_LEVEL sets the consumer's log level (default info; debug logs
# every batch with its size and write time). BENCH_PERF=1 records a
# system-wide perf profile of the backlog run (perf-backlog.data). See docs/benchmark.md.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

events=1000000
seed=1
invalid=0.01
quick=0
sweep="500,1000,2000,5000,10000,20000"
sweep_events=""
rates="5000,10000,20000"
rate_seconds=15
build_dir=""
out=""
keep=0
fetch_wait_ms=10
copy_tx_rows=5000
# at a backlog, parsing ~4,000 events takes the default linger (20 ms):
# the sweep lingers longer so that batch.max_events is what closes a batch
sweep_linger_ms=1000
backlog_only=0

die() { echo "bench/run.sh: $*" >&2; exit 1; }
# --quick: small defaults, which the other options can still change
for a in "$@"; do
  if [ "$a" = --quick ]; then
    quick=1 events=20000 sweep="1000,5000" rates="2000" rate_seconds=3
  fi
done
while [ $# -gt 0 ]; do
  case "$1" in
  --events) events=$2; shift 2 ;;
  --seed) seed=$2; shift 2 ;;
  --invalid-fraction) invalid=$2; shift 2 ;;
  --quick) shift ;;
  --sweep) sweep=$2; shift 2 ;;
  --sweep-events) sweep_events=$2; shift 2 ;;
  --rates) rates=$2; shift 2 ;;
  --rate-seconds) rate_seconds=$2; shift 2 ;;
  --build-dir) build_dir=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --keep) keep=1; shift ;;
  --fetch-wait-ms) fetch_wait_ms=$2; shift 2 ;;
  --copy-tx-rows) copy_tx_rows=$2; shift 2 ;;
  --sweep-linger-ms) sweep_linger_ms=$2; shift 2 ;;
  --backlog-only) backlog_only=1; shift ;;
  -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
  *) echo "bench/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$backlog_only" = 0 ] || rates=""
[ -n "$sweep_events" ] || sweep_events=$((events < 250000 ? events : 250000))

t_begin=$(date +%s.%N)
if [ "$quick" = 0 ] && pgrep -f 'ctest|scripts/test.sh' >/dev/null; then
  echo "bench/run.sh: warning: a test suite is running on this machine; figures will be low" >&2
fi

# --- build: Release, no sanitizer, unless a build is given ---------------------
if [ -z "$build_dir" ]; then
  build_dir=$top/build/bench
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DAAC_INTEGRATION=OFF >/dev/null
  cmake --build "$build_dir" -j"$(nproc)" --target agent-actions-consumer aac-dev-broker \
    bench_produce >/dev/null
fi
bin=$build_dir/agent-actions-consumer
broker=$build_dir/aac-dev-broker
produce=$build_dir/bench/bench_produce
[ -x "$bin" ] && [ -x "$broker" ] && [ -x "$produce" ] || die "binaries not found in $build_dir"

[ -n "$out" ] || out=$top/bench/out/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)
res=$out/results.txt # "key value" lines, rendered by bench/report.py
: >"$res"
put() { echo "$1 $2" >>"$res"; }

# --- servers -------------------------------------------------------------------
# Durable (fsync, synchronous_commit and full_page_writes on: PostgreSQL's
# defaults); shared_buffers and max_wal_size sized so that no checkpoint
# starts during a measurement (each one starts right after a CHECKPOINT);
# track_commit_timestamp gives every row's commit time.
pg_opts="-c fsync=on -c synchronous_commit=on -c full_page_writes=on -c shared_buffers=1GB"
pg_opts+=" -c max_wal_size=16GB -c checkpoint_timeout=1h -c track_commit_timestamp=on"
pg_opts+=" -c max_connections=50"
pgbase=$(mktemp -d /tmp/aac-bench-pg.XXXXXX)
chmod 755 "$pgbase"
broker_pid=""
psql_pid=""
cleanup() {
  set +e
  [ -n "${consumer_pid:-}" ] && kill -9 "$consumer_pid" 2>/dev/null
  [ -n "$psql_pid" ] && kill "$psql_pid" 2>/dev/null
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
  if [ "$keep" = 1 ]; then
    echo "bench/run.sh: --keep: PostgreSQL left running in $pgbase/data (port $PGPORT)" >&2
  else
    bash "$top/scripts/pg.sh" stop "$pgbase/data" >/dev/null 2>&1
    rm -rf "$pgbase"
  fi
}
trap cleanup EXIT

pgport=$(PG_EXTRA_OPTS="$pg_opts" bash "$top/scripts/pg.sh" start "$pgbase/data")
export PGHOST=127.0.0.1 PGPORT=$pgport PGUSER=postgres
pg_pid=$(head -n 1 "$pgbase/data/postmaster.pid")
q() { psql -qXAt -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
q postgres "CREATE DATABASE bench" && q postgres "CREATE DATABASE ceiling"
for db in bench ceiling; do
  PGDATABASE=$db "$bin" --config "$top/config/agent-actions-consumer.yaml" migrate up \
    >>"$out/migrate.log" 2>&1 || die "migrate up failed; see $out/migrate.log"
done

partitions=$(((events + 3999) / 4000))
[ "$partitions" -ge 8 ] || partitions=8
IFS=, read -r -a sweep_list <<<"$sweep"
IFS=, read -r -a rate_list <<<"$rates"
topics=(--topic bench-backlog:$partitions --topic bench-backlog.dlq:4)
if [ "$sweep_events" != "$events" ]; then
  topics+=(--topic bench-sweep:$partitions --topic bench-sweep.dlq:4)
fi
topics+=(--topic bench-wide:$partitions --topic bench-wide.dlq:4)
for r in "${rate_list[@]}"; do topics+=(--topic "bench-rate-$r:16" --topic "bench-rate-$r.dlq:4"); done
setsid "$broker" --brokers 3 --bootstrap-file "$out/bootstrap" "${topics[@]}" \
  </dev/null >"$out/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 1 100); do [ -s "$out/bootstrap" ] && break; sleep 0.1; done
[ -s "$out/bootstrap" ] || die "the development broker did not start; see $out/broker.log"
bootstrap=$(head -n 1 "$out/bootstrap")

# one psql session polls the stored offsets: cheaper than a psql per poll
coproc PSQL { psql -qXAt -d bench 2>&1; }
psql_pid=$PSQL_PID
sql1() { # one-line answer from the polling session
  echo "$1" >&"${PSQL[1]}"
  local line
  read -r line <&"${PSQL[0]}"
  echo "$line"
}

cpu_ticks() { # utime + stime + reaped children's cutime + cstime, in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat"
}
pg_cpu_ticks() { # the whole PostgreSQL server: postmaster, reaped and live children
  local t c
  t=$(cpu_ticks "$pg_pid")
  for c in $(pgrep -P "$pg_pid"); do
    t=$((t + $(cpu_ticks "$c" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
hz=$(getconf CLK_TCK)
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000)) # below the ephemeral ports (32768 and up)
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "no free port"
}

# produce TOPIC N [RATE]: runs bench_produce, records its figures under
# the key prefix given in $pfx
produce() {
  local line
  line=$("$produce" --bootstrap "$bootstrap" --topic "$1" --events "$2" --seed "$seed" \
    --invalid-fraction "$invalid" --rate "${3:-0}" ${produce_wide:+--wide}) ||
    die "producing to $1 failed: $line"
  echo "  produced: $line" >&2
  for kv in $line; do put "$pfx.${kv%%=*}" "${kv#*=}"; done
  produced=$(sed -E 's/.*produced=([0-9]+).*/\1/' <<<"$line")
  valid=$(sed -E 's/.* valid=([0-9]+).*/\1/' <<<"$line")
  msg_bytes=$(sed -E 's/.* bytes=([0-9]+).*/\1/' <<<"$line")
}

reset_db() {
  q bench "TRUNCATE agent_actions, consumer_offsets, aac_rollup_hourly, aac_rollup_durations_hourly,
    aac_dead_letters_hourly, aac_ingest_hourly"
  q bench "CHECKPOINT"
}

# thread_account LABEL: where each thread's time went during the run
# (aac_thread_seconds_total, docs/benchmark.md "Where the time goes"): the
# seconds of each thread in each activity from the first commit (its
# scrape, metrics-LABEL-first.txt) to the end of the run, or from the
# start when the run ended before that scrape; recorded as
# LABEL.thread.THREAD.ACTIVITY and LABEL.thread_from, and the largest
# shares printed. Nothing when the binary has no account (older builds).
thread_account() {
  local label=$1 first=$out/metrics-$1-first.txt from=first_commit
  [ -s "$first" ] || { first=/dev/null from=start; }
  awk -v l="$label" -v f="$first" -v from="$from" '
    /^aac_thread_seconds_total\{/ {
      s = $1
      sub(/^aac_thread_seconds_total\{thread="/, "", s)
      split(s, p, "\"") # consume",activity="poll"} -> consume, ",activity=", poll
      k = p[1] " " p[3]
      if (FILENAME == f) a[k] = $2
      else { b[k] = $2; th[p[1]] = 1 }
    }
    END {
      for (k in b) {
        split(k, p, " ")
        d[k] = b[k] - a[k]
        printf "%s.thread.%s.%s %.3f\n", l, p[1], p[2], d[k]
        tot[p[1]] += d[k]
      }
      n = 0
      for (t in th) n++
      if (!n) exit
      printf "%s.thread_from %s\n", l, from
      # each thread: its time, and its three largest activities
      line = ""
      for (t in th) {
        if (tot[t] <= 0) continue
        line = line sprintf("\n    %s %.1f s:", t, tot[t])
        for (i = 0; i < 3; i++) {
          best = ""
          for (k in d) {
            split(k, p, " ")
            if (p[1] == t && !(k in shown) && (best == "" || d[k] > d[best])) best = k
          }
          if (best == "") break
          shown[best] = 1
          split(best, p, " ")
          line = line sprintf(" %s %.0f%%", p[2], 100 * d[best] / tot[t])
        }
      }
      print "  threads, share of their time (from " from "):" line > "/dev/stderr"
    }' "$first" "$out/metrics-$label.txt" >>"$res"
}

# consume LABEL TOPIC MESSAGES VALID [VAR=VALUE...]: runs the consumer on
# TOPIC with a new group until PostgreSQL holds the offsets of MESSAGES
# messages, records the figures under LABEL, checks rows == VALID.
consume() {
  local label=$1 topic=$2 msgs=$3 want=$4
  shift 4
  local group="bench-$label-$$" port
  # The development broker answers a fetch that found no data only after
  # fetch.wait.max.ms (default 500), even when data arrives meanwhile; a
  # real broker answers as soon as there is data. A short wait makes the
  # mock behave like a broker for latency (docs/benchmark.md).
  local fw=()
  [ "$fetch_wait_ms" = default ] || fw=(AAC_KAFKA_CONSUMER_PROPERTIES_FETCH_WAIT_MAX_MS="$fetch_wait_ms")
  port=$(free_port)
  local log=$out/consumer-$label.log
  local pg0 br0 t0
  pg0=$(pg_cpu_ticks)
  br0=$(cpu_ticks "$broker_pid")
  t0=$(date +%s.%N)
  env AAC_KAFKA_BOOTSTRAP_SERVERS="$bootstrap" AAC_KAFKA_TOPIC="$topic" AAC_KAFKA_GROUP_ID="$group" \
    AAC_HTTP_ADDRESS=127.0.0.1 AAC_HTTP_PORT="$port" AAC_LOG_LEVEL="${BENCH_LOG_LEVEL:-info}" PGDATABASE=bench "${fw[@]}" "$@" \
    "$bin" --config "$top/config/agent-actions-consumer.yaml" run >"$log" 2>&1 &
  consumer_pid=$!
  local perf_pid=""
  if [ -n "${BENCH_PERF:-}" ] && [ "$label" = backlog ]; then
    # system-wide: the consumer, PostgreSQL's backend and the broker
    perf record -a -g -F 499 -o "$out/perf-$label.data" >"$out/perf-$label.log" 2>&1 &
    perf_pid=$!
  fi
  if [ -n "${on_ready:-}" ]; then
    for _ in $(seq 1 300); do
      curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
      kill -0 "$consumer_pid" 2>/dev/null || die "consumer $label exited; see $log"
      sleep 0.1
    done
    "$on_ready"
    msgs=$produced want=$valid
  fi
  local done_at=0 n=0 deadline=$(($(date +%s) + 900)) first_scraped=0
  rm -f "$out/metrics-$label-first.txt"
  while :; do
    n=$(sql1 "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$group';")
    [ "$n" -ge "$msgs" ] && break
    if [ "$first_scraped" = 0 ] && [ "$n" -gt 0 ]; then
      # the threads' account from here on: the first batch committed
      curl -fs "http://127.0.0.1:$port/metrics" >"$out/metrics-$label-first.txt" || true
      first_scraped=1
    fi
    kill -0 "$consumer_pid" 2>/dev/null || die "consumer $label exited; see $log"
    [ "$(date +%s)" -lt "$deadline" ] || die "consumer $label: $n of $msgs messages after 900 s"
    sleep 0.2
  done
  local cpu hwm
  cpu=$(cpu_ticks "$consumer_pid")
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$consumer_pid/status")
  curl -fs "http://127.0.0.1:$port/metrics" >"$out/metrics-$label.txt" || true
  awk -v l="$label" '/^aac_batch_size_messages_sum / { s = $2 } /^aac_batch_size_messages_count / { c = $2 }
    /^aac_batch_write_duration_seconds_sum / { w = $2 }
    /^aac_rollup_rows_sum / { rr = $2 } /^aac_rollup_duration_seconds_sum / { rs = $2 }
    END { if (c) printf "%s.batches %d\n%s.mean_batch %.0f\n%s.write_seconds %.3f\n%s.rollup_rows_per_batch %.0f\n%s.rollup_seconds %.3f\n", l, c, l, s / c, l, w, l, rr / c, l, rs }' \
    "$out/metrics-$label.txt" >>"$res"
  thread_account "$label"
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
  fi
  local pg1 br1
  pg1=$(pg_cpu_ticks)
  br1=$(cpu_ticks "$broker_pid")
  kill -TERM "$consumer_pid"
  wait "$consumer_pid" || die "consumer $label exited with status $?; see $log"
  consumer_pid=""
  local rows first last
  rows=$(q bench "SELECT count(*) FROM agent_actions")
  first=$(q bench "SELECT extract(epoch FROM min(ingested_at)) FROM agent_actions")
  last=$(q bench "SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) FROM consumer_offsets WHERE consumer_group = '$group'")
  [ "$rows" = "$want" ] ||
    die "VOID: consumer $label wrote $rows rows for $want valid events (events lost or repeated)"
  local secs steady
  secs=$(awk -v a="$t0" -v b="$last" 'BEGIN { printf "%.3f", b - a }')
  steady=$(awk -v a="$first" -v b="$last" 'BEGIN { printf "%.3f", b - a }')
  put "$label.messages" "$msgs"
  put "$label.rows" "$rows"
  put "$label.seconds" "$secs"
  put "$label.steady_seconds" "$steady"
  put "$label.cpu_seconds" "$(awk -v c="$cpu" -v h="$hz" 'BEGIN { printf "%.2f", c / h }')"
  put "$label.pg_cpu_seconds" "$(awk -v c="$((pg1 - pg0))" -v h="$hz" 'BEGIN { printf "%.2f", c / h }')"
  put "$label.broker_cpu_seconds" "$(awk -v c="$((br1 - br0))" -v h="$hz" 'BEGIN { printf "%.2f", c / h }')"
  put "$label.peak_rss_kb" "$hwm"
  echo "  $label: $rows rows, $secs s from start, $steady s first-to-last batch, cpu $((cpu / hz)) s, peak RSS $((hwm / 1024)) MB" >&2
}

echo "bench: $events events (seed $seed, invalid fraction $invalid), $partitions partitions, output $out" >&2
put events "$events"
put seed "$seed"
put invalid_fraction "$invalid"
put partitions "$partitions"
put date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
put nproc "$(nproc)"
put mem_total_kb "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
put cpu_model "$(grep -m1 '^model name' /proc/cpuinfo | sed 's/.*: //; s/ /_/g')"
put pg_settings "$(sed 's/-c //g; s/ /,/g' <<<"$pg_opts")"
put pg_version "$(q postgres 'SHOW server_version' | sed 's/ .*//')"
put batch_max_events_default 5000
put batch_linger_ms_default 0
put batch_writers_default 2
put batch_max_in_flight_default 2
put fetch_wait_max_ms "$fetch_wait_ms"

# --- 1. latency at fixed produce rates (default settings) ------------------------
# First, while the broker is fresh: the development broker slows down as it
# holds more data (its fetch looks a message set up by a linear scan), and a
# run after the 1M-event backlog once saw a 1.2 s stall in its produce path.
put rates "$rates"
put rate_seconds "$rate_seconds"
for r in "${rate_list[@]}"; do
  reset_db
  echo "latency: $r events/s for $rate_seconds s" >&2
  rate_now=$r
  # The consumer's first second (fetch positions, connections, the first
  # batches) is not the steady state: a warm-up of half a second at the
  # rate is produced and committed first, and left out of the figures.
  produce_at_rate() {
    local n
    n=$(awk -v r="$rate_now" 'BEGIN { n = int(r / 2); print n < 200 ? 200 : n }')
    pfx=warmup_$rate_now produce "bench-rate-$rate_now" "$n" "$rate_now"
    local warm=$produced warm_valid=$valid
    while [ "$(sql1 "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$group';")" -lt "$warm" ]; do
      sleep 0.05
    done
    measure_from=$(date +%s.%N)
    pfx=produce_rate_$rate_now produce "bench-rate-$rate_now" \
      "$(awk -v r="$rate_now" -v s="$rate_seconds" 'BEGIN { printf "%d", r * s }')" "$rate_now"
    produced=$((produced + warm)) valid=$((valid + warm_valid))
  }
  on_ready=produce_at_rate consume "rate-$r" "bench-rate-$r" 0 0
  on_ready=""
  stats=$(q bench "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::numeric, 2), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY d)::numeric, 2), round(max(d)::numeric, 2), round(avg(d)::numeric, 2) FROM (SELECT 1000 * extract(epoch FROM pg_xact_commit_timestamp(xmin) - event_time) AS d FROM agent_actions WHERE event_time >= to_timestamp($measure_from)) s")
  IFS='|' read -r p50 p99 pmax pavg <<<"$stats"
  put "rate-$r.delay_p50_ms" "$p50"
  put "rate-$r.delay_p99_ms" "$p99"
  put "rate-$r.delay_max_ms" "$pmax"
  put "rate-$r.delay_avg_ms" "$pavg"
  # the service's own histogram, as a cross-check: share of delays <= 100 ms
  le=$(awk '/^aac_end_to_end_delay_seconds_bucket\{le="0.1"\}/ { print $2 }' "$out/metrics-rate-$r.txt")
  cnt=$(awk '/^aac_end_to_end_delay_seconds_count/ { print $2 }' "$out/metrics-rate-$r.txt")
  [ -n "$le" ] && [ -n "$cnt" ] && put "rate-$r.metrics_share_le_100ms" \
    "$(awk -v a="$le" -v b="$cnt" 'BEGIN { printf "%.4f", b ? a / b : 0 }')"
  echo "  delay p50 $p50 ms, p99 $p99 ms, max $pmax ms" >&2
done

# --- 2. the backlog, and the consumer on it with the default settings ---------
echo "producing the backlog" >&2
pfx=produce_backlog produce bench-backlog "$events"
backlog_msgs=$produced backlog_valid=$valid
put backlog.message_bytes "$msg_bytes"
reset_db
echo "consumer over the backlog (defaults)" >&2
consume backlog bench-backlog "$backlog_msgs" "$backlog_valid"
if [ "$backlog_only" = 1 ]; then # exploring: consumer settings from the environment
  cat "$res"
  exit 0
fi
# the same backlog without the rollups: what keeping them costs
reset_db
echo "consumer over the backlog, rollups.enabled=false" >&2
consume backlog_norollups bench-backlog "$backlog_msgs" "$backlog_valid" AAC_ROLLUPS_ENABLED=false
# a wide stream (50 agents x 300 action names): nearly a rollup key per
# event, the rollups' worst case; with and without them
echo "producing the wide stream" >&2
produce_wide=1 pfx=produce_wide produce bench-wide "$sweep_events"
wide_msgs=$produced wide_valid=$valid
put wide.events "$sweep_events"
for mode in on off; do
  reset_db
  echo "consumer over the wide stream, rollups $mode" >&2
  enabled=true
  [ "$mode" = on ] || enabled=false
  consume "wide_rollups_$mode" bench-wide "$wide_msgs" "$wide_valid" AAC_ROLLUPS_ENABLED=$enabled
done
# the same backlog through one connection: what the second writer adds
reset_db
echo "consumer over the backlog, batch.writers=1" >&2
consume backlog_w1 bench-backlog "$backlog_msgs" "$backlog_valid" AAC_BATCH_WRITERS=1
# the same backlog in COPY's text format: what the binary format adds
reset_db
echo "consumer over the backlog, postgres.binary_copy=false" >&2
consume backlog_text bench-backlog "$backlog_msgs" "$backlog_valid" AAC_POSTGRES_BINARY_COPY=false

# --- 3. the COPY ceiling: the same rows, psql \copy, an identical empty table --
# (binary against text, and the ceiling without each secondary index:
# bench/copy_ceilings.sh, docs/benchmark.md "COPY format and index costs")
# copy:      one \copy, one transaction: the issue's ceiling;
# copy_tx:   one connection, one transaction per $copy_tx_rows rows: the most
#            any one-connection, transaction-per-batch writer can reach;
# copy_2conn: the same rows split over two connections in parallel, each in
#            $copy_tx_rows-row transactions: what a second writer could add.
cols="event_id, correlation_id, session_id, agent_name, action_type, action_name, action_details, duration_ms, debug_mode, project_path, project_name, working_directory, event_time, extra, kafka_topic, kafka_partition, kafka_offset"
q bench "\\copy (SELECT $cols FROM agent_actions ORDER BY ingested_at, kafka_partition, kafka_offset) TO '$out/rows.copy'"
put copy.file_bytes "$(stat -c %s "$out/rows.copy")"
mkdir -p "$out/chunks"
split -l "$copy_tx_rows" -d -a 5 "$out/rows.copy" "$out/chunks/c"
chunk_script() { # psql script: one \copy (one transaction) per chunk file
  local f
  for f in "$@"; do echo "\\copy agent_actions ($cols) FROM '$f'"; done
}
mapfile -t chunks < <(ls "$out/chunks"/c*)
chunk_script "${chunks[@]}" >"$out/copy_tx.sql"
chunk_script "${chunks[@]:0:$(((${#chunks[@]} + 1) / 2))}" >"$out/copy_2conn_a.sql"
chunk_script "${chunks[@]:$(((${#chunks[@]} + 1) / 2))}" >"$out/copy_2conn_b.sql"
ceiling() { # LABEL COMMAND...: times COMMAND against the empty ceiling table
  local label=$1 pg0 pg1 t0 t1 rows
  shift
  q ceiling "TRUNCATE agent_actions"
  q ceiling "CHECKPOINT"
  pg0=$(pg_cpu_ticks)
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  sleep 0.5 # the backends have exited: let the postmaster reap them (their CPU)
  pg1=$(pg_cpu_ticks)
  rows=$(q ceiling "SELECT count(*) FROM agent_actions")
  [ "$rows" = "$backlog_valid" ] || die "VOID: $label loaded $rows rows of $backlog_valid"
  put "$label.rows" "$rows"
  put "$label.seconds" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
  put "$label.pg_cpu_seconds" "$(awk -v c="$((pg1 - pg0))" -v h="$hz" 'BEGIN { printf "%.2f", c / h }')"
  echo "  $label: $rows rows in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s" >&2
}
copy_one() { q ceiling "\\copy agent_actions ($cols) FROM '$out/rows.copy'"; }
copy_tx() { psql -qXAt -v ON_ERROR_STOP=1 -d ceiling -f "$out/copy_tx.sql"; }
copy_2conn() {
  psql -qXAt -v ON_ERROR_STOP=1 -d ceiling -f "$out/copy_2conn_a.sql" &
  local a=$!
  psql -qXAt -v ON_ERROR_STOP=1 -d ceiling -f "$out/copy_2conn_b.sql" || { wait $a; return 1; }
  wait $a
}
echo "COPY ceilings: $backlog_valid rows" >&2
put copy_tx_rows "$copy_tx_rows"
ceiling copy copy_one
ceiling copy_tx copy_tx
ceiling copy_2conn copy_2conn
q ceiling "TRUNCATE agent_actions"
rm -rf "$out/rows.copy" "$out/chunks"

# --- 4. batch.max_events sweep --------------------------------------------------
sweep_topic=bench-backlog sweep_msgs=$backlog_msgs sweep_valid=$backlog_valid
if [ "$sweep_events" != "$events" ]; then
  echo "producing the sweep backlog" >&2
  pfx=produce_sweep produce bench-sweep "$sweep_events"
  sweep_topic=bench-sweep sweep_msgs=$produced sweep_valid=$valid
fi
put sweep.events "$sweep_events"
put sweep.sizes "$sweep"
put sweep.linger_ms "$sweep_linger_ms"
for b in "${sweep_list[@]}"; do
  reset_db
  echo "sweep: batch.max_events=$b" >&2
  consume "sweep-$b" "$sweep_topic" "$sweep_msgs" "$sweep_valid" AAC_BATCH_MAX_EVENTS="$b" \
    AAC_BATCH_LINGER_MS="$sweep_linger_ms"
done

put run_seconds "$(awk -v a="$t_begin" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
python3 "$top/bench/report.py" "$res" "$out"
if command -v gnuplot >/dev/null; then
  gnuplot -e "dir='$out'" "$top/bench/plot.gp" || echo "bench/run.sh: gnuplot failed" >&2
fi
echo "results: $out/results.json, $out/table.txt, $out/throughput_vs_batch.png, $out/latency_vs_rate.png" >&2
