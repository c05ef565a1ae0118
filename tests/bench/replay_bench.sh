#!/usr/bin/env bash
# Benchmark, not a test: how fast `pgsieve policy test` replays recorded
# traffic. pgbench -S runs through pgsieve (enforce, audit on) for SECONDS
# with the simple protocol — every statement a distinct text, the worst
# case for replay's deduplication — and with -M prepared (one text); then
# each audit log is replayed under a narrowed policy, three times, and the
# median statements/s printed. Run from the repository root after a build:
#
#   tests/fixture/with-postgres.sh tests/bench/replay_bench.sh [SECONDS]
set -euo pipefail

seconds=${1:-20}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pgsieve="$root/build/app/pgsieve"
work=$(mktemp -d /tmp/pgsieve-replay.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

pgbench -i -q -s 10 app >/dev/null 2>&1
upw=bench-upstream
psql -X -q -c "ALTER ROLE ai_readonly PASSWORD '$upw'" \
     -c "GRANT SELECT ON pgbench_accounts, pgbench_branches, pgbench_tellers TO ai_readonly"

for mode in simple prepared; do
  port=$(free_port)
  cat > "$work/$mode.yaml" <<YAML
listen: {address: 127.0.0.1, port: $port}
upstream: {host: 127.0.0.1, port: $PGPORT, database: app, user: ai_readonly, password_env: UPW, sslmode: disable}
audit: {sqlite: $work/$mode.db}
clients: [{name: ai_readonly, password_env: UPW, policy: bench}]
policies:
  bench:
    statements: [select]
    tables: {public.pgbench_accounts: {}, public.pgbench_branches: {}, public.pgbench_tellers: {}}
YAML
  UPW=$upw "$pgsieve" serve -c "$work/$mode.yaml" 2>"$work/$mode.log" &
  pid=$!
  wait_port "$port"
  PGPASSWORD=$upw pgbench -h 127.0.0.1 -p "$port" -U ai_readonly -n -S -M "$mode" -c 4 -j 2 -T "$seconds" app \
    >/dev/null 2>&1
  kill -TERM "$pid"; wait "$pid" || true; pid=
  # The candidate: pgbench_accounts narrowed to two columns (its reads are newly refused).
  sed -e 's/public.pgbench_accounts: {}/public.pgbench_accounts: {columns: [aid, bid]}/' "$work/$mode.yaml" \
    > "$work/$mode-candidate.yaml"
  UPW=$upw "$pgsieve" dump-catalog -c "$work/$mode.yaml" > "$work/catalog.txt"
  for run in 1 2 3; do
    "$pgsieve" policy test "$work/$mode-candidate.yaml" --db "$work/$mode.db" --catalog "$work/catalog.txt" \
      --json > "$work/$mode-$run.json" || [ $? -eq 1 ]
  done
  /usr/bin/python3 - "$mode" "$work"/"$mode"-[123].json <<'PY'
import json, statistics, sys
runs = [json.load(open(p)) for p in sys.argv[2:]]
r = runs[0]
rate = statistics.median(x["recorded"] / x["seconds"] for x in runs)
print(f"{sys.argv[1]:>8}: {r['recorded']} statements ({r['distinct']} distinct texts), "
      f"{r['newly_refused']} newly refused; replayed at {rate:,.0f} statements/s (median of {len(runs)})")
PY
done
