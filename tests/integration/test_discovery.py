"""Scoped schema discovery (issue 14) through the live proxy: psql's describe
commands, information_schema and pg_catalog show the policy's grant — no
more, no less — with the policy's descriptions ahead of COMMENT ON; error
and name-printing oracles reveal nothing hidden; monitor mode relays
discovery unscoped and says what enforce would scope; the same holds under
a least-privilege upstream role made by `pgsieve grants`."""

import json
import os
import sqlite3
import subprocess
import time

import psycopg
import pytest

from conftest import CLIENT_PASSWORD, UPSTREAM_PASSWORD, free_port, proxy_config, psql, run_pgsieve, start_proxy

POLICY = """\
    policies:
      customer-success:
        statements: [select, explain]
        catalog: introspection
        functions: [public.plan_label]
        {extra}
        tables:
          public.customers:
            columns: [id, name, plan, created_at]
            description: One row per paying customer
            column_descriptions:
              plan: Subscription tier (free, team, enterprise)
          public.usage_daily: {{}}
          public.accounts: {{deny_columns: [email, phone]}}
          public.customer_plans: {{}}
"""

# Names the policy hides, which must appear nowhere in what a client sees.
HIDDEN = ["employees", "tickets", "MixedCase", "moods", "ssn", "email", "phone", "salary", "customers_email_idx",
          "ssn_of", "eq_text", "mood_of", "say_hello", "Payroll", "Social security", "Human resources", "checked_text"]


def policy(extra="", mode="enforce"):
    return POLICY.format(extra=f"mode: {mode}\n        {extra}".rstrip())


@pytest.fixture(scope="module")
def proxy(postgres, tmp_path_factory):
    p = start_proxy(tmp_path_factory.mktemp("discovery"), policies=policy())
    yield p
    assert p.stop() == 0, p.read_log()


def describe(proxy, command):
    env = dict(os.environ, PGPASSWORD=CLIENT_PASSWORD)
    result = subprocess.run(["psql", "-X", "-A", "-F", "|", "-c", command,
                             f"host={proxy.host} port={proxy.port} user=cs_bot dbname=app sslmode=disable"],
                            capture_output=True, text=True, env=env, timeout=60)
    return result.stdout, result.stderr


def listed(out, column):
    """A column of psql's unaligned output: the lines with fields, after the header."""
    lines = [line.split("|") for line in out.splitlines() if "|" in line]
    return [fields[column] for fields in lines[1:]]


