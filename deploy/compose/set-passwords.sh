#!/bin/sh
# PostgreSQL's first start (docker-entrypoint-initdb.d): the upstream role's password.
set -eu
psql -v ON_ERROR_STOP=1 -v password="$PGSIEVE_UPSTREAM_PASSWORD" <<'SQL'
ALTER ROLE ai_cs PASSWORD :'password';
SQL
