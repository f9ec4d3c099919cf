#!/usr/bin/env bash
# The documented analytics questions (docs/queries.md) timed on the raw
# rows and on the rollups, at 1,000,000 and 10,000,000 rows (issue 20).
#
#   flock /tmp/aac-test.lock bash bench/queries.sh [--rows N]... [--runs R]
#                                                  [--seed S] [--build-dir DIR] [--out DIR]
#                                                  [--keep]
#
# For each size (default both 1,000,000 and 10,000,000; --rows may repeat):
#   1. a fresh database in a throwaway PostgreSQL that the script starts
#      (scripts/pg.sh; loading settings: fsync, synchronous_commit and
#      full_page_writes off, no checkpoint during the load; shared_buffers
#      1GB as bench/run.sh; everything else PostgreSQL 15's defaults,
#      JIT included), the migrations applied with psql, each in one
#      transaction as `migrate up` runs them;
#   2. N rows over the 30 days before now (40 agents, 150 action names, 12
#      projects, shaped as bench/gen_rows.c says) streamed from
#      bench_gen_rows into one COPY;
#   3. the rollups filled with aac_rollups_rebuild, one transaction per
#      UTC day, then VACUUM ANALYZE;
#   4. every query of bench/queries.py once to warm the caches, then R
#      times (default 5): the median, as psql's \timing sees it; and the
#      histogram's p50/p95/p99 per action against percentile_cont over the
#      raw rows (exit 1 if any is more than 12.5 % off).
# The database is dropped before the next size. The markdown tables (each
# query's median per size; the load's figures; the percentiles' accuracy)
# are printed at the end and kept in OUT (default
# bench/out/queries-<date>-<time>/) with every query's EXPLAIN ANALYZE
# (plans-N.txt). --keep leaves the last size's database and the server
# running, and prints how to reach them (stop it with scripts/pg.sh stop). Two cores: about 4 minutes at 1M, 25 at 10M (see
# docs/queries.md). Take the test lock: the figures mean nothing while a
# test suite runs beside them, and the load slows the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

sizes=()
runs=5
seed=1
build_dir=$top/build/bench
out=""
keep=false
die() { echo "bench/queries.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
  --rows) sizes+=("$2"); shift 2 ;;
  --runs) runs=$2; shift 2 ;;
  --seed) seed=$2; shift 2 ;;
  --build-dir) build_dir=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --keep) keep=true; shift ;;
  -h | --help) sed -n '2,37p' "$0"; exit 0 ;;
  *) echo "bench/queries.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "${#sizes[@]}" -gt 0 ] || sizes=(1000000 10000000)
for n in "${sizes[@]}"; do [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1000 ] || die "--rows must be a number >= 1000"; done
[[ $runs =~ ^[0-9]+$ ]] && [ "$runs" -ge 1 ] || die "--runs must be at least 1"

if pgrep -x ctest >/dev/null; then # a running suite (not one waiting for the lock)
  echo "bench/queries.sh: warning: a test suite is running on this machine; figures will be high" >&2
fi

# only the row generator is built: the service's binary is not needed
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DAAC_INTEGRATION=OFF >/dev/null
cmake --build "$build_dir" --target bench_gen_rows >/dev/null
gen=$build_dir/bench/bench_gen_rows
[ -x "$gen" ] || die "bench_gen_rows not built in $build_dir"

[ -n "$out" ] || out=$top/bench/out/queries-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)

pg_opts="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=1GB"
pg_opts+=" -c max_wal_size=32GB -c checkpoint_timeout=1h -c max_connections=20"
pgbase=$(mktemp -d /tmp/aac-bench-queries.XXXXXX)
chmod 755 "$pgbase"
cleanup() {
  set +e
  [ "$keep" = true ] && return
  bash "$top/scripts/pg.sh" stop "$pgbase/data" >/dev/null 2>&1
  rm -rf "$pgbase"
}
trap cleanup EXIT
pgport=$(PG_EXTRA_OPTS="$pg_opts" bash "$top/scripts/pg.sh" start "$pgbase/data")
export PGHOST=127.0.0.1 PGPORT=$pgport PGUSER=postgres PGDATABASE=postgres
q() { psql -qXAt -v ON_ERROR_STOP=1 -c "$1"; }
now_s() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

{
  echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "cpu $(nproc) x $(grep -m1 '^model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "memory $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "postgresql $(q 'SHOW server_version' | sed 's/ .*//'), jit $(q "SELECT current_setting('jit') || CASE WHEN pg_jit_available() THEN '' ELSE ' (not available)' END")"
  echo "settings $pg_opts"
} | tee "$out/machine.txt" >&2

