"""Masked columns end to end (issue 23), the differential proof.

Every value of the masked columns is a canary. A hand-written inference set
(bisection with LIKE and comparisons, ORDER BY + LIMIT, functions, joins,
grouping, EXISTS, CASE, casts, windows, set operations, JSON and row
constructors, EXPLAIN ANALYZE, errors forced by casts, COPY) and a SQLsmith
stream run through pgsieve with every driver the tests use — psql's simple
Query, psycopg (text, binary, prepared), asyncpg (binary), node-postgres
(unnamed and named), postgres.js and pgJDBC (binary after
prepareThreshold) — and the same statements straight against PostgreSQL.
Pass: no canary reaches a client through pgsieve, each statement that uses
a masked column other than as a bare projection is refused with 42501
naming it, and each bare projection is allowed and masked.
"""

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import asyncpg
import psycopg
import pytest

from conftest import CLIENT_PASSWORD, UPSTREAM_PASSWORD, psql, run_pgsieve, start_proxy

HERE = os.path.dirname(os.path.abspath(__file__))

KEY = "mask-key-for-tests-0123456789abcdef"

# `dropme` is dropped so the masked columns' attribute numbers are not their
# positions (the RowDescription cross-check uses attnums).
SETUP = """
DROP TABLE IF EXISTS public.mk_people CASCADE;
CREATE TABLE public.mk_people (id int PRIMARY KEY, dropme int, name text NOT NULL, ssn text, email text, pin int);
ALTER TABLE public.mk_people DROP COLUMN dropme;
COMMENT ON COLUMN public.mk_people.ssn IS 'Social security number';
GRANT SELECT ON public.mk_people TO ai_readonly;
CREATE VIEW public.mk_names AS SELECT id, name FROM public.mk_people;
CREATE VIEW public.mk_view AS SELECT id, name, length(ssn) AS ssn_length FROM public.mk_people;
CREATE VIEW public.mk_view2 AS SELECT id FROM public.mk_view;
GRANT SELECT ON public.mk_names, public.mk_view, public.mk_view2 TO ai_readonly;
INSERT INTO public.mk_people VALUES
  (1, 'NAME-A', 'CANARY-SSN-111-11-1111', 'canary.local.a@example.com', 735190),
  (2, 'NAME-B', 'CANARY-SSN-222-22-2222', 'canary.local.b@example.org', 482913),
  (3, 'NAME-C', 'CANARY-SSN-111-11-1111', NULL, 735190),
  (4, 'NAME-D', NULL, 'no-at-sign', NULL);
"""
# No statement below spells one of these out: seeing one means it leaked.
CANARIES = ["111-11-1111", "222-22-2222", "canary.local.a", "canary.local.b", "735190", "482913"]

POLICY = """\
      {name}:
        {mode}statements: [select, explain]
        catalog: introspection
        mask: {{pii: hash}}
        mask_key_env: PGSIEVE_TEST_MASK_KEY
        tables:
          public.mk_people: {{mask: {{email: email_domain}}}}
          public.mk_names: {{}}
          public.mk_view: {{}}
          public.mk_view2: {{}}
"""
POLICIES = "    policies:\n" + POLICY.format(name="customer-success", mode="") + POLICY.format(
    name="watch", mode="mode: monitor\n        ")
CLASSIFICATION = "classification: {pii: [public.mk_people.ssn, public.mk_people.pin]}\n"

