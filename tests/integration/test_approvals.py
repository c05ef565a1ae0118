"""Writes held for a person, end to end: a held UPDATE or DELETE is counted
by PostgreSQL in a transaction pgsieve rolls back and refused with a ticket
(PA001) that names the row count; the policy's webhook is told, signed with
HMAC-SHA-256; `pgsieve approve` shows what the ticket binds and records the
decision; the same statement sent again then runs once, and only if it
changes exactly the approved rows. Rejected (PA002), altered (another row
count: PA003; other parameters: a new ticket), reused and expired re-runs
are refused with the reason. Through psycopg and asyncpg, audited."""

import asyncio
import hashlib
import hmac
import http.server
import json
import os
import re
import subprocess
import sqlite3
import threading
import time

import asyncpg
import psycopg
import pytest

from conftest import CLIENT_PASSWORD, psql, run_pgsieve, start_proxy

SECRET = "webhook-test-secret"

SETUP = """
DROP TABLE IF EXISTS public.ap_tickets;
CREATE TABLE public.ap_tickets (id int PRIMARY KEY, status text NOT NULL);
GRANT SELECT, UPDATE, DELETE ON public.ap_tickets TO ai_readonly;
"""


def policies(hook_port, timeout="30s"):
    return f"""\
    policies:
      customer-success:
        owner: cs@example.com
        statements: [select, update, delete]
        tables:
          public.ap_tickets: {{allow: [select, update, delete]}}
          public.customers: {{columns: [id, name]}}
        approval:
          statements: [update, delete]
          tables: [public.ap_tickets]
          timeout: {timeout}
          webhook_url: http://127.0.0.1:{hook_port}/hooks/pgsieve
          webhook_secret_env: PGSIEVE_TEST_HOOK_SECRET
"""


