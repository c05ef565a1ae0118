"""Messages the proxy relays without acting on them: COPY TO STDOUT, notices,
notifications and ParameterStatus. (Flush is covered by the session unit tests.)"""

import os
import subprocess

import psycopg

import pytest

from conftest import CLIENT_PASSWORD, MONITOR_POLICY, psql, start_proxy


def connect(proxy, **kwargs):
    return psycopg.connect(proxy.dsn(sslmode=proxy.sslmode), autocommit=True, **kwargs)


def test_copy_to_stdout_with_psql_and_psycopg(proxy):
    env = dict(os.environ, PGHOST=proxy.host, PGPORT=str(proxy.port), PGUSER="cs_bot",
               PGPASSWORD=CLIENT_PASSWORD, PGDATABASE="app", PGSSLMODE=proxy.sslmode)
    result = subprocess.run(["psql", "-X", "-c", r"\copy (SELECT id, name FROM customers ORDER BY id) TO STDOUT"],
                            capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["1\tAcme Corp", "2\tGlobex", "3\tInitech"]
    with connect(proxy) as conn:
        with conn.cursor().copy("COPY (SELECT g FROM generate_series(1, 1000) g) TO STDOUT") as copy:
            rows = [bytes(chunk) for chunk in copy]
        assert b"".join(rows).split(b"\n")[:3] == [b"1", b"2", b"3"]
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_notice_response_reaches_the_client(proxy):
    with connect(proxy) as conn:
        notices = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        assert conn.execute("SELECT say_hello()").fetchone() == (1,)
        assert notices == ["hello from postgres"]


@pytest.fixture(scope="module")
def monitor_proxy(postgres, tmp_path_factory):
    """LISTEN is refused under enforce; a monitor-mode policy relays it."""
    p = start_proxy(tmp_path_factory.mktemp("monitor"), policies=MONITOR_POLICY)
    p.tls = False
    p.sslmode = "disable"
    yield p
    assert p.stop() == 0, p.read_log()


def test_notification_response_reaches_the_client(monitor_proxy):
    with connect(monitor_proxy) as conn:
        conn.execute("LISTEN pgsieve_test")
        psql("NOTIFY pgsieve_test, 'payload-42'")
        # Sent before we wait, so the generator returns at once.
        notifies = conn.notifies()
        n = next(notifies)
        notifies.close()
        assert (n.channel, n.payload) == ("pgsieve_test", "payload-42")


def test_parameter_status_follows_set(proxy):
    with connect(proxy) as conn:
        conn.execute("SET application_name = 'renamed-by-set'")
        assert conn.info.parameter_status("application_name") == "renamed-by-set"
        conn.execute("SET TimeZone = 'Asia/Tokyo'")
        assert conn.info.parameter_status("TimeZone") == "Asia/Tokyo"
