"""Enforcement through the live proxy: the policy corpus replayed over the
simple and the extended protocol; nothing refused runs; no value of a denied
column or table appears in any output; refusals keep the session in lockstep;
a reload applies to the next statement, prepared ones included."""

import asyncio
import json
import os
import signal
import subprocess
import time

import asyncpg

import psycopg
import pytest

from conftest import Proxy, free_port, psql
from test_policy_corpus import CORPUS, load_cases

CLIENT_PASSWORD = "corpus-client"
# Values of columns no replayed client may read (tests/fixture/schema.sql).
MARKERS = ["078-05-1120", "219-09-9999", "ops@acme.example", "it@globex.example", "bill@initech.example",
           "billing@acme.example", "ap@globex.example", "+1-555-0100", "+1-555-0199", "123-45-6789"]
# Clients allowed to see some of them: pii_bot accepts pii; watch_bot only monitors.
MARKER_CLIENTS = {"cs_bot", "ops_bot", "plain_bot"}


def proxy_for(directory, text, args=()):
    psql("ALTER ROLE ai_readonly PASSWORD 'corpus-upstream'")
    port = free_port()
    text = text.replace("  port: 5432 ", f"  port: {os.environ['PGPORT']} ")
    text = f"listen: {{address: 127.0.0.1, port: {port}}}\n" + text
    env = dict(os.environ, PGSIEVE_CORPUS_UPSTREAM_PASSWORD="corpus-upstream",
               PGSIEVE_CORPUS_CLIENT_PASSWORD=CLIENT_PASSWORD)
    p = Proxy(str(directory), text, env, args)
    p.wait_listening(port)
    return p


@pytest.fixture(scope="module")
def corpus_proxy(postgres, tmp_path_factory):
    p = proxy_for(tmp_path_factory.mktemp("enforce"), open(os.path.join(CORPUS, "pgsieve.yaml")).read())
    yield p
    assert p.stop() == 0, p.read_log()


def state_of_database():
    """What no refused statement may change (tickets counted apart: allowed INSERTs add to it)."""
    return psql("SELECT (SELECT count(*) FROM customers), "
                "(SELECT count(*) FROM usage_daily), (SELECT sum(api_calls) FROM usage_daily), "
                "(SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace), "
                "(SELECT last_value FROM ids), (SELECT string_agg(plan, ',' ORDER BY id) FROM customers)").stdout


def tickets():
    return int(psql("SELECT count(*) FROM tickets").stdout)


def run_case(proxy, client, sql, extended):
    """Runs one statement; returns (sqlstate or None, everything the client saw)."""
    seen = []
    cursor_factory = psycopg.Cursor if extended else psycopg.ClientCursor
    with psycopg.connect(proxy.dsn(user=client, password=CLIENT_PASSWORD), autocommit=True,
                         cursor_factory=cursor_factory) as conn:
        conn.add_notice_handler(lambda d: seen.append(str(d.message_primary)))
        try:
            cur = conn.execute(sql, prepare=True) if extended else conn.execute(sql)
            while True:
                if cur.description:
                    seen.append(repr(cur.fetchall()))
                if not cur.nextset():
                    break
            return None, "\n".join(seen)
        except psycopg.Error as e:
            seen.append(str(e))
            return e.sqlstate, "\n".join(seen)


def replayable(sql, extended):
    if extended and (";" in sql.rstrip().rstrip(";") or sql.lstrip().startswith("--")):
        return False  # one statement per Parse; comments alone are not a statement
    return not sql.upper().startswith("COPY")  # COPY … TO STDOUT: test_relay_protocol, psql


def psycopg_runner(proxy, extended):
    return lambda client, sql: run_case(proxy, client, sql, extended)


