"""The admin endpoint: /metrics in Prometheus' text format counts what the
sessions did; /healthz says whether statements can be served."""

import sqlite3
import time
import urllib.error
import urllib.request

import psycopg
import pytest

from conftest import free_port, start_proxy


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def samples(text):
    """{'name{labels}': value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_metrics_and_healthz(postgres, tmp_path):
    admin_port = free_port()
    proxy = start_proxy(tmp_path, extra=f"admin: {{address: 127.0.0.1, port: {admin_port}}}\n",
                        audit_extra="flush_interval: 20ms\n")
    try:
        status, _, body = get(admin_port, "/healthz")
        assert (status, body) == (200, "ok\n")

        with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
            for _ in range(3):
                conn.execute("SELECT id FROM customers").fetchall()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT ssn FROM customers")
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(proxy.dsn(password="wrong"))

            status, content_type, body = get(admin_port, "/metrics")
            assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
            m = samples(body)
            assert m["pgsieve_connections"] >= 1
            assert m['pgsieve_statements_total{policy="customer-success",verdict="allowed"}'] >= 3
            assert m['pgsieve_statements_total{policy="customer-success",verdict="blocked"}'] == 1
            assert m["pgsieve_auth_failures_total"] == 1
            assert m["pgsieve_decision_seconds_count"] >= 4
            assert m['pgsieve_decision_seconds_bucket{le="+Inf"}'] == m["pgsieve_decision_seconds_count"]
            assert m["pgsieve_upstream_seconds_count"] >= 3
            assert m["pgsieve_catalog_loaded"] == 1 and m["pgsieve_audit_writable"] == 1
            assert m["pgsieve_audit_dropped_total"] == 0
            assert "# TYPE pgsieve_decision_seconds histogram" in body

            # The audit log cannot be written: /healthz says so, and why.
            db = f"{proxy.directory}/audit.db"
            locker = sqlite3.connect(db, isolation_level=None, timeout=5)
            locker.execute("BEGIN EXCLUSIVE")
            try:
                conn.execute("SELECT 1")  # something to write: the batch waits 1 s for the lock, then fails
                deadline = time.time() + 15
                while time.time() < deadline:
                    status, _, body = get(admin_port, "/healthz")
                    if status == 503:
                        break
                    time.sleep(0.1)
                assert status == 503 and "audit log cannot be written" in body
                assert samples(get(admin_port, "/metrics")[2])["pgsieve_audit_writable"] == 0
            finally:
                locker.execute("ROLLBACK")
                locker.close()

        assert get(admin_port, "/nope")[0] == 404
    finally:
        assert proxy.stop() == 0, proxy.read_log()
