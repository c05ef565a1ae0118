#!/usr/bin/env bash
# Re-records tests/policy_corpus/catalog.txt, the catalog snapshot the unit
# tests decide the corpus against. Run it after changing
# tests/fixture/schema.sql, under the fixture:
#
#   tests/fixture/with-postgres.sh tests/policy_corpus/record-catalog.sh [build/app/pgsieve]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pgsieve=${1:-$here/../../build/app/pgsieve}
: "${PGPORT:?run under tests/fixture/with-postgres.sh}"
psql -qc "ALTER ROLE ai_readonly PASSWORD 'corpus-upstream'"
config=$(mktemp -d)/pgsieve.yaml
sed "s/  port: 5432 /  port: $PGPORT /" "$here/pgsieve.yaml" > "$config"
PGSIEVE_CORPUS_UPSTREAM_PASSWORD=corpus-upstream PGSIEVE_CORPUS_CLIENT_PASSWORD=corpus-client \
  "$pgsieve" dump-catalog -c "$config" > "$here/catalog.txt"
echo "recorded $here/catalog.txt"
