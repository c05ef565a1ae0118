"""The audit shipped off the machine over OTLP/HTTP (issue 15), received by
a server that decodes every request with the OpenTelemetry project's own
generated protobuf code: records carry OpenTelemetry's database attribute
names and pgsieve's own, a traceparent tag becomes the trace id, and a
receiver outage loses nothing — statements go on meanwhile, and once the
receiver is back every row arrives (at least once: repeats are recognised
by their idempotency key)."""

import json
import os
import re
import sqlite3
import subprocess
import time

import psycopg
import pytest

from conftest import CLIENT_PASSWORD, free_port, make_certificate, psql, run_pgsieve, start_proxy

NODE_DIR = os.path.join(os.environ.get("PGSIEVE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../..")),
                        "tests/integration/node")


class Receiver:
    def __init__(self, directory, port=None, max_bytes=None, poison=None, tls=None):
        self.port = port or free_port()
        self.file = os.path.join(directory, "received.jsonl")
        self.max_bytes = max_bytes
        self.poison = poison
        self.tls = tls  # (cert, key): https
        self.process = None

    def start(self):
        limit = [str(self.max_bytes or 0)] + ([self.poison] if self.poison else [])
        env = dict(os.environ)
        if self.tls:
            env["RECEIVER_TLS_CERT"], env["RECEIVER_TLS_KEY"] = self.tls
        self.process = subprocess.Popen(["node", "otlp-receiver.mjs", str(self.port), self.file, *limit], cwd=NODE_DIR, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout.readline().strip() == "listening"

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    def lines(self):
        if not os.path.exists(self.file):
            return []
        with open(self.file) as f:
            return [json.loads(line) for line in f if line.strip()]

    def records(self):
        """What requests brought (log records, and refusals), not connections."""
        return [r for r in self.lines() if "connection" not in r]

    def connections(self):
        return len([r for r in self.lines() if "connection" in r])


@pytest.fixture
def receiver(tmp_path):
    r = Receiver(str(tmp_path))
    r.start()
    yield r
    if r.process.poll() is None:
        r.stop()


def exporting_proxy(tmp_path, receiver):
    return start_proxy(tmp_path, audit_extra=f"export: {{otlp: {{endpoint: 'http://127.0.0.1:{receiver.port}/v1/logs'}}}}\n",
                       extra="cluster: {instance_id: replica-a}\n")


def statement_ids(db):
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM statements ORDER BY id")]


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_statements_arrive_with_database_semantic_conventions_and_the_trace(postgres, tmp_path, receiver):
    p = exporting_proxy(tmp_path, receiver)
    try:
        with psycopg.connect(p.dsn(sslmode="disable", application_name="export-test"), autocommit=True) as conn:
            conn.execute("SELECT name FROM customers WHERE id = 1 "
                         "/*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/").fetchall()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT ssn FROM customers")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(p.dsn(sslmode="disable", password="wrong"))  # an event: a failed login
        wait_for(lambda: len([r for r in receiver.records() if r.get("scope") == "pgsieve.audit"
                              and "db.query.text" in r.get("attributes", {})]) >= 2, what="two statements")
        wait_for(lambda: any(r["attributes"].get("pgsieve.record.table") == "events" for r in receiver.records()),
                 what="the failed login's event")
    finally:
        assert p.stop() == 0, p.read_log()
    records = receiver.records()
    assert not [r for r in records if "error" in r], records
    statements = {r["attributes"]["db.query.text"]: r for r in records if "db.query.text" in r["attributes"]}
    allowed = next(r for sql, r in statements.items() if sql.startswith("SELECT name"))
    refused = statements["SELECT ssn FROM customers"]
    assert allowed["resource"] == {"service.name": "pgsieve", "service.instance.id": "replica-a"}
    a = allowed["attributes"]
    assert a["db.system.name"] == "postgresql" and a["db.namespace"] == "app"
    assert a["db.operation.name"] == "SELECT" and a["pgsieve.rows"] == 1
    assert a["pgsieve.verdict"] == "allowed" and a["pgsieve.client"] == "cs_bot"
    assert a["pgsieve.application_name"] == "export-test" and len(a["pgsieve.policy_version"]) == 16
    assert a["pgsieve.idempotency_key"] == f"replica-a/statements/{a['pgsieve.record.id']}/{a['pgsieve.record.hash']}"
    assert allowed["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736" and allowed["spanId"] == "00f067aa0ba902b7"
    assert refused["attributes"]["pgsieve.verdict"] == "blocked"
    assert refused["attributes"]["db.response.status_code"] == "42501"
    assert refused["severity"] == 13 and allowed["severity"] == 9
    assert int(allowed["time"]) > 1_700_000_000 * 10**9
    event = next(r for r in records if r["attributes"].get("pgsieve.record.table") == "events")
    assert event["attributes"]["event.name"] == f"pgsieve.{event['body']}"
    assert re.fullmatch(f"replica-a/events/{event['attributes']['pgsieve.record.id']}/[0-9a-f]{{16}}",
                        event["attributes"]["pgsieve.idempotency_key"])
    # The session ships when it starts and again when it ends; the policy text in force ships once.
    by_table = {}
    for r in records:
        by_table.setdefault(r["attributes"].get("pgsieve.record.table"), []).append(r)
    started = next(r for r in by_table["sessions"] if r["attributes"].get("pgsieve.application_name") == "export-test")
    assert started["body"] == "session_started" and started["attributes"]["pgsieve.client"] == "cs_bot"
    assert started["attributes"]["db.namespace"] == "app" and started["attributes"]["client.address"] == "127.0.0.1"
    ended = next(r for r in by_table["session_ends"] if r["attributes"]["pgsieve.session_id"] ==
                 started["attributes"]["pgsieve.session_id"])
    assert ended["body"] == "session_ended" and ended["attributes"]["pgsieve.end_reason"]
    policy = by_table["policy_versions"][0]
    assert policy["body"] == "policy_loaded" and "policies:" in policy["attributes"]["pgsieve.policy_source"]
    assert policy["attributes"]["pgsieve.policy_version"] == a["pgsieve.policy_version"]


def test_a_receiver_outage_loses_nothing_and_never_holds_statements_up(postgres, tmp_path, receiver):
    p = exporting_proxy(tmp_path, receiver)
    db = os.path.join(p.directory, "audit.db")
    try:
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            for i in range(50):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
            wait_for(lambda: len(receiver.records()) >= 50, what="the first 50")
            receiver.stop()  # the outage
            began = time.time()
            for i in range(50, 550):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
            during = time.time() - began
            wait_for(lambda: '"event":"audit_export_failed"' in p.read_log(), what="the failure to be noticed")
            receiver.start()  # recovery, same port
            wait_for(lambda: set(statement_ids(db)) <= {r["attributes"].get("pgsieve.record.id") for r in
                                                        receiver.records() if r["attributes"].get(
                                                            "pgsieve.record.table") == "statements"},
                     timeout=60, what="every statement to arrive after the outage")
    finally:
        assert p.stop() == 0, p.read_log()
    keys = [r["attributes"]["pgsieve.idempotency_key"] for r in receiver.records()
            if r["attributes"].get("pgsieve.record.table") == "statements"]
    ids = statement_ids(db)
    assert len(ids) >= 550
    assert len(set(keys)) == len(ids)  # every row, and no two keys for one row
    # At least once: a batch may repeat around the outage, never more than a batch's worth.
    assert len(keys) - len(set(keys)) <= 512
    assert during < 30, f"500 statements took {during:.1f} s during the outage"
    with sqlite3.connect(db) as conn:
        cursor = conn.execute("SELECT last_id FROM export_cursors WHERE source = 'statements'").fetchone()
    assert cursor == (max(ids),)
    assert '"event":"audit_export_resumed"' in p.read_log()


def test_an_https_endpoint_is_verified_and_its_connection_kept(postgres, tmp_path):
    # OTLP was plain http:// through a hand-written client, a connection per
    # request. Now https:// verifies the receiver's certificate and name
    # (Boost.Beast), and one connection carries many requests.
    cert, key = make_certificate(str(tmp_path))
    receiver = Receiver(str(tmp_path), tls=(cert, key))
    receiver.start()
    try:
        p = start_proxy(tmp_path, audit_extra=(
            f"export: {{otlp: {{endpoint: 'https://localhost:{receiver.port}/v1/logs', ca_file: {cert}}}}}\n"),
            extra="cluster: {instance_id: replica-a}\n")
        try:
            with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
                for i in range(30):
                    conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
                    time.sleep(0.03)  # several requests, not one batch
            wait_for(lambda: len([r for r in receiver.records() if "db.query.text" in r.get("attributes", {})]) >= 30,
                     what="every statement over https")
            assert receiver.connections() == 1, "one kept connection"
            # Node closes a connection idle for 5 s: the next request goes on a new one, without a failure.
            time.sleep(6)
            with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
                conn.execute("SELECT 31, name FROM customers WHERE id = 1").fetchall()
            wait_for(lambda: len([r for r in receiver.records() if "db.query.text" in r.get("attributes", {})]) >= 31,
                     what="the statement after the idle close")
        finally:
            assert p.stop() == 0, p.read_log()
        records = receiver.records()
        requests = {r["attributes"]["pgsieve.record.id"] for r in records if "attributes" in r}
        assert len(requests) >= 31
        assert receiver.connections() == 2
        assert "audit_export_failed" not in p.read_log(), p.read_log()

        # The system's trusted certificates do not include this one: nothing is sent.
        second = tmp_path / "untrusted"
        second.mkdir()
        before = len(receiver.records())
        p = start_proxy(second, audit_extra=f"export: {{otlp: {{endpoint: 'https://localhost:{receiver.port}/v1/logs'}}}}\n")
        try:
            with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
                conn.execute("SELECT 1, name FROM customers WHERE id = 1").fetchall()
            wait_for(lambda: '"event":"audit_export_failed"' in p.read_log(), what="the refusal")
            assert "certificate verify failed" in p.read_log(), p.read_log()
        finally:
            assert p.stop() == 0, p.read_log()
        # Nor is a certificate for another name (127.0.0.1 is in it; this name is not).
        third = tmp_path / "other-name"
        third.mkdir()
        p = start_proxy(third, audit_extra=(
            f"export: {{otlp: {{endpoint: 'https://127.0.0.2:{receiver.port}/v1/logs', ca_file: {cert}}}}}\n"))
        try:
            with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
                conn.execute("SELECT 1, name FROM customers WHERE id = 1").fetchall()
            wait_for(lambda: '"event":"audit_export_failed"' in p.read_log(), what="the refusal")
        finally:
            assert p.stop() == 0, p.read_log()
        assert not [r for r in receiver.records()[before:] if "attributes" in r]
    finally:
        receiver.stop()


def test_an_otlp_endpoint_is_checked_at_load_naming_the_key(tmp_path):
    from conftest import proxy_config, run_pgsieve
    for endpoint, extra, message in [("ftp://collector/v1/logs", "", "expected http(s)://HOST[:PORT]/PATH"),
                                     ("http://user@collector:4318/v1/logs", "", "only a host, a port and a path"),
                                     ("http://collector:99999/v1/logs", "", "the port must be 1 to 65535"),
                                     ("http://collector:4318/v1/logs", ", ca_file: /etc/hostname",
                                      "applies to https:// endpoints only"),
                                     ("https://collector:4318/v1/logs", ", ca_file: /nonexistent.pem", "cannot read")]:
        config = tmp_path / "pgsieve.yaml"
        config.write_text(proxy_config(free_port(), audit_extra=f"export: {{otlp: {{endpoint: '{endpoint}'{extra}}}}}\n"))
        result = run_pgsieve("check-config", "-c", str(config), env=dict(os.environ, PGSIEVE_TEST_UPSTREAM_PASSWORD="x",
                                                                          PGSIEVE_TEST_CLIENT_PASSWORD="y"))
        assert result.returncode != 0, endpoint
        assert "audit.export.otlp." in result.stderr + result.stdout, result.stderr
        assert message in result.stderr + result.stdout, (endpoint, result.stderr + result.stdout)


# -- the central PostgreSQL audit store ----------------------------------------------------

STORE_PASSWORD = "audit-store-password"


def ensure_role(name, password=STORE_PASSWORD):
    psql(f"DO $$ BEGIN CREATE ROLE {name} LOGIN PASSWORD '{password}'; "
         "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    psql(f"ALTER ROLE {name} LOGIN PASSWORD '{password}'")


def store_url(role, database="audit_store"):
    return f"postgresql://{role}@127.0.0.1:{os.environ['PGPORT']}/{database}?sslmode=disable"


def store_init(*args):
    from conftest import run_pgsieve
    return run_pgsieve("audit", "store-init", store_url("audit_owner"), *args,
                       env=dict(os.environ, PGPASSWORD=STORE_PASSWORD))


@pytest.fixture
def store(postgres):
    """A database of its own on the fixture server, made by its owner with
    `pgsieve audit store-init`; each replica writes as a role of its own
    (writer_role), audit_reader reviews."""
    ensure_role("audit_owner")
    ensure_role("audit_reader")
    psql("DROP DATABASE IF EXISTS audit_store WITH (FORCE)")
    psql("CREATE DATABASE audit_store OWNER audit_owner")
    made = store_init("--reader", "audit_reader")
    assert made.returncode == 0, made.stdout + made.stderr
    yield "audit_store"
    psql("DROP DATABASE IF EXISTS audit_store WITH (FORCE)")


def writer_role(instance):
    """The role replica `instance` ships as, registered with the store."""
    role = "writer_" + instance.replace("-", "_")
    ensure_role(role)
    registered = store_init("--writer", f"{role}={instance}")
    assert registered.returncode == 0, registered.stdout + registered.stderr
    return role


REVIEWER = store_url("audit_reader")


def store_outage(role):
    """The store refuses pgsieve: its kept session is ended and it may not log in again."""
    psql(f"ALTER ROLE {role} NOLOGIN")
    psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")


def store_rows(sql):
    result = psql(sql, database="audit_store", check=False)
    return result.stdout.split()


def store_export(instance):
    """The audit.export.postgresql section of replica `instance`."""
    os.environ["PGSIEVE_TEST_STORE_PASSWORD"] = STORE_PASSWORD
    return ("postgresql: {host: 127.0.0.1, port: " + os.environ["PGPORT"] + ", database: audit_store, "
            f"user: {writer_role(instance)}, password_env: PGSIEVE_TEST_STORE_PASSWORD, sslmode: disable}}")


def storing_proxy(tmp_path, instance):
    return start_proxy(tmp_path, audit_extra=f"export: {{{store_export(instance)}}}\n",
                       extra=f"cluster: {{instance_id: {instance}}}\n")


def test_the_central_store_holds_every_row_once_through_an_outage(store, tmp_path):
    p = storing_proxy(tmp_path, "replica-a")
    db = os.path.join(p.directory, "audit.db")
    try:
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            for i in range(20):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
            wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.statements") == ["20"],
                     what="the first rows in the store")
            store_outage("writer_replica_a")
            for i in range(20, 220):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
            wait_for(lambda: '"event":"audit_export_failed"' in p.read_log(), what="the outage to be noticed")
            psql("ALTER ROLE writer_replica_a LOGIN")
            wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.statements") == [
                str(len(statement_ids(db)))], timeout=60, what="the store to catch up")
    finally:
        assert p.stop() == 0, p.read_log()
    ids = statement_ids(db)
    assert store_rows("SELECT count(DISTINCT id) FROM pgsieve_audit.statements WHERE instance = 'replica-a'") == [
        str(len(ids))]
    # Partitioned by day, the hash chain carried over as it is in the file.
    assert store_rows("SELECT count(*) FROM pg_inherits WHERE inhparent = 'pgsieve_audit.statements'::regclass "
                      "AND inhrelid <> 'pgsieve_audit.statements_older'::regclass") == ["1"]
    with sqlite3.connect(db) as conn:
        local = conn.execute("SELECT hash FROM statements ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert store_rows("SELECT hash FROM pgsieve_audit.statements ORDER BY id DESC LIMIT 1") == [local]


def review(*args, password=STORE_PASSWORD):
    from conftest import run_pgsieve
    return run_pgsieve("audit", *args, env=dict(os.environ, PGPASSWORD=password))


def test_review_commands_read_the_central_store_and_verify_holds_a_file_against_it(store, tmp_path):
    p = storing_proxy(tmp_path, "replica-b")
    db = os.path.join(p.directory, "audit.db")
    try:
        with psycopg.connect(p.dsn(sslmode="disable", application_name="review-bot"), autocommit=True) as conn:
            for i in range(30):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT ssn FROM customers")
            wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.statements") == [
                str(len(statement_ids(db)))], what="the store to hold every row")
        # The session's end is shipped too: its row in the store is updated.
        wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.sessions WHERE ended_at IS NOT NULL") == ["1"],
                 what="the session's end in the store")
    finally:
        assert p.stop() == 0, p.read_log()
    url = REVIEWER
    listed = review("list", "--db", url, "--instance", "replica-b", "--blocked", "--json")
    assert listed.returncode == 0, listed.stderr
    refused = json.loads(listed.stdout)
    assert [r["sql"] for r in refused] == ["SELECT ssn FROM customers"]
    # show over the store: the statement with its session and the policy text in force, as from the file.
    shown = review("show", str(refused[0]["id"]), "--db", url, "--instance", "replica-b", "--json")
    assert shown.returncode == 0, shown.stderr
    from_file = run_pgsieve("audit", "show", str(refused[0]["id"]), "--db", db, "--json")
    assert json.loads(shown.stdout) == json.loads(from_file.stdout)
    assert "review-bot" in shown.stdout and "policies:" in shown.stdout
    verified = review("verify", "--db", url, "--instance", "replica-b")
    assert verified.returncode == 0 and "intact: " in verified.stdout, verified.stdout + verified.stderr
    # The file on its own, and held against what it shipped.
    against = review("verify", "--db", db, "--against", url, "--instance", "replica-b")
    assert against.returncode == 0 and "matches the central store" in against.stdout, against.stdout + against.stderr

    # A second replica ships into the same store: without --instance the store is every replica's log.
    (tmp_path / "second").mkdir()
    second = storing_proxy(tmp_path / "second", "replica-b2")
    try:
        with psycopg.connect(second.dsn(sslmode="disable"), autocommit=True) as conn:
            conn.execute("SELECT 'from b2', name FROM customers WHERE id = 1").fetchall()
            wait_for(lambda: store_rows(
                "SELECT count(*) FROM pgsieve_audit.statements WHERE instance = 'replica-b2'") == ["1"],
                what="the second replica's row in the store")
    finally:
        assert second.stop() == 0, second.read_log()
    fleet = review("list", "--db", url, "--json", "--limit", "0")
    assert fleet.returncode == 0, fleet.stderr
    rows = json.loads(fleet.stdout)
    assert {r["log"] for r in rows} == {"replica-b", "replica-b2"}
    assert len(rows) == len(statement_ids(db)) + 1
    assert rows[0]["log"] == "replica-b2"  # newest first, across replicas
    # Files and the store together (--db repeated), reviewed as one.
    both = review("list", "--db", db, "--db", url, "--instance", "replica-b", "--blocked", "--json")
    assert both.returncode == 0, both.stderr
    assert sorted(r["log"] for r in json.loads(both.stdout)) == sorted([db, "replica-b"])
    stats = review("stats", "--db", db, "--db", os.path.join(second.directory, "audit.db"), "--json")
    assert stats.returncode == 0, stats.stderr
    assert len(json.loads(stats.stdout)["verdicts by log"]) == 2, stats.stdout
    # Attack: an instance id in the store is text a writer chose, never a path on the reviewer's machine.
    escape = "/tmp/pgsieve-escape-test"
    if os.path.exists(escape + ".db"):
        os.remove(escape + ".db")
    psql("INSERT INTO pgsieve_audit.statements (instance, id, ts, protocol, verdict, tables, columns, tags, "
         f"prev_hash, hash) VALUES ('../../../..{escape}', 1, now(), 'simple', 'allowed', '[]', '[]', '{{}}', "
         "repeat('0', 64), repeat('0', 64))", database="audit_store")
    listed_all = review("list", "--db", url, "--json")
    assert listed_all.returncode == 0, listed_all.stderr
    assert f"../../../..{escape}" in {r["log"] for r in json.loads(listed_all.stdout)}
    assert not os.path.exists(escape + ".db")
    psql(f"DELETE FROM pgsieve_audit.statements WHERE instance = '../../../..{escape}'", database="audit_store")
    each = review("verify", "--db", db, "--db", url)
    assert each.returncode == 0, each.stdout + each.stderr
    assert each.stdout.count("intact: ") == 3, each.stdout  # the file, and each replica in the store

    # Attack: delete the newest rows of the file. Its own chain still verifies…
    with sqlite3.connect(db) as conn:
        newest = conn.execute("SELECT max(id) FROM statements").fetchone()[0]
        conn.execute("DELETE FROM statements WHERE id > ?", (newest - 3,))
    assert review("verify", "--db", db).returncode == 0
    # …the shipped copy does not.
    caught = review("verify", "--db", db, "--against", url, "--instance", "replica-b")
    assert caught.returncode == 1 and f"statement {newest - 2} was shipped" in caught.stdout, caught.stdout


