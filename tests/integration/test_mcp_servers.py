"""The MCP database servers from npm, pointed at pgsieve instead of at
PostgreSQL and driven over stdio as an AI host would: schema discovery under
`catalog: introspection`, an allowed query, and the refusals — a denied
column, a denied table, a write, and the published `COMMIT; CREATE …`
escape from the servers' read-only wrappers — coming back as the tool's
error with pgsieve's message and hint, nothing executed, everything in the
audit log under the server's application_name."""

import json
import os
import sqlite3
import time

import pytest

from conftest import psql, start_proxy
from mcp_client import McpClient

MCP_DIR = os.path.join(os.path.dirname(__file__), "mcp", "node_modules")


def server_postgres(url):
    return ["node", f"{MCP_DIR}/@modelcontextprotocol/server-postgres/dist/index.js", url], {}


def dbhub(url):
    # dbhub keeps only the ssl* parameters of its DSN; node-postgres reads
    # the application name from the environment.
    return (["node", f"{MCP_DIR}/@bytebase/dbhub/dist/index.js", "--transport", "stdio", "--dsn", url],
            {"PGAPPNAME": "mcp-dbhub"})


def pg_mcp_server(url):
    # Its own write guard is switched off, as a misconfigured or bypassed
    # server would be: pgsieve is the layer that has to hold.
    return (["node", f"{MCP_DIR}/pg-mcp-server/lib/index.js", "--transport", "stdio"],
            {"DATABASE_URL": url, "DANGEROUSLY_ALLOW_WRITE_OPS": "true"})


SERVERS = {
    "server-postgres": (server_postgres, "query"),
    "dbhub": (dbhub, "execute_sql"),
    "pg-mcp-server": (pg_mcp_server, "query"),
}


@pytest.fixture(scope="module")
def proxy(postgres, tmp_path_factory):
    if not os.path.isdir(MCP_DIR):
        pytest.fail("tests/integration/mcp/node_modules is missing: run tests/run.sh (it runs npm ci there)")
    p = start_proxy(tmp_path_factory.mktemp("mcp"))
    yield p
    assert p.stop() == 0, p.read_log()


@pytest.fixture(params=list(SERVERS))
def mcp(request, proxy, tmp_path):
    name = request.param
    make, tool = SERVERS[name]
    application_name = f"mcp-{name}"
    url = proxy.url(query=f"?sslmode=disable&application_name={application_name}")
    argv, extra_env = make(url)
    env = dict(os.environ, **extra_env)
    client = McpClient(argv, env, str(tmp_path / f"{name}.stderr"))
    client.name, client.tool, client.application_name = name, tool, application_name
    yield client
    client.close()


def sql(mcp, text):
    return mcp.call_tool(mcp.tool, {"sql": text})


def audited(proxy, application_name, until, timeout=10):
    """The audit rows of one server's statements, once the sink has written `until`."""
    db = os.path.join(proxy.directory, "audit.db")
    deadline = time.time() + timeout
    while True:
        with sqlite3.connect(db) as conn:
            conn.row_factory = sqlite3.Row
            rows = [dict(r) for r in conn.execute(
                "SELECT * FROM statements WHERE json_extract(tags, '$.application_name') = ? ORDER BY id",
                (application_name,))]
        if any(until in r["sql"] for r in rows) or time.time() > deadline:
            return rows
        time.sleep(0.1)


def test_schema_discovery_hands_the_model_exactly_the_granted_tables(mcp):
    # The policy grants customers (some columns) and usage_daily (and pgbench tables this database lacks);
    # the fixture also has accounts, tickets, MixedCase, moods, hr.employees and a view.
    if mcp.name == "server-postgres":
        names = [r["name"] for r in mcp.request("resources/list")["resources"]]
        assert sorted(names) == ['"customers" database schema', '"usage_daily" database schema']
        schema = mcp.request("resources/read", {"uri": next(r["uri"] for r in mcp.request("resources/list")["resources"]
                                                           if "customers" in r["name"])})
        assert "plan" in schema["contents"][0]["text"]
    elif mcp.name == "dbhub":
        text, failed = mcp.call_tool("search_objects", {"object_type": "table", "pattern": "%"})
        assert not failed, text
        assert "customers" in text and "usage_daily" in text
        for hidden in ("accounts", "tickets", "MixedCase", "moods", "employees"):
            assert hidden not in text, text
        text, failed = mcp.call_tool("search_objects", {"object_type": "schema", "pattern": "%"})
        assert not failed and "public" in text and "hr" not in text.replace("schema", ""), text
        text, failed = mcp.call_tool("search_objects", {"object_type": "column", "table": "customers",
                                                        "schema": "public", "pattern": "%"})
        assert not failed and "plan" in text, text
    else:
        resources = mcp.request("resources/list")["resources"]
        tables = sorted(r["name"] for r in resources if r.get("name", "").startswith("public."))
        assert tables == ["public.customers", "public.usage_daily"], resources
        tables = mcp.request("resources/read", {"uri": "postgres://tables"})["contents"][0]["text"]
        assert "customers" in tables
        # Sample rows come from SELECT *: whole for a table granted whole, refused under a column allowlist.
        usage = mcp.request("resources/read", {"uri": "postgres://table/public/usage_daily"})["contents"][0]["text"]
        assert "api_calls" in usage and "sampleRows" in usage, usage
        customers = mcp.request("resources/read", {"uri": "postgres://table/public/customers"})["contents"][0]["text"]
        # pg-mcp-server replaces the error with its own words here; the audit log has pgsieve's.
        assert json.loads(customers) == {"error": "Failed to retrieve details for table public.customers"}


