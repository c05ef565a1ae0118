"""Owning the policy (`pgsieve policy test|propose|lint`, `pgsieve audit
policies`): a change replayed against statements real clients ran through
pgsieve, with the exact counts it breaks and opens; a least-privilege
policy drafted from an MCP server's monitor-mode run that, replayed, refuses
nothing the server ran; lint findings on a deliberately sloppy
configuration, its SARIF held against the SARIF 2.1.0 schema; and a policy's
history across a reload."""

import json
import os
import signal
import sqlite3
import time

import jsonschema
import psycopg
import pytest
import yaml

from conftest import CLIENT_PASSWORD, MONITOR_POLICY, UPSTREAM_PASSWORD, psql, run_pgsieve, start_proxy
from mcp_client import McpClient

HERE = os.path.dirname(__file__)
MCP_DIR = os.path.join(HERE, "mcp", "node_modules")
SARIF_SCHEMA = os.path.join(HERE, "node", "node_modules", "@microsoft", "sarif-matcher-utils", "lib", "schemas",
                            "sarif-2.1.0-rtm.5.json")


def env_with_secrets():
    env = dict(os.environ)
    env["PGSIEVE_TEST_UPSTREAM_PASSWORD"] = UPSTREAM_PASSWORD
    env["PGSIEVE_TEST_CLIENT_PASSWORD"] = CLIENT_PASSWORD
    return env


def policy_cmd(*args):
    return run_pgsieve("policy", *args, env=env_with_secrets())


def wait_audited(db, count, timeout=10):
    deadline = time.time() + timeout
    while True:
        with sqlite3.connect(db) as conn:
            n = conn.execute("SELECT count(*) FROM statements").fetchone()[0]
        if n >= count or time.time() > deadline:
            return n
        time.sleep(0.1)


def run_statements(proxy, statements):
    """Each statement once through pgsieve; refusals are expected for some."""
    with psycopg.connect(proxy.dsn(sslmode="disable"), autocommit=True) as conn:
        for sql in statements:
            try:
                conn.execute(sql).fetchall()
            except psycopg.errors.InsufficientPrivilege:
                pass