def test_attack_a_replaced_audit_file_is_not_shipped_into_the_history_of_its_instance(store, tmp_path):
    """A new file under an old instance id starts its ids at 1 again: shipped,
    its rows would mix with the old ones (or be dropped as repeats). The
    exporter refuses, says why, and keeps the rows in the file."""
    first = storing_proxy(tmp_path, "replica-e")
    db = os.path.join(first.directory, "audit.db")
    try:
        with psycopg.connect(first.dsn(sslmode="disable"), autocommit=True) as conn:
            for i in range(5):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
        wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.statements") == ["5"], what="five rows shipped")
    finally:
        assert first.stop() == 0, first.read_log()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    (tmp_path / "again").mkdir()
    second = storing_proxy(tmp_path / "again", "replica-e")
    second_db = os.path.join(second.directory, "audit.db")
    try:
        with psycopg.connect(second.dsn(sslmode="disable"), autocommit=True) as conn:
            for i in range(7):
                conn.execute(f"SELECT 'new {i}', name FROM customers WHERE id = 1").fetchall()
        wait_for(lambda: "give this replica a new cluster.instance_id" in second.read_log(), what="the refusal")
        time.sleep(1)
        # The store keeps the first file's history only; the new rows wait in the new file.
        assert store_rows("SELECT count(*) FROM pgsieve_audit.statements") == ["5"]
        assert store_rows("SELECT count(*) FROM pgsieve_audit.statements WHERE sql LIKE '%new%'") == ["0"]
        assert len(statement_ids(second_db)) == 7
    finally:
        assert second.stop() == 0, second.read_log()
    # Not at shutdown either, when the exporter makes its last pass.
    assert store_rows("SELECT count(*) FROM pgsieve_audit.statements") == ["5"]


