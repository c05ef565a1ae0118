"""Definitions of visible objects, and plans, through the live proxy: a
granted table's default, CHECK constraint, trigger, expression index and
row-level security policy, a granted view's query, and a listed function's
body name hidden objects (tests/fixture/schema.sql's canary_* names). None
may reach the client — in rows, in psql's \\d, or in an EXPLAIN plan — under
catalog: introspection. What names only visible objects is still shown."""

import os
import re
import subprocess

import psycopg
import pytest

from conftest import CLIENT_PASSWORD, start_proxy

POLICIES = """\
    policies:
      customer-success:
        statements: [select, explain]
        catalog: introspection
        functions: [public.plan_label]
        tables:
          public.customers: {columns: [id, name, plan, created_at]}
          public.usage_daily: {}
          public.tickets: {}
          public.widgets: {}
          public.widget_view: {}
          public.gadgets: {}
          public.guarded_rows: {}
          public.parent_rows: {}
"""

# What discovery commonly reads, each written as an MCP server or psql would.
DEFINITION_QUERIES = [
    "SELECT table_name, column_name, column_default, generation_expression FROM information_schema.columns "
    "WHERE table_schema = 'public'",
    "SELECT c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
    "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum JOIN pg_class c ON c.oid = d.adrelid",
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint",
    "SELECT constraint_name, check_clause FROM information_schema.check_constraints",
    "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger",
    "SELECT trigger_name, action_statement, action_condition FROM information_schema.triggers",
    "SELECT schemaname, tablename, policyname, qual, with_check FROM pg_policies",
    "SELECT polname, pg_get_expr(polqual, polrelid) FROM pg_policy",
    "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'",
    "SELECT table_name, view_definition FROM information_schema.views WHERE table_schema = 'public'",
    "SELECT pg_get_viewdef('public.widget_view'::regclass)",
    "SELECT pg_get_viewdef(c.oid) FROM pg_class c WHERE c.relkind = 'v'",
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i",
    "SELECT proname, prosrc, prosqlbody::text, pg_get_functiondef(oid) FROM pg_proc "
    "WHERE pronamespace <> 'pg_catalog'::regnamespace",
    "SELECT routine_name, routine_definition FROM information_schema.routines WHERE routine_schema = 'public'",
    "SELECT relname FROM pg_class WHERE relname LIKE '%canary%'",
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid",
]


# Every hidden canary's name; widget_view's own column canary_column is granted.
HIDDEN = re.compile(r"canary_(?!column)")


@pytest.fixture(scope="module")
def proxy(postgres, tmp_path_factory):
    p = start_proxy(tmp_path_factory.mktemp("definitions"), policies=POLICIES)
    yield p
    assert p.stop() == 0, p.read_log()


def run(proxy, sql):
    """Rows and any error, as text."""
    with psycopg.connect(proxy.dsn(sslmode="disable"), autocommit=True) as conn:
        try:
            return repr(conn.execute(sql).fetchall())
        except psycopg.Error as e:
            return f"error: {e}"


def describe(proxy, command):
    env = dict(os.environ, PGPASSWORD=CLIENT_PASSWORD)
    result = subprocess.run(["psql", "-X", "-A", "-c", command,
                             f"host={proxy.host} port={proxy.port} user=cs_bot dbname=app sslmode=disable"],
                            capture_output=True, text=True, env=env, timeout=60)
    return result.stdout + result.stderr


@pytest.mark.parametrize("sql", DEFINITION_QUERIES)
def test_attack_definitions_of_visible_objects_do_not_name_hidden_ones(proxy, sql):
    out = run(proxy, sql)
    assert not HIDDEN.search(out), out


@pytest.mark.parametrize("command", ["\\d+ public.gadgets", "\\d+ public.widgets", "\\d+ public.widget_view",
                                     "\\d+ public.guarded_rows", "\\d+ public.parent_rows", "\\df+ public.*",
                                     "\\dv+", "\\di+"])
def test_attack_psql_describe_shows_no_hidden_definition(proxy, command):
    out = describe(proxy, command)
    assert not HIDDEN.search(out), out


def test_definitions_that_name_only_visible_objects_are_shown(proxy):
    with psycopg.connect(proxy.dsn(sslmode="disable"), autocommit=True) as conn:
        # A serial column's default names the sequence the column owns.
        (default,) = conn.execute(
            "SELECT column_default FROM information_schema.columns "
            "WHERE table_name = 'tickets' AND column_name = 'id'").fetchone()
        assert default == "nextval('tickets_id_seq'::regclass)"
        assert conn.execute("SELECT 1 FROM pg_class WHERE relname = 'tickets_id_seq'").fetchall() == [(1,)]
        # A foreign key between visible columns, a primary key, a NOT NULL default.
        defs = [d for (d,) in conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'public.tickets'::regclass")]
        assert "PRIMARY KEY (id)" in defs
        assert "FOREIGN KEY (customer_id) REFERENCES customers(id)" in defs
        (created,) = conn.execute(
            "SELECT column_default FROM information_schema.columns "
            "WHERE table_name = 'customers' AND column_name = 'created_at'").fetchone()
        assert created == "now()"
        # A hidden definition is NULL, not an error: the object itself is visible.
        assert conn.execute("SELECT column_default FROM information_schema.columns "
                            "WHERE table_name = 'gadgets' AND column_name = 'id'").fetchone() == (None,)
        assert conn.execute("SELECT pg_get_viewdef('public.widget_view'::regclass)").fetchone() == (None,)


def test_attack_explain_plans_that_would_name_hidden_objects_are_refused(proxy):
    with psycopg.connect(proxy.dsn(sslmode="disable"), autocommit=True) as conn:
        for sql in ("EXPLAIN SELECT id FROM parent_rows",            # Append over canary_schema.canary_child
                    "EXPLAIN (VERBOSE) SELECT id FROM guarded_rows",  # Filter: canary_schema.canary_visible(id)
                    "EXPLAIN SELECT id FROM gadgets WHERE id > 0",   # canary_expression_idx
                    "EXPLAIN SELECT * FROM widget_view",             # Seq Scan on canary_table
                    "EXPLAIN ANALYZE SELECT relname FROM pg_class",  # Rows Removed by Filter: hidden relations
                    "EXPLAIN SELECT id FROM customers"):             # customers_email_idx: a hidden column's index
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
                conn.execute(sql)
            message = str(refused.value)
            assert "EXPLAIN of this statement could show objects" in message, (sql, message)
            assert not HIDDEN.search(message) and "email" not in message, message
            # The statement itself still runs.
            conn.execute(sql.split(" ", 1)[1].removeprefix("(VERBOSE) ").removeprefix("ANALYZE "))
        # A plan over granted tables that can name nothing else is allowed.
        plan = "\n".join(r for (r,) in conn.execute(
            "EXPLAIN ANALYZE SELECT count(*) FROM usage_daily WHERE api_calls > 10"))
        assert "usage_daily" in plan and not HIDDEN.search(plan)
