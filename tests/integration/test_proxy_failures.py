"""Each way a client can misbehave or a limit be hit gets its clear error and
leaves the other sessions working."""

import os
import random
import signal
import socket
import struct
import subprocess
import threading
import time

import psycopg
import pytest

from conftest import CLIENT_PASSWORD, psql, start_proxy


@pytest.fixture(scope="module")
def limited(postgres, tmp_path_factory):
    p = start_proxy(tmp_path_factory.mktemp("limited"),
                    listen_extra="max_message_bytes: 8192\nauth_timeout: 1s\n")
    yield p
    assert p.stop() == 0, p.read_log()


def works(proxy):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM customers").fetchone() == (3,)


def connect_error(proxy, **kwargs):
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(proxy.dsn(**kwargs), autocommit=True).close()
    return str(info.value)


def test_wrong_password_and_unknown_user_get_the_same_error(limited):
    wrong = connect_error(limited, password="not-the-password")
    unknown = connect_error(limited, user="mallory")
    assert 'password authentication failed for user "cs_bot"' in wrong
    assert 'password authentication failed for user "mallory"' in unknown
    assert works(limited)


def test_refused_startup_parameter_is_named(limited):
    message = connect_error(limited, options="-c default_transaction_read_only=off")
    assert 'startup parameter "default_transaction_read_only" is not allowed' in message
    assert "role" in connect_error(limited, options="-c role=postgres")
    assert works(limited)


def test_oversized_message_closes_only_that_session(limited):
    with psycopg.connect(limited.dsn(), autocommit=True) as bystander:
        conn = psycopg.connect(limited.dsn(), autocommit=True)
        with pytest.raises(psycopg.OperationalError) as info:
            conn.execute("SELECT '" + "x" * 10000 + "'")
        assert "exceeds the limit of 8192 bytes" in str(info.value)
        conn.close()
        assert bystander.execute("SELECT 1").fetchone() == (1,)
    assert works(limited)


def test_attack_garbage_bytes_close_only_that_connection(limited):
    rng = random.Random(7)
    for size in (1, 7, 8, 64, 9000):
        with socket.create_connection((limited.host, limited.port), timeout=5) as s:
            s.sendall(bytes(rng.randrange(256) for _ in range(size)))
            try:
                while s.recv(4096):
                    pass
            except (ConnectionResetError, socket.timeout):
                pass
    assert limited.process.poll() is None
    assert works(limited)


def test_attack_garbage_after_authentication_is_a_protocol_violation(limited):
    with psycopg.connect(limited.dsn(), autocommit=True) as conn:
        # A frame with an unknown type byte, straight onto the authenticated socket.
        os.write(conn.pgconn.socket, b"z\x00\x00\x00\x08junk")
        with pytest.raises(psycopg.OperationalError) as info:
            conn.execute("SELECT 1")
        assert "invalid frontend message type 122" in str(info.value)
    assert works(limited)


def test_authentication_timeout_closes_a_silent_connection(limited):
    with socket.create_connection((limited.host, limited.port), timeout=5) as s:
        started = time.monotonic()
        data = s.recv(4096)  # nothing sent: the proxy gives up after auth_timeout (1s)
        assert time.monotonic() - started < 4
        assert data == b"" or data[:1] == b"E"
    assert works(limited)