def test_attack_a_recomputed_chain_is_caught_against_the_central_store(store, tmp_path):
    p = storing_proxy(tmp_path, "replica-c")
    db = os.path.join(p.directory, "audit.db")
    try:
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            for i in range(10):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
            wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.statements") == [
                str(len(statement_ids(db)))], what="the store to hold every row")
    finally:
        assert p.stop() == 0, p.read_log()
    # Rewrite a statement's text and recompute every hash after it with the
    # chain's published canonical form (audit/src/schema.cpp), as an attacker
    # with the file and pgsieve's source can.
    import hashlib

    def canonical(prev, values):
        out = prev
        for v in values:
            if isinstance(v, int):
                out += f"I{v};"
            elif isinstance(v, str):
                out += f"T{len(v.encode())}:{v}"
            else:
                out += "N;"
        return hashlib.sha256(out.encode()).hexdigest()

    chained = ("id, session_id, ts, client, policy, policy_version, protocol, statement_name, sql, fingerprint, "
               "verdict, reason, rule, tables, columns, tags, command_tag, rows, bytes, duration_us, sqlstate, error, "
               "row_scoped")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE statements SET sql = 'SELECT 1' WHERE id = 5")
        conn.commit()
        assert review("verify", "--db", db).returncode == 1  # the plain chain notices the edit…
        prev = conn.execute("SELECT prev_hash FROM statements WHERE id = 5").fetchone()[0]
        for (rid,) in conn.execute("SELECT id FROM statements WHERE id >= 5 ORDER BY id").fetchall():
            values = conn.execute(f"SELECT {chained} FROM statements WHERE id = ?", (rid,)).fetchone()
            new = canonical(prev, values)
            conn.execute("UPDATE statements SET prev_hash = ?, hash = ? WHERE id = ?", (prev, new, rid))
            prev = new
        conn.commit()
    # …and after the recomputation the file verifies on its own:
    own = review("verify", "--db", db)
    assert own.returncode == 0 and "intact" in own.stdout, own.stdout
    url = REVIEWER
    caught = review("verify", "--db", db, "--against", url, "--instance", "replica-c")
    # The copy that left the machine before the edit does not match.
    assert caught.returncode == 1, caught.stdout
    assert "statement 5" in caught.stdout


