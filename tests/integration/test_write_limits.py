"""max_rows_written through real drivers: a write that changes more rows of
the table than the limit is rolled back — its triggers' work with it — and
refused with 54000, whether it came as a simple Query (psql), through the
extended protocol (psycopg, asyncpg's prepared statements), with RETURNING,
inside the client's own transaction (which it aborts, as any failed
statement does) or in a pipeline; a write within the limit commits and
returns its rows. PostgreSQL's own count decides, so a BEFORE trigger that
skips rows lowers it. The audit records the rollback."""

import asyncio
import os
import subprocess

import asyncpg
import psycopg
import pytest

from conftest import CLIENT_PASSWORD, psql, start_proxy
from test_tool_boundaries import audited

POLICIES = """\
    policies:
      customer-success:
        owner: cs@example.com
        statements: [select, insert, update, delete]
        catalog: introspection
        tables:
          public.wl_items: {allow: [select, insert, update, delete], max_rows_written: 3}
          public.wl_log: {}
"""

SETUP = """
DROP TABLE IF EXISTS public.wl_items, public.wl_log;
CREATE TABLE public.wl_items (id int PRIMARY KEY, status text NOT NULL, skip boolean NOT NULL DEFAULT false);
CREATE TABLE public.wl_log (item int, at timestamptz DEFAULT now());
CREATE FUNCTION public.wl_log_change() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO public.wl_log(item) VALUES (NEW.id); RETURN NEW; END$$;
CREATE TRIGGER wl_after AFTER UPDATE ON public.wl_items FOR EACH ROW EXECUTE FUNCTION public.wl_log_change();
CREATE FUNCTION public.wl_skip() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN IF OLD.skip THEN RETURN NULL; END IF; RETURN NEW; END$$;
CREATE TRIGGER wl_before BEFORE UPDATE ON public.wl_items FOR EACH ROW EXECUTE FUNCTION public.wl_skip();
GRANT SELECT, INSERT, UPDATE, DELETE ON public.wl_items TO ai_readonly;
GRANT SELECT, INSERT ON public.wl_log TO ai_readonly;
"""


def reset_rows():
    psql("TRUNCATE public.wl_log; DELETE FROM public.wl_items; "
         "INSERT INTO public.wl_items SELECT g, 'open', g > 8 FROM generate_series(1, 10) g")


def state():
    """The table and the trigger's log, read directly."""
    return (psql("SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM public.wl_items").stdout.strip(),
            psql("SELECT count(*) FROM public.wl_log").stdout.strip())


@pytest.fixture(scope="module")
def limited(postgres, tmp_path_factory):
    psql(SETUP)
    p = start_proxy(tmp_path_factory.mktemp("write-limit"), policies=POLICIES)
    yield p
    assert p.stop() == 0, p.read_log()
    psql("DROP TABLE public.wl_items, public.wl_log; DROP FUNCTION public.wl_log_change(), public.wl_skip()")


@pytest.fixture
def rows(limited):
    reset_rows()
    return limited


def assert_rolled_back(error, changed):
    diag = error.value.diag
    assert diag.sqlstate == "54000"
    assert f"changed {changed} rows, more than max_rows_written=3" in diag.message_primary
    assert "rolled back" in diag.message_primary
    assert diag.message_detail.startswith("rule: tables.public.wl_items.max_rows_written")
    assert "at most 3 rows" in diag.message_hint


def test_write_over_the_limit_is_rolled_back_with_its_triggers_work_extended(rows):
    before = state()
    with psycopg.connect(rows.dsn(sslmode="disable"), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ProgramLimitExceeded) as refused:
            conn.execute("UPDATE wl_items SET status = 'closed' WHERE id <= %s", (4,))
        assert_rolled_back(refused, 4)
        assert state() == before  # the rows and the AFTER trigger's log entries
        # The session stays usable, and a write within the limit commits.
        cur = conn.execute("UPDATE wl_items SET status = 'closed' WHERE id <= %s", (3,))
        assert cur.rowcount == 3 and cur.statusmessage == "UPDATE 3"
    assert state() == ("1:closed,2:closed,3:closed,4:open,5:open,6:open,7:open,8:open,9:open,10:open", "3")


