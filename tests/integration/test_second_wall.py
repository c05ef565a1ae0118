"""The database as the second wall (issue 13), against a real PostgreSQL 15:
least-privilege roles made by `pgsieve grants`, row scoping through
row-level security with the client's attributes, and the checks that keep
`serve` from running without that wall.

The module makes its own schema (`tenancy`) and roles, and removes them."""

import os
import sqlite3
import subprocess
import time

import psycopg
import pytest

from conftest import (CLIENT_PASSWORD, UPSTREAM_PASSWORD, Proxy, free_port, proxy_config, psql, run_pgsieve,
                      start_proxy)

SCHEMA = """
DROP SCHEMA IF EXISTS tenancy CASCADE;
CREATE SCHEMA tenancy;
CREATE TABLE tenancy.orders (
    id        serial PRIMARY KEY,
    tenant_id integer NOT NULL,
    item      text NOT NULL,
    secret    text NOT NULL,
    amount    integer NOT NULL
);
-- Tenant 2's values make error oracles: 'bob' fails a cast to integer, 0 a division.
INSERT INTO tenancy.orders (tenant_id, item, secret, amount) VALUES
    (1, 'anvil', '111', 5), (1, 'rope', '112', 7), (2, 'bob-item', 'bob', 0);
CREATE VIEW tenancy.orders_v WITH (security_invoker = true) AS
    SELECT id, tenant_id, item, secret, amount FROM tenancy.orders;
CREATE TABLE tenancy.unprotected (tenant_id integer, note text);
"""

POLICIES = """\
    policies:
      customer-success:
        statements: [select]
        tables:
          public.customers: {columns: [id, name]}
      tenant:
        statements: [select, insert, update, show]
        upstream_user: ai_tenant
        upstream_password_env: PGSIEVE_TEST_UPSTREAM_PASSWORD
        tables:
          tenancy.orders:
            rows: {column: tenant_id, attribute: tenant_id}
            allow: [select, insert, update]
          tenancy.orders_v: {}
      wall:
        mode: monitor
        statements: [select]
        upstream_user: ai_wall
        upstream_password_env: PGSIEVE_TEST_UPSTREAM_PASSWORD
        tables:
          public.customers: {columns: [id, name]}
"""

CLIENTS = """\
- name: t1
  password_env: PGSIEVE_TEST_CLIENT_PASSWORD
  policy: tenant
  attributes: {tenant_id: 1}
- name: t2
  password_env: PGSIEVE_TEST_CLIENT_PASSWORD
  policy: tenant
  attributes: {tenant_id: 2}
- name: watcher
  password_env: PGSIEVE_TEST_CLIENT_PASSWORD
  policy: wall
"""


def secrets_env():
    env = dict(os.environ)
    env["PGSIEVE_TEST_UPSTREAM_PASSWORD"] = UPSTREAM_PASSWORD
    env["PGSIEVE_TEST_CLIENT_PASSWORD"] = CLIENT_PASSWORD
    return env


def run_sql_file(text):
    """Runs SQL as the fixture's superuser, as a DBA runs `pgsieve grants` output."""
    result = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"], input=text, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def grants_for(config_path, *extra):
    result = run_pgsieve("grants", "-c", config_path, *extra, env=secrets_env())
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wall(postgres, tmp_path_factory):
    """The tenancy schema, the roles `pgsieve grants` makes for it, and pgsieve in front."""
    run_sql_file(SCHEMA)
    psql(f"ALTER ROLE ai_readonly PASSWORD '{UPSTREAM_PASSWORD}'")
    directory = tmp_path_factory.mktemp("second-wall")
    config_path = directory / "grants.yaml"
    config_path.write_text(proxy_config(free_port(), more_clients=CLIENTS, policies=POLICIES))
    sql = grants_for(str(config_path), "--policy", "tenant") + grants_for(str(config_path), "--policy", "wall")
    run_sql_file(sql)
    for role in ("ai_tenant", "ai_wall"):
        psql(f"ALTER ROLE {role} PASSWORD '{UPSTREAM_PASSWORD}'")
    proxy = start_proxy(directory, more_clients=CLIENTS, policies=POLICIES)
    yield {"proxy": proxy, "config": str(config_path), "grants": sql, "directory": directory}
    proxy.stop()
    run_sql_file("""
        DROP SCHEMA tenancy CASCADE;
        DROP OWNED BY ai_tenant, ai_wall;
        DROP ROLE ai_tenant, ai_wall;
    """)