def test_retention_deletes_only_shipped_rows_and_the_file_still_verifies(postgres, tmp_path, receiver):
    p = start_proxy(tmp_path, audit_extra=(f"export: {{otlp: {{endpoint: 'http://127.0.0.1:{receiver.port}/v1/logs'}}}}\n"
                                           "retention: 2s\n"))
    db = os.path.join(p.directory, "audit.db")
    try:
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            for i in range(30):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
            wait_for(lambda: len(receiver.records()) >= 30, what="the first 30 to be shipped")
            receiver.stop()  # what is not shipped must stay, however old
            for i in range(30, 40):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
            wait_for(lambda: len(statement_ids(db)) <= 10 and '"event":"audit_retention"' in p.read_log(),
                     what="the shipped rows to leave the file")
            time.sleep(3)  # older than the retention now, but never shipped
            ids = statement_ids(db)
            assert len(ids) >= 10, ids  # the 10 unshipped rows (and at most the newest shipped one)
            receiver.start()
            wait_for(lambda: len(statement_ids(db)) == 1, what="the rest to be shipped, then deleted")
    finally:
        assert p.stop() == 0, p.read_log()
    from conftest import run_pgsieve
    verified = run_pgsieve("audit", "verify", "--db", db)
    assert verified.returncode == 0 and "intact: 1 statements" in verified.stdout, verified.stdout
    shipped = {r["attributes"]["pgsieve.record.id"] for r in receiver.records()
               if r["attributes"].get("pgsieve.record.table") == "statements"}
    assert len(shipped) >= 40


