"""What the drivers' own test suites found through pgsieve (issue 12), each a
test with the real driver: a client recognises its own notifications and its
backend pid; a cancel sent while idle never lands on the next statement; a
backend PostgreSQL terminates yields one FATAL, PostgreSQL's; wide Parse
messages pass; a Query pipelined with the SCRAM final message is answered;
idle_in_transaction_session_timeout narrows the session; SCRAM channel
binding over TLS; and a 150 MB row streams through in bounded memory."""

import os
import socket
import struct
import subprocess
import threading
import time

import psycopg
import pytest

from conftest import (CLIENT_PASSWORD, UPSTREAM_PASSWORD, make_certificate, psql, release_only, rss_kib, scram_login,
                      start_proxy)

MONITOR = """\
    policies:
      customer-success:
        mode: monitor
        statements: [select, explain]
        tables:
          public.customers: {columns: [id, name, plan, created_at]}
"""


@pytest.fixture(scope="module")
def monitor(postgres, tmp_path_factory):
    p = start_proxy(tmp_path_factory.mktemp("monitor"), policies=MONITOR)
    yield p
    assert p.stop() == 0, p.read_log()


@pytest.fixture(scope="module")
def enforce(postgres, tmp_path_factory):
    directory = tmp_path_factory.mktemp("enforce")
    cert, key = make_certificate(str(directory))
    # A driver's Parse of 40,000 parameters is a 269 KB statement: over the
    # 256 KiB default, so this proxy raises listen.max_statement_bytes.
    p = start_proxy(directory, tls={"cert": cert, "key": key, "mode": "prefer"},
                    listen_extra="max_statement_bytes: 1048576\n")
    yield p
    assert p.stop() == 0, p.read_log()


