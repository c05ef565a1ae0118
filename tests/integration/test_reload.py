"""Reloads through the live proxy (issue 12): a file that changes a setting a
running server cannot take (listen, admin, the upstream endpoint or TLS, the
audit file) is refused whole and logged, and the server keeps serving with
the previous configuration — TLS included, where a half-applied reload once
crashed the process. A policy-only change applies to the next statement of
every open session, whichever way its statements were prepared."""

import os
import signal
import time

import psycopg
import pytest

from conftest import make_certificate
from test_enforcement import CLIENT_PASSWORD, proxy_for
from test_policy_corpus import CORPUS

BASE = open(os.path.join(CORPUS, "pgsieve.yaml")).read()


def write_config(p, text, listen_extra=""):
    with open(p.config_path, "w") as f:
        f.write(f"listen: {{address: 127.0.0.1, port: {p.port}{listen_extra}}}\n" +
                text.replace("  port: 5432 ", f"  port: {os.environ['PGPORT']} "))


def reload_and_wait(p, event):
    seen = p.read_log().count(f'"event":"{event}"')
    p.process.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while p.read_log().count(f'"event":"{event}"') == seen and time.time() < deadline:
        time.sleep(0.05)
    assert p.read_log().count(f'"event":"{event}"') > seen, p.read_log()[-3000:]


def connect(p, **extra):
    return psycopg.connect(p.dsn(user="cs_bot", password=CLIENT_PASSWORD, **extra), autocommit=True)


@pytest.fixture
def proxy(postgres, tmp_path):
    p = proxy_for(tmp_path, BASE)
    yield p
    assert p.stop() == 0, p.read_log()