def test_retention_without_a_destination_is_refused_at_load(tmp_path):
    from conftest import proxy_config, run_pgsieve
    config = tmp_path / "pgsieve.yaml"
    config.write_text(proxy_config(free_port(), audit_extra="retention: 30d\n"))
    result = run_pgsieve("check-config", "-c", str(config), env=dict(os.environ, PGSIEVE_TEST_UPSTREAM_PASSWORD="x",
                                                                      PGSIEVE_TEST_CLIENT_PASSWORD="y"))
    assert result.returncode == 2
    assert "audit.retention: deletes only rows already shipped" in result.stdout + result.stderr


CHECKPOINT_KEY = "0123456789abcdef0123456789abcdef-checkpoint-key"


def test_signed_checkpoints_catch_a_rewrite_the_chain_alone_and_the_store_alone_would_miss(store, tmp_path):
    os.environ["PGSIEVE_TEST_CHECKPOINT_KEY"] = CHECKPOINT_KEY
    os.environ["PGSIEVE_TEST_STORE_PASSWORD"] = STORE_PASSWORD
    p = start_proxy(tmp_path, audit_extra=(
        f"export: {{{store_export('replica-d')}}}\n"
        "checkpoint_key_env: PGSIEVE_TEST_CHECKPOINT_KEY\ncheckpoint_interval: 200ms\n"),
        extra="cluster: {instance_id: replica-d}\n")
    db = os.path.join(p.directory, "audit.db")
    try:
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            for i in range(20):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
                time.sleep(0.02)
    finally:
        assert p.stop() == 0, p.read_log()  # the head at shutdown is signed and shipped too
    # (stop() waits for the last pass of the export)
    wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.events WHERE kind = 'chain_checkpoint'") != ["0"],
             what="checkpoints in the store")
    url = REVIEWER
    env = dict(os.environ, PGPASSWORD=STORE_PASSWORD)
    from conftest import run_pgsieve

    def verify(*args):
        return run_pgsieve("audit", "verify", *args, "--key-env", "PGSIEVE_TEST_CHECKPOINT_KEY", env=env)

    ok = verify("--db", db, "--against", url, "--instance", "replica-d")
    assert ok.returncode == 0 and "signed checkpoints verified" in ok.stdout and "matches the central store" in ok.stdout, \
        ok.stdout + ok.stderr
    # Attack: a checkpoint forged without the key.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE events SET detail = json_set(detail, '$.last_hash', 'f00d') "
                     "WHERE id = (SELECT max(id) FROM events WHERE kind = 'chain_checkpoint')")
    forged = verify("--db", db)
    assert forged.returncode == 1 and "not signed with this key" in forged.stdout, forged.stdout
    # Attack: the newest rows rewritten in the store itself (the attacker can write it):
    # the store's signed heads no longer match its rows.
    newest = store_rows("SELECT max(id) FROM pgsieve_audit.statements")[0]
    psql(f"UPDATE pgsieve_audit.statements SET hash = repeat('0', 64) WHERE id = {newest}", database="audit_store")
    rewritten = verify("--db", url, "--instance", "replica-d")
    # The store's own chain notices the edited hash, or the signature does: either way, TAMPERED.
    assert rewritten.returncode == 1 and "TAMPERED" in rewritten.stdout, rewritten.stdout
    wrong_key = run_pgsieve("audit", "verify", "--db", db, "--key-env", "PGSIEVE_TEST_NO_SUCH_KEY", env=env)
    assert wrong_key.returncode == 2 and "PGSIEVE_TEST_NO_SUCH_KEY is not set" in wrong_key.stderr


def test_attack_invalid_utf8_in_a_name_does_not_stop_the_audit_leaving_the_machine(store, tmp_path, receiver):
    # Invalid UTF-8 in application_name (any client) or in a failed login's
    # user name (anyone) was stored raw: PostgreSQL and a strict OTLP
    # receiver reject the batch, and the exporter retried it forever.
    os.environ["PGSIEVE_TEST_STORE_PASSWORD"] = STORE_PASSWORD
    p = start_proxy(tmp_path, audit_extra=(
        f"export: {{otlp: {{endpoint: 'http://127.0.0.1:{receiver.port}/v1/logs'}}, {store_export('replica-a')}}}\n"),
        extra="cluster: {instance_id: replica-a}\n")
    db = os.path.join(p.directory, "audit.db")
    try:
        env = {k.encode(): v.encode() for k, v in os.environ.items()}
        env.update({b"PGHOST": p.host.encode(), b"PGPORT": str(p.port).encode(), b"PGDATABASE": b"app",
                    b"PGSSLMODE": b"disable", b"PGPASSWORD": CLIENT_PASSWORD.encode()})
        for user, appname in ((b"cs_bot", b"app\xff\xfe\xc3"), (b"\xffnobody\xed\xa0\x80", b"x")):
            subprocess.run([b"psql", b"-X", b"-c", b"SELECT name FROM customers WHERE id = 1"],
                           env={**env, b"PGUSER": user, b"PGAPPNAME": appname}, capture_output=True, timeout=30)
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            for i in range(50):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
        total = 51  # psql's one and these 50
        wait_for(lambda: len(statement_ids(db)) == total, what="every statement in the file")
        wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.statements") == [str(total)], timeout=60,
                 what="every statement in the store")
        wait_for(lambda: len([r for r in receiver.records() if "db.query.text" in r.get("attributes", {})]) >= total,
                 timeout=60, what="every statement at the OTLP receiver")
        wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.events WHERE kind = 'auth_failed'") == ["1"],
                 timeout=60, what="the failed login's event in the store")
    finally:
        assert p.stop() == 0, p.read_log()
    assert not [r for r in receiver.records() if "error" in r]
    # Replaced, not dropped: U+FFFD where the bytes were.
    assert store_rows("SELECT count(*) FROM pgsieve_audit.sessions WHERE application_name = 'app' || "
                      "repeat(U&'\\FFFD', 3)") == ["1"]
    assert "audit_export_failed" not in p.read_log()


