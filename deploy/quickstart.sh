#!/usr/bin/env bash
# The two-minute tour on a fresh Debian 12 machine (run as root): installs
# what is missing, builds pgsieve, starts a throwaway PostgreSQL 15 with demo
# data and pgsieve in front of it, and tells you what to try. Ctrl-C stops
# everything it started.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/deploy/install-deps.sh"

echo "== building pgsieve"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j "$(nproc)" --target pgsieve -- --no-print-directory >/dev/null
echo "built $root/build/app/pgsieve"

export PGSIEVE_DEMO_UPSTREAM_PASSWORD=${PGSIEVE_DEMO_UPSTREAM_PASSWORD:-demo-upstream}
export PGSIEVE_DEMO_CS_BOT_PASSWORD=${PGSIEVE_DEMO_CS_BOT_PASSWORD:-demo-cs-bot}

echo
echo "== the demo configuration (deploy/demo/pgsieve.yaml)"
"$root/build/app/pgsieve" check-config -c "$root/deploy/demo/pgsieve.yaml"

echo
echo "== starting a throwaway PostgreSQL 15 with the demo data (tests/fixture/schema.sql)"
exec "$root/tests/fixture/with-postgres.sh" -- "$root/deploy/demo/serve-demo.sh"
