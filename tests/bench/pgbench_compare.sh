#!/usr/bin/env bash
# Benchmark, not a test: pgbench -S against the same PostgreSQL directly,
# through PgBouncer (session mode) and through pgsieve, interleaved round by
# round so machine noise hits all three alike. Prints each run and the
# medians. Run from the repository root after a build:
#
#   tests/fixture/with-postgres.sh tests/bench/pgbench_compare.sh [SECONDS] [ROUNDS]
#
# PGSIEVE_PEER_BIN=/path/to/other/pgsieve adds a fourth target, "peer": the
# same configuration served by another build (e.g. one from before a change,
# to measure that change's cost in the same run). PGSIEVE_PEER_POLICY adds
# policy keys to the peer's policy (one YAML flow line, e.g. 'budgets:
# {statements: 100000000/1h}'): with the same build as the peer, what a
# policy feature costs per statement. PGBENCH_MODE=prepared runs
# pgbench -M prepared: each statement is then decided once, at its Parse.
# SYSCALLS=1 attaches `strace -c -f` to PgBouncer and pgsieve during their
# runs and prints system calls per transaction by call (strace slows them:
# the TPS of those runs is not comparable; run it separately). PERF=1
# records pgsieve's runs with `perf record` and prints where its CPU time
# went (self time, top symbols).
set -euo pipefail

