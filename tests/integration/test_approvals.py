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
import shutil
import subprocess
import sqlite3
import threading
import time

import asyncpg
import psycopg
import pytest

from conftest import CLIENT_PASSWORD, psql, run_pgsieve, start_proxy
from test_audit_export import store  # noqa: F401 - a fixture the fleet tests use

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
    psql("DROP TABLE IF EXISTS public.ap_tickets")


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


# -- a fleet: two replicas behind HAProxy, tickets in the central audit store ---------------

FLEET_POLICIES = """\
    policies:
      customer-success:
        statements: [select, update, delete]
        tables:
          public.ap_tickets: {allow: [select, update, delete]}
        approval:
          statements: [update, delete]
          tables: [public.ap_tickets]
          timeout: 60s
"""


class TwoReplicas:
    """Replicas replica-a and replica-b, each shipping to the central store
    as a writer role of its own, behind HAProxy (round robin)."""

    def __init__(self, directory, store_export):
        from conftest import UPSTREAM_PASSWORD, Proxy, free_port, proxy_config
        psql(f"ALTER ROLE ai_readonly PASSWORD '{UPSTREAM_PASSWORD}'")
        names = ["replica-a", "replica-b"]
        exports = [store_export(name) for name in names]  # sets the store's password variable
        env = dict(os.environ, PGSIEVE_TEST_UPSTREAM_PASSWORD=UPSTREAM_PASSWORD,
                   PGSIEVE_TEST_CLIENT_PASSWORD=CLIENT_PASSWORD)
        peer_ports = [free_port() for _ in names]
        self.replicas = []
        for i, name in enumerate(names):
            port = free_port()
            d = os.path.join(directory, name)
            os.makedirs(d)
            peers = ", ".join(f"{{address: '127.0.0.1:{p}', instance: {n}}}" for n, p in zip(names, peer_ports))
            extra = (f"cluster: {{instance_id: {name}, peer_listen: '127.0.0.1:{peer_ports[i]}', "
                     f"peers: [{peers}]}}\n")
            p = Proxy(d, proxy_config(port, policies=FLEET_POLICIES, extra=extra,
                                      audit_extra=f"export: {{{exports[i]}}}\n"), env)
            p.wait_listening(port)
            self.replicas.append(p)
        self.port = free_port()
        config = os.path.join(directory, "haproxy.cfg")
        with open(config, "w") as f:
            f.write("defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 60s\n    timeout server 60s\n"
                    f"listen postgres\n    bind 127.0.0.1:{self.port}\n    balance roundrobin\n" +
                    "".join(f"    server r{i} 127.0.0.1:{p.port}\n" for i, p in enumerate(self.replicas)))
        self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", config], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                psycopg.connect(self.dsn("probe"), autocommit=True).close()
                break
            except psycopg.Error:
                assert time.time() < deadline, "haproxy did not listen"
                time.sleep(0.1)
        self.sessions = 0

    def dsn(self, application_name):
        return (f"host=127.0.0.1 port={self.port} user=cs_bot password={CLIENT_PASSWORD} dbname=app "
                f"sslmode=disable application_name={application_name}")

    def connect_to(self, replica):
        """A session through HAProxy that landed on replica 0 or 1."""
        for _ in range(6):
            self.sessions += 1
            name = f"fleet-{self.sessions}"
            conn = psycopg.connect(self.dsn(name), autocommit=True)
            deadline = time.time() + 5
            while not any(f'"application_name":"{name}"' in p.read_log() for p in self.replicas):
                assert time.time() < deadline
                time.sleep(0.05)
            if f'"application_name":"{name}"' in self.replicas[replica].read_log():
                return conn
            conn.close()
        raise AssertionError(f"HAProxy never sent a session to replica {replica}")

    def wait_log(self, replica, text, timeout=15):
        deadline = time.time() + timeout
        while text not in self.replicas[replica].read_log():
            assert time.time() < deadline, self.replicas[replica].read_log()[-3000:]
            time.sleep(0.1)

    def stop(self):
        self.haproxy.terminate()
        self.haproxy.wait(timeout=10)
        return [p.stop() for p in self.replicas]


@pytest.fixture
def fleet(store, tmp_path):
    from test_audit_export import ensure_role, store_export, store_init
    ensure_role("ap_approver")
    made = store_init("--approver", "ap_approver")
    assert made.returncode == 0, made.stdout + made.stderr
    psql(SETUP + "INSERT INTO public.ap_tickets SELECT g, 'open' FROM generate_series(1, 6) g;")
    f = TwoReplicas(str(tmp_path), store_export)
    yield f
    codes = f.stop()
    assert codes == [0, 0], [p.read_log()[-3000:] for p in f.replicas]