def test_attack_large_refused_statements_do_not_stop_the_otlp_export_for_good(postgres, tmp_path):
    # Refused statements are recorded in full: 24 of ~1 MB made a 512-row
    # batch larger than a collector's request limit, answered 413 forever.
    # The receiver starts only once every statement is in the file, so the
    # exporter's first request holds all of them (about 790 KiB once each
    # text is cut to 64 KiB) whatever the machine's speed: a 413 is certain.
    receiver = Receiver(str(tmp_path), max_bytes=512 * 1024)
    p = exporting_proxy(tmp_path, receiver)
    db = os.path.join(p.directory, "audit.db")
    try:
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            for i in range(12):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"SELECT ssn FROM customers /* {i} {'x' * 200_000} */")
            for i in range(20):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
        wait_for(lambda: len(statement_ids(db)) == 32, what="every statement in the file")
        receiver.start()
        wait_for(lambda: len([r for r in receiver.records() if "db.query.text" in r.get("attributes", {})]) >= 32,
                 timeout=60, what="every statement at the receiver")
    finally:
        assert p.stop() == 0, p.read_log()
        if receiver.process:
            receiver.stop()
    assert any("refused" in r for r in receiver.records()), "the receiver answered 413 at least once"
    records = [r for r in receiver.records() if "db.query.text" in r.get("attributes", {})]
    big = [r for r in records if r["attributes"]["db.query.text"].startswith("SELECT ssn")]
    assert len({r["attributes"]["pgsieve.record.id"] for r in big}) == 12
    assert all(r["attributes"].get("pgsieve.truncated") == 1 for r in big)
    assert all(len(r["attributes"]["db.query.text"].encode()) <= 64 * 1024 for r in big)
    # The full text stays in the file.
    with sqlite3.connect(db) as conn:
        assert min(len(t) for (t,) in conn.execute("SELECT sql FROM statements WHERE sql LIKE 'SELECT ssn%'")) > 200_000


def test_attack_verify_against_the_store_names_rewritten_sessions_events_and_policy_text(store, tmp_path):
    # `audit verify --against` compared statements only: a copy of the file
    # with every event deleted (the failed logins), a session's address and
    # application name rewritten, or the policy text changed (so a past read
    # of ssn looks granted) verified as intact against the store.
    p = storing_proxy(tmp_path, "replica-v")
    db = os.path.join(p.directory, "audit.db")
    try:
        with psycopg.connect(p.dsn(sslmode="disable", application_name="verify-bot"), autocommit=True) as conn:
            conn.execute("SELECT name FROM customers WHERE id = 1").fetchall()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(p.dsn(sslmode="disable", password="wrong"))
        wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.events WHERE kind = 'auth_failed'") == ["1"],
                 what="the failed login in the store")
        wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.sessions WHERE ended_at IS NOT NULL") == ["1"],
                 what="the session's end in the store")
    finally:
        assert p.stop() == 0, p.read_log()
    url = REVIEWER
    clean = review("verify", "--db", db, "--against", url, "--instance", "replica-v")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "1 sessions" in clean.stdout and "1 policy versions" in clean.stdout, clean.stdout

    tampers = {
        "event": ("DELETE FROM events WHERE kind = 'auth_failed'", "event {} was shipped", "SELECT id FROM events WHERE kind = 'auth_failed'"),
        "session address": ("UPDATE sessions SET client_addr = '10.9.9.9'", "session {} differs", "SELECT id FROM sessions"),
        "application name": ("UPDATE sessions SET application_name = 'innocent'", "application_name differs", None),
        "policy text": ("UPDATE policy_versions SET source = replace(source, 'columns: [id, name', "
                        "'columns: [id, ssn, name')", "source differs", None),
    }
    for name, (sql, expected, id_query) in tampers.items():
        copy = tmp_path / f"tampered-{name.replace(' ', '-')}.db"
        with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        with sqlite3.connect(copy) as conn:
            row_id = conn.execute(id_query).fetchone()[0] if id_query else None
            changed = conn.execute(sql).rowcount
            assert changed > 0, name
        caught = review("verify", "--db", str(copy), "--against", url, "--instance", "replica-v")
        assert caught.returncode == 1 and "TAMPERED" in caught.stdout, (name, caught.stdout + caught.stderr)
        assert (expected.format(row_id) if row_id is not None else expected) in caught.stdout, (name, caught.stdout)


def test_attack_verify_against_an_unauthenticated_store_is_refused_with_verify_full(store, tmp_path):
    # --against accepted only sslmode=disable|prefer|require: a verification
    # trusted whichever server answered. verify-full needs the CA, and a
    # store that cannot prove itself (here: no TLS at all) is not read.
    p = start_proxy(tmp_path)  # an audit file to hold against the store
    with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
        conn.execute("SELECT 1").fetchall()
    assert p.stop() == 0, p.read_log()
    db = os.path.join(p.directory, "audit.db")
    base = f"postgresql://audit_reader@127.0.0.1:{os.environ['PGPORT']}/audit_store"
    missing_ca = review("verify", "--db", str(db), "--against", base + "?sslmode=verify-full", "--instance", "x")
    assert missing_ca.returncode == 2 and "needs sslrootcert" in missing_ca.stderr, missing_ca.stderr
    cert, _ = make_certificate(str(tmp_path))
    refused = review("verify", "--db", str(db), "--against", f"{base}?sslmode=verify-full&sslrootcert={cert}",
                     "--instance", "x")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "TLS" in refused.stderr or "SSL" in refused.stderr, refused.stderr
    # URLs are parsed as URLs: percent-encoding, and nothing unknown passes silently.
    odd = review("list", "--db", base.replace("audit_reader", "audit%5Freader") + "?sslmode=disable&sslcert=x")
    assert odd.returncode == 2 and 'parameter "sslcert" is not understood' in odd.stderr, odd.stderr


