#!/usr/bin/env bash
# COPY ceilings per format and per index, and which documented query uses
# each index (issue 12, item 5: groundwork for the pipelined write path).
#
#   bash bench/copy_ceilings.sh [--part ceilings|explain|all] [--events N]
#                               [--rounds R] [--seed S] [--demo-rows N]
#                               [--build-dir DIR] [--out DIR]
#
# --part ceilings (about 3 minutes on 2 cores):
#   Starts a throwaway PostgreSQL with bench/run.sh's settings (fsync,
#   synchronous_commit and full_page_writes on, shared_buffers=1GB, no
#   checkpoint inside a measurement), produces N events (default 200,000)
#   with bench_produce to the development broker and lets the consumer
#   write them (the same ~600-byte rows as bench/run.sh), then dumps those
#   rows twice with PostgreSQL's COPY ... TO: in text and in binary format.
#   It loads them with psql \copy, one transaction, into an empty
#   agent_actions (TRUNCATE and CHECKPOINT before each load) in one
#   database per variant:
#     full_text         the migrated table (primary key + every secondary
#                       index): the reference, ratio 1.00
#     full_binary       the same table, binary COPY
#     no_<index>_text   one secondary index dropped (each index the
#                       migrations create, read from the catalog)
#     pk_only_text      every secondary index dropped
#     pk_only_binary    every secondary index dropped, binary COPY
#     no_index_text     not even the primary key (for reference only: the
#                       consumer's duplicate handling needs it)
#   R rounds (default 3): each loads full_text first and last, the other
#   variants between, rotated so that none always runs first; ratios are
#   taken against the full_text loads of the same round (the speed of a
#   shared VM drifts within minutes). Per load: wall seconds, rows/s, CPU seconds of the whole
#   PostgreSQL server and of psql, the machine's busy, iowait and steal
#   share over all CPUs (from /proc/stat), WAL bytes. Prints medians and the ratio to
#   full_text, checks every load's row count (exit 1, VOID, if wrong).
# --part explain (about 1 minute):
#   Loads the demo data of docs/queries.md (tests/integration/gen_events.py,
#   default 400,000 rows: enough that the planner prefers an index where one
#   pays), ANALYZEs, and EXPLAINs every query of docs/queries.md and the
#   view filters it recommends; prints each plan and, per index, the
#   queries whose plan uses it (index names mapped to their parent index
#   with pg_partition_root).
# --part all: both, one after the other (the default).
#
# Figures go to OUT (default bench/out/copy-<date>-<time>/): results-PART.txt
# (one "key value" line per figure), summary-PART.md (tables), plans.txt.
# Results and the decisions taken from them: docs/benchmark.md, "COPY
# format and index costs".
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

part=all
events=200000
rounds=3
seed=1
demo_rows=400000
build_dir=""
out=""
die() { echo "bench/copy_ceilings.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
  --part) part=$2; shift 2 ;;
  --events) events=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  --seed) seed=$2; shift 2 ;;
  --demo-rows) demo_rows=$2; shift 2 ;;
  --build-dir) build_dir=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  -h | --help) sed -n '2,45p' "$0"; exit 0 ;;
  *) echo "bench/copy_ceilings.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$part" in ceilings | explain | all) ;; *) die "--part must be ceilings, explain or all" ;; esac
[ "$rounds" -ge 1 ] || die "--rounds must be at least 1"

if pgrep -f 'ctest|scripts/test.sh' >/dev/null; then
  echo "bench/copy_ceilings.sh: warning: a test suite is running on this machine; figures will be low" >&2
fi

if [ -z "$build_dir" ]; then
  build_dir=$top/build/bench
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DAAC_INTEGRATION=OFF >/dev/null
  cmake --build "$build_dir" -j"$(nproc)" --target agent-actions-consumer bench_produce >/dev/null
fi
bin=$build_dir/agent-actions-consumer
produce=$build_dir/bench/bench_produce
[ -x "$bin" ] && [ -x "$produce" ] || die "binaries not found in $build_dir"

[ -n "$out" ] || out=$top/bench/out/copy-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)
res=$out/results-$part.txt
: >"$res"
put() { echo "$1 $2" >>"$res"; }

