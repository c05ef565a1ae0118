"""The audit log through the live proxy (DESIGN.md §4): the contract columns
after a known workload, nothing lost at SIGTERM after a burst, tampering
detected by `pgsieve audit verify`, on_failure: block, store_sql: normalized,
and the review commands on what was written."""

import json
import os
import sqlite3
import subprocess
import time

import psycopg
import pytest

from conftest import free_port, proxy_config, run_pgsieve, start_proxy


def rows(db, sql, *params):
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, params)]


def stop(proxy):
    assert proxy.stop() == 0, proxy.read_log()
    return os.path.join(proxy.directory, "audit.db")


@pytest.fixture(scope="module")
def workload(postgres, tmp_path_factory):
    """A known workload through pgsieve, then the audit database it left."""
    proxy = start_proxy(tmp_path_factory.mktemp("audit"))
    try:
        with psycopg.connect(proxy.dsn(application_name="audit-test"), autocommit=True) as conn:
            conn.execute("SELECT id, name FROM customers ORDER BY id").fetchall()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT ssn FROM customers")
            with pytest.raises(psycopg.errors.DivisionByZero):
                conn.execute("SELECT 1/0")
            conn.execute("/* tool='query', request_id='r-42' */ SELECT count(*) FROM usage_daily").fetchone()
            conn.execute("SELECT 1; SELECT plan FROM customers WHERE id = 1", prepare=False)
            conn.execute("SELECT name FROM customers WHERE id = %s", (2,), prepare=True).fetchone()
            with conn.cursor().copy("COPY (SELECT id FROM customers) TO STDOUT") as copy:
                copied = sum(len(bytes(b)) for b in copy)
            assert copied > 0
    finally:
        db = stop(proxy)
    return db


def test_every_statement_is_recorded_with_the_contract_columns(workload):
    statements = rows(workload, "SELECT * FROM statements ORDER BY id")
    by_sql = {s["sql"]: s for s in statements}

    allowed = by_sql["SELECT id, name FROM customers ORDER BY id"]
    assert allowed["verdict"] == "allowed"
    assert allowed["command_tag"].startswith("SELECT ") and allowed["rows"] >= 2 and allowed["bytes"] > 0
    assert json.loads(allowed["tables"]) == ["public.customers"]
    assert sorted(json.loads(allowed["columns"])) == ["public.customers.id", "public.customers.name"]
    assert allowed["client"] == "cs_bot" and allowed["policy"] == "customer-success"
    assert allowed["protocol"] == "simple" and allowed["sqlstate"] is None
    assert json.loads(allowed["tags"]) == {"application_name": "audit-test"}
    assert allowed["ts"].endswith("Z") and len(allowed["ts"]) == len("2026-11-24T14:33:45.123456Z")
    assert allowed["fingerprint"] and allowed["duration_us"] >= 0
    assert len(allowed["policy_version"]) == 16

    refused = by_sql["SELECT ssn FROM customers"]
    assert refused["verdict"] == "blocked" and refused["rule"] == "column"
    assert "ssn" in refused["reason"] and refused["sqlstate"] == "42501"
    assert refused["rows"] == 0 and refused["command_tag"] is None

    failed = by_sql["SELECT 1/0"]
    assert failed["verdict"] == "allowed" and failed["sqlstate"] == "22012"
    assert failed["error"] == "division by zero"

    tagged = next(s for s in statements if "r-42" in s["sql"])
    assert json.loads(tagged["tags"]) == {"tool": "query", "request_id": "r-42", "application_name": "audit-test"}

    # A multi-statement Query: one row per statement, each with its own text.
    assert by_sql["SELECT 1"]["command_tag"] == "SELECT 1"
    assert by_sql[" SELECT plan FROM customers WHERE id = 1"]["rows"] == 1

    extended = next(s for s in statements if s["sql"] == "SELECT name FROM customers WHERE id = $1")
    assert extended["protocol"] == "extended" and extended["statement_name"]
    assert extended["rows"] == 1 and extended["command_tag"] == "SELECT 1"

    copy = next(s for s in statements if s["sql"].startswith("COPY"))
    assert copy["command_tag"].startswith("COPY ") and copy["rows"] >= 2

    session = rows(workload, "SELECT * FROM sessions")
    assert len(session) == 1
    s = session[0]
    assert s["client"] == "cs_bot" and s["application_name"] == "audit-test" and s["database"] == "app"
    assert s["client_addr"] == "127.0.0.1" and s["tls"] == 0
    assert s["ended_at"] >= s["started_at"] and s["end_reason"]
    assert {st["session_id"] for st in statements} == {s["id"]}

    versions = rows(workload, "SELECT * FROM policy_versions")
    assert [v["version"] for v in versions] == [allowed["policy_version"]]
    assert "customer-success" in versions[0]["source"]


