#!/usr/bin/env bash
# The whole test suite, as README.md gives it: installs what is missing,
# builds with AddressSanitizer and UndefinedBehaviorSanitizer, runs the unit
# and integration tests (which start their own PostgreSQL and development
# broker), then the fuzzer for a bounded time on a clang build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

jobs=$(nproc)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logs=build/test-logs
mkdir -p "$logs"
status=0

run_ctest() { # name, build dir, ctest args...
  local name=$1 dir=$2; shift 2
  echo "== $name"
  if ! ctest --test-dir "$dir" --output-on-failure "$@" 2>&1 | tee "$logs/$name.log"; then
    status=1
  fi
  grep -q '100% tests passed' "$logs/$name.log" || status=1
}

cmake -S . -B build/asan -DAAC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/asan -j"$jobs"
run_ctest asan build/asan -j"$jobs"

# ThreadSanitizer: the tests labelled `concurrency` (the HTTP thread under
# load beside the consume thread); any race report fails the run
cmake -S . -B build/tsan -DAAC_TSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/tsan -j"$jobs" --target agent-actions-consumer aac-dev-broker
TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$PWD/tests/tsan/suppressions.txt ${TSAN_OPTIONS:-}" \
  run_ctest tsan build/tsan -L concurrency
if grep -q 'WARNING: ThreadSanitizer' "$logs/tsan.log" build/tsan/test-state/*/*.log 2>/dev/null; then
  echo "ThreadSanitizer reported a race (see build/tsan/test-state/)"
  status=1
fi

CC=clang cmake -S . -B build/fuzz -DAAC_FUZZ=ON -DAAC_INTEGRATION=OFF \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/fuzz -j"$jobs" --target fuzz_event
run_ctest fuzz build/fuzz -L fuzz

# one closing line over every run
passed=0 failed=0
for f in "$logs"/*.log; do
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of' "$f" | tail -n 1 || true)
  [ -n "$line" ] || { status=1; continue; }
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  bad=$(sed -E 's/.*, ([0-9]+) tests failed.*/\1/' <<<"$line")
  passed=$((passed + total - bad))
  failed=$((failed + bad))
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] || status=1
exit $status