def rows(proxy, sql, params=None):
    with psycopg.connect(proxy.dsn(sslmode="disable"), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def assert_nothing_hidden(text):
    for name in HIDDEN:
        assert name not in text, f"{name!r} shown: {text}"


# -- psql ---------------------------------------------------------------------------

def test_psql_dt_lists_exactly_the_granted_tables(proxy):
    out, err = describe(proxy, r"\dt")
    assert err == ""
    assert listed(out, 1) == ["accounts", "customers", "usage_daily"]


@pytest.mark.parametrize("command,expected", [
    (r"\dv", ["customer_plans"]),
    (r"\di", ["accounts_pkey", "customers_pkey", "customers_plan_idx", "usage_daily_pkey"]),
    (r"\dn", ["public"]),
    (r"\df", ["plan_label"]),
])
def test_psql_describe_commands_list_only_granted_objects(proxy, command, expected):
    out, err = describe(proxy, command)
    assert err == ""
    column = 0 if command == r"\dn" else 1
    assert listed(out, column) == expected
    assert_nothing_hidden(out)


def test_psql_d_table_shows_granted_columns_indexes_and_descriptions(proxy):
    out, err = describe(proxy, r"\d+ customers")
    assert err == ""
    assert listed(out, 0) == ["id", "name", "plan", "created_at"]
    # The policy's descriptions win over COMMENT ON; COMMENT ON passes where the policy says nothing.
    assert "Subscription tier (free, team, enterprise)" in out
    assert "Legal name (COMMENT ON)" in out
    assert '"customers_pkey" PRIMARY KEY' in out and '"customers_plan_idx" btree (plan)' in out
    assert_nothing_hidden(out)
    out, _ = describe(proxy, r"\dt+ customers")
    assert "One row per paying customer" in out and "(COMMENT ON)" not in out


def test_psql_d_of_a_hidden_table_finds_nothing(proxy):
    out, err = describe(proxy, r"\d hr.employees")
    assert "Did not find any relation named" in err
    assert "salary" not in out


# -- information_schema and pg_catalog -------------------------------------------------

def test_information_schema_shows_the_grant(proxy):
    assert rows(proxy, "SELECT table_name FROM information_schema.tables WHERE table_schema NOT IN "
                       "('pg_catalog', 'information_schema') ORDER BY 1") == [
        ("accounts",), ("customer_plans",), ("customers",), ("usage_daily",)]
    assert rows(proxy, "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
                       "AND table_name IN ('customers', 'accounts') ORDER BY 1, ordinal_position") == [
        ("accounts", "id"), ("accounts", "customer_id"), ("accounts", "balance"),
        ("customers", "id"), ("customers", "name"), ("customers", "plan"), ("customers", "created_at")]
    assert rows(proxy, "SELECT schema_name FROM information_schema.schemata ORDER BY 1") == [
        ("information_schema",), ("pg_catalog",), ("public",)]
    assert rows(proxy, "SELECT routine_name FROM information_schema.routines WHERE routine_schema = 'public'") == [
        ("plan_label",)]
    # (table_constraints shows only tables the role may write, so key_column_usage and pg_constraint here.)
    keys = sorted({r[0] for r in rows(proxy, "SELECT constraint_name FROM information_schema.key_column_usage "
                                             "WHERE table_schema = 'public'")})
    assert keys == ["accounts_customer_id_fkey", "accounts_pkey", "customers_pkey", "usage_daily_customer_id_fkey",
                    "usage_daily_pkey"]
    assert [r[0] for r in rows(proxy, "SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
                                      "ORDER BY 1")] == keys


def test_the_catalog_matches_the_grant_when_compared_to_postgres_itself(proxy):
    """Against the superuser's view of the same catalog: every user relation
    shown is granted, and every granted relation is shown."""
    everything = set(psql("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                          "AND relkind IN ('r', 'v')").stdout.split())
    shown = {r[0] for r in rows(proxy, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                                       "AND relkind IN ('r', 'v')")}
    assert shown == {"accounts", "customer_plans", "customers", "usage_daily"}
    assert shown < everything
    described = rows(proxy, "SELECT c.relname, d.objsubid, d.description FROM pg_description d "
                            "JOIN pg_class c ON c.oid = d.objoid WHERE c.relnamespace = 'public'::regnamespace "
                            "ORDER BY 1, 2")
    assert described == [("customers", 0, "One row per paying customer"), ("customers", 2, "Legal name (COMMENT ON)"),
                         ("customers", 3, "Subscription tier (free, team, enterprise)")]


# The shape of MCP Toolbox's `postgres-list-tables` tool (googleapis/genai-toolbox,
# internal/tools/postgres/postgreslisttables, Apache-2.0): one parameterised
# statement over pg_class, pg_attribute + pg_attrdef, pg_constraint, pg_index +
# pg_am and pg_trigger, folded into JSON per table. Written here in our own
# words with the same catalog reads, functions and parameters (psycopg sends
# %(names)s and %(format)s as $1 and $2 of an extended-protocol Parse, as pgx does).
TOOLBOX_LIST_TABLES = """
WITH wanted AS (SELECT ARRAY['r', 'p']::char[] AS kinds),
tables AS (
  SELECT c.oid AS table_oid, n.nspname AS schema_name, c.relname AS table_name,
         pg_get_userbyid(c.relowner) AS owner, obj_description(c.oid, 'pg_class') AS comment
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN wanted w
  WHERE c.relkind = ANY (w.kinds)
    AND (NULLIF(TRIM(%(names)s), '') IS NULL OR c.relname = ANY (string_to_array(%(names)s, ',')))
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND n.nspname NOT LIKE 'pg_temp_%%' AND n.nspname NOT LIKE 'pg_toast_temp_%%'),
cols AS (
  SELECT a.attrelid AS table_oid, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
         a.attnum AS position, pg_get_expr(d.adbin, d.adrelid) AS default_value,
         col_description(a.attrelid, a.attnum) AS comment
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON a.attrelid = d.adrelid AND a.attnum = d.adnum
  JOIN tables t ON a.attrelid = t.table_oid WHERE a.attnum > 0 AND NOT a.attisdropped),
cons AS (
  SELECT k.conrelid AS table_oid, k.conname AS name, pg_get_constraintdef(k.oid) AS definition,
         (SELECT array_agg(a.attname ORDER BY u.pos) FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, pos)
            JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum) AS columns,
         NULLIF(k.confrelid, 0)::regclass AS referenced
  FROM pg_constraint k JOIN tables t ON k.conrelid = t.table_oid),
idx AS (
  SELECT i.indrelid AS table_oid, ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition,
         am.amname AS method,
         (SELECT array_agg(a.attname ORDER BY u.ord) FROM unnest(i.indkey::int[]) WITH ORDINALITY AS u(attnum, ord)
            LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum WHERE u.attnum <> 0) AS columns
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
  JOIN tables t ON i.indrelid = t.table_oid),
trig AS (
  SELECT g.tgrelid AS table_oid, g.tgname AS name, pg_get_triggerdef(g.oid) AS definition
  FROM pg_trigger g JOIN tables t ON g.tgrelid = t.table_oid WHERE NOT g.tgisinternal)
SELECT t.schema_name, t.table_name,
  CASE WHEN %(format)s = 'simple' THEN json_build_object('name', t.table_name)
  ELSE json_build_object('owner', t.owner, 'comment', t.comment,
    'columns', COALESCE((SELECT json_agg(json_build_object('name', c.name, 'type', c.type, 'default', c.default_value,
                          'comment', c.comment) ORDER BY c.position) FROM cols c WHERE c.table_oid = t.table_oid), '[]'),
    'constraints', COALESCE((SELECT json_agg(json_build_object('name', k.name, 'definition', k.definition,
                          'columns', k.columns, 'referenced', k.referenced)) FROM cons k WHERE k.table_oid = t.table_oid), '[]'),
    'indexes', COALESCE((SELECT json_agg(json_build_object('name', i.name, 'definition', i.definition, 'method', i.method,
                          'columns', i.columns)) FROM idx i WHERE i.table_oid = t.table_oid), '[]'),
    'triggers', COALESCE((SELECT json_agg(json_build_object('name', g.name, 'definition', g.definition))
                          FROM trig g WHERE g.table_oid = t.table_oid), '[]'))
  END AS details
FROM tables t ORDER BY t.schema_name, t.table_name
"""


def test_mcp_toolbox_list_tables_hands_the_model_exactly_the_granted_tables(proxy):
    listed_tables = rows(proxy, TOOLBOX_LIST_TABLES, {"names": "", "format": "detailed"})
    assert [(r[0], r[1]) for r in listed_tables] == [
        ("public", "accounts"), ("public", "customers"), ("public", "usage_daily")]
    details = {r[1]: r[2] for r in listed_tables}
    assert [c["name"] for c in details["customers"]["columns"]] == ["id", "name", "plan", "created_at"]
    assert [c["name"] for c in details["accounts"]["columns"]] == ["id", "customer_id", "balance"]
    assert details["customers"]["comment"] == "One row per paying customer"
    assert {i["name"] for i in details["customers"]["indexes"]} == {"customers_pkey", "customers_plan_idx"}
    assert_nothing_hidden(json.dumps(listed_tables))
    # Asking for a hidden table by name finds nothing, as if it did not exist.
    assert rows(proxy, TOOLBOX_LIST_TABLES, {"names": "employees,tickets", "format": "simple"}) == []


# -- oracles ----------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "SELECT relname::int FROM pg_class WHERE relnamespace <> 'pg_catalog'::regnamespace",
    "SELECT 1 FROM pg_class WHERE relname = 'employees' AND relname::int > 0",
    "SELECT attname::int FROM pg_attribute WHERE attrelid >= 16384",
    "SELECT nspname::int FROM pg_namespace WHERE nspname NOT LIKE 'pg_%'",
    "SELECT description::int FROM pg_description WHERE objoid >= 16384",
    "SELECT column_name::int FROM information_schema.columns WHERE table_schema = 'public'",
    "SELECT 1 / (CASE WHEN relname = 'employees' THEN 0 ELSE 1 END) FROM pg_class",
])
def test_attack_error_oracles_on_catalog_columns_reveal_no_hidden_name(proxy, sql):
    try:
        rows(proxy, sql)
    except psycopg.Error as e:
        assert_nothing_hidden(str(e))


def test_attack_oids_turned_into_names_print_only_visible_objects(proxy):
    shown = rows(proxy, "SELECT o::regclass::text, o::regtype::text, o::regproc::text, o::regnamespace::text, "
                        "pg_get_userbyid(o), format_type(o, NULL), obj_description(o), "
                        "pg_get_viewdef(o), pg_get_functiondef(o), pg_get_indexdef(o), "
                        "pg_get_constraintdef(o) FROM generate_series(16384, 17500) AS g(o)")
    text = json.dumps(shown)
    assert "customers" in text and "plan_label" in text  # the visible ones do print
    assert_nothing_hidden(text)
    assert rows(proxy, "SELECT 'hr.employees'::regclass, 'no_such_table'::regclass, to_regclass('hr.employees'), "
                       "has_table_privilege('hr.employees', 'SELECT'), 'public.customers'::regclass::text") == [
        (None, None, None, None, "customers")]


def test_attack_catalog_reads_that_cannot_be_scoped_are_refused(proxy):
    for sql in ("COPY pg_catalog.pg_class TO STDOUT", "SELECT pg_partition_root(16390)",
                "SELECT * FROM pg_catalog.pg_depend", "SELECT '{16390}'::regclass[]"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            rows(proxy, sql)
        assert "pgsieve:" in str(refused.value), sql


def test_the_audit_records_the_client_text_and_what_was_scoped(proxy):
    rows(proxy, "SELECT relname FROM pg_class /* discovery-probe */")
    db = os.path.join(proxy.directory, "audit.db")
    deadline = time.time() + 10
    while True:
        with sqlite3.connect(db) as conn:
            found = conn.execute("SELECT sql, reason, verdict FROM statements WHERE sql LIKE '%discovery-probe%'").fetchall()
        if found or time.time() > deadline:
            break
        time.sleep(0.1)
    assert found == [("SELECT relname FROM pg_class /* discovery-probe */",
                      "scoped to the policy's grant: pg_catalog.pg_class", "allowed")]


# -- pgsieve check --schema ----------------------------------------------------------------

def test_check_schema_prints_what_the_client_discovers(proxy):
    env = dict(os.environ, PGSIEVE_TEST_UPSTREAM_PASSWORD=UPSTREAM_PASSWORD,
               PGSIEVE_TEST_CLIENT_PASSWORD=CLIENT_PASSWORD)
    result = run_pgsieve("check", "-c", proxy.config_path, "--client", "cs_bot", "--schema", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "public.customers (table)  -- One row per paying customer" in out
    assert "plan text  -- Subscription tier (free, team, enterprise)" in out
    assert "public.customer_plans (view)" in out and "public.plan_label(plan text) returns text" in out
    assert_nothing_hidden(out)


# -- monitor mode, and a least-privilege role ------------------------------------------------

def test_monitor_mode_relays_discovery_unscoped_and_records_what_enforce_would_scope(postgres, tmp_path):
    p = start_proxy(tmp_path, policies=policy(mode="monitor"))
    try:
        out, _ = describe(p, r"\dt")
        assert "tickets" in out and "employees" not in out  # \dt lists the search path: public
        db = os.path.join(p.directory, "audit.db")
        deadline = time.time() + 10
        reasons = []
        while not reasons and time.time() < deadline:
            time.sleep(0.1)
            with sqlite3.connect(db) as conn:
                reasons = [r[0] for r in conn.execute("SELECT reason FROM statements WHERE reason LIKE 'monitor mode%'")]
        assert reasons and "enforce would scope: pg_catalog.pg_class" in reasons[0]
    finally:
        assert p.stop() == 0, p.read_log()


def test_discovery_under_a_least_privilege_role_made_by_pgsieve_grants(postgres, tmp_path):
    text = policy(extra="upstream_user: ai_discovery\n        upstream_password_env: PGSIEVE_TEST_UPSTREAM_PASSWORD")
    config = tmp_path / "grants.yaml"
    config.write_text(proxy_config(free_port(), policies=text))
    env = dict(os.environ, PGSIEVE_TEST_UPSTREAM_PASSWORD=UPSTREAM_PASSWORD,
               PGSIEVE_TEST_CLIENT_PASSWORD=CLIENT_PASSWORD)
    grants = run_pgsieve("grants", "-c", str(config), "--connect-as", os.environ["PGUSER"], env=env)
    assert grants.returncode == 0, grants.stderr
    applied = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"], input=grants.stdout, capture_output=True,
                             text=True, timeout=60)
    assert applied.returncode == 0, applied.stderr
    psql(f"ALTER ROLE ai_discovery PASSWORD '{UPSTREAM_PASSWORD}'")
    p = start_proxy(tmp_path, policies=text)
    try:
        out, err = describe(p, r"\dt")
        assert err == "" and listed(out, 1) == ["accounts", "customers", "usage_daily"]
        out, err = describe(p, r"\d customers")
        assert err == "" and "customers_plan_idx" in out
        assert_nothing_hidden(out)
        assert rows(p, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers'") == [(4,)]
    finally:
        assert p.stop() == 0, p.read_log()
        psql("DROP OWNED BY ai_discovery; DROP ROLE ai_discovery")