# Bare projections: allowed, and masked in the result. (position of id, of ssn)
ALLOWED = [
    "SELECT id, ssn, email, pin FROM mk_people ORDER BY id",
    "SELECT * FROM mk_people ORDER BY id",
    "SELECT p.* FROM mk_people p WHERE p.id > 0 ORDER BY p.id",
    "SELECT x.id, x.ssn FROM (SELECT id, ssn FROM mk_people) x ORDER BY x.id",
    "WITH m AS (SELECT id, ssn, pin FROM mk_people) SELECT id, ssn, pin FROM m ORDER BY id",
    "SELECT id, (ssn) AS s FROM mk_people ORDER BY id",
    "SELECT c.id, v FROM mk_people c, LATERAL (SELECT c.ssn AS v) x ORDER BY c.id",
    "SELECT id, ssn FROM mk_people WHERE name LIKE 'NAME-%' ORDER BY id",
    "SELECT n.id, n.name, p.ssn FROM mk_names n JOIN mk_people p USING (id) ORDER BY n.id",  # a view without it
    # Masked first, binary after it: a client that reads one format for all (psycopg) decodes both.
    "SELECT pin, ssn, id, 11 AS c FROM mk_people ORDER BY id",
]

# Each would tell the model something of a masked value: refused, named after the attack.
INFERENCES = {
    "bisection with LIKE": "SELECT id FROM mk_people WHERE ssn LIKE 'CANARY-SSN-1%'",
    "bisection with a comparison": "SELECT id FROM mk_people WHERE ssn > 'CANARY-SSN-15'",
    "bisection on an integer": "SELECT id FROM mk_people WHERE pin > 500000",
    "equality probe": "SELECT id FROM mk_people WHERE ssn = 'CANARY-SSN-000-00-0000'",
    "IS NULL probe": "SELECT id FROM mk_people WHERE ssn IS NULL",
    "ORDER BY + LIMIT 1": "SELECT id FROM mk_people ORDER BY ssn LIMIT 1",
    "ORDER BY a position": "SELECT id, ssn FROM mk_people ORDER BY 2",
    "ORDER BY a star's position": "SELECT * FROM mk_people ORDER BY 3",
    "ORDER BY the whole row": "SELECT p.id FROM mk_people p ORDER BY p LIMIT 1",
    "length": "SELECT length(ssn) FROM mk_people",
    "substr": "SELECT substr(ssn, 12, 1) FROM mk_people",
    "md5": "SELECT md5(ssn) FROM mk_people",
    "pg_column_size": "SELECT pg_column_size(ssn) FROM mk_people",
    "format": "SELECT format('%s', ssn) FROM mk_people",
    "concatenation": "SELECT ssn || '' FROM mk_people",
    "upper": "SELECT upper(ssn) FROM mk_people",
    "coalesce": "SELECT coalesce(ssn, 'x') FROM mk_people",
    "COLLATE": "SELECT ssn COLLATE \"C\" FROM mk_people",
    "cast to text": "SELECT pin::text FROM mk_people",
    "arithmetic": "SELECT pin + 0 FROM mk_people",
    "cast to bytea": "SELECT ssn::bytea FROM mk_people",
    "error forced by a cast": "SELECT ssn::int FROM mk_people",
    "error forced by a cast in WHERE": "SELECT id FROM mk_people WHERE ssn::int > 0",
    "IS NULL in the select list": "SELECT ssn IS NULL FROM mk_people",
    "CASE": "SELECT CASE WHEN ssn LIKE '%1' THEN 1 ELSE 0 END FROM mk_people",
    "join on the value": "SELECT a.id FROM mk_people a JOIN mk_people b ON a.ssn = b.ssn AND a.id < b.id",
    "JOIN USING the value": "SELECT * FROM mk_people a JOIN mk_people b USING (ssn)",
    "GROUP BY counts": "SELECT count(*) FROM mk_people GROUP BY ssn",
    "count DISTINCT": "SELECT count(DISTINCT ssn) FROM mk_people",
    "SELECT DISTINCT": "SELECT DISTINCT ssn FROM mk_people",
    "HAVING": "SELECT id FROM mk_people GROUP BY id HAVING min(ssn) > 'CANARY-SSN-2'",
    "max": "SELECT max(ssn) FROM mk_people",
    "string_agg": "SELECT string_agg(ssn, ',') FROM mk_people",
    "EXISTS": "SELECT EXISTS (SELECT 1 FROM mk_people WHERE ssn LIKE 'CANARY-SSN-2%')",
    "IN a sub-query": "SELECT id FROM mk_people WHERE id IN (SELECT id FROM mk_people WHERE ssn < 'CANARY-SSN-2')",
    "scalar sub-query": "SELECT (SELECT ssn FROM mk_people WHERE id = 1)",
    "CTE then a condition": "WITH m AS (SELECT ssn FROM mk_people) SELECT count(*) FROM m WHERE ssn LIKE 'C%'",
    "function in a LATERAL": "SELECT x.l FROM mk_people p, LATERAL (SELECT length(p.ssn) AS l) x",
    "window function": "SELECT id, row_number() OVER (ORDER BY ssn) FROM mk_people",
    "window partition": "SELECT id, count(*) OVER (PARTITION BY pin) FROM mk_people",
    "UNION": "SELECT ssn FROM mk_people UNION SELECT name FROM mk_people",
    "INTERSECT": "SELECT ssn FROM mk_people INTERSECT SELECT 'CANARY-SSN-000-00-0000'",
    "EXCEPT": "SELECT ssn FROM mk_people EXCEPT SELECT NULL",
    "row_to_json": "SELECT row_to_json(p) FROM mk_people p",
    "whole row as text": "SELECT p::text FROM mk_people p",
    "whole row": "SELECT p FROM mk_people p",
    "whole row compared": "SELECT id FROM mk_people p WHERE p = p",
    "to_jsonb": "SELECT to_jsonb(p) FROM mk_people p",
    "json_build_object": "SELECT json_build_object('s', ssn) FROM mk_people",
    "ROW constructor": "SELECT ROW(ssn) FROM mk_people",
    "ARRAY constructor": "SELECT ARRAY[ssn] FROM mk_people",
    "split_part of an e-mail": "SELECT split_part(email, '@', 1) FROM mk_people",
    "LIKE on an e-mail": "SELECT id FROM mk_people WHERE email LIKE 'canary.local%'",
    "EXPLAIN": "EXPLAIN (VERBOSE) SELECT ssn FROM mk_people",
    "EXPLAIN ANALYZE": "EXPLAIN ANALYZE SELECT id FROM mk_people WHERE ssn LIKE 'C%'",
    "a view computing from it": "SELECT id, ssn_length FROM mk_view",
    "a view over such a view": "SELECT id FROM mk_view2",
    "COPY": "COPY (SELECT ssn FROM mk_people) TO STDOUT",
    "COPY of the table": "COPY mk_people TO STDOUT",
    "cursor over an ORDER BY": "DECLARE probe_c CURSOR WITH HOLD FOR SELECT id FROM mk_people ORDER BY ssn",
    "prepared condition": "PREPARE probe_p AS SELECT id FROM mk_people WHERE ssn LIKE $1",
}


