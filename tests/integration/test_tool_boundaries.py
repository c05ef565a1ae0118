"""Tool boundaries through real drivers: the missing-WHERE guardrail on
UPDATE and DELETE (refused before PostgreSQL sees them, with the rule and a
hint; a bounded write runs), and results that `on_exceed: truncate` cuts to
their first rows with a NOTICE and the count sent — in text and binary
results, simple and extended protocol, server-side cursors — recorded in the
audit as truncated with the rows PostgreSQL produced."""

import asyncio
import os
import sqlite3
import time

import asyncpg
import psycopg
import pytest

import urllib.request

from conftest import CLIENT_PASSWORD, free_port, psql, run_pgsieve, start_proxy

WRITES = """\
    policies:
      customer-success:
        owner: cs@example.com
        statements: [select, update, delete]
        tables:
          public.usage_daily: {allow: [select, update, delete]}
          public.customers: {columns: [id, name]}
"""

CAPPED = """\
    policies:
      customer-success:
        statements: [select]
        max_rows: 3
        on_exceed: truncate
        tables:
          public.usage_daily: {}
          public.customers: {columns: [id, name]}
"""


def audited(directory, sql, timeout=10):
    """The audit rows of one statement text, once the sink has written one."""
    db = os.path.join(directory, "audit.db")
    deadline = time.time() + timeout
    while True:
        with sqlite3.connect(db) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("SELECT * FROM statements WHERE sql = ? ORDER BY id", (sql,)).fetchall()
        if rows or time.time() > deadline:
            return rows
        time.sleep(0.1)


@pytest.fixture(scope="module")
def writes_proxy(postgres, tmp_path_factory):
    psql("GRANT UPDATE, DELETE ON public.usage_daily TO ai_readonly")
    p = start_proxy(tmp_path_factory.mktemp("guardrail"), policies=WRITES)
    yield p
    assert p.stop() == 0, p.read_log()
    psql("REVOKE UPDATE, DELETE ON public.usage_daily FROM ai_readonly")


@pytest.mark.parametrize("sql", [
    "DELETE FROM usage_daily",
    "UPDATE usage_daily SET api_calls = api_calls",
    "DELETE FROM usage_daily WHERE true",
    "DELETE FROM usage_daily WHERE 1 = 1",
    "UPDATE usage_daily SET api_calls = api_calls WHERE customer_id IS NOT NULL OR true",
    "DELETE FROM usage_daily WHERE customer_id = customer_id",
    "DELETE FROM usage_daily u USING customers c WHERE c.name = 'Initech'",
], ids=["missing_where", "update_missing_where", "where_true", "one_equals_one", "is_not_null_or_true",
        "self_comparison", "condition_on_another_table"])
