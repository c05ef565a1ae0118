"""The upstream session contract through the live proxy: the settings
libpg_query's lexer assumes (standard_conforming_strings on, UTF8) and a
read-only policy's default are pinned at login whatever ALTER ROLE/DATABASE
… SET says, and a session whose upstream reports them changed is closed
before its next statement reaches PostgreSQL."""

import psycopg
import pytest

from conftest import psql, start_proxy

POLICIES = """\
    policies:
      customer-success:
        statements: [select]
        functions: [public.contract_drift]
        tables:
          public.customers: {columns: [id, name]}
"""


@pytest.fixture(scope="module")
def proxy(postgres, tmp_path_factory):
    # A function the policy lists that changes a lexer setting for the session.
    psql("CREATE OR REPLACE FUNCTION public.contract_drift(setting text, value text) RETURNS int "
         "LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config(setting, value, false); RETURN 1; END $$")
    p = start_proxy(tmp_path_factory.mktemp("contract"), policies=POLICIES)
    yield p
    assert p.stop() == 0, p.read_log()
    psql("DROP FUNCTION public.contract_drift(text, text)")


@pytest.fixture
def role_defaults():
    """ALTER ROLE … SET, undone after the test."""
    yield lambda setting, value: psql(f"ALTER ROLE ai_readonly SET {setting} = {value}")
    psql("ALTER ROLE ai_readonly RESET ALL")


def test_attack_standard_conforming_strings_off_for_the_upstream_role_is_overridden(proxy, role_defaults):
    # With it off, SELECT 'a\'' , ssn FROM customers --' is one literal to
    # libpg_query and a literal and a column to PostgreSQL.
    role_defaults("standard_conforming_strings", "off")
    role_defaults("client_encoding", "SJIS")
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        assert conn.execute("SHOW standard_conforming_strings").fetchone() == ("on",)
        assert conn.execute("SHOW client_encoding").fetchone() == ("UTF8",)
        rows = conn.execute("SELECT 'a\\'' , ssn FROM customers --'").fetchall()
        assert rows == [("a\\' , ssn FROM customers --",)], "one literal, as pgsieve read it"
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        rows = conn.execute("SELECT 'a\\' AS x, name FROM customers ORDER BY id LIMIT 1").fetchall()
        assert rows == [("a\\", "Acme Corp")]


@pytest.mark.parametrize("setting,value", [("standard_conforming_strings", "off"),
                                           ("default_transaction_read_only", "off")])
def test_attack_a_setting_changed_under_the_session_closes_it(proxy, setting, value):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.OperationalError) as closed:
            conn.execute("SELECT contract_drift(%s, %s)", (setting, value))
            conn.execute("SELECT name FROM customers")
        assert setting in str(closed.value), str(closed.value)
    # Other sessions are untouched.
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (3,)
    assert "session_contract_broken" in proxy.read_log()


def test_attack_set_and_reset_of_contract_settings_are_refused(proxy):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        for sql in ("SET standard_conforming_strings = off", "SET client_encoding = 'SJIS'",
                    "SELECT set_config('standard_conforming_strings', 'off', false)",
                    "SET search_path = hr", "RESET standard_conforming_strings"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        conn.execute("RESET client_encoding")
        assert conn.execute("SHOW client_encoding").fetchone() == ("UTF8",)
