#!/usr/bin/env python3
"""Differential discovery fuzz: nothing pgsieve allows may print a hidden name.

tests/fixture/schema.sql holds objects no policy here grants whose names are
canaries (canary_*, hr's): a schema, tables, a sequence, functions, a
domain's CHECK, a trigger, an expression index, a row-level security policy,
an inheritance child, a view's query — reached through the types, defaults,
constraints, definitions, plans and name-printing values of objects that are
granted. Statements come from SQLsmith (random queries over the live
catalog, pg_catalog and information_schema included, fixed seeds) and from
hand-written shapes for each class of issue 19. Each runs through a live
`pgsieve serve` under a policy with `catalog: introspection` and one with
`catalog: none`, in the simple protocol and in the extended protocol; every
row and every error the client receives is searched for the canaries. A
canary the statement itself names is not counted (a refusal may quote what
the client wrote); any other is a leak and fails the run.

Run it under the fixture (a throwaway PostgreSQL 15):

    tests/fixture/with-postgres.sh python3 tests/differential/discovery_fuzz.py \\
        [--pgsieve build/app/pgsieve] [--generated 2000] [--seeds 1,2,3] [--report FILE]

tests/integration/test_discovery_fuzz.py runs a bounded pass in CI; the
README gives the command for a long one.
"""

import argparse
import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import psycopg

from sqlsmith import generated_statements

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
UPSTREAM_PASSWORD = "discovery-fuzz-upstream"
CLIENT_PASSWORD = "discovery-fuzz-client"

# The hidden objects' names (tests/fixture/schema.sql). hr's table and
# columns are matched whole: "employees", "salary", "ssn" of hr.employees
# (customers.ssn is hidden too: not granted here).
CANARIES = re.compile(r"canary_\w+|\bemployees\b|\bsalary\b|\bssn\b|\bhr\b|078-05-1120|219-09-9999")

CONFIG = """\
listen: {{address: 127.0.0.1, port: {port}}}
upstream:
  host: 127.0.0.1
  port: {upstream_port}
  database: app
  user: ai_readonly
  password_env: PGSIEVE_FUZZ_UPSTREAM_PASSWORD
  sslmode: disable
  search_path: [public]
audit:
  sqlite: {directory}/audit.db
clients:
  - {{name: intro_bot, password_env: PGSIEVE_FUZZ_CLIENT_PASSWORD, policy: introspection}}
  - {{name: none_bot, password_env: PGSIEVE_FUZZ_CLIENT_PASSWORD, policy: plain}}
policies:
  introspection:
    statements: [select, explain, show]
    catalog: introspection
    statement_timeout: 2s
    functions: [public.plan_label]
    tables: &granted
      public.customers: {{columns: [id, name, plan, created_at]}}
      public.usage_daily: {{}}
      public.tickets: {{}}
      public.widgets: {{}}
      public.gadgets: {{}}
      public.guarded_rows: {{}}
      public.parent_rows: {{}}
      public.notes: {{}}
  plain:
    statements: [select, explain, show]
    catalog: none
    statement_timeout: 2s
    functions: [public.plan_label]
    tables: *granted
"""

