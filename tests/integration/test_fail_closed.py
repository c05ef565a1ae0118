"""Fail-closed analysis through the live proxy (issue 11): the attacks that
once ran with the upstream role's full rights are refused before they reach
PostgreSQL, nothing they name leaks through an error, a statement too deep to
analyse is refused without harming the process, and upstream errors that
would print hidden values lose their DETAIL."""

import os
import sqlite3
import threading
import time

import psycopg
import pytest

from conftest import psql
from test_enforcement import CLIENT_PASSWORD, MARKERS, proxy_for

POLICY = """
upstream:
  host: 127.0.0.1
  port: 5432 
  database: app
  user: ai_readonly
  password_env: PGSIEVE_CORPUS_UPSTREAM_PASSWORD
  sslmode: disable
audit:
  sqlite: audit.db
clients:
  - {name: cs_bot, password_env: PGSIEVE_CORPUS_CLIENT_PASSWORD, policy: cs}
  - {name: editor, password_env: PGSIEVE_CORPUS_CLIENT_PASSWORD, policy: editor}
policies:
  cs:
    statements: [select]
    tables:
      public.customers: {columns: [id, name, plan, created_at]}
      public.usage_daily: {}
  editor:
    statements: [select, update]
    tables:
      public.customers: {columns: [id, name], allow: [select, update]}
"""


@pytest.fixture(scope="module")
def proxy(postgres, tmp_path_factory):
    psql("GRANT UPDATE (name) ON public.customers TO ai_readonly")
    p = proxy_for(tmp_path_factory.mktemp("fail_closed"), POLICY)
    yield p
    assert p.stop() == 0, p.read_log()


def refused(proxy, sql, user="cs_bot"):
    with psycopg.connect(proxy.dsn(user=user, password=CLIENT_PASSWORD), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute(sql).fetchall()
        # The session stays usable after the refusal.
        assert conn.execute("SELECT 1").fetchone() == (1,)
    e = info.value
    everything = " ".join(str(x) for x in (e, e.diag.message_detail, e.diag.message_hint, e.diag.context))
    for marker in MARKERS:
        assert marker not in everything
    return e


def test_attack_values_limit_subquery_is_refused_before_it_runs(proxy):
    e = refused(proxy, "VALUES (1), (2) LIMIT (SELECT ssn::int FROM customers LIMIT 1)")
    assert e.sqlstate == "42501"
    assert 'column "ssn"' in str(e)


def test_attack_values_offset_function_is_refused(proxy):
    e = refused(proxy, "VALUES (1) OFFSET (SELECT length(pg_read_file('/etc/passwd')))")
    assert e.sqlstate == "42501"
    assert "pg_read_file" in str(e)


def test_attack_aliased_join_reads_through_to_the_base_columns(proxy):
    for sql in ("SELECT x.ssn FROM (customers c JOIN usage_daily u ON u.customer_id = c.id) AS x",
                "SELECT x.* FROM (customers c JOIN usage_daily u ON u.customer_id = c.id) AS x",
                "SELECT row_to_json(x) FROM (customers c JOIN usage_daily u ON u.customer_id = c.id) AS x"):
        assert refused(proxy, sql).sqlstate == "42501"


def test_attack_deeply_nested_statement_is_refused_and_the_proxy_lives_on(proxy):
    # 70,000 terms (~140 KB) once overflowed a worker's stack inside libpg_query.
    sql = "SELECT 1" + "+1" * 70000
    errors = []

    def session():
        try:
            refused(proxy, sql)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=session) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with psycopg.connect(proxy.dsn(user="cs_bot", password=CLIENT_PASSWORD)) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (3,)


def test_attack_integrity_error_detail_does_not_print_hidden_columns(proxy):
    # PostgreSQL's not-null violation prints the whole failing row, ssn and
    # email included, in DETAIL; the editor policy may not read them.
    with psycopg.connect(proxy.dsn(user="editor", password=CLIENT_PASSWORD), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.NotNullViolation) as info:
            conn.execute("UPDATE customers SET name = NULL WHERE id = 1")
        e = info.value
        assert "withheld" in (e.diag.message_detail or "")
        for field in (str(e), e.diag.message_detail or "", e.diag.context or ""):
            for marker in MARKERS:
                assert marker not in field
    assert psql("SELECT name FROM customers WHERE id = 1").stdout.strip() == "Acme Corp"
    # The audit row says the detail was withheld.
    deadline = time.time() + 5
    rows = []
    while time.time() < deadline and not rows:
        with sqlite3.connect(os.path.join(proxy.directory, "audit.db")) as db:
            rows = db.execute("SELECT error FROM statements WHERE sqlstate = '23502'").fetchall()
        time.sleep(0.1)
    assert rows and "withheld" in rows[0][0]