def test_audit_verify_accepts_the_chain_then_names_the_tampered_row(workload, tmp_path):
    result = run_pgsieve("audit", "verify", "--db", workload)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "intact" in result.stdout

    copy = str(tmp_path / "tampered.db")
    with sqlite3.connect(workload) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as conn:
        victim = conn.execute("SELECT id FROM statements WHERE verdict = 'blocked' LIMIT 1").fetchone()[0]
        conn.execute("UPDATE statements SET verdict = 'allowed' WHERE id = ?", (victim,))
    result = run_pgsieve("audit", "verify", "--db", copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"statement {victim} does not match" in result.stdout

    with sqlite3.connect(copy) as conn:  # hide the change by deleting the row instead
        conn.execute("DELETE FROM statements WHERE id = ?", (victim,))
    result = run_pgsieve("audit", "verify", "--db", copy)
    assert result.returncode == 1
    assert f"does not match the hash of row {victim - 1}" in result.stdout


def test_review_commands_answer_what_was_refused_for_whom_and_why(workload):
    listed = run_pgsieve("audit", "list", "--db", workload, "--blocked")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["statements"]
    assert lines[1].split()[:5] == ["id", "ts", "client", "verdict", "rule"]
    assert "SELECT ssn FROM customers" in listed.stdout and "(1 row)" in listed.stdout

    as_json = json.loads(run_pgsieve("audit", "list", "--db", workload, "--table", "customers", "--json").stdout)
    assert as_json and all("customers" in r["sql"] for r in as_json)
    ids = [r["id"] for r in as_json]
    assert ids == sorted(ids, reverse=True)

    shown = run_pgsieve("audit", "show", "--db", workload, str(as_json[-1]["id"]))
    assert shown.returncode == 0 and "-- statement" in shown.stdout and "-- session" in shown.stdout
    assert "-- policy version" in shown.stdout and "customer-success" in shown.stdout

    stats = run_pgsieve("audit", "stats", "--db", workload, "--since", "1h")
    assert stats.returncode == 0, stats.stderr
    for title in ("verdicts by client", "refusals by rule", "top refused statements", "top tables", "by hour"):
        assert title in stats.stdout
    by_client = json.loads(run_pgsieve("audit", "stats", "--db", workload, "--json").stdout)["verdicts by client"]
    assert by_client[0]["client"] == "cs_bot" and by_client[0]["blocked"] == 1

    exported = run_pgsieve("audit", "export", "--db", workload, "--format", "jsonl").stdout.splitlines()
    assert len(exported) == rows(workload, "SELECT count(*) AS n FROM statements")[0]["n"]
    assert json.loads(exported[0])["hash"]
    csv_out = run_pgsieve("audit", "export", "--db", workload, "--format", "csv", "--blocked").stdout
    assert csv_out.splitlines()[0].startswith("id,session_id,ts,client")
    assert len(csv_out.strip().splitlines()) == 2

    bad = run_pgsieve("audit", "list", "--db", workload, "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr
    missing = run_pgsieve("audit", "list", "--db", "/nonexistent/audit.db")
    assert missing.returncode == 2 and "/nonexistent/audit.db" in missing.stderr


def test_nothing_is_lost_when_sigterm_follows_a_burst(postgres, tmp_path):
    proxy = start_proxy(tmp_path)
    burst = 5000
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        with conn.pipeline():
            for i in range(burst):
                conn.execute(f"SELECT {i}", prepare=False)
    db = stop(proxy)  # SIGTERM at once: the queue must be drained before exit
    assert rows(db, "SELECT count(*) AS n FROM statements WHERE sql LIKE 'SELECT %'")[0]["n"] == burst
    assert run_pgsieve("audit", "verify", "--db", db).returncode == 0


def test_an_unwritable_audit_log_refuses_statements_until_it_can_be_written(postgres, tmp_path):
    proxy = start_proxy(tmp_path, audit_extra="on_failure: block\nflush_interval: 20ms\n")
    db = os.path.join(proxy.directory, "audit.db")
    try:
        with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            prepared = "SELECT name FROM customers WHERE id = %s"
            assert conn.execute(prepared, (1,), prepare=True).fetchone()
            # Another process takes the write lock: pgsieve's batches cannot commit.
            locker = sqlite3.connect(db, isolation_level=None, timeout=5)
            locker.execute("BEGIN EXCLUSIVE")
            try:
                deadline = time.time() + 15
                while True:
                    try:
                        conn.execute("SELECT 2").fetchone()
                    except psycopg.errors.IoError as e:
                        assert "audit log cannot be written" in str(e)
                        assert e.diag.message_hint
                        break
                    assert time.time() < deadline, "statements were never refused: " + proxy.read_log()
                    time.sleep(0.2)
                # Not a way around it: a statement prepared before runs nothing either.
                with pytest.raises(psycopg.errors.IoError):
                    conn.execute(prepared, (1,), prepare=True)
            finally:
                locker.execute("ROLLBACK")
                locker.close()
            deadline = time.time() + 15
            while True:
                try:
                    assert conn.execute("SELECT 3").fetchone() == (3,)
                    break
                except psycopg.errors.IoError:
                    assert time.time() < deadline, "statements stayed refused: " + proxy.read_log()
                    time.sleep(0.2)
    finally:
        stop(proxy)
    log = proxy.read_log()
    assert "audit_write_failed" in log and "audit_writable" in log
    assert rows(db, "SELECT count(*) AS n FROM statements WHERE sql = 'SELECT 1'")[0]["n"] == 1
    assert rows(db, "SELECT count(*) AS n FROM statements WHERE sql = 'SELECT 3' AND verdict = 'allowed'")[0]["n"] == 1
    # The refusals themselves were kept and written once the file could be.
    refused = rows(db, "SELECT * FROM statements WHERE rule = 'audit'")
    assert refused and all(r["verdict"] == "blocked" and r["sqlstate"] == "58030" for r in refused)


def test_store_sql_normalized_keeps_no_literals(postgres, tmp_path):
    proxy = start_proxy(tmp_path, audit_extra="store_sql: normalized\n")
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        conn.execute("SELECT name FROM customers WHERE plan = 'secret-plan-literal'").fetchall()
    db = stop(proxy)
    stored = [r["sql"] for r in rows(db, "SELECT sql FROM statements")]
    assert stored == ["SELECT name FROM customers WHERE plan = $1"]


def test_an_unusable_audit_file_stops_startup_with_its_name(postgres, tmp_path):
    config = tmp_path / "pgsieve.yaml"
    config.write_text(proxy_config(free_port()).replace("sqlite: audit.db", "sqlite: /nonexistent-dir/audit.db"))
    env = dict(os.environ, PGSIEVE_TEST_UPSTREAM_PASSWORD="x", PGSIEVE_TEST_CLIENT_PASSWORD="y")
    result = run_pgsieve("serve", "-c", str(config), env=env)
    assert result.returncode != 0
    assert "/nonexistent-dir/audit.db" in result.stderr and "not serving" in result.stderr


def test_failed_logins_and_refused_startups_are_events(postgres, tmp_path):
    proxy = start_proxy(tmp_path)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(proxy.dsn(password="wrong"))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(proxy.dsn(dbname="postgres"))
    db = stop(proxy)
    events = rows(db, "SELECT kind, detail FROM events ORDER BY id")
    kinds = [e["kind"] for e in events]
    assert "auth_failed" in kinds and "startup_refused" in kinds
    failed = json.loads(next(e["detail"] for e in events if e["kind"] == "auth_failed"))
    assert failed["user"] == "cs_bot" and failed["sqlstate"] == "28P01"
    refused = json.loads(next(e["detail"] for e in events if e["kind"] == "startup_refused"))
    assert refused["database"] == "postgres" and refused["sqlstate"] == "3D000"
