"""psql, psycopg 3 and asyncpg through pgsieve, without and with TLS."""

import asyncio
import os
import subprocess
import threading
import time

import asyncpg
import psycopg
import pytest

from conftest import CLIENT_PASSWORD


def connect(proxy, **kwargs):
    return psycopg.connect(proxy.dsn(sslmode=proxy.sslmode), **kwargs)


def test_psql_runs_queries_and_shows_tls_state(proxy):
    env = dict(os.environ, PGHOST=proxy.host, PGPORT=str(proxy.port), PGUSER="cs_bot",
               PGPASSWORD=CLIENT_PASSWORD, PGDATABASE="app", PGSSLMODE=proxy.sslmode)
    result = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1",
                             "-c", "SELECT name FROM customers ORDER BY id",
                             "-c", "SHOW default_transaction_read_only",
                             "-c", r"\conninfo"],
                            capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["Acme Corp", "Globex", "Initech"]
    assert lines[3] == "on"  # the policy has no write statements
    assert ("SSL connection" in result.stdout) == proxy.tls


def test_psycopg_simple_query_and_parameters(proxy):
    with connect(proxy, autocommit=True) as conn:
        assert conn.execute("SELECT id, name FROM customers ORDER BY id").fetchall()[0] == (1, "Acme Corp")
        assert conn.execute("SELECT %s::int + 1", (41,)).fetchone() == (42,)
        assert conn.execute("SELECT name FROM customers WHERE plan = %(plan)s", {"plan": "team"}).fetchall() == [("Globex",)]
        assert conn.info.parameter_status("server_version").startswith("15")


def test_psycopg_prepared_statement_reuse(proxy):
    with connect(proxy, autocommit=True, prepare_threshold=0) as conn:
        for customer_id in (1, 2, 3, 1, 2):
            row = conn.execute("SELECT id, plan FROM customers WHERE id = %s", (customer_id,)).fetchone()
            assert row[0] == customer_id
        prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql").fetchone()[0]
        assert prepared >= 1


def test_psycopg_pipeline_mode(proxy):
    with connect(proxy, autocommit=True) as conn:
        with conn.pipeline():
            cursors = [conn.execute("SELECT %s::int * 10", (i,)) for i in range(20)]
            bad = conn.cursor()
        assert [c.fetchone()[0] for c in cursors] == [i * 10 for i in range(20)]
        # An error inside a pipeline aborts the rest up to Sync; the session recovers.
        with pytest.raises(psycopg.errors.DivisionByZero):
            with conn.pipeline():
                conn.execute("SELECT 1")
                bad.execute("SELECT 1/0")
                conn.execute("SELECT 2")
        assert conn.execute("SELECT 3").fetchone() == (3,)


def test_psycopg_binary_results(proxy):
    with connect(proxy, autocommit=True) as conn:
        cur = conn.cursor(binary=True)
        cur.execute("SELECT id, created_at, 1.5::numeric, '{1,2}'::int[] FROM customers WHERE id = %s", (2,))
        row = cur.fetchone()
        assert row[0] == 2 and row[2] == 1.5 and row[3] == [1, 2]


def test_psycopg_server_side_cursor(proxy):
    with connect(proxy) as conn:
        with conn.cursor(name="big") as cur:
            cur.itersize = 3
            cur.execute("SELECT g FROM generate_series(1, 25) g")
            assert [r[0] for r in cur] == list(range(1, 26))


def test_psycopg_cancel_during_a_long_query(proxy):
    with connect(proxy, autocommit=True) as conn:
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(30)")
        assert time.monotonic() - started < 10
        assert conn.execute("SELECT 'still usable'").fetchone() == ("still usable",)


def test_psycopg_error_then_recovery_inside_a_transaction(proxy):
    with connect(proxy) as conn:
        # pgsieve refuses what it cannot resolve; the transaction aborts as
        # PostgreSQL's own error would abort it.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM no_such_table")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (3,)


def test_asyncpg_prepared_statements_and_timeout_cancel(proxy):
    async def main():
        conn = await asyncpg.connect(host=proxy.host, port=proxy.port, user="cs_bot", password=CLIENT_PASSWORD,
                                     database="app", ssl="require" if proxy.tls else False)
        try:
            stmt = await conn.prepare("SELECT $1::int * 2")
            assert [await stmt.fetchval(i) for i in range(5)] == [0, 2, 4, 6, 8]
            rows = await conn.fetch("SELECT id, name FROM customers WHERE plan = $1", "team")
            assert [(r["id"], r["name"]) for r in rows] == [(2, "Globex")]
            started = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await conn.fetch("SELECT pg_sleep(30)", timeout=0.5)
            assert time.monotonic() - started < 10
            # asyncpg cancelled the query upstream through the proxy; the session goes on.
            assert await conn.fetchval("SELECT 7") == 7
        finally:
            await conn.close()

    asyncio.run(main())
