#!/usr/bin/env bash
# A private PostgreSQL for development, tests and benchmarks.
#
#   scripts/pg.sh start DIR [PORT]   initdb DIR if needed, start on 127.0.0.1
#   scripts/pg.sh stop DIR           fast shutdown
#   scripts/pg.sh port DIR           print the port it was started on
#
# The server listens on loopback only, with trust authentication for local
# superuser `postgres` (development only) and no Unix socket. initdb refuses
# to run as root, so as root the server runs as the `postgres` OS user.
# PG_EXTRA_OPTS adds server options ("-c fsync=off" and so on).
set -euo pipefail

die() { echo "pg.sh: $*" >&2; exit 1; }

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/pg_ctl" ] || die "PostgreSQL server binaries not found (apt-get install postgresql)"
  echo "$d"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000)) # below the ephemeral ports (32768 and up)
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free TCP port found on 127.0.0.1"
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: pg.sh start|stop|port DIR [PORT]"
bin=$(pg_bindir)

case "$cmd" in
start)
  port=${3:-}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    as_owner test -w "$dir" ||
      die "the postgres OS user cannot write $dir (a parent directory is not searchable by it)"
  fi
  chmod 700 "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >"$dir/../$(basename "$dir").initdb.log" 2>&1 ||
      die "initdb failed; see $dir/../$(basename "$dir").initdb.log"
  fi
  if as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    echo "pg.sh: already running on port $(cat "$dir/aac_port")" >&2
    exit 0
  fi
  if [ -z "$port" ]; then
    if [ -f "$dir/aac_port" ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$(cat "$dir/aac_port")") 2>/dev/null; then
      port=$(cat "$dir/aac_port")
    else
      port=$(free_port)
    fi
  fi
  echo "$port" | as_owner tee "$dir/aac_port" >/dev/null
  as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='' ${PG_EXTRA_OPTS:-}" \
    start >/dev/null || { tail -n 20 "$dir/server.log" >&2 || true; die "PostgreSQL did not start"; }
  echo "$port"
  ;;
stop)
  [ -f "$dir/PG_VERSION" ] || exit 0
  as_owner "$bin/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  ;;
port)
  cat "$dir/aac_port"
  ;;
*)
  die "unknown command: $cmd"
  ;;
esac