@pytest.fixture(scope="module")
def masked(postgres, tmp_path_factory):
    psql(SETUP)
    os.environ["PGSIEVE_TEST_MASK_KEY"] = KEY
    p = start_proxy(tmp_path_factory.mktemp("masking"), policies=POLICIES, extra=CLASSIFICATION,
                    more_clients="  - {name: watch_bot, password_env: PGSIEVE_TEST_CLIENT_PASSWORD, policy: watch}\n")
    yield p
    assert p.stop() == 0, p.read_log()
    psql("DROP TABLE public.mk_people CASCADE")


def leaked(value):
    text = value.hex() if isinstance(value, (bytes, bytearray, memoryview)) else str(value)
    return [c for c in CANARIES if c in text]


def assert_no_canary(rows, where=""):
    for row in rows:
        for value in row:
            assert value is None or not leaked(value), f"{where}: canary in {row}"


def check_masked(rows):
    """id, ssn, email, pin as the masking policy returns them."""
    by_id = {r[0]: r for r in rows}
    assert len(by_id[1][1]) == 16 and all(c in "0123456789abcdef" for c in by_id[1][1])
    assert by_id[1][1] == by_id[3][1] != by_id[2][1]  # equal inputs, equal hashes
    assert by_id[4][1] is None  # NULL stays NULL
    assert by_id[1][2] == "***@example.com" and by_id[2][2] == "***@example.org"
    assert by_id[3][2] is None and by_id[4][2] == "***"
    assert isinstance(by_id[1][3], str) and by_id[1][3] == by_id[3][3] != by_id[2][3] and by_id[4][3] is None