def test_guardrail_refuses_a_write_that_could_change_every_row(writes_proxy, sql):
    before = psql("SELECT count(*), sum(api_calls) FROM usage_daily").stdout
    with psycopg.connect(writes_proxy.dsn(sslmode="disable"), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            conn.execute(sql)
        diag = refused.value.diag
        assert "could change every row" in diag.message_primary
        assert diag.message_detail.startswith("rule: guardrails")
        assert "add a WHERE clause on a column of public.usage_daily" in diag.message_hint
        # The session stays usable.
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert psql("SELECT count(*), sum(api_calls) FROM usage_daily").stdout == before


def test_guardrail_lets_a_bounded_write_run_and_audits_refusals(writes_proxy):
    with psycopg.connect(writes_proxy.dsn(sslmode="disable"), autocommit=True) as conn:
        cur = conn.execute("UPDATE usage_daily SET api_calls = api_calls WHERE customer_id = %s", (1,))
        assert cur.rowcount == 7
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM usage_daily WHERE customer_id > 0 OR true")
    refused = audited(writes_proxy.directory, "DELETE FROM usage_daily WHERE customer_id > 0 OR true")
    assert refused and refused[-1]["verdict"] == "blocked" and refused[-1]["rule"] == "guardrail"


@pytest.fixture(scope="module")
def capped_proxy(postgres, tmp_path_factory):
    p = start_proxy(tmp_path_factory.mktemp("truncate"), policies=CAPPED)
    yield p
    assert p.stop() == 0, p.read_log()


def test_truncate_psycopg_text_and_binary_simple_and_extended(capped_proxy):
    notices = []
    with psycopg.connect(capped_proxy.dsn(sslmode="disable"), autocommit=True) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        # Extended protocol (psycopg's default), text results.
        cur = conn.execute("SELECT customer_id, day FROM usage_daily ORDER BY customer_id, day")
        assert len(cur.fetchall()) == 3
        assert cur.rowcount == 3 and cur.statusmessage == "SELECT 3"
        # Binary results.
        cur = conn.cursor(binary=True)
        cur.execute("SELECT api_calls FROM usage_daily")
        assert [type(r[0]) for r in cur.fetchall()] == [int, int, int]
        # The simple protocol (no parameters, prepare=False still extended; COPY-free path: a raw query).
        conn.pgconn.send_query(b"SELECT day FROM usage_daily")
        results = []
        while (r := conn.pgconn.get_result()) is not None:
            results.append(r)
        assert results[0].ntuples == 3 and results[0].command_status == b"SELECT 3"
        # A result within the limit is untouched.
        assert conn.execute("SELECT id FROM customers ORDER BY id").fetchall() == [(1,), (2,), (3,)]
    assert len(notices) == 3
    assert notices[0] == 'pgsieve: result truncated to its first 3 rows by max_rows=3 of policy "customer-success"'


def test_truncate_server_side_cursor_fetches(capped_proxy):
    with psycopg.connect(capped_proxy.dsn(sslmode="disable")) as conn:
        with conn.cursor(name="pager") as cur:
            cur.itersize = 10
            cur.execute("SELECT customer_id, day FROM usage_daily ORDER BY 1, 2")
            first = cur.fetchmany(10)       # FETCH FORWARD 10: a result of its own, truncated to 3
            assert len(first) == 3


def test_truncate_asyncpg_binary_and_portal(capped_proxy):
    async def run():
        conn = await asyncpg.connect(host=capped_proxy.host, port=capped_proxy.port, user="cs_bot",
                                     password=CLIENT_PASSWORD, database="app", ssl=False)
        try:
            rows = await conn.fetch("SELECT customer_id, api_calls FROM usage_daily")
            assert len(rows) == 3
            async with conn.transaction():
                # A cursor reads a portal with Execute row limits (PortalSuspended).
                cur = await conn.cursor("SELECT day FROM usage_daily ORDER BY day")
                batch = await cur.fetch(5)
                assert len(batch) == 3
        finally:
            await conn.close()
    asyncio.run(run())


def test_truncate_is_recorded_with_the_rows_postgres_produced(capped_proxy):
    sql = "SELECT customer_id FROM usage_daily WHERE api_calls > 0 /* recorded */"
    with psycopg.connect(capped_proxy.dsn(sslmode="disable"), autocommit=True) as conn:
        assert len(conn.execute(sql).fetchall()) == 3
    rows = audited(capped_proxy.directory, sql)
    assert rows, "the truncated statement was not audited"
    row = rows[-1]
    assert row["verdict"] == "allowed" and row["rows"] == 3 and row["error"] is None
    assert row["reason"] == "truncated: 3 of 21 rows sent (max_rows=3)"


# --- budgets ----------------------------------------------------------------

def budget_policies(budgets):
    return f"""\
    policies:
      customer-success:
        statements: [select]
        budgets: {budgets}
        tables:
          public.usage_daily: {{}}
          public.customers: {{columns: [id, name]}}
    """


def test_budget_of_statements_refuses_with_53400_and_resets(postgres, tmp_path):
    # A 5 s window, so the reset is seen in the test (and a sanitizer build
    # runs four statements well within it); windows are aligned to the epoch.
    proxy = start_proxy(tmp_path, policies=budget_policies("{statements: 3/5s}"))
    try:
        with psycopg.connect(proxy.dsn(sslmode="disable"), autocommit=True) as conn:
            # Start right after a window begins, so the statements fit in it.
            time.sleep(5 - time.time() % 5 + 0.05)
            for _ in range(3):
                conn.execute("SELECT id FROM customers").fetchall()
            with pytest.raises(psycopg.errors.ConfigurationLimitExceeded) as refused:
                conn.execute("SELECT id FROM customers")
            message = refused.value.diag.message_primary
            assert message.startswith('pgsieve: client "cs_bot" used its 3 statements per 5 seconds; '
                                      'the budget resets at ')
            assert refused.value.diag.message_detail.startswith("rule: budgets.statements")
            # After the reset the client runs again, on the same connection.
            time.sleep(5 - time.time() % 5 + 0.05)
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        assert proxy.stop() == 0, proxy.read_log()
    refusals = audited(proxy.directory, "SELECT id FROM customers")
    assert [r["verdict"] for r in refusals] == ["allowed"] * 3 + ["blocked"]
    assert refusals[-1]["rule"] == "budget"
    stats = run_stats(proxy.directory)
    assert "budget" in stats


def run_stats(directory):
    result = run_pgsieve("audit", "stats", "--db", os.path.join(directory, "audit.db"))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_budget_of_rows_ends_a_result_and_refuses_the_next(postgres, tmp_path):
    admin_port = free_port()
    proxy = start_proxy(tmp_path, policies=budget_policies("{rows: 10/1h}"),
                        extra=f"admin: {{address: 127.0.0.1, port: {admin_port}}}\n")
    try:
        with psycopg.connect(proxy.dsn(sslmode="disable"), autocommit=True) as conn:
            assert len(conn.execute("SELECT id FROM customers").fetchall()) == 3    # 7 left
            with pytest.raises(psycopg.errors.ConfigurationLimitExceeded) as cut:
                conn.execute("SELECT customer_id FROM usage_daily").fetchall()     # 21 rows: 7 sent, then 53400
            assert "used its 10 rows per hour" in cut.value.diag.message_primary
            with pytest.raises(psycopg.errors.ConfigurationLimitExceeded):
                conn.execute("SELECT 1")
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert 'pgsieve_budget_used{client="cs_bot",budget="rows"} 10' in metrics
        assert 'pgsieve_budget_limit{client="cs_bot",budget="rows"} 10' in metrics
        assert 'pgsieve_budget_refusals_total{client="cs_bot",budget="rows"} 2' in metrics
    finally:
        assert proxy.stop() == 0, proxy.read_log()


def test_budgets_are_counted_per_replica(postgres, tmp_path):
    """What the docs claim for a fleet: each replica counts its own, so N replicas allow N times the budget."""
    replicas = []
    for i in range(2):
        (tmp_path / f"r{i}").mkdir()
        replicas.append(start_proxy(tmp_path / f"r{i}", policies=budget_policies("{statements: 2/1h}")))
    try:
        allowed = 0
        for proxy in replicas:
            with psycopg.connect(proxy.dsn(sslmode="disable"), autocommit=True) as conn:
                for _ in range(3):
                    try:
                        conn.execute("SELECT 1")
                        allowed += 1
                    except psycopg.errors.ConfigurationLimitExceeded:
                        pass
        assert allowed == 4
    finally:
        for proxy in replicas:
            assert proxy.stop() == 0, proxy.read_log()


MCP_LIMITS = """\
    policies:
      customer-success:
        owner: cs@example.com
        statements: [select, update, delete]
        max_rows: 2
        on_exceed: truncate
        budgets: {statements: 40/1h}
        tables:
          public.usage_daily: {allow: [select, update, delete], max_rows_written: 3}
          public.customers: {columns: [id, name]}
"""


def test_tool_boundaries_reach_the_model_through_an_mcp_server(postgres, tmp_path):
    # pg-mcp-server from npm, its own write guard off (as a bypassed or
    # misconfigured server would be), driven over stdio as an AI host does:
    # each boundary comes back as the tool's result or error, in words the
    # model can act on, and nothing beyond it runs.
    from test_mcp_servers import MCP_DIR, pg_mcp_server
    from mcp_client import McpClient
    psql("GRANT UPDATE, DELETE ON public.usage_daily TO ai_readonly")
    proxy = start_proxy(tmp_path, policies=MCP_LIMITS)
    argv, extra = pg_mcp_server(proxy.url(query="?sslmode=disable&application_name=mcp-limits"))
    client = McpClient(argv, dict(os.environ, **extra), str(tmp_path / "mcp.stderr"))
    before = psql("SELECT count(*), sum(api_calls) FROM usage_daily").stdout
    try:
        # Truncation: two rows of seven, and the tool call succeeds.
        text, failed = client.call_tool("query", {"sql": "SELECT customer_id, day FROM usage_daily "
                                                         "WHERE customer_id = 1 ORDER BY day"})
        assert not failed, text
        assert text.count('"customer_id"') == 2, text
        # The missing-WHERE guardrail.
        text, failed = client.call_tool("query", {"sql": "DELETE FROM usage_daily"})
        assert failed and "could change every row" in text and "hint:" in text, text
        # max_rows_written: seven rows of customer 1, a limit of three: rolled back.
        text, failed = client.call_tool("query", {"sql": "UPDATE usage_daily SET api_calls = api_calls + 1 "
                                                         "WHERE customer_id = 1"})
        assert failed and "rolled back" in text and "more than max_rows_written=3" in text, text
        assert psql("SELECT count(*), sum(api_calls) FROM usage_daily").stdout == before
        # The statements budget: the model is told what it used and when it resets.
        for _ in range(60):
            text, failed = client.call_tool("query", {"sql": "SELECT 1 AS one"})
            if failed:
                break
        assert failed and 'used its 40 statements per hour; the budget resets at' in text, text
    finally:
        client.close()
        assert proxy.stop() == 0, proxy.read_log()
        psql("REVOKE UPDATE, DELETE ON public.usage_daily FROM ai_readonly")