def test_simple_query_over_the_limit_psql(rows):
    before = state()
    env = dict(os.environ, PGPASSWORD=CLIENT_PASSWORD)
    dsn = rows.dsn(sslmode="disable")
    over = subprocess.run(["psql", dsn, "-X", "-v", "ON_ERROR_STOP=1", "-c", "DELETE FROM wl_items WHERE id > 5"],
                          capture_output=True, text=True, env=env)
    assert over.returncode != 0
    assert "changed 5 rows, more than max_rows_written=3" in over.stderr
    assert state() == before
    within = subprocess.run(["psql", dsn, "-X", "-v", "ON_ERROR_STOP=1", "-c", "DELETE FROM wl_items WHERE id > 7"],
                            capture_output=True, text=True, env=env)
    assert within.returncode == 0, within.stderr
    assert within.stdout.strip() == "DELETE 3"
    assert state()[0] == "1:open,2:open,3:open,4:open,5:open,6:open,7:open"


def test_returning_rows_only_when_the_write_commits(rows):
    with psycopg.connect(rows.dsn(sslmode="disable"), autocommit=True) as conn:
        before = state()
        with pytest.raises(psycopg.errors.ProgramLimitExceeded):
            conn.execute("UPDATE wl_items SET status = 'x' WHERE id <= 5 RETURNING id, status")
        assert state() == before
        cur = conn.execute("UPDATE wl_items SET status = 'x' WHERE id <= 2 RETURNING id, status")
        assert sorted(cur.fetchall()) == [(1, "x"), (2, "x")]
        # The simple protocol, RETURNING: rows, then the completion.
        conn.pgconn.send_query(b"INSERT INTO wl_items VALUES (11, 'new'), (12, 'new') RETURNING id")
        results = []
        while (r := conn.pgconn.get_result()) is not None:
            results.append((r.status, r.ntuples, r.command_status))
        assert results == [(psycopg.pq.ExecStatus.TUPLES_OK, 2, b"INSERT 0 2")]
        conn.pgconn.send_query(b"INSERT INTO wl_items SELECT g, 'bulk' FROM generate_series(20, 23) g RETURNING id")
        results = []
        while (r := conn.pgconn.get_result()) is not None:
            results.append((r.status, r.ntuples, r.error_field(psycopg.pq.DiagnosticField.SQLSTATE)))
        assert results == [(psycopg.pq.ExecStatus.FATAL_ERROR, 0, b"54000")]
    assert psql("SELECT count(*) FROM wl_items WHERE id >= 20").stdout.strip() == "0"


def test_before_trigger_skipping_rows_lowers_postgresqls_count(rows):
    # Rows 9 and 10 are skipped by the BEFORE trigger: PostgreSQL changes 3 of 5.
    with psycopg.connect(rows.dsn(sslmode="disable"), autocommit=True) as conn:
        cur = conn.execute("UPDATE wl_items SET status = 'done' WHERE id >= 6")
        assert cur.rowcount == 3
    assert state()[1] == "3"


def test_in_a_transaction_block_it_aborts_the_transaction(rows):
    before = state()
    with psycopg.connect(rows.dsn(sslmode="disable")) as conn:
        conn.execute("UPDATE wl_items SET status = 'a' WHERE id = 1")  # within: the transaction goes on
        with pytest.raises(psycopg.errors.ProgramLimitExceeded):
            conn.execute("UPDATE wl_items SET status = 'b' WHERE id BETWEEN 2 AND 6")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM wl_items WHERE status = 'open'").fetchone() == (10,)
    assert state() == before
    # psql: BEGIN, an over-limit write, COMMIT — which PostgreSQL turns into ROLLBACK.
    env = dict(os.environ, PGPASSWORD=CLIENT_PASSWORD)
    out = subprocess.run(["psql", rows.dsn(sslmode="disable"), "-X"],
                         input="BEGIN;\nUPDATE wl_items SET status = 'a' WHERE id = 1;\n"
                               "DELETE FROM wl_items WHERE id > 2;\nCOMMIT;\n",
                         capture_output=True, text=True, env=env)
    assert "changed 8 rows" in out.stderr
    assert out.stdout.split() == ["BEGIN", "UPDATE", "1", "ROLLBACK"]
    assert state() == before


