#!/usr/bin/env bash
# README command (a): the service on its embedded defaults.
#
# Installs what is missing, builds, starts a private PostgreSQL in .dev/
# (kept and reused next time) and the development Kafka broker, applies the
# migrations, prints how to publish an event and see it stored, then runs
# the consumer in the foreground. Ctrl-C stops the consumer (it finishes
# its batch first) and then everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

bash scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAAC_INTEGRATION=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target agent-actions-consumer aac-dev-broker >/dev/null
bin=$top/build/release/agent-actions-consumer
broker=$top/build/release/aac-dev-broker

dev=$top/.dev
mkdir -p "$dev"
pgdata=$dev/pgdata
if [ "$(id -u)" = 0 ] && [ ! -e "$pgdata" ] && ! runuser -u postgres -- test -x "$dev"; then
  # the server runs as the postgres OS user, which cannot enter this
  # checkout (a home folder, say): keep the data outside, linked from .dev
  alt=/var/lib/agent-actions-consumer-dev/$(echo -n "$top" | md5sum | cut -c1-12)
  mkdir -p "$alt"
  chmod 755 /var/lib/agent-actions-consumer-dev "$alt"
  ln -sfn "$alt/pgdata" "$pgdata"
  echo "dev.sh: PostgreSQL data in $alt (linked from .dev/pgdata)" >&2
fi

broker_pid=""
cleanup() {
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true
  bash scripts/pg.sh stop "$pgdata" || true
}
trap cleanup EXIT

pgport=$(bash scripts/pg.sh start "$pgdata")
export PGHOST=127.0.0.1 PGPORT=$pgport PGUSER=postgres PGDATABASE=agent_actions
psql -qXAt -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'agent_actions'" | grep -q 1 ||
  createdb agent_actions

rm -f "$dev/bootstrap"
# its own session: Ctrl-C reaches the consumer first, the broker at cleanup
setsid "$broker" --bootstrap-file "$dev/bootstrap" --topic agent-actions:4 \
  --topic agent-actions.dlq:1 </dev/null >"$dev/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 1 100); do [ -s "$dev/bootstrap" ] && break; sleep 0.1; done
[ -s "$dev/bootstrap" ] || { cat "$dev/broker.log" >&2; echo "dev.sh: broker did not start" >&2; exit 1; }
bootstrap=$(head -n 1 "$dev/bootstrap")

export AAC_KAFKA_BOOTSTRAP_SERVERS=$bootstrap
export AAC_HTTP_ADDRESS=127.0.0.1 AAC_HTTP_PORT=${AAC_HTTP_PORT:-8080}
"$bin" migrate up

sample='{"correlation_id":"6f1c2a9e-0b1d-4c1a-9a47-2d5f3c8e7b10","agent_name":"demo-agent","action_type":"tool_call","action_name":"read_file","action_details":{"path":"README.md"},"duration_ms":12,"timestamp":"2026-11-21T10:00:00Z"}'
cat <<EOF

  agent-actions-consumer (development defaults)
  kafka bootstrap : $bootstrap
  topic           : agent-actions   (dead letters: agent-actions.dlq)
  health          : http://127.0.0.1:$AAC_HTTP_PORT/health  (also /ready, /metrics)
  postgres        : postgresql://postgres@127.0.0.1:$pgport/agent_actions

  publish a sample event:
    echo '$sample' | kcat -b $bootstrap -P -t agent-actions
  see the rows:
    psql "postgresql://postgres@127.0.0.1:$pgport/agent_actions" -c 'SELECT event_id, agent_name, action_type, action_name, event_time FROM agent_actions ORDER BY ingested_at DESC LIMIT 10'

  Ctrl-C stops everything.

EOF
status=0
"$bin" run || status=$?
exit $status