def connect(proxy, user, autocommit=True):
    return psycopg.connect(proxy.dsn(user=user, sslmode="disable"), autocommit=autocommit)


def rows(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def upstream_error(conn, sql):
    """The SQLSTATE and message of an error that must come from PostgreSQL."""
    with pytest.raises(psycopg.Error) as raised:
        rows(conn, sql)
    return raised.value.sqlstate, str(raised.value)


# -- the roles pgsieve grants makes --------------------------------------------

def test_grants_sql_is_reviewable_and_creates_the_policy_role(wall):
    sql = wall["grants"]
    assert 'CREATE ROLE "ai_tenant" LOGIN' in sql
    assert 'GRANT SELECT ON "tenancy"."orders" TO "ai_tenant"' in sql
    assert 'ALTER TABLE "tenancy"."orders" ENABLE ROW LEVEL SECURITY' in sql
    assert "current_setting('pgsieve.tenant_id')" in sql
    assert 'GRANT SELECT ("id", "name") ON "public"."customers" TO "ai_wall"' in sql
    attributes = psql("SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = 'ai_tenant'").stdout
    assert attributes.strip() == "f|f|f"


def test_check_config_upstream_reports_the_made_roles_clean(wall):
    result = run_pgsieve("check-config", "-c", wall["config"], "--upstream", env=secrets_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ai_tenant  policies tenant  ok: holds no more than its policies grant" in result.stdout
    assert "ai_wall  policies wall  ok: holds no more than its policies grant" in result.stdout
    # The shared role the fixture made by hand is wider than customer-success: listed, not fatal.
    assert "warning: upstream role ai_readonly holds more on hr.employees than its policies grant" in result.stdout


# -- monitor mode: pgsieve relays everything, PostgreSQL still refuses ------------

def test_monitor_policy_cannot_read_a_denied_column_because_postgres_refuses(wall):
    with connect(wall["proxy"], "watcher") as conn:
        assert rows(conn, "SELECT id, name FROM public.customers ORDER BY id")[0] == (1, "Acme Corp")
        state, message = upstream_error(conn, "SELECT ssn FROM public.customers")
        assert state == "42501" and "permission denied" in message


def test_monitor_policy_cannot_read_an_ungranted_table_or_server_files(wall):
    with connect(wall["proxy"], "watcher") as conn:
        assert upstream_error(conn, "SELECT * FROM hr.employees")[0] == "42501"
        assert upstream_error(conn, "SELECT pg_read_file('/etc/passwd')")[0] == "42501"
        assert upstream_error(conn, "SELECT * FROM tenancy.orders")[0] == "42501"


def test_monitor_policy_cannot_write_because_postgres_refuses(wall):
    with connect(wall["proxy"], "watcher") as conn:
        # The session is read-only (no write statements granted), and the role holds no INSERT.
        state, _ = upstream_error(conn, "INSERT INTO public.tickets (customer_id, subject) VALUES (1, 'x')")
        assert state in ("25006", "42501")
        state, _ = upstream_error(conn, "BEGIN READ WRITE; INSERT INTO public.tickets (customer_id, subject) "
                                        "VALUES (1, 'x'); COMMIT")
        assert state == "42501"
        rows(conn, "ROLLBACK")
        assert upstream_error(conn, "CREATE TABLE public.pwned (x int)")[0] in ("25006", "42501")
    assert psql("SELECT count(*) FROM public.tickets WHERE subject = 'x'").stdout.strip() == "0"


# -- row scoping: two tenants over the same tables ----------------------------------

def tenant_rows(conn, sql):
    return sorted(rows(conn, sql))


def test_each_tenant_sees_only_its_rows(wall):
    with connect(wall["proxy"], "t1") as one, connect(wall["proxy"], "t2") as two:
        assert tenant_rows(one, "SELECT tenant_id, item FROM tenancy.orders") == [(1, "anvil"), (1, "rope")]
        assert tenant_rows(two, "SELECT tenant_id, item FROM tenancy.orders") == [(2, "bob-item")]
        assert rows(one, "SELECT count(*) FROM tenancy.orders a JOIN tenancy.orders b ON a.id <> b.id") == [(2,)]
        assert tenant_rows(one, "SELECT tenant_id FROM tenancy.orders_v") == [(1,), (1,)]
        assert tenant_rows(two, "SELECT item FROM tenancy.orders WHERE tenant_id = 1") == []


def test_attack_copy_to_stdout_reads_only_the_tenants_rows(wall):
    with connect(wall["proxy"], "t1") as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY (SELECT tenant_id, secret FROM tenancy.orders ORDER BY id) TO STDOUT") as copy:
                data = b"".join(bytes(block) for block in copy)
    assert data == b"1\t111\n1\t112\n"


def test_attack_error_oracles_do_not_see_other_tenants_values(wall):
    # Tenant 2's secret 'bob' fails a cast, its amount 0 a division: RLS filters first.
    with connect(wall["proxy"], "t1") as conn:
        assert rows(conn, "SELECT count(*) FROM tenancy.orders WHERE secret::int > 0") == [(2,)]
        assert rows(conn, "SELECT sum(100 / amount) FROM tenancy.orders") == [(34,)]
        assert rows(conn, "SELECT count(*) FROM tenancy.orders_v WHERE secret::int > 0") == [(2,)]


def test_attack_reset_all_and_discard_all_keep_the_bound_attribute(wall):
    with connect(wall["proxy"], "t1") as conn:
        for statement in ("RESET ALL", "DISCARD ALL", "BEGIN; SET LOCAL statement_timeout = 1000; COMMIT"):
            rows(conn, statement)
            assert tenant_rows(conn, "SELECT tenant_id FROM tenancy.orders") == [(1,), (1,)]
        assert rows(conn, "SHOW pgsieve.tenant_id") == [("1",)]


def test_attack_set_or_set_config_of_a_pgsieve_attribute_is_refused_by_name(wall):
    with connect(wall["proxy"], "t1") as conn:
        for statement in ("SET pgsieve.tenant_id = 2", "SET LOCAL pgsieve.tenant_id = 2",
                          "SELECT set_config('pgsieve.tenant_id', '2', false)", "RESET pgsieve.tenant_id"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
                rows(conn, statement)
            assert "pgsieve.tenant_id" in str(refused.value), statement
        assert tenant_rows(conn, "SELECT tenant_id FROM tenancy.orders") == [(1,), (1,)]


def test_attack_startup_options_cannot_rebind_the_attribute(wall):
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(wall["proxy"].dsn(user="t1", sslmode="disable", options="-c pgsieve.tenant_id=2"))
    assert "pgsieve.tenant_id" in str(refused.value)


def test_prepared_statements_and_cursors_are_scoped(wall):
    with connect(wall["proxy"], "t2") as conn:
        assert rows(conn, "SELECT item FROM tenancy.orders WHERE id > %s", (0,)) == [("bob-item",)]
        rows(conn, "PREPARE every AS SELECT item FROM tenancy.orders")
        assert rows(conn, "EXECUTE every") == [("bob-item",)]
    with connect(wall["proxy"], "t1", autocommit=False) as conn:
        with conn.cursor(name="scan") as cur:
            cur.execute("SELECT tenant_id FROM tenancy.orders")
            assert sorted(cur.fetchall()) == [(1,), (1,)]


def test_attack_writes_outside_the_tenant_are_refused_with_check(wall):
    with connect(wall["proxy"], "t1") as conn:
        state, message = upstream_error(conn, "INSERT INTO tenancy.orders (tenant_id, item, secret, amount) "
                                              "VALUES (2, 'planted', 'x', 1)")
        assert state == "42501" and "row-level security" in message
        state, _ = upstream_error(conn, "UPDATE tenancy.orders SET tenant_id = 2 WHERE item = 'rope'")
        assert state == "42501"
        # Another tenant's rows are not even found by an UPDATE.
        with conn.cursor() as cur:
            cur.execute("UPDATE tenancy.orders SET item = 'stolen' WHERE tenant_id = 2")
            assert cur.rowcount == 0
        rows(conn, "INSERT INTO tenancy.orders (tenant_id, item, secret, amount) VALUES (1, 'own', '113', 1)")
    owners = psql("SELECT tenant_id, item FROM tenancy.orders ORDER BY id").stdout.split()
    assert owners == ["1|anvil", "1|rope", "2|bob-item", "1|own"]


def test_the_audit_records_the_bound_attributes_and_the_row_scoped_reads(wall):
    with connect(wall["proxy"], "t2") as conn:
        rows(conn, "SELECT item FROM tenancy.orders /* audit-probe */")
    audit = os.path.join(wall["proxy"].directory, "audit.db")
    deadline = time.time() + 10
    db = sqlite3.connect(audit)
    while time.time() < deadline and not db.execute("SELECT 1 FROM statements WHERE sql LIKE '%audit-probe%'").fetchone():
        time.sleep(0.1)
    try:
        attributes = db.execute("SELECT attributes FROM sessions WHERE client = 't2' ORDER BY id DESC LIMIT 1").fetchone()
        assert attributes == ('{"tenant_id":"2"}',)
        scoped = db.execute("SELECT row_scoped FROM statements WHERE sql LIKE '%audit-probe%'").fetchone()
        assert scoped == ('["tenancy.orders"]',)
        plain = db.execute("SELECT row_scoped FROM statements WHERE client = 'watcher' AND sql LIKE 'SELECT id, name%' "
                           "LIMIT 1").fetchone()
        assert plain == ("[]",)
    finally:
        db.close()


# -- start refused ------------------------------------------------------------------

def serve_once(directory, config_text, timeout=20):
    """Runs `pgsieve serve` expecting it to stop by itself; returns (exit code, output)."""
    path = directory / "pgsieve.yaml"
    path.write_text(config_text)
    result = subprocess.run([os.environ["PGSIEVE_BIN"], "serve", "-c", str(path)], capture_output=True, text=True,
                            env=secrets_env(), timeout=timeout)
    return result.returncode, result.stdout + result.stderr


def test_attack_a_superuser_upstream_stops_serve_naming_role_and_fix(wall, tmp_path):
    config = proxy_config(free_port(), policies=POLICIES.split("      tenant:")[0])
    config = config.replace("user: ai_readonly", "user: postgres").replace(
        "password_env: PGSIEVE_TEST_UPSTREAM_PASSWORD", "password_env: PGPASSWORD", 1)
    code, output = serve_once(tmp_path, config)
    assert code == 1, output
    assert "upstream role postgres is a superuser" in output
    assert "pgsieve grants -c" in output


def test_attack_a_bypassrls_role_stops_serve(wall, tmp_path):
    psql(f"CREATE ROLE ai_bypass LOGIN BYPASSRLS PASSWORD '{UPSTREAM_PASSWORD}'")
    try:
        config = proxy_config(free_port(), policies=POLICIES).replace("upstream_user: ai_wall",
                                                                      "upstream_user: ai_bypass")
        code, output = serve_once(tmp_path, config)
        assert code == 1, output
        assert "upstream role ai_bypass has BYPASSRLS" in output
        # Said explicitly, it starts, and says so.
        allowed = config.replace("sslmode: disable", "sslmode: disable\n  allow_privileged_role: true")
        p = Proxy(str(tmp_path), allowed, secrets_env())
        port = int(allowed.split("port: ")[1].split()[0])
        try:
            p.wait_listening(port)
            deadline = time.time() + 10
            while time.time() < deadline and '"event":"listening"' not in p.read_log():
                time.sleep(0.1)
            assert "allowed by upstream.allow_privileged_role: true" in p.read_log()
        finally:
            p.stop()
    finally:
        psql("DROP ROLE ai_bypass")


def test_attack_wider_privileges_stop_serve_under_wider_privileges_refuse(wall, tmp_path):
    config = proxy_config(free_port(), upstream_extra="sslmode: disable\nwider_privileges: refuse\n")
    code, output = serve_once(tmp_path, config)
    assert code == 1, output
    assert "upstream role ai_readonly holds more on hr.employees than its policies grant" in output


def test_attack_a_row_scoped_table_without_rls_refuses_the_policys_clients(wall, tmp_path):
    policies = POLICIES.replace("          tenancy.orders_v: {}",
                                "          tenancy.orders_v: {}\n"
                                "          tenancy.unprotected: {rows: {column: tenant_id, attribute: tenant_id}}")
    psql("GRANT SELECT ON tenancy.unprotected TO ai_tenant")
    proxy = start_proxy(tmp_path, more_clients=CLIENTS, policies=policies)
    try:
        with pytest.raises(psycopg.OperationalError) as refused:
            psycopg.connect(proxy.dsn(user="t1", sslmode="disable"))
        message = str(refused.value)
        assert "row-level security is not enabled on tenancy.unprotected" in message
        assert "ALTER TABLE tenancy.unprotected ENABLE ROW LEVEL SECURITY" in message
        # Other policies' clients are served.
        with connect(proxy, "watcher") as conn:
            assert rows(conn, "SELECT 1") == [(1,)]
        assert "upstream_policy_refused" in proxy.read_log()
    finally:
        proxy.stop()
        psql("REVOKE SELECT ON tenancy.unprotected FROM ai_tenant")


CUSTOMERS_ONLY = """\
    policies:
      customer-success:
        statements: [select]
        tables:
          public.customers: {columns: [id, name]}
"""


def test_attack_grants_for_the_bootstrap_superuser_prints_nothing(postgres, tmp_path):
    # With upstream.user the cluster's bootstrap superuser, the script said
    # ALTER ROLE "postgres" ... NOSUPERUSER and REVOKE ALL ... FROM "postgres".
    config_path = tmp_path / "superuser.yaml"
    config_path.write_text(proxy_config(free_port(), policies=CUSTOMERS_ONLY)
                           .replace("user: ai_readonly", f"user: {os.environ['PGUSER']}"))
    result = run_pgsieve("grants", "-c", str(config_path), "--connect-as", os.environ["PGUSER"], env=secrets_env())
    assert result.returncode != 0
    assert result.stdout == ""
    assert f"upstream role {os.environ['PGUSER']} is a superuser" in result.stderr, result.stderr
    assert "dedicated upstream role" in result.stderr


def test_attack_a_grants_script_run_after_its_role_came_to_own_objects_changes_nothing(postgres, tmp_path):
    # Generated while the role owned nothing; by the time a DBA runs it, it
    # owns a table (or runs the script itself): the script stops at its check.
    psql("DROP ROLE IF EXISTS ai_late_owner")
    config_path = tmp_path / "late.yaml"
    config_path.write_text(proxy_config(free_port(), policies=CUSTOMERS_ONLY)
                           .replace("user: ai_readonly", "user: ai_late_owner"))
    sql = grants_for(str(config_path), "--connect-as", os.environ["PGUSER"])
    assert "CREATE ROLE ai_late_owner LOGIN" in sql or "CREATE ROLE \"ai_late_owner\" LOGIN" in sql, sql
    psql("CREATE ROLE ai_late_owner LOGIN SUPERUSER")
    psql("CREATE TABLE public.late_owned (x int)")
    psql("ALTER TABLE public.late_owned OWNER TO ai_late_owner")
    try:
        result = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"], input=sql, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode != 0
        assert "is a superuser; it will not demote it" in result.stderr, result.stderr
        assert psql("SELECT rolsuper FROM pg_roles WHERE rolname = 'ai_late_owner'").stdout.strip() == "t"
        psql("ALTER ROLE ai_late_owner NOSUPERUSER")
        result = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"], input=sql, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode != 0
        assert "owns objects; it will not strip it" in result.stderr, result.stderr
        assert psql("SELECT relowner::regrole FROM pg_class WHERE relname = 'late_owned'").stdout.strip() == \
            "ai_late_owner"
    finally:
        psql("DROP TABLE IF EXISTS public.late_owned")
        psql("DROP ROLE IF EXISTS ai_late_owner")
