"""Fail closed one level down, through the live proxy: the types a statement
carries — Parse parameter type OIDs, casts, arrays and domains of reg* types —
are judged as catalog rows, and a hidden type is refused as a missing one."""

import psycopg
import pytest

from conftest import psql, start_proxy

POLICIES = """\
    policies:
      customer-success:
        statements: [select, explain]
        catalog: introspection
        tables:
          public.customers: {columns: [id, name, plan, created_at]}
      plain:
        statements: [select]
        tables:
          public.customers: {columns: [id, name]}
          public.notes: {}
"""


@pytest.fixture(scope="module")
def proxy(postgres, tmp_path_factory):
    p = start_proxy(tmp_path_factory.mktemp("types"), policies=POLICIES,
                    more_clients="- {name: plain_bot, password_env: PGSIEVE_TEST_CLIENT_PASSWORD, policy: plain}\n")
    yield p
    assert p.stop() == 0, p.read_log()


def oid_of(type_name):
    return int(psql(f"SELECT '{type_name}'::regtype::oid").stdout.strip())


def prepare_error(proxy, user, param_types, sql=b"SELECT $1"):
    with psycopg.connect(proxy.dsn(user=user), autocommit=True) as conn:
        result = conn.pgconn.prepare(b"p", sql, param_types)
        message = result.error_message.decode()
        assert conn.execute("SELECT 1").fetchone() == (1,), "the session stays usable"
        return message


@pytest.mark.parametrize("user", ["cs_bot", "plain_bot"])
def test_attack_a_parse_parameter_of_a_hidden_domain_type_is_refused_before_its_check_runs(proxy, user):
    # Parse("SELECT $1", [oid of hr.checked_int]) + Bind("-1") once ran the
    # domain's CHECK, whose error printed hr.employees' SSNs.
    message = prepare_error(proxy, user, [oid_of("hr.checked_int")])
    assert "does not exist or is not allowed" in message, message
    assert "123-45-6789" not in message and "checked_int" not in message


@pytest.mark.parametrize("user", ["cs_bot", "plain_bot"])
def test_attack_a_parse_parameter_of_a_name_printing_type_is_refused(proxy, user):
    # Parse("SELECT $1::text", [regclass]) + Bind("<oid>") printed any table's
    # name; a regclass[] parameter listed every table in one statement.
    for type_name in ("regclass", "regclass[]", "regtype", "regproc[]"):
        message = prepare_error(proxy, user, [oid_of(type_name)], b"SELECT $1::text")
        assert "prints catalog object names" in message, (type_name, message)


def test_attack_an_unknown_parameter_type_oid_is_refused(proxy):
    message = prepare_error(proxy, "cs_bot", [987654])
    assert "does not exist or is not allowed" in message


def test_parameters_of_ordinary_types_still_run(proxy):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        assert conn.pgconn.prepare(b"q", b"SELECT name FROM customers WHERE id = $1", [20]).error_message == b""
        result = conn.pgconn.exec_prepared(b"q", [b"1"])
        assert result.get_value(0, 0) == b"Acme Corp"
        # A visible domain with an allowed CHECK, through a granted column's type.
        assert conn.execute("SELECT id FROM customers WHERE id = %s", (1,)).fetchone() == (1,)


def test_attack_array_and_domain_spellings_of_reg_types_are_refused(proxy):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        for sql in ("SELECT '{16384}'::_regclass", "SELECT '{-1}'::hr._checked_int",
                    "SELECT * FROM json_to_record('{\"x\": 16390}') AS t(x regclass)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        # A column definition list of ordinary types runs (it was once refused whole).
        assert conn.execute("SELECT * FROM json_to_record('{\"a\": 1, \"b\": \"x\"}') AS x(a int, b text)"
                            ).fetchone() == (1, "x")
