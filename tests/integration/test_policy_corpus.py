"""The policy corpus (tests/policy_corpus/*.cases) decided by `pgsieve check`
against the live catalog of the fixture PostgreSQL."""

import glob
import json
import os
import subprocess

import pytest

from conftest import pgsieve_bin, psql

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "policy_corpus")


def load_cases():
    cases = []
    for path in sorted(glob.glob(os.path.join(CORPUS, "*.cases"))):
        client = None
        for number, line in enumerate(open(path, encoding="utf-8"), 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("@client "):
                client = line.split()[1]
                continue
            head, sep, sql = line.partition(" | ")
            verdict, rule = head.split()
            assert sep and client, f"{path}:{number}: expected 'VERDICT RULE | SQL' after an @client line"
            cases.append(pytest.param(client, verdict, rule, sql,
                                      id=f"{os.path.basename(path)}:{number}"))
    return cases


@pytest.fixture(scope="module")
def corpus_config(postgres, tmp_path_factory):
    psql("ALTER ROLE ai_readonly PASSWORD 'corpus-upstream'")
    directory = tmp_path_factory.mktemp("corpus")
    text = open(os.path.join(CORPUS, "pgsieve.yaml")).read()
    text = text.replace("  port: 5432 ", f"  port: {postgres['port']} ")
    path = directory / "pgsieve.yaml"
    path.write_text(text)
    env = dict(os.environ, PGSIEVE_CORPUS_UPSTREAM_PASSWORD="corpus-upstream",
               PGSIEVE_CORPUS_CLIENT_PASSWORD="corpus-client")
    return str(path), env


@pytest.mark.parametrize("client,verdict,rule,sql", load_cases())
def test_policy_case(corpus_config, client, verdict, rule, sql):
    config, env = corpus_config
    result = subprocess.run([pgsieve_bin(), "check", "-c", config, "--client", client, "--json", sql],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode in (0, 1), result.stderr
    decision = json.loads(result.stdout)
    expected_verdict = {"allow": "allowed", "refuse": "refused", "would_block": "would_block"}[verdict]
    explanation = f"{decision['message']} | {decision['detail']} | {decision['hint']}"
    assert decision["verdict"] == expected_verdict, explanation
    if verdict != "allow":
        assert decision["rule"] == rule, explanation
        assert decision["message"].startswith("pgsieve: "), explanation
    assert result.returncode == (0 if verdict == "allow" else 1)