def test_attack_a_compromised_replica_can_only_append_to_the_central_store_as_itself(store, tmp_path):
    # The replica's store role ran the DDL and owned the tables: it could
    # UPDATE, DELETE or TRUNCATE any instance's rows, and `instance` was
    # whatever it declared. Now it may only call append(), as itself.
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    other = storing_proxy(tmp_path / "b", "replica-b")
    with psycopg.connect(other.dsn(sslmode="disable"), autocommit=True) as conn:
        conn.execute("SELECT 1, name FROM customers WHERE id = 1").fetchall()
    assert other.stop() == 0, other.read_log()
    p = storing_proxy(tmp_path / "a", "replica-a")
    try:
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            conn.execute("SELECT 2, name FROM customers WHERE id = 1").fetchall()
        wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.sessions WHERE ended_at IS NOT NULL") == ["2"],
                 what="both replicas' rows in the store")
    finally:
        assert p.stop() == 0, p.read_log()
    before = store_rows("SELECT instance, id, hash, sql FROM pgsieve_audit.statements ORDER BY instance, id")

    def as_replica_a(sql):
        return psql(sql, user="writer_replica_a", password=STORE_PASSWORD, database="audit_store", check=False)

    for attack in ["UPDATE pgsieve_audit.statements SET sql = 'SELECT 1' WHERE instance = 'replica-b'",
                   "DELETE FROM pgsieve_audit.statements",
                   "TRUNCATE pgsieve_audit.statements",
                   "UPDATE pgsieve_audit.statements_older SET sql = ''",
                   f"DELETE FROM pgsieve_audit.statements_{time.strftime('%Y%m%d', time.gmtime())}",
                   "DELETE FROM pgsieve_audit.writers",
                   "INSERT INTO pgsieve_audit.writers VALUES ('writer_replica_a', 'replica-c')",
                   "INSERT INTO pgsieve_audit.statements (instance, id, ts, verdict, prev_hash, hash) "
                   "VALUES ('replica-b', 99, now(), 'allowed', '', '')",
                   "DROP TABLE pgsieve_audit.events",
                   "ALTER TABLE pgsieve_audit.statements DISABLE ROW LEVEL SECURITY",
                   "CREATE TABLE pgsieve_audit.statements_20990101 (LIKE pgsieve_audit.statements)",
                   "CREATE OR REPLACE FUNCTION pgsieve_audit.append(stream text, records jsonb) RETURNS bigint "
                   "LANGUAGE sql AS 'SELECT 0::bigint'",
                   "SELECT count(*) FROM pgsieve_audit.statements"]:
        result = as_replica_a(attack)
        assert result.returncode != 0, attack
        assert "permission denied" in result.stderr or "must be owner" in result.stderr, (attack, result.stderr)
    # Through append(): a row naming another instance is stored as the caller's…
    forged = ('[{"instance": "replica-b", "id": 1000, "ts": "' + time.strftime('%Y-%m-%dT%H:%M:%S.000000Z', time.gmtime())
              + '", "verdict": "allowed", "sql": "forged", "prev_hash": "", "hash": ""}]')
    assert as_replica_a(f"SELECT pgsieve_audit.append('statements', '{forged}')").stdout.strip() == "1"
    assert store_rows("SELECT instance FROM pgsieve_audit.statements WHERE sql = 'forged'") == ["replica-a"]
    # …an ended session's end cannot be rewritten, nor an existing row replaced…
    ended = store_rows("SELECT id FROM pgsieve_audit.sessions WHERE instance = 'replica-a'")
    rewrite = ('[{"id": ' + ended[0] + ', "started_at": "2020-01-01T00:00:00Z", "ended_at": "2020-01-01T00:00:01Z", '
               '"client": "x", "tls": 0, "end_reason": "rewritten"}]')
    assert as_replica_a(f"SELECT pgsieve_audit.append('session_ends', '{rewrite}')").stdout.strip() == "0"
    assert as_replica_a(f"SELECT pgsieve_audit.append('sessions', '{rewrite}')").stdout.strip() == "0"
    assert store_rows("SELECT count(*) FROM pgsieve_audit.sessions WHERE end_reason = 'rewritten'") == ["0"]
    # …and far-future dates (a partition per day) are refused.
    future = forged.replace(time.strftime('%Y-'), "2999-").replace("1000", "1001")
    refused = as_replica_a(f"SELECT pgsieve_audit.append('statements', '{future}')")
    assert refused.returncode != 0 and "is not a row pgsieve wrote" in refused.stderr, refused.stderr
    after = store_rows("SELECT instance, id, hash, sql FROM pgsieve_audit.statements WHERE sql <> 'forged' "
                       "ORDER BY instance, id")
    assert after == before
    # A role the owner never registered may not append at all.
    ensure_role("stranger")
    psql("GRANT USAGE ON SCHEMA pgsieve_audit TO stranger", database="audit_store")
    stranger = psql("SELECT pgsieve_audit.append('statements', '[]')", user="stranger", password=STORE_PASSWORD,
                    database="audit_store", check=False)
    assert stranger.returncode != 0 and "permission denied for function append" in stranger.stderr, stranger.stderr
    psql("GRANT EXECUTE ON FUNCTION pgsieve_audit.append(text, jsonb) TO stranger", database="audit_store")
    stranger = psql("SELECT pgsieve_audit.append('statements', '[]')", user="stranger", password=STORE_PASSWORD,
                    database="audit_store", check=False)
    assert stranger.returncode != 0 and 'role "stranger" is not a writer' in stranger.stderr, stranger.stderr


def test_attack_a_replica_shipping_as_another_instance_is_refused_and_says_why(store, tmp_path):
    # One role, one instance: a second replica configured with replica-a's
    # role (or a replica renamed) would write into replica-a's history.
    role = writer_role("replica-a")
    os.environ["PGSIEVE_TEST_STORE_PASSWORD"] = STORE_PASSWORD
    p = start_proxy(tmp_path, audit_extra=(
        "export: {postgresql: {host: 127.0.0.1, port: " + os.environ["PGPORT"] + ", database: audit_store, "
        f"user: {role}, password_env: PGSIEVE_TEST_STORE_PASSWORD, sslmode: disable}}}}\n"),
        extra="cluster: {instance_id: replica-z}\n")
    try:
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            conn.execute("SELECT 1, name FROM customers WHERE id = 1").fetchall()
        wait_for(lambda: 'binds role \\"writer_replica_a\\" to instance \\"replica-a\\"' in p.read_log(),
                 what="the refusal in the log")
    finally:
        assert p.stop() == 0, p.read_log()
    assert store_rows("SELECT count(*) FROM pgsieve_audit.statements") == ["0"]
    # The owner's command will not bind a role twice, an instance twice, or a superuser.
    ensure_role("writer_second")
    again = store_init("--writer", "writer_second=replica-a")
    assert again.returncode == 2 and 'instance "replica-a" is already written by role "writer_replica_a"' in again.stderr
    moved = store_init("--writer", "writer_replica_a=replica-q")
    assert moved.returncode == 2 and 'already writes as instance "replica-a"' in moved.stderr, moved.stderr
    superuser = store_init("--writer", "postgres=replica-s")
    assert superuser.returncode == 2 and "can do more than append" in superuser.stderr, superuser.stderr
    missing = store_init("--writer", "nobody_here=replica-n")
    assert missing.returncode == 2 and 'role "nobody_here" does not exist' in missing.stderr, missing.stderr


