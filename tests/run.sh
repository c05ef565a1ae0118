#!/usr/bin/env bash
# Builds pgsieve and runs every test suite: unit tests, bounded libFuzzer
# runs, and the integration tests against a real PostgreSQL 15 and real
# drivers — then the unit and integration tests again against an
# AddressSanitizer + UndefinedBehaviorSanitizer build of pgsieve, and the unit
# and multi-threaded integration tests against a ThreadSanitizer build.
# Exits non-zero on any failure; the last line is "N passed, N failed" over
# all suites.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)

"$root/deploy/install-deps.sh" || { echo "tests/run.sh: installing dependencies failed"; echo "0 passed, 1 failed"; exit 1; }

# Node.js drivers and the MCP servers for the integration tests, pinned by
# their package-lock.json files (install scripts are not needed: --ignore-scripts).
for node_dir in "$root/tests/integration/node" "$root/tests/integration/mcp"; do
  if [ ! -d "$node_dir/node_modules" ] || [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules" ]; then
    (cd "$node_dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) ||
      { echo "tests/run.sh: npm ci failed in $node_dir"; echo "0 passed, 1 failed"; exit 1; }
    touch "$node_dir/node_modules"
  fi
done

passed=0
failed=0
broken=()

# Runs ctest in a build tree and adds its counts to the totals.
run_ctest() {
  local name=$1 dir=$2; shift 2
  echo "== $name"
  local log
  log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure --no-tests=error "$@") 2>&1 | tee "$log"
  local summary
  summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [ -z "$summary" ]; then
    broken+=("$name: ctest printed no summary")
    failed=$((failed + 1))
  else
    local f t
    f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
    t=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$summary")
    passed=$((passed + t - f))
    failed=$((failed + f))
    [ "$f" -eq 0 ] || broken+=("$name: $f failed")
  fi
  rm -f "$log"
}

build() {
  local name=$1 dir=$2; shift 2
  echo "== build: $name"
  if ! cmake -S "$root" -B "$dir" "$@" >/dev/null || ! cmake --build "$dir" -j "$jobs" -- --no-print-directory; then
    broken+=("build $name failed")
    failed=$((failed + 1))
    return 1
  fi
}

if build release "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
  run_ctest "unit tests" "$root/build" -L unit -j "$jobs"
  run_ctest "integration tests" "$root/build" -L integration -j "$jobs"
fi
if build fuzz "$root/build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DPGSIEVE_FUZZ=ON; then
  run_ctest "fuzz targets (20 s each)" "$root/build-fuzz" -L fuzz -j "$jobs"
fi
if build sanitizers "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DPGSIEVE_SANITIZE=ON; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_ctest "unit tests (ASan+UBSan)" "$root/build-asan" -L unit -j "$jobs"
  # The same integration suites, drivers and attack tests against the
  # sanitizer build of `pgsieve serve` and the CLI: any report fails the test
  # (tests/CMakeLists.txt, conftest.py).
  run_ctest "integration tests (serve under ASan+UBSan)" "$root/build-asan" -L integration -j "$jobs"
fi
# ThreadSanitizer: the unit tests and the multi-threaded integration suites
# (workers, the analysis pool, the audit sink and exporters, the refresher,
# reloads, the control thread's admin and peer ports, the soak, the budget
# ledger every session charges) against a TSan build of serve. Only what
# they need is built, with line tables only (-g1): about 3 minutes on 2 cores.
echo "== build: thread sanitizer"
if cmake -S "$root" -B "$root/build-tsan" -DCMAKE_BUILD_TYPE=Debug -DPGSIEVE_TSAN=ON -DCMAKE_CXX_FLAGS_DEBUG=-g1 \
     >/dev/null && cmake --build "$root/build-tsan" -j "$jobs" --target pgsieve unit_tests -- --no-print-directory; then
  run_ctest "unit tests (TSan)" "$root/build-tsan" -L unit -j "$jobs"
  run_ctest "multi-threaded integration tests (serve under TSan)" "$root/build-tsan" -L integration -j "$jobs" \
    -R 'test_(admin|approvals|audit_export|fleet|reload|robustness|relay_protocol|soak|session_contract|tool_boundaries)$'
else
  broken+=("build thread sanitizer failed")
  failed=$((failed + 1))
fi

echo
for b in "${broken[@]+"${broken[@]}"}"; do echo "FAILED: $b"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