class Hook(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append((self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def hook():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def start(tmp_path, hook, timeout="30s"):
    os.environ["PGSIEVE_TEST_HOOK_SECRET"] = SECRET
    return start_proxy(tmp_path, policies=policies(hook.server_address[1], timeout))


@pytest.fixture(scope="module")
def held(postgres, hook, tmp_path_factory):
    psql(SETUP)
    p = start(tmp_path_factory.mktemp("approvals"), hook)
    yield p
    assert p.stop() == 0, p.read_log()
    psql("DROP TABLE public.ap_tickets")


@pytest.fixture
def rows(held):
    psql("DELETE FROM public.ap_tickets; INSERT INTO public.ap_tickets SELECT g, 'open' FROM generate_series(1, 6) g")
    return held


def table():
    return psql("SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM public.ap_tickets").stdout.strip()


def ticket_of(message):
    found = re.search(r"ticket (AP-[A-Z0-9]{6})", message)
    assert found, message
    return found.group(1)


def held_write(proxy, sql, params):
    """Sends the write; returns the refusal's diagnostics."""
    with psycopg.connect(proxy.dsn(sslmode="disable"), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as refused:
            conn.execute(sql, params)
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the session goes on
    return refused.value.diag


def approve(proxy, ticket, *extra):
    # The ticket reaches the audit file with the sink's next batch.
    deadline = time.time() + 10
    while True:
        result = run_pgsieve("approve", ticket, "--db", os.path.join(proxy.directory, "audit.db"), "--by",
                             "dba@example.com", *extra)
        if "no ticket" not in result.stderr or time.time() > deadline:
            return result
        time.sleep(0.1)


def wait_decided(proxy, ticket, timeout=10):
    deadline = time.time() + timeout
    while f'"event":"approval_decided","ticket":"{ticket}"' not in proxy.read_log():
        assert time.time() < deadline, proxy.read_log()[-3000:]
        time.sleep(0.1)


def events(proxy, kind, ticket=None, timeout=10):
    """The audit events of a kind (of one ticket: once the sink has written one)."""
    deadline = time.time() + timeout
    while True:
        with sqlite3.connect(os.path.join(proxy.directory, "audit.db")) as conn:
            found = [json.loads(d) for (d,) in conn.execute("SELECT detail FROM events WHERE kind = ? ORDER BY id",
                                                            (kind,))]
        if ticket is None or any(e.get("ticket") == ticket for e in found) or time.time() > deadline:
            return found
        time.sleep(0.1)


def test_held_write_is_counted_refused_with_a_ticket_and_the_webhook_is_told(rows):
    before = table()
    Hook.received.clear()
    diag = held_write(rows, "UPDATE ap_tickets SET status = %s WHERE id <= %s", ("closed", 3))
    assert diag.sqlstate == "PA001"
    assert re.match(r'pgsieve: this UPDATE on "public.ap_tickets" \(3 rows\) needs approval; ticket AP-[A-Z0-9]{6}; '
                    r"once approved, run the same statement again within 30s", diag.message_primary), diag.message_primary
    assert "pgsieve approve AP-" in diag.message_hint
    ticket = ticket_of(diag.message_primary)
    assert table() == before  # counted in a transaction that was rolled back
    # The webhook: the ticket, signed.
    deadline = time.time() + 10
    while not Hook.received and time.time() < deadline:
        time.sleep(0.05)
    path, headers, body = Hook.received[-1]
    assert path == "/hooks/pgsieve" and headers["Content-Type"] == "application/json"
    assert headers["X-Pgsieve-Signature"] == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    sent = json.loads(body)
    assert sent["ticket"] == ticket and sent["rows"] == 3 and sent["client"] == "cs_bot"
    # psycopg sends the text as text and the integer in binary (int2, shown as hex).
    assert sent["sql"] == "UPDATE ap_tickets SET status = $1 WHERE id <= $2"
    assert sent["parameters"] == ["closed", "\\x0003"]
    assert sent["approve"] == f"pgsieve approve {ticket}"
    # Sent again before a decision: still held, same ticket, no new count.
    again = held_write(rows, "UPDATE ap_tickets SET status = %s WHERE id <= %s", ("closed", 3))
    assert again.sqlstate == "PA001" and "waiting for approval, ticket " + ticket in again.message_primary


def test_approved_write_runs_once_with_exactly_the_approved_rows(rows):
    sql, params = "DELETE FROM ap_tickets WHERE id > %s", (4,)
    ticket = ticket_of(held_write(rows, sql, params).message_primary)
    shown = approve(rows, ticket)
    assert shown.returncode == 0, shown.stderr
    assert "DELETE FROM ap_tickets WHERE id > $1" in shown.stdout and '["\\\\x0004"]' in shown.stdout, shown.stdout
    assert "2 rows of public.ap_tickets" in shown.stdout
    wait_decided(rows, ticket)
    with psycopg.connect(rows.dsn(sslmode="disable"), autocommit=True) as conn:
        assert conn.execute(sql, params).rowcount == 2
    assert table() == "1:open,2:open,3:open,4:open"
    # Once: the same statement again is a new request.
    psql("INSERT INTO public.ap_tickets VALUES (5, 'open'), (6, 'open')")
    diag = held_write(rows, sql, params)
    assert diag.sqlstate == "PA001" and ticket_of(diag.message_primary) != ticket
    assert ticket in [e["ticket"] for e in events(rows, "approval_used", ticket)]
    # Deciding twice is refused.
    assert approve(rows, ticket).returncode == 1


def test_rejected_write_is_refused_with_the_reason(rows):
    sql, params = "UPDATE ap_tickets SET status = %s WHERE id = %s", ("spam", 1)
    ticket = ticket_of(held_write(rows, sql, params).message_primary)
    result = approve(rows, ticket, "--reject", "--reason", "customer 1 is not spam")
    assert result.returncode == 0, result.stderr
    wait_decided(rows, ticket)
    diag = held_write(rows, sql, params)
    assert diag.sqlstate == "PA002"
    assert diag.message_primary.startswith(f'pgsieve: ticket {ticket} for this UPDATE on "public.ap_tickets" was '
                                           "rejected by dba@example.com: customer 1 is not spam; hint: ")
    assert table().startswith("1:open")


def test_a_rerun_that_changes_another_number_of_rows_is_rolled_back(rows):
    sql, params = "UPDATE ap_tickets SET status = %s WHERE status = %s", ("triaged", "open")
    ticket = ticket_of(held_write(rows, sql, params).message_primary)  # 6 rows
    assert approve(rows, ticket).returncode == 0
    wait_decided(rows, ticket)
    psql("INSERT INTO public.ap_tickets VALUES (7, 'open')")  # now it would change 7
    diag = held_write(rows, sql, params)
    assert diag.sqlstate == "PA003"
    assert f"changed 7 rows, but ticket {ticket} approved 6; it was rolled back" in diag.message_primary
    assert "triaged" not in table()
    # Other parameters are another statement: a ticket of their own.
    other = held_write(rows, sql, ("reviewed", "open"))
    assert other.sqlstate == "PA001" and ticket_of(other.message_primary) != ticket


def test_a_write_changing_no_rows_needs_no_approval(rows):
    with psycopg.connect(rows.dsn(sslmode="disable"), autocommit=True) as conn:
        assert conn.execute("DELETE FROM ap_tickets WHERE id = %s", (99,)).rowcount == 0


def test_asyncpg_prepared_statement_approved(rows):
    async def run(expect_ticket):
        conn = await asyncpg.connect(host=rows.host, port=rows.port, user="cs_bot", password=CLIENT_PASSWORD,
                                     database="app", ssl=False)
        try:
            stmt = await conn.prepare("UPDATE ap_tickets SET status = $1 WHERE id <= $2 RETURNING id")
            if expect_ticket:
                with pytest.raises(asyncpg.PostgresError) as refused:
                    await stmt.fetch("done", 2)
                assert refused.value.sqlstate == "PA001"
                return ticket_of(str(refused.value))
            return sorted(r["id"] for r in await stmt.fetch("done", 2))
        finally:
            await conn.close()

    ticket = asyncio.run(run(True))
    assert approve(rows, ticket).returncode == 0
    wait_decided(rows, ticket)
    assert asyncio.run(run(False)) == [1, 2]
    assert table().startswith("1:done,2:done,3:open")


def test_audit_records_the_ticket_its_decision_and_its_use(rows):
    sql, params = "DELETE FROM ap_tickets WHERE id = %s", (6,)
    ticket = ticket_of(held_write(rows, sql, params).message_primary)
    assert approve(rows, ticket).returncode == 0
    wait_decided(rows, ticket)
    with psycopg.connect(rows.dsn(sslmode="disable"), autocommit=True) as conn:
        conn.execute(sql, params)
    requested = [e for e in events(rows, "approval_requested", ticket) if e["ticket"] == ticket]
    assert requested and requested[0]["rows"] == 1 and requested[0]["command"] == "DELETE"
    decided = [e for e in events(rows, "approval_decided", ticket) if e["ticket"] == ticket]
    assert decided and decided[0]["decision"] == "approved" and decided[0]["decided_by"] == "dba@example.com"
    deadline = time.time() + 10
    while True:
        with sqlite3.connect(os.path.join(rows.directory, "audit.db")) as conn:
            found = conn.execute("SELECT verdict, rule, reason FROM statements WHERE sql = ? ORDER BY id",
                                 ("DELETE FROM ap_tickets WHERE id = $1",)).fetchall()
        if any(r[2] and ticket in r[2] and r[0] == "allowed" for r in found) or time.time() > deadline:
            break
        time.sleep(0.1)
    assert ("blocked", "approval") in [(r[0], r[1]) for r in found]
    assert any(r[0] == "allowed" and r[2] == f"approved: ticket {ticket}" for r in found), found


def test_an_expired_ticket_cannot_be_approved(postgres, hook, tmp_path):
    psql(SETUP + "INSERT INTO public.ap_tickets VALUES (1, 'open');")
    proxy = start(tmp_path, hook, timeout="2s")
    try:
        ticket = ticket_of(held_write(proxy, "DELETE FROM ap_tickets WHERE id = %s", (1,)).message_primary)
        time.sleep(2.2)
        late = approve(proxy, ticket)
        assert late.returncode == 1 and "expired" in late.stderr
        # Sent again: a new ticket.
        diag = held_write(proxy, "DELETE FROM ap_tickets WHERE id = %s", (1,))
        assert diag.sqlstate == "PA001" and ticket_of(diag.message_primary) != ticket
    finally:
        assert proxy.stop() == 0, proxy.read_log()


def test_psql_simple_query_held_then_approved(rows):
    env = dict(os.environ, PGPASSWORD=CLIENT_PASSWORD)
    dsn = rows.dsn(sslmode="disable")
    sql = "UPDATE ap_tickets SET status = 'escalated' WHERE id IN (2, 3)"
    held = subprocess.run(["psql", dsn, "-X", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                          env=env)
    assert held.returncode != 0 and "(2 rows) needs approval; ticket AP-" in held.stderr, held.stderr
    ticket = ticket_of(held.stderr)
    assert approve(rows, ticket).returncode == 0
    wait_decided(rows, ticket)
    ran = subprocess.run(["psql", dsn, "-X", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True, env=env)
    assert ran.returncode == 0 and ran.stdout.strip() == "UPDATE 2", ran.stderr
    assert table() == "1:open,2:escalated,3:escalated,4:open,5:open,6:open"
