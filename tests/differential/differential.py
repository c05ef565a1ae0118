#!/usr/bin/env python3
"""Differential test: pgsieve's decisions against PostgreSQL's own privilege
system.

For each policy of the corpus configuration (tests/policy_corpus/pgsieve.yaml)
a PostgreSQL role is given exactly what the policy grants, with the SQL
`pgsieve grants` prints. Every statement of the policy corpus, and of a stream
SQLsmith generates from the live catalog with fixed seeds, is decided by
pgsieve (`pgsieve check --batch`) and also run by PostgreSQL as that role,
inside a transaction that is rolled back, under a statement timeout.

pgsieve allowing a statement that PostgreSQL refuses for lack of privilege
(SQLSTATE 42501) is a leak: the run fails and prints it. Everything else is
counted and reported: statements each side allowed, and each class of
disagreement (pgsieve stricter: by rule).

Run it under the fixture (a throwaway PostgreSQL 15):

    tests/fixture/with-postgres.sh python3 tests/differential/differential.py \\
        [--pgsieve build/app/pgsieve] [--generated 400] [--seeds 1,2] [--report FILE]

tests/integration/test_differential.py runs a bounded pass in CI; the README
gives the command for a long one.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

import psycopg

from sqlsmith import generated_statements

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
CORPUS = os.path.join(ROOT, "tests", "policy_corpus")
UPSTREAM_PASSWORD = "differential-upstream"
CLIENT_PASSWORD = "differential-client"
# Statements that would end the wrapping transaction, or cannot be rolled back.
TRANSACTION_CONTROL = re.compile(
    r"^\s*(begin|start|commit|end|rollback|abort|savepoint|release|prepare\s+transaction|vacuum|"
    r"create\s+database|drop\s+database|alter\s+system|checkpoint)\b|;\s*(begin|start|commit|end|rollback|abort)\b",
    re.IGNORECASE)


def role_of(policy):
    return "pgsieve_diff_" + re.sub(r"[^a-z0-9]", "_", policy.lower())


def write_config(directory):
    """The corpus configuration, each policy with its own upstream role."""
    text = open(os.path.join(CORPUS, "pgsieve.yaml")).read()
    text = text.replace("  port: 5432 ", f"  port: {os.environ['PGPORT']} ")
    text = text.replace("PGSIEVE_CORPUS_UPSTREAM_PASSWORD", "PGSIEVE_DIFF_UPSTREAM_PASSWORD")
    text = text.replace("PGSIEVE_CORPUS_CLIENT_PASSWORD", "PGSIEVE_DIFF_CLIENT_PASSWORD")
    out, policies, in_policies = [], [], False
    for line in text.splitlines():
        out.append(line)
        if line.startswith("policies:"):
            in_policies = True
            continue
        m = re.match(r"^  ([A-Za-z0-9_-]+):\s*$", line)
        if in_policies and m:
            policies.append(m.group(1))
            out.append(f"    upstream_user: {role_of(m.group(1))}")
    path = os.path.join(directory, "pgsieve.yaml")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path, policies


def clients_by_policy(config_text):
    clients = {}
    for m in re.finditer(r"\{name: (\w+), password_env: \w+, policy: ([\w-]+)\}", config_text):
        clients.setdefault(m.group(2), m.group(1))
    return clients


def corpus_statements():
    """(client, sql) of every corpus case."""
    out = []
    for name in sorted(os.listdir(CORPUS)):
        if not name.endswith(".cases"):
            continue
        client = None
        for line in open(os.path.join(CORPUS, name), encoding="utf-8"):
            line = line.rstrip("\n")
            if line.startswith("@client "):
                client = line.split()[1]
            elif line and not line.startswith("#") and " | " in line:
                out.append((client, line.split(" | ", 1)[1]))
    return out


def pgsieve_decisions(pgsieve, config, env, client, statements):
    result = subprocess.run([pgsieve, "check", "-c", config, "--client", client, "--batch"],
                            input="\0".join(statements).encode(), capture_output=True, env=env, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"pgsieve check --batch failed: {result.stderr.decode()[-2000:]}")
    decisions = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(decisions) == len(statements), (len(decisions), len(statements))
    return decisions


def postgres_outcome(conn, role, sql, timeout_ms):
    """'ok', or the SQLSTATE PostgreSQL answered with, running as `role`."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(f'SET LOCAL ROLE "{role}"')
            conn.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
            conn.execute("SET LOCAL search_path = public")
            if re.match(r"\s*copy\b", sql, re.IGNORECASE):
                with conn.cursor().copy(sql) as copy:
                    if re.search(r"\bto\s+stdout\b", sql, re.IGNORECASE):
                        for _ in copy:
                            pass
                return "ok"
            cur = conn.execute(sql)
            while True:
                if cur.description:
                    cur.fetchall()
                if not cur.nextset():
                    break
        return "ok"
    except psycopg.Error as e:
        return e.sqlstate or "error"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pgsieve", default=os.environ.get("PGSIEVE_BIN", os.path.join(ROOT, "build/app/pgsieve")))
    parser.add_argument("--generated", type=int, default=400, help="SQLsmith statements per policy")
    parser.add_argument("--seeds", default="1,2", help="SQLsmith seeds, comma-separated")
    parser.add_argument("--timeout-ms", type=int, default=500, help="PostgreSQL statement timeout")
    parser.add_argument("--report", help="write the summary as JSON to this file")
    parser.add_argument("--verbose", action="store_true", help="print examples of each class")
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="pgsieve-differential-")
    config, policies = write_config(directory)
    clients = clients_by_policy(open(config).read())
    env = dict(os.environ, PGSIEVE_DIFF_UPSTREAM_PASSWORD=UPSTREAM_PASSWORD,
               PGSIEVE_DIFF_CLIENT_PASSWORD=CLIENT_PASSWORD)

    admin = psycopg.connect(autocommit=True)
    admin.execute(f"ALTER ROLE ai_readonly PASSWORD '{UPSTREAM_PASSWORD}'")
    # The roles, exactly as `pgsieve grants` makes or aligns them (run twice: it is idempotent).
    grants = subprocess.run([args.pgsieve, "grants", "-c", config], capture_output=True, text=True, env=env,
                            timeout=120)
    if grants.returncode != 0:
        raise SystemExit(f"pgsieve grants failed: {grants.stderr}")
    applied = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1"], input=grants.stdout, capture_output=True,
                             text=True, timeout=120)
    if applied.returncode != 0:
        raise SystemExit(f"the grants did not apply: {applied.stderr}")

    seeds = [int(s) for s in args.seeds.split(",") if s]
    generated = generated_statements(args.generated, seeds)
    corpus = corpus_statements()
    conn = psycopg.connect(autocommit=False, cursor_factory=psycopg.ClientCursor)

    summary = {"statements": 0, "leaks": [], "by_source": {}}
    for source, pairs in (("corpus", corpus), ("sqlsmith", None)):
        counts = collections.Counter()
        classes = collections.Counter()
        examples = {}
        for policy in policies:
            client = clients.get(policy)
            if client is None:
                continue
            statements = [sql for c, sql in pairs if c == client] if pairs is not None else generated
            statements = [s for s in statements if not TRANSACTION_CONTROL.search(s)]
            if not statements:
                continue
            decisions = pgsieve_decisions(args.pgsieve, config, env, client, statements)
            monitor = any(d["verdict"] == "would_block" for d in decisions)
            for sql, d in zip(statements, decisions):
                outcome = postgres_outcome(conn, role_of(policy), sql, args.timeout_ms)
                if conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.close()
                    conn = psycopg.connect(autocommit=False, cursor_factory=psycopg.ClientCursor)
                pgsieve_allows = d["verdict"] == "allowed"
                counts["statements"] += 1
                counts["pgsieve allowed"] += pgsieve_allows
                counts["postgres ran it"] += outcome == "ok"
                counts["postgres refused (42501)"] += outcome == "42501"
                if pgsieve_allows and outcome == "42501":
                    summary["leaks"].append({"policy": policy, "sql": sql})
                    key = "LEAK: pgsieve allowed, PostgreSQL refused 42501"
                elif d["verdict"] == "would_block" or (monitor and pgsieve_allows):
                    key = "monitor policy (relayed)"
                elif not pgsieve_allows:
                    if outcome == "ok":
                        key = f"pgsieve stricter (rule {d['rule']}), PostgreSQL ran it"
                    elif outcome == "42501":
                        key = f"both refused (pgsieve rule {d['rule']})"
                    else:
                        key = f"pgsieve refused (rule {d['rule']}), PostgreSQL failed otherwise"
                elif outcome != "ok":
                    key = f"pgsieve allowed, PostgreSQL failed otherwise ({outcome}, not a privilege)"
                else:
                    key = "both allowed"
                classes[key] += 1
                examples.setdefault(key, []).append(
                    {"policy": policy, "sql": sql[:300], "pgsieve": d["message"][:200], "postgres": outcome})
        summary["by_source"][source] = {"counts": dict(counts), "classes": dict(classes),
                                        "examples": {k: v[:3] for k, v in examples.items()}}
        summary["statements"] += counts["statements"]

    for source, data in summary["by_source"].items():
        print(f"== {source}")
        for k, v in data["counts"].items():
            print(f"  {k}: {v}")
        for k, v in sorted(data["classes"].items(), key=lambda kv: -kv[1]):
            print(f"  {v:6d}  {k}")
            if args.verbose:
                for e in data["examples"].get(k, []):
                    print(f"            e.g. [{e['policy']}] {e['sql'][:160]!r} -> {e['pgsieve'][:120]!r} / {e['postgres']}")
    for leak in summary["leaks"][:50]:
        print(f"LEAK under {leak['policy']}: {leak['sql']}")
    if args.report:
        with open(args.report, "w") as f:
            json.dump(summary, f, indent=2)
    print(f"{summary['statements']} statements, {len(summary['leaks'])} leaks")
    return 1 if summary["leaks"] else 0


if __name__ == "__main__":
    sys.exit(main())
