#!/usr/bin/env bash
# A member beyond the partition count: two instances on a one-partition
# topic. The group gives the partition to one; the other joins with none.
# Both must be ready (/ready 200, aac_ready 1): the idle one is where the
# group wants it, and a readiness-gated rollout must not wait on it for
# ever. Its /ready says so: joined, idle, no partition. Events keep being
# stored once by the one that holds the partition.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 1

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 200 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
produce "$TEST_DIR/events"

start_consumer_http c1
url1=$READY_URL
wait_rows 200 60
start_consumer_http c2
url2=$READY_URL

field() { # URL EXPR: a value of /ready's JSON, or the status code when it is not JSON
  curl -s -m 2 "$1" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$2" 2>/dev/null || true
}
state() { # URL: "status joined idle partitions"
  field "$1" '" ".join(str(x) for x in (d["status"], d["joined"], d["idle"], d["partitions"]))'
}
# the rebalance that lets c2 in ends after the session timeout (6 s)
for _ in $(seq 1 300); do
  s1=$(state "$url1")
  s2=$(state "$url2")
  case "$s1|$s2" in
  "ready True False 1|ready True True 0" | "ready True True 0|ready True False 1") break ;;
  esac
  sleep 0.1
done
echo "c1: $s1; c2: $s2"
case "$s1|$s2" in
"ready True False 1|ready True True 0" | "ready True True 0|ready True False 1") ;;
*) fail "want one instance holding the partition and one idle, both ready; got c1 '$s1', c2 '$s2'" ;;
esac
[ "$s2" = "ready True True 0" ] && idle_url=$url2 || idle_url=$url1
code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$idle_url")
assert_eq "$code" 200 "/ready of the idle member"
assert_eq "$(field "$idle_url" 'd["reasons"]')" "[]" "/ready reasons of the idle member"
METRICS_URL=${idle_url%/ready}/metrics
metrics 'aac_ready==1' 'aac_group_joined==1' 'aac_partitions_assigned==0' ||
  fail "/metrics of the idle member"

# still written by the other, exactly once
python3 "$gen" --count 200 --start 200 --ids "$TEST_DIR/ids" >"$TEST_DIR/more"
produce "$TEST_DIR/more"
wait_rows 400 60
check_exactly_once "$TEST_DIR/ids"
stop_consumer c1
stop_consumer c2
pass "one member holds the partition, the other is ready and idle"