# The same server settings as bench/run.sh (keep the two in step).
pg_opts="-c fsync=on -c synchronous_commit=on -c full_page_writes=on -c shared_buffers=1GB"
pg_opts+=" -c max_wal_size=16GB -c checkpoint_timeout=1h -c track_commit_timestamp=on"
pg_opts+=" -c max_connections=50"
pgbase=$(mktemp -d /tmp/aac-bench-pg.XXXXXX)
chmod 755 "$pgbase"
broker_pid="" consumer_pid=""
cleanup() {
  set +e
  [ -n "$consumer_pid" ] && kill -9 "$consumer_pid" 2>/dev/null
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
  bash "$top/scripts/pg.sh" stop "$pgbase/data" >/dev/null 2>&1
  rm -rf "$pgbase"
}
trap cleanup EXIT
pgport=$(PG_EXTRA_OPTS="$pg_opts" bash "$top/scripts/pg.sh" start "$pgbase/data")
export PGHOST=127.0.0.1 PGPORT=$pgport PGUSER=postgres
pg_pid=$(head -n 1 "$pgbase/data/postmaster.pid")
q() { psql -qXAt -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
migrate() {
  q postgres "CREATE DATABASE $1"
  PGDATABASE=$1 "$bin" --config "$top/config/agent-actions-consumer.yaml" migrate up \
    >>"$out/migrate.log" 2>&1 || die "migrate up failed; see $out/migrate.log"
}

put date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
put commit "$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)"
put nproc "$(nproc)"
put mem_total_kb "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
put cpu_model "$(grep -m1 '^model name' /proc/cpuinfo | sed 's/.*: //; s/ /_/g')"
put pg_version "$(q postgres 'SHOW server_version' | sed 's/ .*//')"
put pg_settings "$(sed 's/-c //g; s/ /,/g' <<<"$pg_opts")"

cpu_ticks() { # utime + stime + reaped children's cutime + cstime, in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat"
}
pg_cpu_ticks() { # the whole server: postmaster, reaped and live children
  local t c
  t=$(cpu_ticks "$pg_pid")
  for c in $(pgrep -P "$pg_pid"); do
    t=$((t + $(cpu_ticks "$c" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
hz=$(getconf CLK_TCK)
# "busy iowait steal total" jiffies over all CPUs: busy is user, nice,
# system, irq and softirq; steal is time the hypervisor gave our virtual
# CPUs to someone else (a shared VM: high steal makes a round slow)
stat_cpu() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $6, $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "no free port"
}

cols="event_id, correlation_id, session_id, agent_name, action_type, action_name, action_details, duration_ms, debug_mode, project_path, project_name, working_directory, event_time, extra, kafka_topic, kafka_partition, kafka_offset"

# --- the rows: bench_produce's events, written by the consumer -----------------
make_rows() {
  migrate src
  local partitions=$(((events + 3999) / 4000))
  [ "$partitions" -ge 8 ] || partitions=8
  setsid "$bin" dev-broker --brokers 3 --bootstrap-file "$out/bootstrap" \
    --topic "bench-rows:$partitions" --topic bench-rows.dlq:4 </dev/null >"$out/broker.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 1 100); do [ -s "$out/bootstrap" ] && break; sleep 0.1; done
  [ -s "$out/bootstrap" ] || die "the development broker did not start; see $out/broker.log"
  local bootstrap line produced valid port
  bootstrap=$(head -n 1 "$out/bootstrap")
  line=$("$produce" --bootstrap "$bootstrap" --topic bench-rows --events "$events" --seed "$seed" \
    --invalid-fraction 0.01) || die "producing failed: $line"
  echo "  produced: $line" >&2
  produced=$(sed -E 's/.*produced=([0-9]+).*/\1/' <<<"$line")
  valid=$(sed -E 's/.* valid=([0-9]+).*/\1/' <<<"$line")
  port=$(free_port)
  env AAC_KAFKA_BOOTSTRAP_SERVERS="$bootstrap" AAC_KAFKA_TOPIC=bench-rows AAC_KAFKA_GROUP_ID=copy-ceilings \
    AAC_HTTP_ADDRESS=127.0.0.1 AAC_HTTP_PORT="$port" AAC_KAFKA_CONSUMER_PROPERTIES_FETCH_WAIT_MAX_MS=10 \
    PGDATABASE=src "$bin" --config "$top/config/agent-actions-consumer.yaml" run >"$out/consumer.log" 2>&1 &
  consumer_pid=$!
  local n deadline=$(($(date +%s) + 600))
  while :; do
    n=$(q src "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = 'copy-ceilings'")
    [ "$n" -ge "$produced" ] && break
    kill -0 "$consumer_pid" 2>/dev/null || die "the consumer exited; see $out/consumer.log"
    [ "$(date +%s)" -lt "$deadline" ] || die "the consumer stored $n of $produced offsets after 600 s"
    sleep 0.5
  done
  kill -TERM "$consumer_pid"
  wait "$consumer_pid" || die "the consumer exited with status $?; see $out/consumer.log"
  consumer_pid=""
  kill "$broker_pid" && wait "$broker_pid" 2>/dev/null || true # its CPU stays out of the loads
  broker_pid=""
  rows=$(q src "SELECT count(*) FROM agent_actions")
  [ "$rows" = "$valid" ] || die "VOID: the consumer wrote $rows rows for $valid valid events"
  # the order bench/run.sh loads its ceiling in: the order they were written
  local sel="SELECT $cols FROM agent_actions ORDER BY ingested_at, kafka_partition, kafka_offset"
  q src "\\copy ($sel) TO '$out/rows.txt'"
  q src "\\copy ($sel) TO '$out/rows.bin' WITH (FORMAT binary)"
  put rows "$rows"
  put text_file_bytes "$(stat -c %s "$out/rows.txt")"
  put binary_file_bytes "$(stat -c %s "$out/rows.bin")"
  put row_bytes_avg "$(q src "SELECT round(avg(pg_column_size(a.*))) FROM agent_actions a")"
  echo "  rows: $rows, text $(stat -c %s "$out/rows.txt") bytes, binary $(stat -c %s "$out/rows.bin") bytes" >&2
  q postgres "DROP DATABASE src"
}

# --- one database per variant ---------------------------------------------------
# secondary indexes of agent_actions as the migrations create them
setup_variants() {
  migrate base
  mapfile -t secondary < <(q base "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = 'agent_actions'::regclass AND NOT i.indisprimary ORDER BY c.relname")
  [ "${#secondary[@]}" -gt 0 ] || die "agent_actions has no secondary index"
  put secondary_indexes "$(
    IFS=,
    echo "${secondary[*]}"
  )"
  variants=(full_text full_binary)
  local ix short
  for ix in "${secondary[@]}"; do
    short=${ix#agent_actions_}
    short=${short%_idx}
    variants+=("no_${short}_text")
    drop_of["no_${short}_text"]=$ix
  done
  variants+=(pk_only_text pk_only_binary no_index_text)
  drop_of[pk_only_text]=${secondary[*]}
  drop_of[pk_only_binary]=${secondary[*]}
  drop_of[no_index_text]="${secondary[*]} PK"
  local v d i=0
  for v in "${variants[@]}"; do
    i=$((i + 1))
    db_of[$v]=v$i
    q postgres "CREATE DATABASE v$i TEMPLATE base"
    for d in ${drop_of[$v]:-}; do
      if [ "$d" = PK ]; then
        q "v$i" "ALTER TABLE agent_actions DROP CONSTRAINT agent_actions_pkey"
      else
        q "v$i" "DROP INDEX $d"
      fi
    done
    put "variant.$v.indexes" "$(q "v$i" "SELECT count(*) FROM pg_index WHERE indrelid = 'agent_actions'::regclass")"
  done
}

# load VARIANT ROUND: one timed \copy into the empty table of VARIANT
load() {
  local v=$1 r=$2 db=${db_of[$1]} file=$out/rows.txt opt=""
  case "$v" in *_binary) file=$out/rows.bin opt=" WITH (FORMAT binary)" ;; esac
  q "$db" "TRUNCATE agent_actions"
  q "$db" "CHECKPOINT"
  local lsn0 lsn1 pg0 pg1 s0 s1 t0 t1 times
  lsn0=$(q "$db" "SELECT pg_current_wal_insert_lsn()")
  pg0=$(pg_cpu_ticks)
  s0=$(stat_cpu)
  t0=$(date +%s.%N)
  times=$({ TIMEFORMAT='%3U %3S' && time psql -qXAt -v ON_ERROR_STOP=1 -d "$db" \
    -c "\\copy agent_actions ($cols) FROM '$file'$opt" >/dev/null; } 2>&1) ||
    die "$v: \\copy failed: $times"
  t1=$(date +%s.%N)
  s1=$(stat_cpu)
  sleep 0.3 # the backend has exited: let the postmaster reap it (its CPU)
  pg1=$(pg_cpu_ticks)
  lsn1=$(q "$db" "SELECT pg_current_wal_insert_lsn()")
  local n
  n=$(q "$db" "SELECT count(*) FROM agent_actions")
  [ "$n" = "$rows" ] || die "VOID: $v loaded $n rows of $rows"
  local k="$v.$r"
  put "$k.seconds" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
  put "$k.rows_per_s" "$(awk -v a="$t0" -v b="$t1" -v n="$rows" 'BEGIN { printf "%.0f", n / (b - a) }')"
  put "$k.pg_cpu_seconds" "$(awk -v c="$((pg1 - pg0))" -v h="$hz" 'BEGIN { printf "%.2f", c / h }')"
  put "$k.psql_cpu_seconds" "$(awk '{ printf "%.2f", $1 + $2 }' <<<"$times")"
  local b0 w0 st0 a0 b1 w1 st1 a1
  read -r b0 w0 st0 a0 <<<"$s0"
  read -r b1 w1 st1 a1 <<<"$s1"
  put "$k.busy_pct" "$(awk -v b="$((b1 - b0))" -v a="$((a1 - a0))" 'BEGIN { printf "%.1f", a ? 100 * b / a : 0 }')"
  put "$k.iowait_pct" "$(awk -v w="$((w1 - w0))" -v a="$((a1 - a0))" 'BEGIN { printf "%.1f", a ? 100 * w / a : 0 }')"
  put "$k.steal_pct" "$(awk -v w="$((st1 - st0))" -v a="$((a1 - a0))" 'BEGIN { printf "%.1f", a ? 100 * w / a : 0 }')"
  put "$k.wal_bytes" "$(q "$db" "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')")"
  if [ "$r" = 1 ]; then # the size of each index after the load
    q "$db" "SELECT c.relname, sum(pg_relation_size(t.relid))
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid,
           LATERAL pg_partition_tree(c.oid) t
      WHERE i.indrelid = 'agent_actions'::regclass GROUP BY 1 ORDER BY 1" |
      while IFS='|' read -r ix sz; do put "$v.index_bytes.$ix" "$sz"; done
  fi
  q "$db" "TRUNCATE agent_actions" # the disk and the next CHECKPOINT stay small
  echo "  round $r $v: $(awk -v a="$t0" -v b="$t1" -v n="$rows" -v st="$((st1 - st0))" -v t="$((a1 - a0))" 'BEGIN { printf "%.2f s, %.0f rows/s, steal %.0f %%", b - a, n / (b - a), t ? 100 * st / t : 0 }')" >&2
}

ceilings() {
  echo "ceilings: producing and consuming $events events" >&2
  make_rows
  declare -gA db_of=() drop_of=()
  setup_variants
  put rounds "$rounds"
  put variants "$(
    IFS=,
    echo "${variants[*]}"
  )"
  local r i n=${#variants[@]}
  # Each round brackets the others between two loads of full_text (keys r
  # and rb): on a shared VM the speed drifts within minutes, so every
  # variant is compared with the reference of its own round. The others are
  # rotated, so that none always runs first.
  local t_round
  for r in $(seq 1 "$rounds"); do
    t_round=$(date +%s)
    load full_text "$r"
    for i in $(seq 1 $((n - 1))); do
      load "${variants[$((1 + (i - 1 + r - 1) % (n - 1)))]}" "$r"
    done
    load full_text "${r}b"
    echo "  round $r: $(($(date +%s) - t_round)) s" >&2
  done
  rm -f "$out/rows.txt" "$out/rows.bin"
}

# --- which documented query uses which index ------------------------------------
# exec_ms SQL "INDEX...": best of three execution times (ms) of SQL, in a
# transaction that drops the given indexes and is rolled back
exec_ms() {
  local d script="BEGIN;"
  for d in $2; do script+=" DROP INDEX $d;"; done
  for _ in 1 2 3; do script+=" EXPLAIN (ANALYZE, TIMING OFF) $1;"; done
  script+=" ROLLBACK;"
  psql -qXAt -v ON_ERROR_STOP=1 -d demo <<<"$script" |
    awk '/^Execution Time:/ { v = $3 + 0; if (b == "" || v < b) b = v } END { printf "%.2f", b }'
}
explain_part() {
  echo "explain: $demo_rows demo rows (docs/queries.md)" >&2
  migrate demo
  python3 "$top/tests/integration/gen_events.py" --count "$demo_rows" | cut -f2 >"$out/demo.jsonl"
  # docs/queries.md's load, as written there
  psql -qX -v ON_ERROR_STOP=1 -d demo >/dev/null <<SQL
CREATE TEMP TABLE raw (line text);
\\copy raw FROM '$out/demo.jsonl' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')
INSERT INTO agent_actions (event_id, correlation_id, session_id, agent_name, action_type,
  action_name, action_details, duration_ms, debug_mode, project_path, project_name,
  working_directory, event_time, extra, kafka_topic, kafka_partition, kafka_offset)
SELECT (j->>'event_id')::uuid, (j->>'correlation_id')::uuid, (j->>'session_id')::uuid,
  j->>'agent_name', j->>'action_type', j->>'action_name', coalesce(j->'action_details', '{}'),
  (j->>'duration_ms')::int, (j->>'debug_mode')::boolean, j->>'project_path',
  regexp_replace(j->>'project_path', '.*/', ''), j->>'working_directory',
  (j->>'timestamp')::timestamptz, NULL, 'agent-actions', (n % 6)::int, n / 6
FROM (SELECT line::jsonb AS j, row_number() OVER () - 1 AS n FROM raw) s;
VACUUM ANALYZE agent_actions;
SQL
  rm -f "$out/demo.jsonl"
  local rows_demo sid cid last
  rows_demo=$(q demo "SELECT count(*) FROM agent_actions")
  [ "$rows_demo" = "$demo_rows" ] || die "VOID: the demo load gave $rows_demo rows of $demo_rows"
  put demo_rows "$rows_demo"
  sid=$(q demo "SELECT session_id FROM agent_actions ORDER BY event_time DESC LIMIT 1")
  cid=$(q demo "SELECT correlation_id FROM agent_actions ORDER BY event_time DESC LIMIT 1")
  # The demo data ends on 2026-11-28: "the last 24 hours" of the data stand
  # for now() - interval '24 hours' in the queries that use now().
  last=$(q demo "SELECT max(event_time) - interval '24 hours' FROM agent_actions")
  # The generator is regular (agent = i % 7, day = i % 28): agent-3 has no
  # row in the last day, so the "over time" lookups take the newest row's
  # agent and project, which have rows there.
  local agent project
  agent=$(q demo "SELECT agent_name FROM agent_actions ORDER BY event_time DESC LIMIT 1")
  project=$(q demo "SELECT project_name FROM agent_actions ORDER BY event_time DESC LIMIT 1")
  # id|source|query: every query of docs/queries.md, then the filters it
  # recommends on the views, then (marked "purpose") the lookups
  # docs/schema.md gives as each index's reason, which no document shows
  local queries=(
    "Q1|queries.md aac_agent_hourly|SELECT * FROM aac_agent_hourly WHERE agent_name = 'agent-3' ORDER BY hour DESC LIMIT 5"
    "Q2|queries.md aac_agent_outcomes|SELECT agent_name, actions, successes, errors, success_rate, error_rate, error_share FROM aac_agent_outcomes ORDER BY error_share DESC, agent_name"
    "Q3|queries.md aac_action_outcomes|SELECT action_name, actions, successes, errors, success_rate, error_rate, error_share, agents FROM aac_action_outcomes ORDER BY action_name LIMIT 5"
    "Q4|queries.md aac_action_durations|SELECT * FROM aac_action_durations ORDER BY p95_ms DESC LIMIT 5"
    "Q5|queries.md aac_project_activity|SELECT * FROM aac_project_activity ORDER BY actions DESC"
    "Q6|queries.md aac_session_activity|SELECT session_id, agent_name, project_name, agents, first_action, last_action, actions, errors FROM aac_session_activity ORDER BY last_action DESC LIMIT 3"
    "Q7|queries.md aac_recent_errors|SELECT event_time, agent_name, action_name, action_details->>'file' AS file, duration_ms FROM aac_recent_errors LIMIT 3"
    "Q8|queries.md large table: hourly, last 24 h|SELECT date_trunc('hour', event_time, 'UTC') AS hour, agent_name, count(*) AS actions, count(*) FILTER (WHERE action_type = 'error') AS errors FROM agent_actions WHERE event_time >= '$last' GROUP BY 1, 2 ORDER BY 1, 2"
    "Q9|queries.md large table: recent errors, last day|SELECT * FROM aac_recent_errors WHERE event_time >= '$last' LIMIT 50"
    "Q10|queries.md: one session (\"uses the session index\")|SELECT * FROM aac_session_activity WHERE session_id = '$sid'"
    "Q11|queries.md: view filtered by agent|SELECT * FROM aac_agent_outcomes WHERE agent_name = 'agent-3'"
    "Q12|queries.md: view filtered by project|SELECT * FROM aac_project_activity WHERE project_name = 'project-2'"
    "Q13|queries.md: view filtered by action|SELECT * FROM aac_action_outcomes WHERE action_name = 'action_3'"
    "Q14|queries.md: hourly view, agent, time range|SELECT * FROM aac_agent_hourly WHERE agent_name = 'agent-3' AND hour >= '$last'"
    "P1|purpose (schema.md): one agent over time|SELECT * FROM agent_actions WHERE agent_name = '$agent' AND event_time >= '$last' ORDER BY event_time"
    "P2|purpose (schema.md): one session|SELECT * FROM agent_actions WHERE session_id = '$sid' ORDER BY event_time"
    "P3|purpose (schema.md): one project over time|SELECT * FROM agent_actions WHERE project_name = '$project' AND event_time >= '$last' ORDER BY event_time"
    "P4|purpose (schema.md): one task|SELECT * FROM agent_actions WHERE correlation_id = '$cid'"
  )
  data_parts=$(q demo "SELECT DISTINCT tableoid::regclass FROM agent_actions" | paste -sd' ')
  put demo_partitions "${data_parts// /,}"
  : >"$out/plans.txt"
  local e id src sql plan used ix
  for e in "${queries[@]}"; do
    IFS='|' read -r id src sql <<<"$e"
    plan=$(q demo "EXPLAIN (COSTS OFF) $sql")
    { echo "== $id ($src)"; echo "$sql"; echo "$plan"; echo; } >>"$out/plans.txt"
    # every index in the plan, as the parent index of agent_actions it belongs to
    used=$({ grep -oE 'using [a-z0-9_]+|Bitmap Index Scan on [a-z0-9_]+' <<<"$plan" || true; } |
      awk '{ print $NF }' | sort -u |
      while read -r ix; do q demo "SELECT pg_partition_root('$ix'::regclass)::text"; done | sort -u | paste -sd, -)
    put "plan.$id.indexes" "${used:-none}"
    # the scan of each partition that holds rows (the empty ones are seq-scanned)
    put "plan.$id.node" "$(for p in $data_parts; do
      { grep -oE "(Parallel )?(Seq Scan|Index Scan using [a-z0-9_]+|Index Only Scan using [a-z0-9_]+|Bitmap Heap Scan) on $p( |\$)" <<<"$plan" || echo "(pruned) on $p"; } | sed -E 's/ on [a-z0-9_]+ ?$//'
    done | paste -sd';')"
    # execution time, best of 3, with every index, and with the ones it used dropped
    put "plan.$id.ms" "$(exec_ms "$sql" "")"
    [ -z "$used" ] || put "plan.$id.ms_without" "$(exec_ms "$sql" "${used//,/ }")"
    echo "  $id: ${used:-no index}" >&2
  done
}

case "$part" in
ceilings) ceilings ;;
explain) explain_part ;;
all) ceilings && explain_part ;;
esac
python3 - "$res" >"$out/summary-$part.md" <<'PY'
import statistics, sys
kv = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition(" ")
    kv[k] = v
