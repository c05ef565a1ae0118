"""The audit shipped off the machine over OTLP/HTTP (issue 15), received by
a server that decodes every request with the OpenTelemetry project's own
generated protobuf code: records carry OpenTelemetry's database attribute
names and pgsieve's own, a traceparent tag becomes the trace id, and a
receiver outage loses nothing — statements go on meanwhile, and once the
receiver is back every row arrives (at least once: repeats are recognised
by their idempotency key)."""

import json
import os
import sqlite3
import subprocess
import time

import psycopg
import pytest

from conftest import free_port, start_proxy

NODE_DIR = os.path.join(os.environ.get("PGSIEVE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../..")),
                        "tests/integration/node")


class Receiver:
    def __init__(self, directory, port=None):
        self.port = port or free_port()
        self.file = os.path.join(directory, "received.jsonl")
        self.process = None

    def start(self):
        self.process = subprocess.Popen(["node", "otlp-receiver.mjs", str(self.port), self.file], cwd=NODE_DIR,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout.readline().strip() == "listening"

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    def records(self):
        if not os.path.exists(self.file):
            return []
        with open(self.file) as f:
            return [json.loads(line) for line in f if line.strip()]


@pytest.fixture
def receiver(tmp_path):
    r = Receiver(str(tmp_path))
    r.start()
    yield r
    if r.process.poll() is None:
        r.stop()


def exporting_proxy(tmp_path, receiver):
    return start_proxy(tmp_path, audit_extra=f"export: {{otlp: {{endpoint: 'http://127.0.0.1:{receiver.port}/v1/logs'}}}}\n",
                       extra="cluster: {instance_id: replica-a}\n")


def statement_ids(db):
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM statements ORDER BY id")]


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_statements_arrive_with_database_semantic_conventions_and_the_trace(postgres, tmp_path, receiver):
    p = exporting_proxy(tmp_path, receiver)
    try:
        with psycopg.connect(p.dsn(sslmode="disable", application_name="export-test"), autocommit=True) as conn:
            conn.execute("SELECT name FROM customers WHERE id = 1 "
                         "/*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/").fetchall()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT ssn FROM customers")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(p.dsn(sslmode="disable", password="wrong"))  # an event: a failed login
        wait_for(lambda: len([r for r in receiver.records() if r.get("scope") == "pgsieve.audit"
                              and "db.query.text" in r.get("attributes", {})]) >= 2, what="two statements")
        wait_for(lambda: any(r["attributes"].get("pgsieve.record.table") == "events" for r in receiver.records()),
                 what="the failed login's event")
    finally:
        assert p.stop() == 0, p.read_log()
    records = receiver.records()
    assert not [r for r in records if "error" in r], records
    statements = {r["attributes"]["db.query.text"]: r for r in records if "db.query.text" in r["attributes"]}
    allowed = next(r for sql, r in statements.items() if sql.startswith("SELECT name"))
    refused = statements["SELECT ssn FROM customers"]
    assert allowed["resource"] == {"service.name": "pgsieve", "service.instance.id": "replica-a"}
    a = allowed["attributes"]
    assert a["db.system.name"] == "postgresql" and a["db.namespace"] == "app"
    assert a["db.operation.name"] == "SELECT" and a["pgsieve.rows"] == 1
    assert a["pgsieve.verdict"] == "allowed" and a["pgsieve.client"] == "cs_bot"
    assert a["pgsieve.application_name"] == "export-test" and len(a["pgsieve.policy_version"]) == 16
    assert a["pgsieve.idempotency_key"] == f"replica-a/statements/{a['pgsieve.record.id']}/{a['pgsieve.record.hash']}"
    assert allowed["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736" and allowed["spanId"] == "00f067aa0ba902b7"
    assert refused["attributes"]["pgsieve.verdict"] == "blocked"
    assert refused["attributes"]["db.response.status_code"] == "42501"
    assert refused["severity"] == 13 and allowed["severity"] == 9
    assert int(allowed["time"]) > 1_700_000_000 * 10**9
    event = next(r for r in records if r["attributes"].get("pgsieve.record.table") == "events")
    assert event["attributes"]["event.name"] == f"pgsieve.{event['body']}"
    assert event["attributes"]["pgsieve.idempotency_key"] == f"replica-a/events/{event['attributes']['pgsieve.record.id']}"


def test_a_receiver_outage_loses_nothing_and_never_holds_statements_up(postgres, tmp_path, receiver):
    p = exporting_proxy(tmp_path, receiver)
    db = os.path.join(p.directory, "audit.db")
    try:
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            for i in range(50):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
            wait_for(lambda: len(receiver.records()) >= 50, what="the first 50")
            receiver.stop()  # the outage
            began = time.time()
            for i in range(50, 550):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
            during = time.time() - began
            wait_for(lambda: '"event":"audit_export_failed"' in p.read_log(), what="the failure to be noticed")
            receiver.start()  # recovery, same port
            wait_for(lambda: set(statement_ids(db)) <= {r["attributes"].get("pgsieve.record.id") for r in
                                                        receiver.records() if r["attributes"].get(
                                                            "pgsieve.record.table") == "statements"},
                     timeout=60, what="every statement to arrive after the outage")
    finally:
        assert p.stop() == 0, p.read_log()
    keys = [r["attributes"]["pgsieve.idempotency_key"] for r in receiver.records()
            if r["attributes"].get("pgsieve.record.table") == "statements"]
    ids = statement_ids(db)
    assert len(ids) >= 550
    assert len(set(keys)) == len(ids)  # every row, and no two keys for one row
    # At least once: a batch may repeat around the outage, never more than a batch's worth.
    assert len(keys) - len(set(keys)) <= 512
    assert during < 30, f"500 statements took {during:.1f} s during the outage"
    with sqlite3.connect(db) as conn:
        cursor = conn.execute("SELECT last_id FROM export_cursors WHERE source = 'statements'").fetchone()
    assert cursor == (max(ids),)
    assert '"event":"audit_export_resumed"' in p.read_log()


def test_an_https_endpoint_is_refused_at_load_naming_the_key(tmp_path):
    from conftest import proxy_config, run_pgsieve
    config = tmp_path / "pgsieve.yaml"
    config.write_text(proxy_config(free_port(), audit_extra="export: {otlp: {endpoint: 'https://collector:4318/v1/logs'}}\n"))
    result = run_pgsieve("check-config", "-c", str(config), env=dict(os.environ, PGSIEVE_TEST_UPSTREAM_PASSWORD="x",
                                                                      PGSIEVE_TEST_CLIENT_PASSWORD="y"))
    assert result.returncode != 0
    assert "audit.export.otlp.endpoint" in result.stderr + result.stdout
    assert "only http://" in result.stderr + result.stdout