cols=$("$gen" --columns)
for n in "${sizes[@]}"; do
  db=bench_$n
  echo "== $n rows" >&2
  q "DROP DATABASE IF EXISTS $db"
  q "CREATE DATABASE $db"
  export PGDATABASE=$db
  for f in "$top"/migrations/*.up.sql; do
    psql -qX -1 -v ON_ERROR_STOP=1 -f "$f" >/dev/null || die "applying $f failed"
  done
  end=$(date +%s)
  t0=$(now_s)
  "$gen" --rows "$n" --seed "$seed" --end "$end" --days 30 |
    psql -qX -v ON_ERROR_STOP=1 -c "\\copy agent_actions ($cols) FROM STDIN" ||
    die "loading $n rows failed"
  t1=$(now_s)
  got=$(q "SELECT count(*) FROM agent_actions")
  [ "$got" = "$n" ] || die "loaded $got rows, not $n"
  in_default=$(q "SELECT count(*) FROM agent_actions_default")
  # the rollups, one UTC day per transaction
  first_day=$(q "SELECT date_trunc('day', min(event_time), 'UTC') FROM agent_actions")
  days=$(q "SELECT ceil(extract(epoch FROM max(event_time) - '$first_day'::timestamptz) / 86400) FROM agent_actions")
  for d in $(seq 0 "$days"); do
    q "SELECT aac_rollups_rebuild('$first_day'::timestamptz + make_interval(days => $d),
                                  '$first_day'::timestamptz + make_interval(days => $d + 1))" >/dev/null
  done
  t2=$(now_s)
  q "VACUUM ANALYZE"
  t3=$(now_s)
  diffs=$(q "SELECT count(*) FROM aac_rollups_check('-infinity', 'infinity')")
  t4=$(now_s)
  [ "$diffs" = 0 ] || die "aac_rollups_check: $diffs keys differ after the rebuild"
  {
    printf 'rows in agent_actions\t%s\n' "$(q "SELECT to_char($n, 'FM999,999,999')")"
    printf 'rows in the default partition\t%s\n' "$in_default"
    printf 'generate + COPY, s\t%s\n' "$(secs "$t0" "$t1")"
    printf 'COPY rows/s\t%s\n' "$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", n / (b - a) }')"
    printf 'aac_rollups_rebuild, %s days, s\t%s\n' "$((days + 1))" "$(secs "$t1" "$t2")"
    printf 'VACUUM ANALYZE, s\t%s\n' "$(secs "$t2" "$t3")"
    printf 'aac_rollups_check (all), s\t%s\n' "$(secs "$t3" "$t4")"
    printf 'agent_actions, with indexes\t%s\n' "$(q "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'agent_actions'::regclass")"
    for t in aac_rollup_hourly aac_rollup_durations_hourly; do
      printf '%s rows\t%s\n' "$t" "$(q "SELECT to_char(count(*), 'FM999,999,999') FROM $t")"
      printf '%s, with indexes\t%s\n' "$t" "$(q "SELECT pg_size_pretty(pg_total_relation_size('$t'))")"
    done
    printf 'raw rows per aac_rollup_hourly row\t%s\n' "$(q "SELECT round($n::numeric / count(*), 1) FROM aac_rollup_hourly")"
    # the grain's alternatives, counted on the same rows (docs/queries.md)
    printf 'aac_rollup_hourly rows without project_name in the key\t%s\n' "$(q "SELECT to_char(count(*), 'FM999,999,999') FROM (SELECT DISTINCT hour, agent_name, action_type, action_name FROM aac_rollup_hourly) s")"
    printf 'histogram rows if kept per agent too\t%s\n' "$(q "SELECT to_char(count(*), 'FM999,999,999') FROM (SELECT DISTINCT hour, agent_name, action_name FROM aac_rollup_hourly WHERE timed_events > 0) s")"
    printf 'agents, action names, projects\t%s\n' "$(q "SELECT count(DISTINCT agent_name) || ', ' || count(DISTINCT action_name) || ', ' || count(DISTINCT project_name) FROM aac_rollup_hourly")"
    printf 'error share, NULL duration, NULL project\t%s\n' "$(q "SELECT round(100.0 * count(*) FILTER (WHERE action_type = 'error') / count(*), 1) || ' %, ' || round(100.0 * count(*) FILTER (WHERE duration_ms IS NULL) / count(*), 1) || ' %, ' || round(100.0 * count(*) FILTER (WHERE project_name IS NULL) / count(*), 1) || ' %' FROM agent_actions")"
  } >"$out/load-$n.tsv"
  sed 's/\t/: /' "$out/load-$n.tsv" >&2
  python3 "$top/bench/queries.py" time "$out/times-$n.tsv" --runs "$runs"
  mv "$out/times-$n.tsv.plans" "$out/plans-$n.txt"
  python3 "$top/bench/queries.py" accuracy "$out/accuracy-$n.tsv" ||
    die "the histogram's percentiles are off by more than 12.5 % (see $out/accuracy-$n.tsv)"
  export PGDATABASE=postgres
  [ "$keep" = true ] && [ "$n" = "${sizes[-1]}" ] && break
  q "DROP DATABASE $db"
done

python3 "$top/bench/queries.py" table "$out" | tee "$out/summary.md"
echo "bench/queries.sh: figures in $out" >&2
if [ "$keep" = true ]; then
  echo "bench/queries.sh: kept: PGHOST=127.0.0.1 PGPORT=$pgport PGUSER=postgres PGDATABASE=bench_${sizes[-1]};" \
    "stop with: bash scripts/pg.sh stop $pgbase/data && rm -rf $pgbase" >&2
fi