def asyncpg_runner(proxy):
    async def one(client, sql):
        conn = await asyncpg.connect(host=proxy.host, port=proxy.port, user=client, password=CLIENT_PASSWORD,
                                     database="app", ssl=False)
        seen = []
        conn.add_log_listener(lambda c, m: seen.append(str(m)))
        try:
            rows = await conn.fetch(sql)
            seen.append(repr(rows))
            return None, "\n".join(seen)
        except asyncpg.PostgresError as e:
            seen.append(f"{e} {getattr(e, 'detail', '')} {getattr(e, 'hint', '')}")
            return e.sqlstate, "\n".join(seen)
        except asyncpg.InterfaceError as e:
            seen.append(str(e))
            return "client", "\n".join(seen)
        finally:
            await conn.close()
    return lambda client, sql: asyncio.run(one(client, sql))


def node_results(proxy, cases):
    env = dict(os.environ, PGSIEVE_HOST=proxy.host, PGSIEVE_PORT=str(proxy.port), PGSIEVE_PASSWORD=CLIENT_PASSWORD)
    result = subprocess.run(["node", os.path.join(os.path.dirname(__file__), "node", "replay_corpus.mjs")],
                            input=json.dumps([{"client": c, "sql": s} for c, s in cases]),
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    return [(r["sqlstate"], r["output"], r["changed"]) for r in json.loads(result.stdout)]


def replay(proxy, extended, runner=None, batch=None):
    """Replays the corpus through `runner(client, sql)` -> (sqlstate, output), or through
    `batch(cases)` -> [(sqlstate, output, rows inserted)] for all cases at once."""
    runner = runner or psycopg_runner(proxy, extended)
    before = state_of_database()
    tickets_expected = tickets()
    failures = []
    replayed = 0
    cases = [c.values for c in load_cases() if replayable(c.values[3], extended)]
    results = batch([(c[0], c[3]) for c in cases]) if batch else None
    for index, (client, verdict, rule, sql) in enumerate(cases):
        allowed_insert = verdict == "allow" and sql.upper().startswith("INSERT INTO TICKETS")
        if results:
            sqlstate, output, changed = results[index]
        else:
            # An allowed INSERT may add rows; measure exactly how many.
            tickets_before = tickets() if allowed_insert else 0
            sqlstate, output = runner(client, sql)
            changed = tickets() - tickets_before if allowed_insert else 0
        replayed += 1
        if allowed_insert:
            tickets_expected += changed
        refused_by_us = sqlstate == "42501" and "pgsieve:" in output
        if verdict == "refuse" and not refused_by_us:
            failures.append(f"not refused: [{client}] {sql} -> {sqlstate} {output[:200]}")
        if verdict in ("allow", "would_block") and refused_by_us:
            failures.append(f"refused: [{client}] {sql} -> {output[:200]}")
        if client in MARKER_CLIENTS:
            # A marker the client sent itself comes back in error context (LINE 1: …).
            leaked = [m for m in MARKERS if m in output and m not in sql]
            if leaked:
                failures.append(f"leaked {leaked}: [{client}] {sql}")
    assert not failures, "\n".join(failures)
    assert replayed > 350, f"only {replayed} cases replayed"
    assert state_of_database() == before, "a refused statement changed the database"
    assert tickets() == tickets_expected, "rows were added beyond the allowed INSERTs"


def test_corpus_over_the_simple_protocol(corpus_proxy):
    replay(corpus_proxy, extended=False)


def test_corpus_over_the_extended_protocol(corpus_proxy):
    replay(corpus_proxy, extended=True)


def test_corpus_over_asyncpg(corpus_proxy):
    replay(corpus_proxy, extended=True, runner=asyncpg_runner(corpus_proxy))


def test_corpus_over_node_postgres(corpus_proxy):
    replay(corpus_proxy, extended=True, batch=lambda cases: node_results(corpus_proxy, cases))


def connect(proxy, client="cs_bot", **kwargs):
    return psycopg.connect(proxy.dsn(user=client, password=CLIENT_PASSWORD), **kwargs)


def test_refusal_in_the_middle_of_a_pipeline(corpus_proxy):
    with connect(corpus_proxy, autocommit=True) as conn:
        first = conn.cursor()
        refused = conn.cursor()
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
            with conn.pipeline():
                first.execute("SELECT name FROM customers WHERE id = %s", (1,))
                refused.execute("SELECT ssn FROM customers WHERE id = %s", (1,))
                conn.cursor().execute("SELECT 1")
        assert 'column "ssn"' in str(info.value)
        assert first.fetchall() == [("Acme Corp",)]
        assert conn.execute("SELECT 'after'").fetchone() == ("after",)


def test_refusal_inside_a_transaction_aborts_it(corpus_proxy):
    with connect(corpus_proxy) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (3,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM hr.employees")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.rollback()
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_attack_commit_escape_inside_begin_read_only(corpus_proxy):
    # The published bypass of MCP servers that wrap queries in a read-only
    # transaction: end it, then write.
    with connect(corpus_proxy, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute("BEGIN TRANSACTION READ ONLY")
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
            conn.execute("COMMIT; CREATE TABLE escaped (a int); SELECT 1")
        assert "CREATE statements are not allowed" in str(info.value)
        conn.execute("ROLLBACK")
    assert psql("SELECT to_regclass('public.escaped') IS NULL").stdout.strip() == "t"


def test_reload_applies_to_the_next_statement_including_prepared_ones(postgres, tmp_path):
    base = open(os.path.join(CORPUS, "pgsieve.yaml")).read()
    p = proxy_for(tmp_path, base)
    try:
        with connect(p, autocommit=True) as conn:
            for _ in range(3):  # prepared after the first executions
                assert conn.execute("SELECT name FROM customers WHERE id = %s", (2,), prepare=True).fetchone() == ("Globex",)
            # customers.name is no longer granted
            narrowed = base.replace("public.customers: {columns: [id, name, plan, created_at]}",
                                    "public.customers: {columns: [id, plan, created_at]}")
            assert narrowed != base
            with open(p.config_path, "w") as f:
                f.write(f"listen: {{address: 127.0.0.1, port: {p.port}}}\n" +
                        narrowed.replace("  port: 5432 ", f"  port: {os.environ['PGPORT']} "))
            p.process.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while '"event":"reloaded"' not in p.read_log() and time.time() < deadline:
                time.sleep(0.05)
            assert '"event":"reloaded"' in p.read_log()
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
                conn.execute("SELECT name FROM customers WHERE id = %s", (2,), prepare=True)
            assert 'column "name"' in str(info.value)
            assert conn.execute("SELECT plan FROM customers WHERE id = %s", (2,)).fetchone() == ("team",)

            # An invalid file keeps the policy in force.
            with open(p.config_path, "a") as f:
                f.write("unknown_section: {}\n")
            p.process.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while '"event":"reload_failed"' not in p.read_log() and time.time() < deadline:
                time.sleep(0.05)
            assert "unknown_section: unknown key" in p.read_log()
            assert conn.execute("SELECT plan FROM customers WHERE id = %s", (1,)).fetchone() == ("enterprise",)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT name FROM customers")
    finally:
        assert p.stop() == 0, p.read_log()


def test_monitor_mode_relays_and_the_statement_runs(corpus_proxy):
    with connect(corpus_proxy, client="watch_bot", autocommit=True) as conn:
        assert conn.execute("SELECT ssn FROM customers WHERE id = 1").fetchone() == ("078-05-1120",)


def test_max_rows_truncates_with_54000_and_the_session_goes_on(postgres, tmp_path):
    base = open(os.path.join(CORPUS, "pgsieve.yaml")).read()
    limited = base.replace("    statement_timeout: 5s\n", "    statement_timeout: 5s\n    max_rows: 5\n", 1)
    assert limited != base
    p = proxy_for(tmp_path, limited)
    try:
        for cursor_factory in (psycopg.ClientCursor, psycopg.Cursor):  # simple, then extended protocol
            with connect(p, autocommit=True, cursor_factory=cursor_factory) as conn:
                with pytest.raises(psycopg.errors.ProgramLimitExceeded) as info:
                    conn.execute("SELECT day FROM usage_daily").fetchall()
                assert "max_rows=5" in str(info.value)
                assert len(conn.execute("SELECT day FROM usage_daily LIMIT 5").fetchall()) == 5
                assert conn.execute("SELECT count(*) FROM usage_daily").fetchone() == (21,)
    finally:
        assert p.stop() == 0, p.read_log()