def refused_as_masked(message):
    return "is masked (" in message and "may only be selected as is" in message


# --- Python drivers over the whole set ------------------------------------

def run_psycopg(p, statements, binary=False, simple=False, user="cs_bot"):
    """(ok, rows or (sqlstate, message)) per statement."""
    out = []
    with psycopg.connect(p.dsn(user=user, sslmode="disable"), autocommit=True) as conn:
        for sql in statements:
            try:
                cur = psycopg.ClientCursor(conn) if simple else conn.cursor(binary=binary)
                if sql.startswith("COPY"):
                    with cur.copy(sql) as copy:
                        out.append((True, [[bytes(b) for b in copy]]))
                    continue
                cur.execute(sql)
                out.append((True, cur.fetchall() if cur.description else []))
            except psycopg.Error as e:
                out.append((False, (e.sqlstate, str(e))))
            finally:
                conn.execute("DEALLOCATE ALL", prepare=False)
                conn.execute("CLOSE ALL", prepare=False)
    return out


def run_asyncpg(p, statements):
    async def run():
        conn = await asyncpg.connect(p.url(query="?sslmode=disable"))
        out = []
        try:
            for sql in statements:
                try:
                    out.append((True, [tuple(r) for r in await conn.fetch(sql)]))
                except asyncpg.PostgresError as e:
                    out.append((False, (e.sqlstate, str(e))))
                except asyncpg.InterfaceError as e:  # COPY through fetch()
                    out.append((False, ("", str(e))))
                await conn.execute("DEALLOCATE ALL; CLOSE ALL")
        finally:
            await conn.close()
        return out
    return asyncio.run(run())


PY_DRIVERS = {
    "psql-protocol (simple Query)": lambda p, s: run_psycopg(p, s, simple=True),
    "psycopg text": lambda p, s: run_psycopg(p, s),
    "psycopg binary": lambda p, s: run_psycopg(p, s, binary=True),
    "asyncpg binary": run_asyncpg,
}


@pytest.mark.parametrize("driver", list(PY_DRIVERS))
def test_attack_inference_set_refused_and_projections_masked_through_python_drivers(masked, driver):
    statements = ALLOWED + list(INFERENCES.values())
    results = PY_DRIVERS[driver](masked, statements)
    names = ["allowed"] * len(ALLOWED) + list(INFERENCES)
    for name, sql, (ok, result) in zip(names, statements, results):
        if name == "allowed":
            assert ok, f"{driver}: {sql}: {result}"
            assert_no_canary(result, f"{driver}: {sql}")
            if sql.startswith("SELECT id, ssn, email, pin"):
                check_masked(result)
        else:
            assert not ok, f"{driver}: {name} was allowed: {sql} -> {result}"
            sqlstate, message = result
            assert not leaked(message), f"{driver}: {name}: {message}"
            if driver != "asyncpg binary" or not sql.startswith("COPY"):
                assert sqlstate == "42501" and refused_as_masked(message), f"{driver}: {name}: {result}"


