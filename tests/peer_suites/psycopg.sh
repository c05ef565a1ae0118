#!/usr/bin/env bash
# Runs psycopg's own test suite through pgsieve (a long run, not part of
# tests/run.sh: the suite is not in Debian's package, so bring a checkout).
#
#   tests/fixture/with-postgres.sh tests/peer_suites/psycopg.sh PSYCOPG_CHECKOUT [PGSIEVE_BINARY] [PYTEST_ARGS...]
#
# PSYCOPG_CHECKOUT: a clone of github.com/psycopg/psycopg at the tag of the
# installed python3-psycopg (Debian 12: 3.1.7). PGSIEVE_BINARY defaults to
# build-asan/app/pgsieve, so memory errors surface as sanitizer reports in
# $out/reports. The proxy runs `mode: monitor` (every statement relayed,
# what enforce would refuse recorded), logged in upstream as the superuser
# the suite needs; the suite's DSN points at pgsieve. Output in $out (printed).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
checkout=${1:?usage: psycopg.sh PSYCOPG_CHECKOUT [PGSIEVE_BINARY] [PYTEST_ARGS...]}
binary=${2:-$root/build-asan/app/pgsieve}
shift $(( $# >= 2 ? 2 : 1 ))
: "${PGPORT:?run under tests/fixture/with-postgres.sh}"

out=$(mktemp -d /tmp/pgsieve-psycopg.XXXXXX)
mkdir -p "$out/reports"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
verifier=$(printf '%s' "$PGPASSWORD" | "$binary" passwd postgres)

cat > "$out/pgsieve.yaml" <<EOF
listen: {address: 127.0.0.1, port: $port, max_statement_bytes: 8388608, max_statements_per_query: 10000}
upstream:
  host: 127.0.0.1
  port: $PGPORT
  database: app
  user: postgres
  password_env: PGPASSWORD
  sslmode: disable
  allow_privileged_role: true
audit: {sqlite: $out/audit.db}
clients:
  - {name: postgres, password: "$verifier", policy: everything}
policies:
  everything:
    mode: monitor
    statements: [select, insert, update, delete, explain, show]
    catalog: introspection
    tables: {public.customers: {}}
EOF

export ASAN_OPTIONS="log_path=$out/reports/asan:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="log_path=$out/reports/ubsan:print_stacktrace=1:halt_on_error=1"
"$binary" serve -c "$out/pgsieve.yaml" --shutdown-grace 5 > "$out/pgsieve.log" 2>&1 &
proxy=$!
trap 'kill -TERM $proxy 2>/dev/null; wait $proxy 2>/dev/null' EXIT
for _ in $(seq 1 100); do
  /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  sleep 0.1
done

dsn="host=127.0.0.1 port=$port user=postgres password=$PGPASSWORD dbname=app sslmode=disable"
(cd "$checkout" && PSYCOPG_IMPL=python /usr/bin/python3 -m pytest -q -p no:randomly \
   -rfE --ignore=tests/pool --test-dsn "$dsn" -o addopts= tests "$@") 2>&1 | tee "$out/pytest.log"
status=${PIPESTATUS[0]}

kill -TERM $proxy 2>/dev/null
wait $proxy
echo "pgsieve exited with $?; log, audit and sanitizer reports in $out"
ls "$out/reports"
exit "$status"