def test_an_allowed_query_returns_its_rows(mcp):
    text, failed = sql(mcp, "SELECT id, name, plan FROM customers ORDER BY id")
    assert not failed, text
    assert "Acme Corp" in text and "Initech" in text


@pytest.mark.parametrize("attack, expected", [
    ("SELECT name, ssn FROM customers", 'column "ssn" does not exist or is not allowed'),
    ("SELECT * FROM hr.employees", 'relation "hr.employees" does not exist or is not allowed'),
    ("INSERT INTO tickets (customer_id, subject) VALUES (1, 'mcp-pwned')", "insert statements are not allowed"),
    ("COMMIT; CREATE TABLE mcp_pwned (x int); SELECT 1", "not allowed"),
])
def test_attack_is_refused_with_pgsieves_message_and_hint_and_nothing_runs(mcp, attack, expected):
    text, failed = sql(mcp, attack)
    assert failed, text
    assert expected in text and "hint:" in text, text
    assert "078-05-1120" not in text and "219-09-9999" not in text
    assert psql("SELECT count(*) FROM tickets WHERE subject = 'mcp-pwned'").stdout.strip() == "0"
    assert psql("SELECT to_regclass('public.mcp_pwned') IS NULL").stdout.strip() == "t"


def test_the_audit_log_shows_each_statement_under_the_servers_application_name(mcp, proxy):
    marker = f"mcp audit {mcp.name}"
    sql(mcp, "SELECT ssn FROM customers")
    sql(mcp, f"SELECT '{marker}' AS marker")
    rows = audited(proxy, mcp.application_name, until=marker)
    assert any(marker in r["sql"] and r["verdict"] == "allowed" for r in rows), rows
    refused = [r for r in rows if r["sql"] == "SELECT ssn FROM customers"]
    assert refused and all(r["verdict"] == "blocked" and r["rule"] == "column" for r in refused)
    assert all(json.loads(r["tags"])["application_name"] == mcp.application_name for r in rows)


# MCP Toolbox (googleapis/genai-toolbox) talks to PostgreSQL through pgx v5,
# whose statement cache sends every query over the extended protocol:
#   Parse("stmtcache_…") + Describe(S) + Sync, then Bind + Describe(P) + Execute + Sync,
# and checks health with a comment-only simple Query ("-- ping"). Its binary
# (@toolbox-sdk/server, ~315 MB) is too large for CI here, so its message
# sequence is replayed with libpq's pipeline mode, which sends exactly these.

from psycopg import pq  # noqa: E402

PIPELINE_SYNC = pq.ExecStatus.PIPELINE_SYNC


def toolbox_round(pg, name, sql, params):
    """Prepare-and-describe, then execute, as pgx does; each step's results up to its Sync."""
    def drain():
        results = []
        while True:
            r = pg.get_result()
            if r is None:
                continue
            results.append(r)
            if r.status == PIPELINE_SYNC:
                return results
    pg.send_prepare(name, sql)
    pg.send_describe_prepared(name)
    pg.pipeline_sync()
    pg.flush()
    prepared = drain()
    if any(r.status == pq.ExecStatus.FATAL_ERROR for r in prepared):
        return prepared, []
    pg.send_query_prepared(name, params)
    pg.pipeline_sync()
    pg.flush()
    return prepared, drain()


def test_mcp_toolbox_pgx_statement_cache_pattern(proxy):
    conninfo = proxy.dsn(sslmode="disable", application_name="mcp-toolbox").encode()
    pg = pq.PGconn.connect(conninfo)
    assert pg.status == pq.ConnStatus.OK, pg.error_message
    try:
        ping = pg.exec_(b"-- ping")
        assert ping.status == pq.ExecStatus.EMPTY_QUERY

        pg.enter_pipeline_mode()
        prepared, executed = toolbox_round(pg, b"stmtcache_1f0d", b"SELECT name FROM customers WHERE id = $1", [b"1"])
        assert [r.status for r in prepared][-1] == PIPELINE_SYNC
        assert prepared[1].nfields == 1 and prepared[1].fname(0) == b"name"  # Describe(S) answered
        rows = [r for r in executed if r.status == pq.ExecStatus.TUPLES_OK]
        assert rows and rows[0].get_value(0, 0) == b"Acme Corp"

        # A refused statement: the Parse fails with pgsieve's error; the session stays usable.
        prepared, executed = toolbox_round(pg, b"stmtcache_2a9c", b"SELECT ssn FROM customers WHERE id = $1", [b"1"])
        errors = [r for r in prepared if r.status == pq.ExecStatus.FATAL_ERROR]
        assert errors and executed == []
        message = errors[0].error_field(pq.DiagnosticField.MESSAGE_PRIMARY).decode()
        assert 'column "ssn"' in message and "hint:" in message
        assert errors[0].error_field(pq.DiagnosticField.SQLSTATE) == b"42501"

        prepared, executed = toolbox_round(pg, b"stmtcache_3b7e", b"SELECT count(*) FROM usage_daily WHERE customer_id = $1",
                                           [b"2"])
        assert [r for r in executed if r.status == pq.ExecStatus.TUPLES_OK][0].get_value(0, 0) == b"7"
        pg.exit_pipeline_mode()
    finally:
        pg.finish()
    rows = audited(proxy, "mcp-toolbox", until="usage_daily")
    by_sql = {r["sql"]: r for r in rows}
    assert by_sql["SELECT name FROM customers WHERE id = $1"]["statement_name"] == "stmtcache_1f0d"
    assert by_sql["SELECT name FROM customers WHERE id = $1"]["rows"] == 1
    assert by_sql["SELECT ssn FROM customers WHERE id = $1"]["verdict"] == "blocked"
    assert by_sql["-- ping"]["verdict"] == "allowed"