def test_asyncpg_prepared_binary(rows):
    async def run():
        conn = await asyncpg.connect(host=rows.host, port=rows.port, user="cs_bot", password=CLIENT_PASSWORD,
                                     database="app", ssl=False)
        try:
            stmt = await conn.prepare("UPDATE wl_items SET status = $1 WHERE id <= $2 RETURNING id")
            got = await stmt.fetch("p", 2)
            assert sorted(r["id"] for r in got) == [1, 2]
            with pytest.raises(asyncpg.exceptions.ProgramLimitExceededError) as refused:
                await stmt.fetch("q", 8)
            assert "more than max_rows_written=3" in str(refused.value)
            status = await conn.execute("DELETE FROM wl_items WHERE id = $1", 10)
            assert status == "DELETE 1"
            # executemany: one Execute per row, each its own write within the limit.
            await conn.executemany("UPDATE wl_items SET status = $1 WHERE id = $2", [("m", 3), ("m", 4)])
        finally:
            await conn.close()

    asyncio.run(run())
    assert state()[0] == "1:p,2:p,3:m,4:m,5:open,6:open,7:open,8:open,9:open"


def test_pipeline_over_the_limit_skips_the_rest_of_the_batch(rows):
    before = state()
    with psycopg.connect(rows.dsn(sslmode="disable"), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ProgramLimitExceeded):
            with conn.pipeline():
                conn.execute("UPDATE wl_items SET status = 'p1' WHERE id = %s", (1,))
                conn.execute("UPDATE wl_items SET status = 'p2' WHERE id > %s", (2,))
                conn.execute("UPDATE wl_items SET status = 'p3' WHERE id = %s", (2,))
        # One Sync, one implicit transaction: the first write is rolled back with the second, the third skipped.
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert state() == before


def test_several_statements_in_one_query_are_refused(rows):
    with psycopg.connect(rows.dsn(sslmode="disable"), autocommit=True) as conn:
        conn.pgconn.send_query(b"SELECT 1; UPDATE wl_items SET status = 'z' WHERE id = 1")
        r = conn.pgconn.get_result()
        assert r.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"42501"
        assert b"must be sent as a statement of its own" in r.error_field(psycopg.pq.DiagnosticField.MESSAGE_PRIMARY)
        while conn.pgconn.get_result() is not None:
            pass


def test_audit_records_the_rollback(rows):
    sql = "DELETE FROM wl_items WHERE id > 1"
    with psycopg.connect(rows.dsn(sslmode="disable"), autocommit=True) as conn:
        conn.pgconn.send_query(sql.encode())
        while conn.pgconn.get_result() is not None:
            pass
    recorded = audited(rows.directory, sql)
    assert recorded, rows.read_log()
    row = recorded[-1]
    assert row["verdict"] == "blocked" and row["rule"] == "guardrail"
    assert row["sqlstate"] == "54000" and "changed 9 rows" in row["error"]
    assert row["protocol"] == "simple" and row["command_tag"] == "DELETE 9"


def test_attack_a_write_whose_text_is_scoped_for_discovery_runs_once_under_the_limit(rows):
    # A write reading the catalog is sent as its scoped text. The scoped
    # Query was once forwarded as well as the lockstep's own messages: it
    # ran, autocommitted, outside the limit.
    before = state()
    sql = ("UPDATE wl_items SET status = (SELECT relname FROM pg_catalog.pg_class WHERE relname = 'wl_items') "
           "WHERE id <= 4")
    with psycopg.connect(rows.dsn(sslmode="disable"), autocommit=True) as conn:
        conn.pgconn.send_query(sql.encode())
        results = []
        while (r := conn.pgconn.get_result()) is not None:
            results.append(r.error_field(psycopg.pq.DiagnosticField.SQLSTATE))
        assert results == [b"54000"]
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert state() == before
    with psycopg.connect(rows.dsn(sslmode="disable"), autocommit=True) as conn:
        conn.pgconn.send_query(sql.replace("<= 4", "<= 2").encode())
        assert conn.pgconn.get_result().command_status == b"UPDATE 2"
        while conn.pgconn.get_result() is not None:
            pass
    assert state()[0].startswith("1:wl_items,2:wl_items,3:open")