# Hand-written shapes, one or more per class of issue 19.
SHAPES = [
    # Definitions of visible objects.
    "SELECT table_name, column_name, column_default, generation_expression FROM information_schema.columns",
    "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d",
    "SELECT conname, pg_get_constraintdef(oid), conbin::text FROM pg_constraint",
    "SELECT * FROM information_schema.check_constraints",
    "SELECT tgname, pg_get_triggerdef(oid), tgfoid::regproc FROM pg_trigger",
    "SELECT * FROM information_schema.triggers",
    "SELECT * FROM pg_policies",
    "SELECT polname, pg_get_expr(polqual, polrelid) FROM pg_policy",
    "SELECT viewname, definition FROM pg_views",
    "SELECT * FROM information_schema.views",
    "SELECT pg_get_viewdef(c.oid, true) FROM pg_class c",
    "SELECT * FROM pg_indexes",
    "SELECT pg_get_indexdef(indexrelid) FROM pg_index",
    "SELECT proname, prosrc, pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace <> 'pg_catalog'::regnamespace",
    "SELECT pg_get_function_arguments(oid), pg_get_function_result(oid) FROM pg_proc",
    "SELECT * FROM information_schema.routines WHERE routine_schema NOT IN ('pg_catalog', 'information_schema')",
    "SELECT * FROM information_schema.parameters WHERE specific_schema = 'public'",
    "SELECT * FROM information_schema.domains",
    "SELECT typname, typdefault, pg_get_expr(typdefaultbin, 0) FROM pg_type WHERE typnamespace <> 'pg_catalog'::regnamespace",
    "SELECT c.relname, i.inhparent::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid",
    "SELECT pg_get_partkeydef(oid) FROM pg_class",
    "SELECT * FROM information_schema.sequences",
    "SELECT * FROM information_schema.view_table_usage",
    "SELECT * FROM information_schema.table_constraints",
    "SELECT * FROM pg_depend",
    "SELECT * FROM pg_description",
    "SELECT obj_description(oid) FROM pg_class",
    # Name-printing values.
    "SELECT oid::regclass FROM pg_class",
    "SELECT g::regclass FROM generate_series(16384, 17000) g",
    "SELECT g FROM generate_series(16384, 17000) g UNION ALL SELECT 0::regclass",
    "SELECT CASE WHEN g > 0 THEN g::oid ELSE 0::regclass END FROM generate_series(16384, 17000) g",
    "SELECT COALESCE(NULL, g::oid::regclass) FROM generate_series(16384, 17000) g",
    "SELECT ARRAY(SELECT g::oid::regclass FROM generate_series(16384, 17000) g)",
    "SELECT regclassout(g::oid) FROM generate_series(16384, 17000) g",
    "SELECT '{16384,16390,16400}'::_regclass",
    "SELECT array_in('{16384,16390}'::cstring, 2205, -1)",
    "SELECT aggfnoid FROM pg_aggregate WHERE aggfnoid::oid > 16384",
    "SELECT relacl FROM pg_class",
    "SELECT typname FROM pg_type WHERE oid > 16384",
    "SELECT to_regclass('canary_schema.canary_table')",
    "SELECT pg_relation_filepath('x')",
    "SELECT row_security_active('public.guarded_rows')",
    "SELECT format_type(oid, NULL) FROM pg_type WHERE oid > 16384",
    "SELECT * FROM json_to_record('{\"x\": 16390}') AS t(x regclass)",
    "SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend",
    # Types: domains, arrays of hidden types, hidden composites.
    "SELECT (-1)::public.checked_text",
    "SELECT body FROM notes",
    "SELECT * FROM widgets",
    "SELECT owner_table FROM widgets",
    "SELECT owner_table::text FROM widgets",
    # Plans.
    "EXPLAIN SELECT * FROM parent_rows",
    "EXPLAIN (VERBOSE) SELECT * FROM guarded_rows",
    "EXPLAIN SELECT * FROM gadgets WHERE id > 0",
    "EXPLAIN ANALYZE SELECT relname FROM pg_class",
    "EXPLAIN (FORMAT JSON, VERBOSE) SELECT * FROM usage_daily",
    # Settings and statistics.
    "SELECT * FROM pg_stat_user_tables",
    "SELECT * FROM pg_statio_user_tables",
    "SELECT * FROM pg_stats",
    "SELECT * FROM pg_settings",
    "SHOW search_path",
    # Errors that could name what they touch.
    "SELECT 1/0 FROM gadgets",
    "SELECT id::int / (id - 1) FROM guarded_rows",
    "SELECT * FROM parent_rows WHERE label::int > 0",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def received(conn, sql, extended):
    """What the client receives: rows (or the plan), or the error, as text; and whether pgsieve refused it."""
    try:
        if extended:
            cur = conn.execute(sql, prepare=True)
            return repr(cur.fetchall() if cur.description else cur.statusmessage), False
        result = conn.pgconn.exec_(sql.encode())
        if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
            error = result.error_message.decode(errors="replace")
            return error, error.startswith("ERROR:  pgsieve:")
        rows = [[result.get_value(r, c) for c in range(result.nfields)] for r in range(result.ntuples)]
        return repr(rows), False
    except psycopg.Error as e:
        diag = e.diag
        text = " ".join(str(x) for x in (e, diag.message_detail, diag.message_hint, diag.context) if x)
        return text, str(e).startswith("pgsieve:")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pgsieve", default=os.environ.get("PGSIEVE_BIN", os.path.join(ROOT, "build/app/pgsieve")))
    parser.add_argument("--generated", type=int, default=400, help="SQLsmith statements")
    parser.add_argument("--seeds", default="1,2", help="SQLsmith seeds, comma-separated")
    parser.add_argument("--report", help="write the summary as JSON to this file")
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="pgsieve-discovery-fuzz-")
    port = free_port()
    config = os.path.join(directory, "pgsieve.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(port=port, upstream_port=os.environ["PGPORT"], directory=directory))
    env = dict(os.environ, PGSIEVE_FUZZ_UPSTREAM_PASSWORD=UPSTREAM_PASSWORD,
               PGSIEVE_FUZZ_CLIENT_PASSWORD=CLIENT_PASSWORD)
    with psycopg.connect(autocommit=True) as admin:
        admin.execute(f"ALTER ROLE ai_readonly PASSWORD '{UPSTREAM_PASSWORD}'")
    log = open(os.path.join(directory, "pgsieve.log"), "w")
    server = subprocess.Popen([args.pgsieve, "serve", "-c", config], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit(f"pgsieve did not start: {open(log.name).read()[-3000:]}")
            time.sleep(0.1)

    seeds = [int(s) for s in args.seeds.split(",") if s]
    generated = generated_statements(args.generated, seeds, include_catalog=True)
    statements = [("shapes", s) for s in SHAPES] + [("sqlsmith", s) for s in generated]
    summary = {"statements": len(statements), "leaks": [], "counts": {}}
    counts = collections.Counter()
    try:
        for client in ("intro_bot", "none_bot"):
            for extended in (False, True):
                dsn = (f"host=127.0.0.1 port={port} user={client} password={CLIENT_PASSWORD} dbname=app "
                       "sslmode=disable application_name=discovery-fuzz")
                conn = psycopg.connect(dsn, autocommit=True)
                protocol = "extended" if extended else "simple"
                for source, sql in statements:
                    if conn.closed or conn.broken:
                        conn = psycopg.connect(dsn, autocommit=True)
                    text, refused = received(conn, sql, extended)
                    counts[f"{client} {protocol}: {'refused by pgsieve' if refused else 'relayed'}"] += 1
                    # What the statement's own text holds is the client's (an error's LINE echo may cut it).
                    shown = {name for name in CANARIES.findall(text) if name not in sql}
                    if shown:
                        summary["leaks"].append({"client": client, "protocol": protocol, "source": source,
                                                 "sql": sql[:2000], "shown": sorted(shown), "received": text[:2000]})
                conn.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    summary["counts"] = dict(counts)
    for k, v in sorted(counts.items()):
        print(f"  {v:6d}  {k}")
    for leak in summary["leaks"][:30]:
        print(f"LEAK [{leak['client']} {leak['protocol']}] {leak['shown']}: {leak['sql'][:300]!r}\n"
              f"     -> {leak['received'][:300]!r}")
    if args.report:
        with open(args.report, "w") as f:
            json.dump(summary, f, indent=2)
    print(f"{len(statements)} statements x 2 policies x 2 protocols, {len(summary['leaks'])} leaks")
    return 1 if summary["leaks"] else 0


if __name__ == "__main__":
    sys.exit(main())
