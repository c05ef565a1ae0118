"""The policy corpus (tests/policy_corpus/*.cases) against the live fixture
database. The unit suite decides every case in-process against the recorded
catalog snapshot (tests/unit/corpus_test.cpp); here the snapshot is checked
against the live catalog, and a sample of cases goes through `pgsieve check`
itself, end to end."""

import difflib
import glob
import json
import os
import subprocess

import pytest

from conftest import pgsieve_bin, psql

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "policy_corpus")
SAMPLE_EVERY = 7  # every 7th case: the whole corpus runs in the unit suite


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
            cases.append(pytest.param(client, verdict, rule, sql, id=f"{os.path.basename(path)}:{number}"))
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


def test_recorded_catalog_matches_the_fixture_database(corpus_config):
    config, env = corpus_config
    live = subprocess.run([pgsieve_bin(), "dump-catalog", "-c", config], capture_output=True, text=True, env=env,
                          timeout=60)
    assert live.returncode == 0, live.stderr
    recorded = open(os.path.join(CORPUS, "catalog.txt"), encoding="utf-8").read()
    if live.stdout != recorded:
        diff = "".join(list(difflib.unified_diff(recorded.splitlines(True), live.stdout.splitlines(True),
                                                 "recorded", "live"))[:60])
        pytest.fail("tests/policy_corpus/catalog.txt is stale: re-record it with "
                    "tests/fixture/with-postgres.sh tests/policy_corpus/record-catalog.sh\n" + diff)


@pytest.mark.parametrize("client,verdict,rule,sql", load_cases()[::SAMPLE_EVERY])
def test_policy_case_through_pgsieve_check(corpus_config, client, verdict, rule, sql):
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