seconds=${1:-10}
rounds=${2:-3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pgsieve="$root/build/app/pgsieve"
work=$(mktemp -d /tmp/pgsieve-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
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

# PgBouncer, session mode; clients log in as ai_readonly with SCRAM.
bouncer_port=$(free_port)
printf '"ai_readonly" "%s"\n' "$upw" > "$work/userlist.txt"
cat > "$work/pgbouncer.ini" <<INI
[databases]
app = host=127.0.0.1 port=$PGPORT dbname=app
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
auth_type = scram-sha-256
auth_file = $work/userlist.txt
pool_mode = session
max_client_conn = 100
default_pool_size = 20
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
chown -R postgres: "$work" 2>/dev/null || true
if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- pgbouncer -q "$work/pgbouncer.ini" & else pgbouncer -q "$work/pgbouncer.ini" & fi
pids+=($!)

# pgsieve, default threads (one per core), no TLS.
sieve_port=$(free_port)
cat > "$work/pgsieve.yaml" <<YAML
listen: {address: 127.0.0.1, port: $sieve_port}
upstream: {host: 127.0.0.1, port: $PGPORT, database: app, user: ai_readonly, password_env: UPW, sslmode: disable}
audit: {sqlite: $work/audit.db}
clients: [{name: ai_readonly, password_env: UPW, policy: bench}]
policies:
  bench:
    statements: [select]
    tables: {public.pgbench_accounts: {}, public.pgbench_branches: {}, public.pgbench_tellers: {}}
YAML
UPW=$upw "$pgsieve" serve -c "$work/pgsieve.yaml" 2>"$work/pgsieve.log" &
pids+=($!)
declare -A pid=([pgsieve]=$!)
wait_port "$bouncer_port" && wait_port "$sieve_port"
pid[pgbouncer]=$(cat "$work/pgbouncer.pid")

declare -A port=([direct]=$PGPORT [pgbouncer]=$bouncer_port [pgsieve]=$sieve_port)
declare -A user=([direct]=postgres [pgbouncer]=ai_readonly [pgsieve]=ai_readonly [peer]=ai_readonly)
declare -A pass=([direct]=$PGPASSWORD [pgbouncer]=$upw [pgsieve]=$upw [peer]=$upw)
targets="direct pgbouncer pgsieve"
if [ -n "${PGSIEVE_PEER_BIN:-}" ]; then
  peer_port=$(free_port)
  sed -e "s/port: $sieve_port}/port: $peer_port}/" -e "s#$work/audit.db#$work/peer-audit.db#" \
      "$work/pgsieve.yaml" > "$work/peer.yaml"
  if [ -n "${PGSIEVE_PEER_POLICY:-}" ]; then
    sed -i "s#^    statements: \[select\]#    statements: [select]\n    ${PGSIEVE_PEER_POLICY}#" "$work/peer.yaml"
  fi
  UPW=$upw "$PGSIEVE_PEER_BIN" serve -c "$work/peer.yaml" 2>"$work/peer.log" &
  pids+=($!)
  pid[peer]=$!
  wait_port "$peer_port"
  port[peer]=$peer_port
  targets="$targets peer"
fi
results="$work/results.txt"
: > "$results"

for clients in 1 8; do
  jobs=$(( clients < 2 ? 1 : 2 ))
  for round in $(seq "$rounds"); do
    for target in $targets; do
      traced=""
      if [ -n "${SYSCALLS:-}" ] && [ "$target" != direct ]; then
        trace="$work/strace.$target.$clients.$round"
        strace -c -f -q -p "${pid[$target]}" -o "$trace" & traced=$!
        sleep 0.5
      fi
      profiled=""
      if [ -n "${PERF:-}" ] && [ "$target" = pgsieve ]; then
        profile="$work/perf.$clients.$round"
        perf record -q -F 2000 -p "${pid[$target]}" -o "$profile" >/dev/null 2>&1 & profiled=$!
        sleep 0.5
      fi
      out=$(PGPASSWORD=${pass[$target]} pgbench -h 127.0.0.1 -p "${port[$target]}" -U "${user[$target]}" \
              -n -S -M "${PGBENCH_MODE:-simple}" -c "$clients" -j "$jobs" -T "$seconds" app 2>&1)
      tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' <<<"$out")
      lat=$(sed -nE 's/^latency average = ([0-9.]+) ms/\1/p' <<<"$out")
      echo "clients=$clients round=$round target=$target tps=$tps latency_ms=$lat" | tee -a "$results"
      if [ -n "$profiled" ]; then
        kill -INT "$profiled"; wait "$profiled" 2>/dev/null || true
        echo "    perf, pgsieve, $clients client(s), self time:"
        perf report -i "$profile" --stdio --no-children --sort symbol 2>/dev/null | grep -E '^ +[0-9]' | head -25 | cut -c1-110 | sed 's/^/    /'
      fi
      if [ -n "$traced" ]; then
        kill -INT "$traced"; wait "$traced" 2>/dev/null || true
        tx=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' <<<"$out")
        /usr/bin/python3 - "$trace" "$tx" "$target" "$clients" <<'PY'
import sys
path, tx, target, clients = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
calls, errors = {}, {}
for line in open(path):
    f = line.split()
    if len(f) >= 5 and f[-1] != "total" and f[0][0].isdigit():
        calls[f[-1]] = int(f[3])
        errors[f[-1]] = int(f[4]) if len(f) == 6 else 0
total = sum(calls.values())
top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
print(f"    syscalls {target} {clients} client(s): {total / tx:.2f} per transaction: " +
      ", ".join(f"{name} {n / tx:.2f}" + (f" ({errors[name] / tx:.2f} failed)" if errors[name] else "")
                for name, n in top))
PY
      fi
    done
  done
done

echo
echo "medians (pgbench -S -M ${PGBENCH_MODE:-simple}, ${seconds}s x $rounds rounds each, $(nproc) cores):"
/usr/bin/python3 - "$results" <<'PY'
import re, statistics, sys
rows = [dict(kv.split("=") for kv in line.split()) for line in open(sys.argv[1])]
for clients in ("1", "8"):
    med = {}
    for target in ("direct", "pgbouncer", "pgsieve"):
        sel = [r for r in rows if r["clients"] == clients and r["target"] == target]
        med[target] = (statistics.median(float(r["tps"]) for r in sel),
                       statistics.median(float(r["latency_ms"]) for r in sel))
    d, b, s = med["direct"], med["pgbouncer"], med["pgsieve"]
    print(f"  {clients} client(s): direct {d[0]:.0f} tps {d[1]:.3f} ms | pgbouncer {b[0]:.0f} tps {b[1]:.3f} ms"
          f" | pgsieve {s[0]:.0f} tps {s[1]:.3f} ms | pgsieve/pgbouncer tps {s[0]/b[0]:.2f}"
          f" | added latency: pgbouncer {1000*(b[1]-d[1]):.0f} us, pgsieve {1000*(s[1]-d[1]):.0f} us")
    peer = [r for r in rows if r["clients"] == clients and r["target"] == "peer"]
    if peer:
        p = (statistics.median(float(r["tps"]) for r in peer), statistics.median(float(r["latency_ms"]) for r in peer))
        print(f"      peer build {p[0]:.0f} tps {p[1]:.3f} ms | pgsieve/peer tps {s[0]/p[0]:.2f}")
PY
