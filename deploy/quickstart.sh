#!/usr/bin/env bash
# The two-minute tour on a fresh Debian 12 machine (run as root):
# installs what is missing, builds pgsieve, and checks the demo configuration.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/deploy/install-deps.sh"

echo "== building pgsieve"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j "$(nproc)" -- --no-print-directory >/dev/null
pgsieve="$root/build/proxy/cli/pgsieve"
echo "built $pgsieve"

echo
echo "== the demo configuration (deploy/demo/pgsieve.yaml)"
export PGSIEVE_DEMO_UPSTREAM_PASSWORD=demo-upstream PGSIEVE_DEMO_CS_BOT_PASSWORD=demo-cs-bot
"$pgsieve" check-config -c "$root/deploy/demo/pgsieve.yaml"

cat <<MSG

== what works today
  $pgsieve passwd cs_bot          # type a password; prints the SCRAM-SHA-256 verifier for clients:
  $pgsieve check-config -c FILE   # validates a configuration: every error with file, line and key

The proxy itself (pgsieve serve) is not built yet: it lands with issue 3,
and then this script starts a demo PostgreSQL with pgsieve in front of it.
Nothing was started, so there is nothing to stop.
MSG