print(f"{kv['date']}, commit {kv['commit']}, nproc {kv['nproc']}, "
      f"{int(kv['mem_total_kb']) / 1048576:.1f} GiB, {kv['cpu_model'].replace('_', ' ')}, "
      f"PostgreSQL {kv['pg_version']} ({kv['pg_settings']})\n")
if "variants" in kv:
    rounds = int(kv["rounds"])
    rows = int(kv["rows"])
    print(f"{rows} rows (text file {int(kv['text_file_bytes']) / rows:.0f} bytes/row, binary "
          f"{int(kv['binary_file_bytes']) / rows:.0f}; avg row {kv['row_bytes_avg']} bytes in PostgreSQL), "
          f"{rounds} rounds, medians\n")
    def rounds_of(v):
        return [f"{r}" for r in range(1, rounds + 1)] + (
            [f"{r}b" for r in range(1, rounds + 1)] if v == "full_text" else [])
    def med(v, f):
        return statistics.median(float(kv[f"{v}.{r}.{f}"]) for r in rounds_of(v))
    def rate(v, r):
        return float(kv[f"{v}.{r}.rows_per_s"])
    def ratio(v, r):  # against the two full_text loads that bracket round r
        return rate(v, r) / ((rate("full_text", f"{r}") + rate("full_text", f"{r}b")) / 2)
    print("Ratio: each load against the mean of the two full_text loads of its round (they bracket "
          "it), median over the rounds; best: fastest load of the variant against fastest full_text.\n")
    print("| variant | indexes | rows/s (median) | rows/s per load | vs full_text (median of rounds) "
          "| best rows/s | best vs best | PG CPU µs/row | psql CPU s | busy % (all CPUs) | iowait % "
          "| steal % | WAL bytes/row |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    best_ref = max(rate("full_text", r) for r in rounds_of("full_text"))
    for v in kv["variants"].split(","):
        rs = ", ".join(f"{rate(v, r):,.0f}" for r in rounds_of(v))
        best = max(rate(v, r) for r in rounds_of(v))
        rat = 1.0 if v == "full_text" else statistics.median(
            ratio(v, f"{r}") for r in range(1, rounds + 1))
        print(f"| {v} | {kv[f'variant.{v}.indexes']} | {med(v, 'rows_per_s'):,.0f} | {rs} "
              f"| {rat:.2f} | {best:,.0f} | {best / best_ref:.2f} "
              f"| {1e6 * med(v, 'pg_cpu_seconds') / rows:.1f} | {med(v, 'psql_cpu_seconds'):.2f} "
              f"| {med(v, 'busy_pct'):.1f} | {med(v, 'iowait_pct'):.1f} | {med(v, 'steal_pct'):.1f} "
              f"| {med(v, 'wal_bytes') / rows:.0f} |")
    print("\nIndex sizes after one load of the full table:\n")
    for k in sorted(kv):
        if k.startswith("full_text.index_bytes."):
            print(f"- {k.split('.', 2)[2]}: {int(kv[k]) / 1048576:.1f} MB")
    print()
if "demo_rows" in kv:
    print(f"Plans on {kv['demo_rows']} demo rows (docs/queries.md data):\n")
    print(f"Partitions with rows: {kv['demo_partitions']}. Times: best of 3 executions (EXPLAIN ANALYZE), "
          "with every index, and with the indexes the plan used dropped (in a rolled-back transaction).\n")
    print("| query | indexes used | scan of the partition(s) with rows | ms | ms without those indexes |")
    print("|---|---|---|---:|---:|")
    for k in sorted((k for k in kv if k.startswith("plan.") and k.endswith(".indexes")),
                    key=lambda k: ("QP".index(k.split(".")[1][0]), int(k.split(".")[1][1:]))):
        q = k.split(".")[1]
        print(f"| {q} | {kv[k]} | {kv[f'plan.{q}.node']} | {kv[f'plan.{q}.ms']} "
              f"| {kv.get(f'plan.{q}.ms_without', '')} |")
PY
cat "$out/summary-$part.md"
echo "results: $out/results-$part.txt, $out/summary-$part.md$([ "$part" = ceilings ] || echo ", $out/plans.txt")" >&2
