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

from conftest import CLIENT_PASSWORD, psql, start_proxy

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
