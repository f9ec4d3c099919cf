#!/usr/bin/env bash
# Fault: a wrong PostgreSQL password, given three ways (the configuration's
# postgres.password, a postgres.password_file, libpq's PGPASSWORD), against
# a private PostgreSQL that asks a role for its password (scram-sha-256).
#
# Checks, for each: the consumer stops by itself within 20 s with exit
# status 3 (FATAL, not a retry loop), logs exactly one "fatal error,
# stopping" line whose action names the user and its password, and never
# prints the password (neither the wrong one nor the right one) anywhere in
# its output; nothing is consumed, so nothing is dead-lettered. The right
# password is checked to work, so the failure is the password's. Then,
# with the right password and UPDATE on consumer_offsets revoked, the
# fatal line names that table and its action the grant.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
private_pg_start
fresh_db
migrate_up
make_topics 2

right='Right-Pa55-7f3e91'
wrong='Wr0ng-Pa55-c4d2a8'
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE ROLE aac_app LOGIN PASSWORD '$right';
GRANT SELECT, INSERT ON agent_actions TO aac_app;
GRANT SELECT, INSERT, UPDATE ON consumer_offsets TO aac_app;
SQL
# the test's own superuser keeps trust; every other role needs its password
hba=$FAULTS_PG/data/pg_hba.conf
cat >"$hba" <<'HBA'
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
HBA
chown --reference="$FAULTS_PG/data/PG_VERSION" "$hba"
sql "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
assert_eq "$(PGUSER=aac_app PGPASSWORD=$right sql 'SELECT current_user')" aac_app "login with the right password"
PGUSER=aac_app PGPASSWORD=$wrong sql 'SELECT 1' >/dev/null 2>&1 && fail "the wrong password was accepted"

python3 "$AAC_SRC/tests/integration/gen_events.py" --count 50 --invalid-every 10 >"$TEST_DIR/events"
produce "$TEST_DIR/events"

printf '%s\n' "$wrong" >"$TEST_DIR/password"
chmod 600 "$TEST_DIR/password"
variants=(
  "config AAC_POSTGRES_PASSWORD=$wrong"
  "file AAC_POSTGRES_PASSWORD_FILE=$TEST_DIR/password"
  "libpq PGPASSWORD=$wrong"
)
for v in "${variants[@]}"; do
  name=${v%% *}
  t0=$(date +%s%N)
  # shellcheck disable=SC2086
  start_consumer "$name" AAC_POSTGRES_USER=aac_app AAC_LOG_LEVEL=debug ${v#* }
  wait_exit "$name" 20
  ms=$((($(date +%s%N) - t0) / 1000000))
  assert_eq "$EXIT_STATUS" 3 "exit status with the password from $name"
  check_fatal "$name" "password"
  grep -q 'aac_app' "$TEST_DIR/$name.log" || fail "$name: the user is not named: $(grep fatal "$TEST_DIR/$name.log")"
  if grep -qF -e "$wrong" -e "$right" "$TEST_DIR/$name.log"; then
    fail "$name: a password appears in the consumer's output"
  fi
  echo "$name: exit 3 after $ms ms: $(grep -o 'action=.*' "$TEST_DIR/$name.log" | head -n 1)"
done
assert_eq "$(sql "SELECT count(*) FROM agent_actions")" 0 "rows"
assert_eq "$(topic_count "$TOPIC.dlq")" 0 "dead letters"

# the right password, a privilege missing: the table is named, the grant
# said once, in the action
sql "REVOKE UPDATE ON consumer_offsets FROM aac_app" >/dev/null
start_consumer priv AAC_POSTGRES_USER=aac_app AAC_POSTGRES_PASSWORD="$right"
wait_exit priv 20
assert_eq "$EXIT_STATUS" 3 "exit status without UPDATE on consumer_offsets"
check_fatal priv "grant the database user"
grep 'msg="fatal error, stopping"' "$TEST_DIR/priv.log" |
  grep -qF 'error="permission denied for table consumer_offsets"' ||
  fail "the missing privilege's table is not named: $(grep fatal "$TEST_DIR/priv.log")"
assert_eq "$(sql "SELECT count(*) FROM agent_actions")" 0 "rows without the privilege"
pass "wrong password (config, file, PGPASSWORD), then a missing privilege: exit 3, one line saying what to do, no password printed"