def fleet_approve(ticket, *extra):
    from test_audit_export import STORE_PASSWORD, store_url
    deadline = time.time() + 15
    while True:  # the ticket reaches the store with the replica's next pass
        result = run_pgsieve("approve", ticket, "--db", store_url("ap_approver"), *extra,
                             env=dict(os.environ, PGPASSWORD=STORE_PASSWORD))
        if "no ticket" not in result.stderr or time.time() > deadline:
            return result
        time.sleep(0.2)


def fleet_held(conn, sql, params):
    with pytest.raises(psycopg.Error) as refused:
        conn.execute(sql, params)
    return refused.value.diag


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_a_write_held_on_one_replica_is_approved_and_runs_once_through_another(fleet):
    sql, params = "UPDATE ap_tickets SET status = status || %s WHERE id <= %s", ("+", 2)
    with fleet.connect_to(0) as a:
        diag = fleet_held(a, sql, params)
    assert diag.sqlstate == "PA001" and "(2 rows) needs approval" in diag.message_primary, diag.message_primary
    ticket = ticket_of(diag.message_primary)
    # The person decides in the store, as the approver role; a replica's config alone cannot.
    by_config = run_pgsieve("approve", ticket, "-c", fleet.replicas[0].config_path)
    assert by_config.returncode == 2, by_config.stdout + by_config.stderr
    assert "keeps approvals in the central store: decide as an approver role" in by_config.stderr
    assert f"pgsieve approve {ticket} --db postgresql://ROLE@127.0.0.1:" in by_config.stderr
    shown = fleet_approve(ticket)
    assert shown.returncode == 0, shown.stderr
    assert "UPDATE ap_tickets SET status = status || $1 WHERE id <= $2" in shown.stdout, shown.stdout
    assert "2 rows of public.ap_tickets" in shown.stdout
    fleet.wait_log(1, f'"event":"approval_decided","ticket":"{ticket}"')
    with fleet.connect_to(1) as b:
        assert b.execute(sql, params).rowcount == 2
    assert table() == "1:open+,2:open+,3:open,4:open,5:open,6:open"
    # Once, fleet-wide: the replica that opened it cannot run it again.
    with fleet.connect_to(0) as a:
        diag = fleet_held(a, sql, params)
    assert diag.sqlstate in ("PA001", "PA003"), diag.message_primary
    assert table() == "1:open+,2:open+,3:open,4:open,5:open,6:open"
    used = psql(f"SELECT instance FROM pgsieve_audit.approvals WHERE ticket = '{ticket}' AND kind = 'used'",
                database="audit_store").stdout.split()
    assert used == ["replica-b"]
    decided = psql(f"SELECT decided_by FROM pgsieve_audit.approvals WHERE ticket = '{ticket}' AND kind = 'approved'",
                   database="audit_store").stdout.split()
    assert decided == ["ap_approver"]


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_attack_one_approved_write_sent_through_two_replicas_at_once_runs_once(fleet):
    sql, params = "UPDATE ap_tickets SET status = status || %s WHERE id = %s", ("!", 5)
    with fleet.connect_to(1) as b:
        ticket = ticket_of(fleet_held(b, sql, params).message_primary)
    assert fleet_approve(ticket).returncode == 0
    for replica in (0, 1):
        fleet.wait_log(replica, f'"event":"approval_decided","ticket":"{ticket}"')
    conns = [fleet.connect_to(0), fleet.connect_to(1)]
    outcomes = [None, None]

    def run(i):
        try:
            outcomes[i] = conns[i].execute(sql, params).rowcount
        except psycopg.Error as e:
            outcomes[i] = e.diag.sqlstate

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    assert sorted(map(str, outcomes)) == ["1", "PA003"], outcomes
    assert table() == "1:open,2:open,3:open,4:open,5:open!,6:open"


def test_attack_a_replica_role_cannot_decide_an_approval(store):
    from test_audit_export import STORE_PASSWORD, writer_role
    role = writer_role("replica-x")
    result = psql("SELECT pgsieve_audit.decide_approval('AP-AAAAAA', true, NULL)", user=role,
                  password=STORE_PASSWORD, database="audit_store", check=False)
    assert result.returncode != 0 and "permission denied" in result.stderr, result.stdout + result.stderr
    # Nor append a decision row directly.
    result = psql("INSERT INTO pgsieve_audit.approvals (ticket, kind, detail) VALUES ('AP-AAAAAA', 'approved', '{}')",
                  user=role, password=STORE_PASSWORD, database="audit_store", check=False)
    assert result.returncode != 0 and "permission denied" in result.stderr, result.stdout + result.stderr