def test_notification_pid_and_backend_pid_are_the_clients_own(monitor):
    with psycopg.connect(monitor.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == conn.info.backend_pid
        received = []
        conn.add_notify_handler(received.append)
        conn.execute("LISTEN pgsieve_ch")
        conn.execute("NOTIFY pgsieve_ch, 'hello'")
        conn.execute("SELECT 1")
        assert [(n.channel, n.payload) for n in received] == [("pgsieve_ch", "hello")]
        assert received[0].pid == conn.info.backend_pid


def test_cancel_while_idle_never_cancels_the_next_statement(monitor):
    with psycopg.connect(monitor.dsn(), autocommit=True) as conn:
        for _ in range(20):
            conn.cancel()  # libpq's PQcancel: returns once PostgreSQL processed it
            assert conn.execute("SELECT count(*) FROM generate_series(1, 200000)").fetchone() == (200000,)


def test_a_terminated_backend_gives_one_fatal_postgresqls(monitor):
    conn = psycopg.connect(monitor.dsn(), autocommit=True)
    pid = conn.info.backend_pid
    psql(f"SELECT pg_terminate_backend({pid})")
    with pytest.raises(psycopg.OperationalError) as info:
        for _ in range(50):
            conn.execute("SELECT 1")
            time.sleep(0.05)
    text = str(info.value)
    assert "terminating connection due to administrator command" in text
    assert "pgsieve: the upstream server closed" not in text
    conn.close()


def test_node_postgres_sees_one_error_event_when_postgresql_terminates_the_backend(monitor):
    script = r"""
import pg from 'pg';
const c = new pg.Client({host: '127.0.0.1', port: Number(process.env.PORT), user: 'cs_bot',
                         password: process.env.PW, database: 'app'});
const errors = [];
c.on('error', (e) => { errors.push(e.message); });
await c.connect();
const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
console.log('PID ' + pid);
await new Promise((resolve) => process.stdin.once('data', resolve));
await new Promise((resolve) => setTimeout(resolve, 1000));
console.log('ERRORS ' + errors.length + ' ' + JSON.stringify(errors));
process.exit(0);
"""
    directory = os.path.join(os.path.dirname(__file__), "node")
    path = os.path.join(directory, "terminate_probe.mjs")
    with open(path, "w") as f:
        f.write(script)
    try:
        proc = subprocess.Popen(["node", path], cwd=directory, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, env=dict(os.environ, PORT=str(monitor.port), PW=CLIENT_PASSWORD))
        pid = int(proc.stdout.readline().split()[1])
        psql(f"SELECT pg_terminate_backend({pid})")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out = proc.stdout.read()
        assert proc.wait(timeout=20) == 0
        # As with PostgreSQL itself: its FATAL, then "Connection terminated unexpectedly".
        assert "ERRORS 2" in out and "pgsieve" not in out, out
    finally:
        os.remove(path)


def test_parse_with_40000_parameters(enforce):
    values = list(range(40000))
    sql = "SELECT count(*) FROM customers WHERE id IN (" + ",".join(["%s"] * len(values)) + ")"
    with psycopg.connect(enforce.dsn(), autocommit=True) as conn:
        assert conn.execute(sql, values).fetchone() == (3,)


def test_idle_in_transaction_session_timeout_narrows_the_session(enforce):
    with psycopg.connect(enforce.dsn(options="-c idle_in_transaction_session_timeout=20s"), autocommit=True) as conn:
        assert conn.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("20s",)


def test_scram_channel_binding_over_tls(enforce):
    with psycopg.connect(enforce.dsn(sslmode="require", channel_binding="require")) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_query_sent_with_the_scram_final_message_is_answered(enforce):
    with socket.create_connection(("127.0.0.1", enforce.port), timeout=10) as sock:
        read = scram_login(sock, "cs_bot", CLIENT_PASSWORD, then=b"Q" + struct.pack("!I", 4 + 9) + b"SELECT 7\0")
        kinds = []
        deadline = time.time() + 10
        while b"C" not in kinds and time.time() < deadline:
            kind, body = read()
            kinds.append(kind)
            if kind == b"D":
                assert body.endswith(b"7")
        assert b"C" in kinds, kinds


@release_only
def test_a_150_mb_row_streams_through_in_bounded_memory(enforce, capsys):
    pid = enforce.process.pid
    with psycopg.connect(enforce.dsn(), autocommit=True) as conn:
        conn.execute("SELECT 1").fetchone()
        before = rss_kib(pid)
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            value = conn.execute("SELECT repeat('x', 150000000)").fetchone()[0]
        finally:
            done.set()
            sampler.join()
        assert len(value) == 150000000
    growth = peak[0] - before
    with capsys.disabled():
        print(f"\n150 MB row: pgsieve RSS {before} KiB before, peak {peak[0]} KiB (+{growth} KiB)")
    assert growth < 16 * 1024, f"pgsieve grew by {growth} KiB relaying one row"


MONITOR_WRITES = """\
    policies:
      customer-success:
        mode: monitor
        statements: [select, insert]
        max_rows: 10
        tables:
          public.customers: {columns: [id, name, plan, created_at]}
"""


def outcome(conn, sql):
    """What a client sees of one statement: rows, or every field of the error."""
    try:
        cur = conn.execute(sql)
        return ("rows", cur.fetchall() if cur.description else cur.statusmessage)
    except psycopg.Error as e:
        d = e.diag
        # Each backend has its own temporary schema (pg_temp_3, pg_temp_4): the one difference expected.
        schema = "pg_temp" if (d.schema_name or "").startswith("pg_temp_") else d.schema_name
        return ("error", d.sqlstate, d.message_primary, d.message_detail, d.message_hint, d.context,
                d.statement_position, schema, d.table_name, d.column_name, d.constraint_name)


def test_monitor_mode_relays_every_reply_byte_for_byte_where_enforce_would_refuse_or_redact(postgres, tmp_path):
    """Monitor mode exists to roll a policy out without changing what clients
    see. It once withheld duplicate-key DETAILs and PL/pgSQL CONTEXTs and cut
    results at max_rows, depending on the timing of catalog refreshes."""
    proxy = start_proxy(tmp_path, policies=MONITOR_WRITES)
    statements = [
        "CREATE TEMP TABLE m (id int PRIMARY KEY, ssn text CHECK (ssn <> 'bad'))",
        "INSERT INTO m VALUES (1, '078-05-1120')",
        "INSERT INTO m VALUES (1, '219-09-9999')",             # DETAIL prints the key
        "INSERT INTO m VALUES (2, 'bad')",                     # DETAIL prints the failing row
        "SELECT id, ssn FROM customers ORDER BY id",           # a column enforce refuses
        "DO $$ BEGIN RAISE EXCEPTION 'boom %', (SELECT ssn FROM customers WHERE id = 1); END $$",
        "SELECT x FROM generate_series(1, 50) x",              # over max_rows
        "SELECT 1/0",
        "SELECT * FROM hr.employees",                          # a table the policy does not list
        "SELECT * FROM no_such_table",
    ]
    try:
        with psycopg.connect(proxy.dsn(), autocommit=True) as through, \
                psycopg.connect(host=postgres["host"], port=postgres["port"], user="ai_readonly",
                                password=UPSTREAM_PASSWORD, dbname="app", autocommit=True) as direct:
            for sql in statements:
                assert outcome(through, sql) == outcome(direct, sql), sql
    finally:
        assert proxy.stop() == 0, proxy.read_log()
    # The audit says what enforce would have done.
    import sqlite3
    db = sqlite3.connect(os.path.join(proxy.directory, "audit.db"))
    verdicts = dict(db.execute("SELECT sql, verdict FROM statements"))
    assert verdicts["SELECT id, ssn FROM customers ORDER BY id"] == "would_block"
    assert verdicts["SELECT * FROM hr.employees"] == "would_block"
