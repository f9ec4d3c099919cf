#!/usr/bin/env bash
# ctest fixture: starts (or stops) the throwaway PostgreSQL and the
# development broker shared by the integration tests. State, ports and logs
# go to $AAC_TEST_STATE; tests read $AAC_TEST_STATE/env (see lib.sh).
# A server that cannot start fails the fixture, and so every test needing it.
set -euo pipefail
: "${AAC_TEST_STATE:?}" "${AAC_DEV_BROKER:?}" "${AAC_SRC:?}"
state=$AAC_TEST_STATE

stop() {
  if [ -f "$state/broker.pid" ]; then
    kill "$(cat "$state/broker.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$(cat "$state/broker.pid")" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$(cat "$state/broker.pid")" 2>/dev/null || true
    rm -f "$state/broker.pid"
  fi
  if [ -f "$state/pgdata.path" ]; then
    pgdata=$(cat "$state/pgdata.path")
    bash "$AAC_SRC/scripts/pg.sh" stop "$pgdata"
    rm -rf "$(dirname "$pgdata")"
    rm -f "$state/pgdata.path"
  fi
}

start() {
  stop
  rm -rf "$state"
  mkdir -p "$state"
  # outside the checkout: the postgres OS user may not reach a home folder
  base=$(mktemp -d /tmp/aac-test-pg.XXXXXX)
  chmod 755 "$base"
  echo "$base/data" >"$state/pgdata.path"
  # fsync off: these tests check correctness, not durability of the host
  port=$(PG_EXTRA_OPTS="-c fsync=off -c max_connections=200" \
    bash "$AAC_SRC/scripts/pg.sh" start "$base/data")
  # the broker outlives this script: own session, no inherited descriptors
  setsid "$AAC_DEV_BROKER" --brokers 3 --bootstrap-file "$state/bootstrap" \
    --control "$state/broker.sock" </dev/null >"$state/broker.log" 2>&1 &
  echo $! >"$state/broker.pid"
  for _ in $(seq 1 100); do
    [ -s "$state/bootstrap" ] && break
    kill -0 "$(cat "$state/broker.pid")" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -s "$state/bootstrap" ]; then
    cat "$state/broker.log" >&2
    echo "servers.sh: the development broker did not start" >&2
    exit 1
  fi
  cat >"$state/env" <<ENV
export PGHOST=127.0.0.1
export PGPORT=$port
export PGUSER=postgres
export PGDATABASE=postgres
export AAC_TEST_BOOTSTRAP=$(cat "$state/bootstrap")
export AAC_TEST_BROKER_CTL=$state/broker.sock
ENV
  echo "postgres on 127.0.0.1:$port, broker on $(cat "$state/bootstrap")"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: servers.sh start|stop" >&2; exit 2 ;;
esac