def test_attack_a_poisoned_row_in_each_stream_is_quarantined_and_every_other_row_ships(store, tmp_path):
    # A row a destination refused for its content stopped that stream for
    # good: the exporter retried it forever and nothing after it shipped.
    # Here the file holds a row in every stream the store refuses (dated
    # 2999, or not a time at all) and a statement an OTLP pipeline refuses
    # (400); each is quarantined with an event, every other row ships.
    first = start_proxy(tmp_path, extra="cluster: {instance_id: replica-p}\n")  # no export yet
    with psycopg.connect(first.dsn(sslmode="disable"), autocommit=True) as conn:
        conn.execute("SELECT 1, name FROM customers WHERE id = 1").fetchall()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(first.dsn(sslmode="disable", password="wrong"))  # an event
    assert first.stop() == 0, first.read_log()
    db = os.path.join(first.directory, "audit.db")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE statements SET ts = '2999-01-01T00:00:00.000000Z' WHERE id = 1")
        conn.execute("UPDATE events SET ts = '2999-01-01T00:00:00.000000Z' WHERE id = (SELECT min(id) FROM events)")
        conn.execute("UPDATE sessions SET started_at = 'not a time' WHERE id = (SELECT min(id) FROM sessions)")
        conn.execute("UPDATE policy_versions SET loaded_at = 'not a time'")
    receiver = Receiver(str(tmp_path), poison="POISON-MARKER")
    receiver.start()
    p = start_proxy(tmp_path, audit_extra=(
        f"export: {{otlp: {{endpoint: 'http://127.0.0.1:{receiver.port}/v1/logs'}}, {store_export('replica-p')}}}\n"),
        extra="cluster: {instance_id: replica-p}\n")
    try:
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            conn.execute("SELECT 2, name FROM customers WHERE id = 1 /* POISON-MARKER */").fetchall()
            with conn.pipeline():
                for i in range(10_000):
                    conn.execute("SELECT %s::int, name FROM customers WHERE id = 1", (i,))
        total = 10_000 + 2
        wait_for(lambda: len(statement_ids(db)) == total, what="every statement in the file")
        wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.statements") == [str(total - 1)],
                 timeout=120, what="every statement but the poisoned one in the store")
        wait_for(lambda: len([r for r in receiver.records() if "db.query.text" in r.get("attributes", {})])
                 >= total - 1, timeout=120, what="every statement but the poisoned one at the receiver")
        # Both destinations' quarantine events reach both destinations.
        wait_for(lambda: store_rows("SELECT count(*) FROM pgsieve_audit.events "
                                    "WHERE kind = 'audit_export_quarantined'") == ["6"],
                 timeout=60, what="the quarantine events in the store")
    finally:
        assert p.stop() == 0, p.read_log()
        receiver.stop()
    with sqlite3.connect(db) as conn:
        quarantined = [json.loads(d) for (d,) in conn.execute(
            "SELECT detail FROM events WHERE kind = 'audit_export_quarantined' ORDER BY id")]
    by_destination = {}
    for q in quarantined:
        by_destination.setdefault(q["destination"].split()[0], set()).add(q["table"])
    assert by_destination == {"postgresql": {"statements", "events", "sessions", "session_ends", "policy_versions"},
                              "otlp": {"statements"}}, quarantined
    store_says = next(q for q in quarantined if q["destination"].startswith("postgresql") and q["table"] == "statements")
    assert store_says["id"] == "1" and "is not a row pgsieve wrote" in store_says["error"], store_says
    otlp_says = next(q for q in quarantined if q["destination"].startswith("otlp"))
    assert otlp_says["id"] == "2" and "400" in otlp_says["error"], otlp_says
    # Each row is still in the file, and went to the destination that took it.
    assert store_rows("SELECT count(*) FROM pgsieve_audit.statements WHERE sql LIKE '%POISON-MARKER%'") == ["1"]
    at_receiver = {r["attributes"]["pgsieve.record.id"] for r in receiver.records()
                   if r.get("attributes", {}).get("pgsieve.record.table") == "statements"}
    assert 1 in at_receiver and 2 not in at_receiver
    assert '"event":"audit_export_quarantined"' in p.read_log()
    # The review reads the store a page (5,000 rows) at a time: all 10,001 come back, in order.
    listed = review("list", "--db", REVIEWER, "--instance", "replica-p", "--limit", "0", "--json")
    assert listed.returncode == 0, listed.stderr
    ids = [r["id"] for r in json.loads(listed.stdout)]
    assert len(ids) == total - 1 and ids == sorted(ids, reverse=True) and 1 not in ids


def test_a_stalled_export_raises_its_metric_and_an_event_the_other_destination_carries(store, tmp_path, receiver):
    # A destination that stops taking rows was visible only as a log line
    # per distinct error: nothing said how far behind the audit was.
    from test_admin import get, samples
    role = writer_role("replica-s")
    admin_port = free_port()
    p = start_proxy(tmp_path, audit_extra=(
        f"export: {{otlp: {{endpoint: 'http://127.0.0.1:{receiver.port}/v1/logs'}}, {store_export('replica-s')}, "
        "stalled_after: 2s}\n"),
        extra=f"cluster: {{instance_id: replica-s}}\nadmin: {{address: 127.0.0.1, port: {admin_port}}}\n")
    store = f"postgresql 127.0.0.1:{os.environ['PGPORT']}/audit_store"
    otlp = f"otlp http://127.0.0.1:{receiver.port}/v1/logs"

    def metric(name, destination):
        return samples(get(admin_port, "/metrics")[2]).get(f'{name}{{destination="{destination}"}}')

    try:
        store_outage(role)
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            for i in range(5):
                conn.execute(f"SELECT {i}, name FROM customers WHERE id = 1").fetchall()
        wait_for(lambda: metric("pgsieve_audit_export_stalled", store) == 1, timeout=60, what="the stall")
        assert metric("pgsieve_audit_export_lag_seconds", store) >= 2
        assert metric("pgsieve_audit_export_failures_total", store) >= 1
        assert metric("pgsieve_audit_export_stalled", otlp) == 0
        wait_for(lambda: any(r["attributes"].get("pgsieve.record.table") == "events"
                             and "audit_export_stalled" in json.dumps(r) for r in receiver.records()),
                 what="the stall's event at the OTLP receiver")
        assert '"event":"audit_export_stalled"' in p.read_log()
        psql(f"ALTER ROLE {role} LOGIN")
        wait_for(lambda: metric("pgsieve_audit_export_stalled", store) == 0, timeout=60, what="the export to resume")
        wait_for(lambda: metric("pgsieve_audit_export_lag_seconds", store) == 0, timeout=30, what="the store to catch up")
        assert metric("pgsieve_audit_export_shipped_total", store) >= 5
    finally:
        psql(f"ALTER ROLE {role} LOGIN")
        assert p.stop() == 0, p.read_log()
    # The store has the stall's event too, once it came back.
    assert store_rows("SELECT count(*) FROM pgsieve_audit.events WHERE kind = 'audit_export_stalled'") == ["1"]


def test_attack_a_receiver_that_accepts_and_never_answers_does_not_stall_the_export_for_good(postgres, tmp_path):
    # Each request has a deadline; the kept connection is dropped after one
    # passes, and the next attempt starts clean.
    import socket
    port = free_port()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)  # accepted by the kernel, never read or answered
    receiver = Receiver(str(tmp_path), port=port)
    p = exporting_proxy(tmp_path, receiver)
    try:
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            conn.execute("SELECT 1, name FROM customers WHERE id = 1").fetchall()
        wait_for(lambda: "no answer within" in p.read_log(), timeout=40, what="the deadline")
        listener.close()
        receiver.start()
        wait_for(lambda: any("db.query.text" in r.get("attributes", {}) for r in receiver.records()), timeout=60,
                 what="the statement once a receiver answers")
    finally:
        assert p.stop() == 0, p.read_log()
        if receiver.process:
            receiver.stop()
