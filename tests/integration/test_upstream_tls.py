"""pgsieve's login to the upstream server over TLS: require and verify-full,
and a server whose certificate does not verify."""

import os
import shutil

import psycopg
import pytest

from conftest import make_certificate, psql, start_proxy


@pytest.fixture(scope="module")
def upstream_certificate(postgres, tmp_path_factory):
    """Turns TLS on in the fixture's PostgreSQL; returns its certificate (its own CA)."""
    directory = tmp_path_factory.mktemp("upstream-tls")
    cert, key = make_certificate(str(directory), name="upstream", hosts=("localhost",))
    data = os.environ["PGSIEVE_TEST_PGDATA"]
    owner = os.stat(data)
    for source, target in ((cert, "upstream.crt"), (key, "upstream.key")):
        path = os.path.join(data, target)
        shutil.copy(source, path)
        os.chown(path, owner.st_uid, owner.st_gid)
        os.chmod(path, 0o600)
    psql("ALTER SYSTEM SET ssl_cert_file = 'upstream.crt'")
    psql("ALTER SYSTEM SET ssl_key_file = 'upstream.key'")
    psql("ALTER SYSTEM SET ssl = on")
    psql("SELECT pg_reload_conf()")
    return cert


def upstream_ssl_in_use(application_name):
    return psql("SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                f"WHERE a.application_name = '{application_name}'").stdout.strip()


@pytest.mark.parametrize("sslmode", ["require", "verify-full"])
def test_upstream_login_over_tls(upstream_certificate, tmp_path, sslmode):
    p = start_proxy(tmp_path, upstream_host="localhost",
                    upstream_extra=f"sslmode: {sslmode}\nsslrootcert: {upstream_certificate}\n")
    try:
        with psycopg.connect(p.dsn(application_name=f"tls-{sslmode}"), autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM customers").fetchone() == (3,)
            assert upstream_ssl_in_use(f"tls-{sslmode}") == "t"
    finally:
        assert p.stop() == 0, p.read_log()


def test_verify_full_refuses_a_certificate_from_another_ca(upstream_certificate, tmp_path):
    other_ca, _ = make_certificate(str(tmp_path), name="other-ca", hosts=("localhost",))
    p = start_proxy(tmp_path, upstream_host="localhost",
                    upstream_extra=f"sslmode: verify-full\nsslrootcert: {other_ca}\n")
    try:
        with pytest.raises(psycopg.OperationalError) as info:
            psycopg.connect(p.dsn()).close()
        message = str(info.value)
        assert "pgsieve: upstream server" in message and "TLS handshake failed" in message
        assert "certificate verify failed" in message
    finally:
        assert p.stop() == 0, p.read_log()