def test_cancel_request_with_an_unknown_key_is_ignored(limited):
    with psycopg.connect(limited.dsn(), autocommit=True) as conn:
        with socket.create_connection((limited.host, limited.port), timeout=5) as s:
            s.sendall(struct.pack("!iiii", 16, 80877102, 12345, 67890))
            assert s.recv(16) == b""
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_client_vanishing_mid_query_frees_its_upstream_session(limited):
    env = dict(os.environ, PGHOST=limited.host, PGPORT=str(limited.port), PGUSER="cs_bot",
               PGPASSWORD=CLIENT_PASSWORD, PGDATABASE="app", PGAPPNAME="vanishing-client")
    victim = subprocess.Popen(["psql", "-X", "-c", "SELECT pg_sleep(60)"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vanishing-client'"
    deadline = time.time() + 10
    while psql(query).stdout.strip() != "1" and time.time() < deadline:
        time.sleep(0.1)
    assert psql(query).stdout.strip() == "1"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    # The proxy closes the upstream connection; PostgreSQL ends the backend
    # when pg_sleep next checks for interrupts.
    psql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'vanishing-client'")
    deadline = time.time() + 10
    while psql(query).stdout.strip() != "0" and time.time() < deadline:
        time.sleep(0.1)
    assert psql(query).stdout.strip() == "0"
    assert works(limited)


def test_total_max_connections(postgres, tmp_path):
    p = start_proxy(tmp_path, listen_extra="max_connections: 2\n")
    try:
        held = [psycopg.connect(p.dsn(), autocommit=True) for _ in range(2)]
        assert "sorry, too many clients already" in connect_error(p)
        held.pop().close()
        # A refused connection still counts until its socket closes (the
        # proxy waits up to 1 s for the client to read the FATAL and hang up).
        deadline = time.time() + 5
        while True:
            try:
                assert works(p)
                break
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        for c in held:
            c.close()
    finally:
        assert p.stop() == 0, p.read_log()


def test_per_client_max_connections(postgres, tmp_path):
    p = start_proxy(tmp_path, clients_extra="max_connections: 1\n")
    try:
        with psycopg.connect(p.dsn(), autocommit=True):
            assert 'too many connections for client "cs_bot" (max_connections 1)' in connect_error(p)
        time.sleep(0.2)
        assert works(p)
    finally:
        assert p.stop() == 0, p.read_log()


def test_idle_timeout(postgres, tmp_path):
    p = start_proxy(tmp_path, listen_extra="idle_timeout: 1s\n")
    try:
        conn = psycopg.connect(p.dsn(), autocommit=True)
        assert conn.execute("SELECT 1").fetchone() == (1,)
        time.sleep(2.5)
        with pytest.raises(psycopg.OperationalError) as info:
            conn.execute("SELECT 1")
        assert "idle-session timeout" in str(info.value)
        conn.close()
    finally:
        assert p.stop() == 0, p.read_log()


def test_unreachable_upstream_is_named(postgres, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    p = start_proxy(tmp_path, upstream_port=closed_port)
    try:
        message = connect_error(p)
        assert f"pgsieve: upstream server 127.0.0.1:{closed_port}: cannot connect" in message
    finally:
        assert p.stop() == 0, p.read_log()


def test_sigterm_lets_a_running_query_finish_then_exits(postgres, tmp_path):
    p = start_proxy(tmp_path)
    conn = psycopg.connect(p.dsn(), autocommit=True)
    result = {}
    worker = threading.Thread(target=lambda: result.update(row=conn.execute("SELECT pg_sleep(1.5), 'done'").fetchone()))
    worker.start()
    time.sleep(0.3)
    p.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(OSError):  # no longer accepting
        socket.create_connection((p.host, p.port), timeout=1).close()
    worker.join(10)
    assert result.get("row") == ("", "done")
    conn.close()
    assert p.process.wait(10) == 0
    p.stop()


def test_sigterm_ends_sessions_still_running_after_the_grace_period(postgres, tmp_path):
    p = start_proxy(tmp_path)  # --shutdown-grace 5
    conn = psycopg.connect(p.dsn(), autocommit=True)
    started = time.monotonic()
    p.process.send_signal(signal.SIGTERM)
    with pytest.raises(psycopg.OperationalError) as info:
        conn.execute("SELECT pg_sleep(30)")
    assert "terminating connection due to administrator command" in str(info.value)
    assert time.monotonic() - started < 15
    assert p.process.wait(10) == 0
    p.stop()


def test_attack_an_upstream_role_made_superuser_after_start_refuses_new_sessions(postgres, tmp_path):
    # At start a superuser stops serve (test_second_wall.py); found at a later
    # catalog load, it refuses the clients of the role's policies.
    p = start_proxy(tmp_path, upstream_extra="sslmode: disable\ncatalog_refresh: 1s\n")
    try:
        assert works(p)
        psql("ALTER ROLE ai_readonly SUPERUSER")
        deadline = time.time() + 15
        message = ""
        while time.time() < deadline and "is a superuser" not in message:
            time.sleep(0.2)
            try:
                works(p)
            except psycopg.OperationalError as e:
                message = str(e)
        assert "upstream role ai_readonly is a superuser" in message
        assert "pgsieve grants" in message
        assert '"event":"upstream_role_refused"' in p.read_log()
        psql("ALTER ROLE ai_readonly NOSUPERUSER")
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                if works(p):
                    break
            except psycopg.OperationalError:
                time.sleep(0.2)
        assert works(p)
    finally:
        psql("ALTER ROLE ai_readonly NOSUPERUSER")
        assert p.stop() == 0, p.read_log()


def test_startup_search_path_is_honoured_when_granted_then_pinned(limited):
    with psycopg.connect(limited.dsn(options="-c search_path=public,pg_catalog"), autocommit=True) as conn:
        assert conn.execute("SHOW search_path").fetchone() == ("public, pg_catalog",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
            conn.execute("SET search_path = hr")
        assert "SET search_path is not allowed" in str(info.value)
    message = connect_error(limited, options="-c search_path=hr")
    assert 'schema "hr" in search_path is not granted by policy "customer-success"' in message
