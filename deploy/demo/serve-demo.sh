#!/usr/bin/env bash
# Runs inside tests/fixture/with-postgres.sh (see quickstart.sh): the
# throwaway PostgreSQL is up with the demo data; start pgsieve in front of it
# and serve until Ctrl-C.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pgsieve="$root/build/app/pgsieve"
workdir=$(mktemp -d /tmp/pgsieve-demo.XXXXXX)
trap 'rm -rf "$workdir"' EXIT

# The demo configuration, pointed at this cluster and a free port.
# 6432 unless taken (or PGSIEVE_DEMO_PORT says otherwise; 0 means any free port).
port=${PGSIEVE_DEMO_PORT:-6432}
port=$(/usr/bin/python3 -c "
import socket
def free(p):
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', p)); return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()
print(($port and free($port)) or free(0))")
sed -e "s/^  port: 6432$/  port: $port/" -e "s/^  port: 5432 .*/  port: $PGPORT/" \
  "$root/deploy/demo/pgsieve.yaml" > "$workdir/pgsieve.yaml"
log="$workdir/pgsieve.log"

# The second wall: the upstream role holds exactly what the policy grants.
# A DBA reviews this SQL and runs it; here the demo's superuser does.
"$pgsieve" grants -c "$workdir/pgsieve.yaml" --connect-as "$PGUSER" > "$workdir/grants.sql"
psql -X -q -v ON_ERROR_STOP=1 -f "$workdir/grants.sql" >/dev/null
psql -X -q -c "ALTER ROLE ai_cs PASSWORD '$PGSIEVE_DEMO_UPSTREAM_PASSWORD'"

url="postgresql://cs_bot:$PGSIEVE_DEMO_CS_BOT_PASSWORD@127.0.0.1:$port/app"
cat <<MSG

== pgsieve is serving the demo database on 127.0.0.1:$port (logs: $log)

It logs in upstream as ai_cs, made least-privilege by the SQL in
  $workdir/grants.sql   (pgsieve grants; check it with: pgsieve check-config -c $workdir/pgsieve.yaml --upstream)

Connect as the AI client cs_bot:
  psql "$url"

Try:
  SELECT id, name, plan FROM customers;            -- allowed
  SELECT customer_id, sum(api_calls) FROM usage_daily GROUP BY 1;
  SELECT name, email FROM customers;               -- allowed, email masked: ***@acme.example
  SELECT name FROM customers WHERE email LIKE 'a%'; -- refused: a masked column may only be selected as is
  SELECT name, ssn FROM customers;                 -- refused: ssn is not granted (the hint lists what is)
  SELECT * FROM customers;                         -- refused: * reads ssn too
  SELECT * FROM hr.employees;                      -- refused: table not in the policy
  COMMIT; DROP TABLE customers;                    -- refused: nothing of it runs
  INSERT INTO tickets (customer_id, subject) VALUES (1, 'x');   -- refused: the policy has no writes
  PGOPTIONS='-c default_transaction_read_only=off' psql "$url"
      -- refused at connect: a startup parameter outside the safe list
  psql "postgresql://cs_bot:wrong@127.0.0.1:$port/app"
      -- refused: wrong password (same answer as an unknown user)

Ask pgsieve without running anything:
  $root/build/app/pgsieve check -c $workdir/pgsieve.yaml --client cs_bot "SELECT ssn FROM customers"

Press Ctrl-C to stop pgsieve and the demo database.
MSG

# In the foreground: Ctrl-C reaches pgsieve (it drains and exits), then
# with-postgres.sh stops the database by its pid.
"$pgsieve" serve -c "$workdir/pgsieve.yaml" 2>>"$log" || true
echo "pgsieve stopped."