@pytest.mark.parametrize("change", ["listen.tls", "listen.port", "upstream.host", "audit", "admin"])
def test_reload_that_changes_a_restart_only_setting_is_refused_and_serving_goes_on(proxy, tmp_path, change):
    with connect(proxy) as before:
        text, listen_extra = BASE, ""
        if change == "listen.tls":
            cert, key = make_certificate(str(tmp_path))
            listen_extra = f", tls: {{cert_file: {cert}, key_file: {key}}}"
        elif change == "listen.port":
            listen_extra = ", max_connections: 7"  # any listen key
        elif change == "upstream.host":
            text = BASE.replace("  host: 127.0.0.1", "  host: localhost")
        elif change == "audit":
            text = BASE.replace("sqlite: audit.db", "sqlite: other-audit.db")
        elif change == "admin":
            text = "admin: {address: 127.0.0.1, port: 1}\n" + BASE
        assert text != BASE or listen_extra
        write_config(proxy, text, listen_extra)
        reload_and_wait(proxy, "reload_refused")
        assert change.split(".")[0] in proxy.read_log().split('"reload_refused"')[-1]
        # The open session and new ones (libpq's default sslmode=prefer sends
        # SSLRequest) are served as before: no TLS offered, same policy.
        assert before.execute("SELECT id FROM customers WHERE id = 1").fetchone() == (1,)
    with connect(proxy, sslmode="prefer") as after:
        assert after.pgconn.ssl_in_use is False
        assert after.execute("SELECT count(*) FROM customers").fetchone() == (3,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            after.execute("SELECT ssn FROM customers")
    assert proxy.process.poll() is None


def test_policy_change_applies_to_every_open_session_and_every_way_of_preparing(proxy):
    sessions = {}
    # A protocol-level prepared statement (psycopg prepares after first use).
    sessions["protocol"] = connect(proxy)
    for _ in range(3):
        sessions["protocol"].execute("SELECT name FROM customers WHERE id = %s", (2,), prepare=True).fetchone()
    # SQL PREPARE.
    sessions["sql"] = connect(proxy)
    sessions["sql"].execute("PREPARE p AS SELECT name FROM customers WHERE id = 2")
    # A cursor WITH HOLD, declared and kept past its transaction.
    sessions["cursor"] = connect(proxy)
    sessions["cursor"].execute("BEGIN")
    sessions["cursor"].execute("DECLARE c CURSOR WITH HOLD FOR SELECT name FROM customers ORDER BY id")
    sessions["cursor"].execute("COMMIT")
    assert sessions["cursor"].execute("FETCH 1 FROM c").fetchone() == ("Acme Corp",)
    # A psycopg server-side cursor inside a transaction (DECLARE, then FETCH).
    sessions["named"] = psycopg.connect(proxy.dsn(user="cs_bot", password=CLIENT_PASSWORD))
    named = sessions["named"].cursor(name="big")
    named.execute("SELECT name FROM customers ORDER BY id")
    assert named.fetchone() == ("Acme Corp",)

    narrowed = BASE.replace("public.customers: {columns: [id, name, plan, created_at]}",
                            "public.customers: {columns: [id, plan, created_at]}")
    assert narrowed != BASE
    write_config(proxy, narrowed)
    reload_and_wait(proxy, "reloaded")

    with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
        sessions["protocol"].execute("SELECT name FROM customers WHERE id = %s", (2,), prepare=True).fetchone()
    assert 'column "name"' in str(info.value)
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
        sessions["sql"].execute("EXECUTE p").fetchone()
    assert 'prepared statement "p" is no longer allowed' in str(info.value)
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
        sessions["cursor"].execute("FETCH 1 FROM c").fetchone()
    assert 'column "name"' in str(info.value)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        named.fetchone()
    # What the new policy grants still runs in each session.
    for name, conn in sessions.items():
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        assert conn.execute("SELECT plan FROM customers WHERE id = 2").fetchone() == ("team",), name
        conn.close()


def configmap_update(p, version, text):
    """What the kubelet does to a mounted ConfigMap: the new files in a new
    directory, then the ..data symlink swapped to it in one rename."""
    root = os.path.dirname(p.config_path)
    os.makedirs(os.path.join(root, version))
    with open(os.path.join(root, version, "pgsieve.yaml"), "w") as f:
        f.write(text)
    os.symlink(version, os.path.join(root, "..data_tmp"))
    os.rename(os.path.join(root, "..data_tmp"), os.path.join(root, "..data"))


def wait_for_event(p, event, seen, timeout=10):
    deadline = time.time() + timeout
    while p.read_log().count(f'"event":"{event}"') == seen:
        assert time.time() < deadline, f"no {event}: " + p.read_log()[-3000:]
        time.sleep(0.05)


def test_watch_config_applies_a_configmap_update_to_open_sessions_without_a_signal(postgres, tmp_path):
    p = proxy_for(tmp_path, BASE, args=["--watch-config"])
    try:
        with open(p.config_path) as f:
            served = f.read()
        # Lay the file out as a ConfigMap volume: pgsieve.yaml -> ..data/pgsieve.yaml, ..data -> ..v1.
        configmap_update(p, "..v1", served)
        os.symlink(os.path.join("..data", "pgsieve.yaml"), p.config_path + ".link")
        os.rename(p.config_path + ".link", p.config_path)
        conn = connect(p)
        assert conn.execute("SELECT name FROM customers WHERE id = 2").fetchone() is not None
        time.sleep(3)  # the same content, now behind symlinks: no reload
        assert '"event":"reloaded"' not in p.read_log()

        # A broken update is refused and the previous policy stays in force…
        failed = p.read_log().count('"event":"reload_failed"')
        configmap_update(p, "..v2", served.replace("policies:", "policies: [", 1))
        wait_for_event(p, "reload_failed", failed)
        assert conn.execute("SELECT name FROM customers WHERE id = 2").fetchone() is not None
        # …and the next, valid one applies to the open session, no SIGHUP sent.
        narrowed = served.replace("public.customers: {columns: [id, name, plan, created_at]}",
                                  "public.customers: {columns: [id, plan, created_at]}")
        assert narrowed != served
        configmap_update(p, "..v3", narrowed)
        wait_for_event(p, "reloaded", 0)
        assert '"why":"its content changed"' in p.read_log()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT name FROM customers WHERE id = 2")
        assert conn.execute("SELECT plan FROM customers WHERE id = 2").fetchone() == ("team",)
        conn.close()
    finally:
        assert p.stop() == 0, p.read_log()


def test_attack_a_discovery_statement_prepared_before_a_narrowing_reload_cannot_list_what_was_dropped(proxy):
    # PostgreSQL holds the scoped text with the visible sets baked in; the
    # registry held the client's: EXECUTE after the reload still listed
    # what the policy no longer granted.
    listing = "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace " \
              "ORDER BY 1"
    protocol, sql = connect(proxy), connect(proxy)
    for _ in range(3):
        before = [r for (r,) in protocol.execute(listing, prepare=True).fetchall()]
    assert "usage_daily" in before
    sql.execute(f"PREPARE listing AS {listing}")
    assert "usage_daily" in [r for (r,) in sql.execute("EXECUTE listing").fetchall()]

    narrowed = BASE.replace("      public.usage_daily: {}\n      public.accounts", "      public.accounts", 1)
    assert narrowed != BASE
    write_config(proxy, narrowed)
    reload_and_wait(proxy, "reloaded")

    for conn, run in ((protocol, lambda c: c.execute(listing, prepare=True)),
                      (sql, lambda c: c.execute("EXECUTE listing"))):
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
            run(conn).fetchall()
        assert "prepare it again" in str(info.value), str(info.value)
    # Prepared again, it lists what the policy grants now.
    sql.execute("DEALLOCATE listing")
    sql.execute(f"PREPARE listing AS {listing}")
    after = [r for (r,) in sql.execute("EXECUTE listing").fetchall()]
    assert "usage_daily" not in after and "customers" in after
    protocol.close()
    sql.close()


def test_a_refresh_that_finds_the_catalog_unchanged_installs_nothing(proxy):
    # A client naming a missing table asks for a refresh. When the upstream
    # catalog is the same, the snapshot (and every session's cached decisions
    # and prepared-statement decisions) stays; a real change is installed.
    from conftest import psql
    wait_for_event(proxy, "catalog_loaded", 0)  # the load at start
    loaded = proxy.read_log().count('"event":"catalog_loaded"')
    unchanged = proxy.read_log().count('"event":"catalog_unchanged"')
    with connect(proxy) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM refresh_probe")
        wait_for_event(proxy, "catalog_unchanged", unchanged)
        assert proxy.read_log().count('"event":"catalog_loaded"') == loaded
        psql("CREATE TABLE public.refresh_probe (id int)")
        try:
            time.sleep(2.1)  # refreshes asked for by a client are at most every 2 s
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM refresh_probe")  # still not granted, now known: a new snapshot
            wait_for_event(proxy, "catalog_loaded", loaded)
        finally:
            psql("DROP TABLE public.refresh_probe")