def test_postgres_itself_runs_the_inference_set_and_shows_the_canaries(postgres):
    """The other side of the differential: straight to PostgreSQL, the same
    statements run and the bisection and functions do reveal the values."""
    with psycopg.connect(autocommit=True) as conn:
        ran = 0
        for sql in INFERENCES.values():
            try:
                if sql.startswith("COPY"):
                    with conn.cursor().copy(sql) as copy:
                        data = b"".join(bytes(b) for b in copy)
                    assert b"111-11-1111" in data
                else:
                    conn.execute(sql)
                ran += 1
            except psycopg.Error:
                pass
            finally:
                conn.execute("DEALLOCATE ALL", prepare=False)
                conn.execute("CLOSE ALL", prepare=False)
        # All but the forced errors run (those error with the value in the message).
        assert ran >= len(INFERENCES) - 2
        with pytest.raises(psycopg.errors.InvalidTextRepresentation) as e:
            conn.execute("SELECT ssn::int FROM mk_people")
        assert "111-11-1111" in str(e.value)
        assert conn.execute("SELECT id FROM mk_people WHERE ssn LIKE 'CANARY-SSN-1%' ORDER BY id").fetchall() == [(1,), (3,)]


def test_node_and_jdbc_drivers_see_only_masked_values_and_refusals(masked, tmp_path):
    statements = ALLOWED + [s for s in INFERENCES.values() if not s.startswith("COPY")]
    refused_from = len(ALLOWED)
    env = dict(os.environ, PGSIEVE_HOST=masked.host, PGSIEVE_PORT=str(masked.port), PGSIEVE_USER="cs_bot",
               PGSIEVE_PASSWORD=CLIENT_PASSWORD)
    (tmp_path / "statements.json").write_text(json.dumps(statements))
    node = subprocess.run(["node", os.path.join(HERE, "node", "masking_probe.mjs"), str(tmp_path / "statements.json")],
                          capture_output=True, text=True, env=env, timeout=180)
    assert node.returncode == 0, node.stdout[-3000:] + node.stderr[-3000:]
    lines = [json.loads(line) for line in node.stdout.splitlines()]
    assert lines[-1] == {"done": True}
    seen = {}
    for r in lines[:-1]:
        seen.setdefault(r["driver"], 0)
        seen[r["driver"]] += 1
        assert not leaked(json.dumps(r)), r
        if r["index"] < refused_from:
            assert r["ok"], r
        else:
            assert not r["ok"] and r["code"] == "42501" and refused_as_masked(r["message"]), r
    assert seen == {"node-postgres": len(statements), "node-postgres (named)": len(statements),
                    "postgres.js": len(statements)}

    (tmp_path / "statements.txt").write_text("\n".join(statements) + "\n")
    java = subprocess.run(["java", "-cp", "/usr/share/java/postgresql.jar",
                           os.path.join(HERE, "java", "MaskingProbe.java"), str(tmp_path / "statements.txt")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert java.returncode == 0, java.stdout[-3000:] + java.stderr[-3000:]
    assert "jdbc probe done" in java.stdout
    assert not leaked(java.stdout), java.stdout
    for line in java.stdout.splitlines()[:-1]:
        kind, index, rest = line.split(" ", 2)
        if int(index) < refused_from:
            assert kind == "OK", line
        else:
            assert kind == "ERR" and rest.startswith("42501 ") and refused_as_masked(rest), line
    # The first statement's rows, three runs (the later ones binary): masked alike.
    first = [line.split(" ", 2)[2].split("|") for line in java.stdout.splitlines() if line.startswith("OK 0 ")]
    assert len(first) == 12 and first[0:4] == first[4:8] == first[8:12]
    assert first[0][2] == "***@example.com" and len(first[0][1]) == 16 and len(first[0][3]) == 16


def test_attack_sqlsmith_stream_reveals_no_canary(masked):
    """SQLsmith's statements over the live catalog (mk_people among its
    tables), through pgsieve in text and binary: whatever it allows, no
    canary comes back."""
    # SQLsmith reads the catalog as a role that can read only mk_people
    # (information_schema shows it nothing else): every statement is on it.
    psql("DROP ROLE IF EXISTS mk_smith; CREATE ROLE mk_smith LOGIN PASSWORD 'smith'; "
         "GRANT SELECT ON public.mk_people TO mk_smith")
    target = (f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} user=mk_smith password=smith "
              f"dbname={os.environ['PGDATABASE']}")
    statements = []
    per_seed = int(os.environ.get("PGSIEVE_MASKING_SQLSMITH", "100"))  # a longer run: README, "Tests"
    try:
        for seed in (11, 12, 13):
            out = subprocess.run(["sqlsmith", f"--target={target}", "--dry-run", f"--max-queries={per_seed}",
                                  f"--seed={seed}", "--exclude-catalog"], capture_output=True, text=True,
                                 timeout=300).stdout
            statements += [s.strip() for s in re.split(r";\n(?=\S|\Z)", out) if s.strip()]
    finally:
        psql("REVOKE ALL ON public.mk_people FROM mk_smith; DROP ROLE mk_smith")
    assert len(statements) >= 2.5 * per_seed
    touched = [s for s in statements if "mk_people" in s]
    assert len(touched) >= len(statements) // 2, "SQLsmith did not use the masked table"
    counts = {"allowed": 0, "refused as masked": 0, "refused otherwise": 0, "failed upstream": 0}
    for binary in (False, True):
        for ok, result in run_psycopg(masked, statements, binary=binary):
            if ok:
                counts["allowed"] += 1
                assert_no_canary(result, "sqlsmith")
                continue
            assert not leaked(result[1]), result
            if result[0] == "42501" and refused_as_masked(result[1]):
                counts["refused as masked"] += 1
            elif result[1].startswith("pgsieve:"):
                counts["refused otherwise"] += 1
            else:
                counts["failed upstream"] += 1
    print(f"sqlsmith: {len(statements)} statements x 2 formats: {counts}")
    assert counts["refused as masked"] > 0


# --- Paths that return rows -------------------------------------------------

def test_psql_simple_query_is_masked(masked):
    out = subprocess.run(["psql", "-X", "-At", f"postgresql://cs_bot@127.0.0.1:{masked.port}/app?sslmode=disable",
                          "-c", "SELECT id, ssn, email, pin FROM mk_people ORDER BY id"],
                         capture_output=True, text=True, env=dict(os.environ, PGPASSWORD=CLIENT_PASSWORD))
    assert out.returncode == 0, out.stderr
    assert not leaked(out.stdout), out.stdout
    assert "|***@example.com|" in out.stdout


def test_prepared_statements_portals_and_pipelines_are_masked(masked):
    with psycopg.connect(masked.dsn(sslmode="disable"), autocommit=True) as conn:
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            for _ in range(6):  # server-side prepared after the threshold
                rows = cur.execute("SELECT id, ssn, email, pin FROM mk_people WHERE id > %s ORDER BY id", (0,),
                                   prepare=True).fetchall()
                assert [d.type_code for d in cur.description] == [23, 25, 25, 25]
                check_masked(rows)
        with conn.pipeline():
            curs = [conn.cursor(binary=bool(i % 2)) for i in range(4)]
            for c in curs:
                c.execute("SELECT id, ssn, email, pin FROM mk_people ORDER BY id")
        for c in curs:
            check_masked(c.fetchall())
        # SQL-level PREPARE and EXECUTE.
        conn.execute("PREPARE mk_p AS SELECT id, ssn, email, pin FROM mk_people ORDER BY id")
        check_masked(conn.execute("EXECUTE mk_p").fetchall())
        conn.execute("DEALLOCATE mk_p")

    async def portal():  # asyncpg reads a cursor as a portal suspended every 2 rows
        conn = await asyncpg.connect(masked.url(query="?sslmode=disable"))
        try:
            async with conn.transaction():
                return [tuple(r) async for r in conn.cursor("SELECT id, ssn, email, pin FROM mk_people ORDER BY id",
                                                           prefetch=2)]
        finally:
            await conn.close()
    check_masked(asyncio.run(portal()))


def test_cursors_are_masked_declare_fetch_with_hold_and_server_side(masked):
    with psycopg.connect(masked.dsn(sslmode="disable"), autocommit=True) as conn:
        # DECLARE … WITH HOLD, fetched after its transaction ended.
        conn.execute("BEGIN")
        conn.execute("DECLARE mk_c CURSOR WITH HOLD FOR SELECT id, ssn, email, pin FROM mk_people ORDER BY id")
        conn.execute("COMMIT")
        rows = conn.execute("FETCH 2 FROM mk_c").fetchall() + conn.execute("FETCH ALL FROM mk_c").fetchall()
        conn.execute("CLOSE mk_c")
        check_masked(rows)
        # psycopg's server-side cursors (DECLARE, Describe portal, FETCH), text and binary.
        for binary in (False, True):
            with conn.transaction():
                with conn.cursor("mk_server", binary=binary) as cur:
                    cur.itersize = 2
                    cur.execute("SELECT id, ssn, email, pin FROM mk_people ORDER BY id")
                    rows = list(cur)
                    assert [d.type_code for d in cur.description] == [23, 25, 25, 25]
            check_masked(rows)


def test_attack_a_reload_that_adds_a_mask_applies_to_an_existing_prepared_statement(masked, tmp_path):
    os.environ["PGSIEVE_TEST_MASK_KEY"] = KEY
    before = POLICIES.replace("mask: {pii: hash}", "mask: {}").replace("{mask: {email: email_domain}}", "{}")
    p = start_proxy(tmp_path, policies=before, extra="classification: {pii: []}\n")
    try:
        with psycopg.connect(p.dsn(sslmode="disable"), autocommit=True) as conn:
            conn.execute("PREPARE mk_r AS SELECT id, ssn, email, pin FROM mk_people ORDER BY id")
            cur = conn.cursor(binary=True)
            query = "SELECT id, ssn, email, pin FROM mk_people WHERE id > %s ORDER BY id"
            for _ in range(6):
                raw = cur.execute(query, (0,), prepare=True).fetchall()
            assert leaked(raw[0][1])  # not masked yet: the policy has no mask
            with open(p.config_path) as f:
                text = f.read()
            with open(p.config_path, "w") as f:
                f.write(text.replace("mask: {}", "mask: {pii: hash}").replace(
                    "classification: {pii: []}", CLASSIFICATION.strip()))
            seen = p.read_log().count('"event":"reloaded"')
            p.process.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while p.read_log().count('"event":"reloaded"') == seen and time.time() < deadline:
                time.sleep(0.05)
            assert p.read_log().count('"event":"reloaded"') > seen, p.read_log()[-3000:]
            rows = cur.execute(query, (0,), prepare=True).fetchall()
            assert not leaked(rows[0][1]) and len(rows[0][1]) == 16
            rows = conn.execute("EXECUTE mk_r").fetchall()
            assert not leaked(rows[0][1]) and len(rows[0][1]) == 16
    finally:
        assert p.stop() == 0, p.read_log()


def test_discovery_shows_a_masked_column_as_text_with_its_method(masked):
    with psycopg.connect(masked.dsn(sslmode="disable"), autocommit=True) as conn:
        info = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = 'mk_people'").fetchall())
        assert info == {"id": "integer", "name": "text", "ssn": "text", "email": "text", "pin": "text"}, info
        attrs = dict(conn.execute("SELECT attname, pg_catalog.format_type(atttypid, atttypmod) FROM pg_attribute "
                                  "WHERE attrelid = 'mk_people'::regclass AND attnum > 0 AND NOT attisdropped"
                                  ).fetchall())
        assert attrs == {"id": "integer", "name": "text", "ssn": "text", "email": "text", "pin": "text"}
        notes = dict(conn.execute("SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
                                  "WHERE a.attrelid = 'mk_people'::regclass AND a.attnum > 0 AND NOT a.attisdropped"
                                  ).fetchall())
        assert notes["ssn"] == "Social security number (masked: hash)"
        assert notes["pin"] == "(masked: hash)" and notes["email"] == "(masked: email_domain)"
        assert notes["id"] is None


def test_monitor_mode_relays_raw_values_and_the_audit_records_the_masks(masked):
    with psycopg.connect(masked.dsn(user="watch_bot", sslmode="disable"), autocommit=True) as conn:
        rows = conn.execute("SELECT id, ssn FROM mk_people ORDER BY id").fetchall()
        assert leaked(rows[0][1])  # monitor relays as sent
    with psycopg.connect(masked.dsn(sslmode="disable"), autocommit=True) as conn:
        conn.execute("SELECT id, ssn, email /* audit-probe */ FROM mk_people").fetchall()
    db = os.path.join(masked.directory, "audit.db")
    deadline = time.time() + 10
    found = {}
    while time.time() < deadline and len(found) < 2:
        with sqlite3.connect(db) as c:
            for client, masked_json in c.execute(
                    "SELECT client, masked FROM statements WHERE (sql LIKE '%audit-probe%' AND client = 'cs_bot') "
                    "OR (client = 'watch_bot' AND sql LIKE 'SELECT id, ssn FROM mk_people%')"):
                found[client] = masked_json
        time.sleep(0.2)
    assert json.loads(found["cs_bot"]) == [
        {"position": 1, "column": "public.mk_people.ssn", "method": "hash"},
        {"position": 2, "column": "public.mk_people.email", "method": "email_domain"}]
    assert json.loads(found["watch_bot"]) == [
        {"position": 1, "column": "public.mk_people.ssn", "method": "hash", "applied": False}]


def test_check_config_and_check_show_what_each_policy_sees_masked(masked):
    env = dict(os.environ, PGSIEVE_TEST_UPSTREAM_PASSWORD=UPSTREAM_PASSWORD,
               PGSIEVE_TEST_CLIENT_PASSWORD=CLIENT_PASSWORD, PGSIEVE_TEST_MASK_KEY=KEY)
    config = run_pgsieve("check-config", "-c", masked.config_path, env=env)
    assert config.returncode == 0, config.stdout + config.stderr
    assert ("masked: public.mk_people.email (email_domain), public.mk_people.pin (hash), "
            "public.mk_people.ssn (hash)") in config.stdout
    check = run_pgsieve("check", "-c", masked.config_path, "--client", "cs_bot", "SELECT id, ssn FROM mk_people", env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "masked:    output column 2 (public.mk_people.ssn) as hash" in check.stdout
    refused = run_pgsieve("check", "-c", masked.config_path, "--client", "cs_bot",
                          "SELECT id FROM mk_people ORDER BY ssn", env=env)
    assert refused.returncode != 0 and "is masked (hash)" in refused.stdout, refused.stdout
    schema = run_pgsieve("check", "-c", masked.config_path, "--client", "cs_bot", "--schema", env=env)
    assert schema.returncode == 0, schema.stdout + schema.stderr
    assert "ssn text  -- Social security number (masked: hash)" in schema.stdout, schema.stdout
    assert "pin text  -- (masked: hash)" in schema.stdout, schema.stdout


def test_attack_a_row_too_long_to_mask_closes_the_session_instead_of_passing_through(masked):
    """A row with a masked column is held whole to rewrite it (up to 1 MiB):
    one of 200 KB is masked; one past the bound ends the session (FATAL 54000),
    never streamed through with the value in it."""
    with psycopg.connect(masked.dsn(sslmode="disable"), autocommit=True) as conn:
        rows = conn.execute("SELECT id, ssn, name || repeat('x', 200000) FROM mk_people ORDER BY id").fetchall()
        assert_no_canary(rows, "200 KB rows")
        assert len(rows[0][1]) == 16 and len(rows[0][2]) > 200000
    with psycopg.connect(masked.dsn(sslmode="disable"), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as closed:
            conn.execute("SELECT id, ssn, repeat('x', 1100000) FROM mk_people ORDER BY id").fetchall()
        # FATAL 54000 then the connection closes: psycopg reports the message, not the code.
        assert "more than pgsieve holds to mask" in str(closed.value), closed.value
        assert not leaked(str(closed.value))