def write_config(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def with_policy(config_text, name, policy):
    """The configuration text with one policy replaced."""
    doc = yaml.safe_load(config_text)
    doc["policies"][name] = policy
    return yaml.safe_dump(doc, sort_keys=False)


# Allowed 3×, allowed 2×, refused (column) 2×, refused (relation) 1×.
READ_NAMES = "SELECT id, name FROM customers ORDER BY id"
READ_USAGE = "SELECT day, api_calls FROM usage_daily ORDER BY day"
READ_EMAIL = "SELECT email FROM customers"
READ_HR = "SELECT name FROM hr.employees"
TRAFFIC = [READ_NAMES] * 3 + [READ_USAGE] * 2 + [READ_EMAIL] * 2 + [READ_HR]


@pytest.fixture(scope="module")
def recorded(postgres, tmp_path_factory):
    """An enforce-mode proxy that ran TRAFFIC; stopped, its audit written."""
    directory = tmp_path_factory.mktemp("replay")
    proxy = start_proxy(directory)
    run_statements(proxy, TRAFFIC)
    db = os.path.join(proxy.directory, "audit.db")
    assert wait_audited(db, len(TRAFFIC)) == len(TRAFFIC)
    assert proxy.stop() == 0, proxy.read_log()
    with open(proxy.config_path) as f:
        proxy.config_text = f.read()
    return proxy


def replay(recorded, candidate_text, name, *args):
    candidate = write_config(os.path.join(recorded.directory, name), candidate_text)
    result = policy_cmd("test", candidate, "--db", os.path.join(recorded.directory, "audit.db"), "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_replay_of_an_unchanged_policy_changes_nothing(recorded):
    rc, report = replay(recorded, recorded.config_text, "same.yaml")
    assert rc == 0
    assert report["recorded"] == len(TRAFFIC) and report["replayed"] == len(TRAFFIC)
    assert report["distinct"] == 4
    assert (report["newly_refused"], report["newly_allowed"], report["changed_rule"]) == (0, 0, 0)


def test_replay_of_a_narrowing_change_names_what_it_breaks(recorded):
    doc = yaml.safe_load(recorded.config_text)
    tables = doc["policies"]["customer-success"]["tables"]
    del tables["public.usage_daily"]
    rc, report = replay(recorded, yaml.safe_dump(doc), "narrow.yaml")
    assert rc == 1
    assert (report["newly_refused"], report["newly_allowed"]) == (2, 0)
    [group] = report["groups"]
    assert group["change"] == "newly refused" and group["count"] == 2
    assert group["client"] == "cs_bot" and group["policy"] == "customer-success"
    assert group["example"] == READ_USAGE and group["rule_after"] == "relation"
    assert group["first_seen"] <= group["last_seen"]
    # Gating on what a change opens: a narrowing passes.
    rc, _ = replay(recorded, yaml.safe_dump(doc), "narrow.yaml", "--fail-on", "newly-allowed")
    assert rc == 0
    rc, _ = replay(recorded, yaml.safe_dump(doc), "narrow.yaml", "--fail-on", "newly-refused")
    assert rc == 1


def test_replay_of_a_widening_change_names_what_it_opens(recorded):
    doc = yaml.safe_load(recorded.config_text)
    doc["policies"]["customer-success"]["tables"]["public.customers"]["columns"].append("email")
    rc, report = replay(recorded, yaml.safe_dump(doc), "wide.yaml", "--fail-on", "newly-allowed")
    assert rc == 1
    assert (report["newly_refused"], report["newly_allowed"], report["changed_rule"]) == (0, 2, 0)
    [group] = report["groups"]
    assert group["example"] == READ_EMAIL and group["rule_before"] == "column" and group["rule_after"] == ""
    assert report["newly_allowed_classified"] == 0 and group["classified"] == []
    rc, _ = replay(recorded, yaml.safe_dump(doc), "wide.yaml", "--fail-on", "newly-allowed-classified")
    assert rc == 0
    # The same change once email is labelled pii and the policy accepts the label: the gate a CI job keeps.
    doc["classification"] = {"pii": ["public.customers.email"]}
    doc["policies"]["customer-success"]["accept_classified"] = {"pii": {"reason": "billing questions"}}
    rc, report = replay(recorded, yaml.safe_dump(doc), "classified.yaml", "--fail-on", "newly-allowed-classified")
    assert rc == 1
    assert report["newly_allowed_classified"] == 2
    assert report["groups"][0]["classified"] == ["public.customers.email"]
    # Against the configuration in force, decided now: the same answer.
    candidate = os.path.join(recorded.directory, "wide.yaml")
    result = policy_cmd("test", candidate, "-c", recorded.config_path, "--db",
                        os.path.join(recorded.directory, "audit.db"), "--json")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["newly_allowed"] == 2
    # The text report names the change and an example.
    result = policy_cmd("test", candidate, "--db", os.path.join(recorded.directory, "audit.db"))
    assert "newly allowed: 2 statements" in result.stdout
    assert READ_EMAIL in result.stdout


def test_replay_filters_by_client_and_catalog_snapshot(recorded):
    doc = yaml.safe_load(recorded.config_text)
    del doc["policies"]["customer-success"]["tables"]["public.usage_daily"]
    snapshot = os.path.join(recorded.directory, "catalog.txt")
    dumped = run_pgsieve("dump-catalog", "-c", recorded.config_path, env=env_with_secrets())
    assert dumped.returncode == 0, dumped.stderr
    with open(snapshot, "w") as f:
        f.write(dumped.stdout)
    # Offline: a recorded catalog and no secrets in the environment (a CI job on a pull request).
    candidate = write_config(os.path.join(recorded.directory, "offline.yaml"), yaml.safe_dump(doc))
    result = run_pgsieve("policy", "test", candidate, "--db", os.path.join(recorded.directory, "audit.db"),
                         "--catalog", snapshot, "--json")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["newly_refused"] == 2
    rc, report = replay(recorded, yaml.safe_dump(doc), "offline.yaml", "--client", "nobody")
    assert rc == 0 and report["recorded"] == 0


def test_replay_skips_statements_recorded_without_their_constants(postgres, tmp_path):
    proxy = start_proxy(tmp_path, audit_extra="store_sql: normalized\n")
    try:
        run_statements(proxy, [READ_NAMES, "SELECT name FROM customers WHERE id = 2"])
        assert wait_audited(os.path.join(proxy.directory, "audit.db"), 2) == 2
    finally:
        assert proxy.stop() == 0
    with open(proxy.config_path) as f:
        text = f.read()
    result = policy_cmd("test", proxy.config_path, "--db", os.path.join(proxy.directory, "audit.db"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["recorded"] == 2 and report["skipped_normalized"] == 2 and report["replayed"] == 0
    assert "store_sql: normalized" in text


# --- propose from an MCP server's monitor-mode run -------------------------

MCP_QUERIES = [
    "SELECT id, name, plan FROM customers ORDER BY id",
    "SELECT c.name, u.api_calls FROM customers c JOIN usage_daily u ON u.customer_id = c.id "
    "WHERE u.day = '2026-11-02'",
    "SELECT email FROM accounts WHERE customer_id = 1",     # not granted today: would_block
    "SELECT public.plan_label(plan) FROM customers",        # a function not granted today
]


def test_propose_from_a_monitor_mode_mcp_run_then_replay_refuses_nothing(postgres, tmp_path):
    if not os.path.isdir(MCP_DIR):
        pytest.fail("tests/integration/mcp/node_modules is missing: run tests/run.sh (it runs npm ci there)")
    proxy = start_proxy(tmp_path, policies=MONITOR_POLICY,
                        extra="classification:\n  pii: [public.customers.ssn, public.customers.email]\n")
    try:
        url = proxy.url(query="?sslmode=disable&application_name=mcp-server-postgres")
        client = McpClient(["node", f"{MCP_DIR}/@modelcontextprotocol/server-postgres/dist/index.js", url],
                           dict(os.environ), str(tmp_path / "mcp.stderr"))
        try:
            client.request("initialize", {"protocolVersion": "2024-11-05", "capabilities": {},
                                          "clientInfo": {"name": "pgsieve-tests", "version": "1"}})
            client.notify("notifications/initialized")
            resources = client.request("resources/list")["resources"]
            for r in resources:
                client.request("resources/read", {"uri": r["uri"]})
            for q in MCP_QUERIES:
                client.call_tool("query", {"sql": q})
        finally:
            client.close()
        db = os.path.join(proxy.directory, "audit.db")
        with sqlite3.connect(db) as conn:
            deadline = time.time() + 10
            while conn.execute("SELECT count(*) FROM statements WHERE sql LIKE '%plan_label%'").fetchone()[0] == 0:
                assert time.time() < deadline, "the MCP server's statements were not audited"
                time.sleep(0.1)
            would_block = conn.execute("SELECT count(*) FROM statements WHERE verdict = 'would_block'").fetchone()[0]
        assert would_block >= 2
    finally:
        assert proxy.stop() == 0, proxy.read_log()

    proposed = policy_cmd("propose", "-c", proxy.config_path, "--client", "cs_bot", "--since", "1h")
    assert proposed.returncode == 0, proposed.stderr
    assert "NOTE" not in proposed.stdout, proposed.stdout
    draft = yaml.safe_load(proposed.stdout)["policies"]["customer-success"]
    assert draft["statements"] == ["select"]
    assert draft["catalog"] == "introspection"          # the server listed tables and columns
    assert draft["functions"] == ["public.plan_label"]
    tables = draft["tables"]
    assert set(tables) == {"public.customers", "public.usage_daily", "public.accounts"}
    assert tables["public.accounts"] == {"allow": ["select"], "columns": ["customer_id", "email"]}
    assert tables["public.customers"]["columns"] == ["id", "name", "plan"]
    assert tables["public.usage_daily"]["columns"] == ["customer_id", "day", "api_calls"]
    # Every grant carries its evidence.
    assert "# 1 statement, first: SELECT email FROM accounts" in proposed.stdout

    with open(proxy.config_path) as f:
        config_text = f.read()
    new = write_config(tmp_path / "proposed.yaml", with_policy(config_text, "customer-success", draft))
    tested = policy_cmd("test", new, "--db", os.path.join(proxy.directory, "audit.db"), "--json")
    report = json.loads(tested.stdout)
    assert report["newly_refused"] == 0, report
    assert report["newly_allowed"] == would_block, report  # what monitor mode recorded as refusals
    assert report["replayed"] > len(MCP_QUERIES)             # the server's discovery queries too


def test_propose_never_grants_a_classified_column(recorded, tmp_path):
    config = recorded.config_text + "classification:\n  pii: [public.customers.email]\n"
    doc = yaml.safe_load(config)
    doc["policies"]["customer-success"]["tables"]["public.customers"]["columns"].append("email")
    path = write_config(tmp_path / "classified.yaml", yaml.safe_dump(doc))
    # The recorded email reads were refused (blocked): left out and listed.
    result = policy_cmd("propose", "-c", path, "--client", "cs_bot",
                        "--db", os.path.join(recorded.directory, "audit.db"))
    assert result.returncode == 0, result.stderr
    assert "# Left out, refused when recorded (column): 2 statements, first: SELECT email FROM customers" \
        in result.stdout
    assert "# Left out, refused when recorded (relation): 1 statement, first: SELECT name FROM hr.employees" \
        in result.stdout
    draft = yaml.safe_load(result.stdout)["policies"]["customer-success"]
    assert "email" not in draft["tables"]["public.customers"]["columns"]


def test_propose_lists_classified_columns_as_a_decision(postgres, tmp_path):
    policies = MONITOR_POLICY
    proxy = start_proxy(tmp_path, policies=policies, extra="classification:\n  pii: [public.customers.ssn]\n")
    try:
        run_statements(proxy, ["SELECT name, ssn FROM customers"])
        assert wait_audited(os.path.join(proxy.directory, "audit.db"), 1) == 1
    finally:
        assert proxy.stop() == 0
    result = policy_cmd("propose", "-c", proxy.config_path, "--client", "cs_bot")
    assert result.returncode == 0, result.stderr
    assert "# - ssn" in result.stdout and 'classified "pii": not granted' in result.stdout
    assert "NOTE: this draft still refuses" in result.stdout    # the statement needs a decision
    draft = yaml.safe_load(result.stdout)["policies"]["customer-success"]
    assert draft["tables"]["public.customers"]["columns"] == ["name"]
    assert "accept_classified" not in draft


# --- lint -----------------------------------------------------------------

SLOPPY = """\
listen: {address: 127.0.0.1, port: 6432}
upstream:
  host: 127.0.0.1
  port: PORT
  database: app
  user: ai_readonly
  password_env: PGSIEVE_TEST_UPSTREAM_PASSWORD
  sslmode: disable
audit: {sqlite: AUDIT}
classification:
  pii: [public.customers.ssn, public.customers.email]
clients:
  - {name: cs_bot, password_env: PGSIEVE_TEST_CLIENT_PASSWORD, policy: sloppy}
  - {name: ops_bot, password_env: PGSIEVE_TEST_CLIENT_PASSWORD, policy: tidy}
policies:
  sloppy:
    mode: monitor
    statements: [select, insert]
    catalog: introspection
    accept_classified: [pii]
    functions: [public.lint_bump]
    tables:
      public.customers: {}
      public.tickets:
        allow: [select, insert]
        description: Support tickets
  tidy:
    owner: support-eng@example.com
    statement_timeout: 5s
    statements: [select]
    accept_classified:
      pii: {reason: support verifies a caller's identity}
    tables:
      public.customers:
        columns: [id, name, email]
      public.usage_daily:
        columns: [customer_id, day]
"""


def sloppy_config(tmp_path, audit="audit.db"):
    text = SLOPPY.replace("PORT", os.environ["PGPORT"]).replace("AUDIT", audit)
    return write_config(tmp_path / "sloppy.yaml", text)


def line_of(path, needle, after=None):
    with open(path) as f:
        lines = f.read().split("\n")
    start = lines.index(after) if after else 0
    for i in range(start, len(lines)):
        if needle in lines[i]:
            return i + 1
    raise AssertionError(f"{needle!r} not in {path}")


def findings(result):
    assert result.returncode in (0, 1), result.stderr
    return {(f["rule"], f["line"], f["policy"]) for f in json.loads(result.stdout)["findings"]}


@pytest.fixture
def volatile_function(postgres):
    psql("CREATE FUNCTION public.lint_bump() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1'")
    yield
    psql("DROP FUNCTION public.lint_bump()")


def test_lint_names_each_finding_of_a_sloppy_configuration(tmp_path, volatile_function):
    path = sloppy_config(tmp_path)
    # Offline (no secrets, no upstream): what the file alone shows.
    offline = run_pgsieve("policy", "lint", "-c", path, "--format", "json")
    assert offline.returncode == 1
    found = findings(offline)
    sloppy = line_of(path, "  sloppy:")
    expected = {
        ("PGSL010", line_of(path, "mode: monitor"), "sloppy"),
        ("PGSL005", sloppy, "sloppy"),
        ("PGSL006", sloppy, "sloppy"),
        ("PGSL001", line_of(path, "accept_classified: [pii]"), "sloppy"),
        ("PGSL002", line_of(path, "public.customers: {}"), "sloppy"),
        ("PGSL004", line_of(path, "public.customers: {}"), "sloppy"),
        ("PGSL003", line_of(path, "public.tickets:"), "sloppy"),
    }
    assert found == expected, found ^ expected
    # The tidy policy has nothing: reasons given, columns listed, an owner and a timeout.
    assert not any(policy == "tidy" for _, _, policy in found)

    # With the upstream: the volatile function and the upstream role's wider privileges.
    online = policy_cmd("lint", "-c", path, "--upstream", "--format", "json")
    found_online = findings(online)
    assert ("PGSL007", line_of(path, "functions: [public.lint_bump]"), "sloppy") in found_online
    wider = [f for f in json.loads(online.stdout)["findings"] if f["rule"] == "PGSL009"]
    assert wider and any("hr.employees" in f["message"] for f in wider), wider

    text = run_pgsieve("policy", "lint", "-c", path)
    assert f"{path}:{sloppy}: warning: policy \"sloppy\" has no owner" in text.stdout
    assert "fix: add owner:" in text.stdout
    assert text.stdout.strip().endswith("0 errors, 5 warnings, 2 notes")


def test_lint_sarif_validates_against_the_sarif_schema(tmp_path):
    path = sloppy_config(tmp_path)
    result = run_pgsieve("policy", "lint", "-c", path, "--format", "sarif")
    assert result.returncode == 1, result.stderr
    sarif = json.loads(result.stdout)
    with open(SARIF_SCHEMA) as f:
        schema = json.load(f)
    jsonschema.validators.validator_for(schema)(schema).validate(sarif)
    [run] = sarif["runs"]
    assert len(run["results"]) == 7
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for r in run["results"]:
        assert rule_ids[r["ruleIndex"]] == r["ruleId"]
        region = r["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == path


def test_lint_with_the_audit_names_unused_grants(recorded, tmp_path):
    # The recorded traffic used customers.id/name and usage_daily.day/api_calls; the tidy
    # policy of the recorded configuration is customer-success (DEFAULT_POLICY).
    result = policy_cmd("lint", "-c", recorded.config_path, "--audit", "--format", "json")
    assert result.returncode == 1, result.stderr
    unused = {f["message"].split(" of policy")[0] for f in json.loads(result.stdout)["findings"]
              if f["rule"] == "PGSL008"}
    assert "statement kind explain" in unused
    assert "column public.customers.plan" in unused and "column public.customers.created_at" in unused
    assert "table public.pgbench_accounts" in unused
    assert "column public.customers.name" not in unused and "table public.usage_daily" not in unused


# --- history ----------------------------------------------------------------

def test_policy_history_across_a_reload(postgres, tmp_path):
    policies = """\
        policies:
          customer-success:
            owner: cs-data@example.com
            statements: [select]
            tables:
              public.customers: {columns: [id, name]}
          other:
            owner: other@example.com
            statements: [select]
            tables:
              public.usage_daily: {}
        """
    proxy = start_proxy(tmp_path, policies=policies)
    try:
        with open(proxy.config_path) as f:
            text = f.read()
        text = text.replace("owner: cs-data@example.com", "owner: cs-platform@example.com")
        text = text.replace("public.customers: {columns: [id, name]}",
                            "public.customers: {columns: [id, name, plan]}\n      public.tickets: {}")
        with open(proxy.config_path, "w") as f:
            f.write(text)
        proxy.process.send_signal(signal.SIGHUP)
        db = os.path.join(proxy.directory, "audit.db")
        deadline = time.time() + 10
        while True:
            with sqlite3.connect(db) as conn:
                if conn.execute("SELECT count(*) FROM policy_versions").fetchone()[0] >= 2:
                    break
            assert time.time() < deadline, proxy.read_log()
            time.sleep(0.1)
    finally:
        assert proxy.stop() == 0, proxy.read_log()
    result = run_pgsieve("audit", "policies", "--db", db, "--policy", "customer-success")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("2 configuration versions recorded")
    assert "policy customer-success added" in out and "policy customer-success changed" in out
    assert "owner cs-platform@example.com" in out
    assert "  - owner: cs-data@example.com" in out and "  + owner: cs-platform@example.com" in out
    assert "  +   public.tickets: {}" in out
    assert "other" not in out
    history = json.loads(run_pgsieve("audit", "policies", "--db", db, "--json").stdout)
    assert [(h["policy"], h["change"]) for h in history] == [
        ("customer-success", "added"), ("other", "added"), ("customer-success", "changed")]
    assert history[2]["owner"] == "cs-platform@example.com"
    missing = run_pgsieve("audit", "policies", "--db", db, "--policy", "nope")
    assert missing.returncode == 2 and 'no policy "nope"' in missing.stderr
