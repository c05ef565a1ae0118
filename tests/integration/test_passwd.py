"""`pgsieve passwd` makes verifiers that a real PostgreSQL 15 accepts."""

import re

from conftest import psql, run_pgsieve

VERIFIER = re.compile(r"^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$")


def make_verifier(name, password):
    result = run_pgsieve("passwd", name, input=password + "\n")
    assert result.returncode == 0, result.stderr
    verifier = result.stdout.strip()
    assert VERIFIER.match(verifier), verifier
    return verifier


def test_verifier_lets_psql_log_in_with_that_password(postgres):
    verifier = make_verifier("alice", "correct horse battery staple")
    psql(f"CREATE ROLE alice LOGIN PASSWORD '{verifier}'")
    # PostgreSQL stored our verifier as is, not a hash of its text.
    stored = psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'alice'").stdout.strip()
    assert stored == verifier

    ok = psql("SELECT current_user", user="alice", password="correct horse battery staple", database="app")
    assert ok.stdout.strip() == "alice"


def test_wrong_password_is_refused_by_postgres(postgres):
    verifier = make_verifier("bob", "right-password")
    psql(f"CREATE ROLE bob LOGIN PASSWORD '{verifier}'")
    bad = psql("SELECT 1", user="bob", password="wrong-password", database="app", check=False)
    assert bad.returncode != 0
    assert "password authentication failed" in bad.stderr


def test_each_verifier_has_its_own_salt(postgres):
    assert make_verifier("carol", "same") != make_verifier("carol", "same")


def test_iterations_option_is_honoured_by_postgres(postgres):
    result = run_pgsieve("passwd", "dave", "--iterations", "10000", input="pw-dave\n")
    assert result.returncode == 0, result.stderr
    verifier = result.stdout.strip()
    assert verifier.startswith("SCRAM-SHA-256$10000:")
    psql(f"CREATE ROLE dave LOGIN PASSWORD '{verifier}'")
    assert psql("SELECT 1", user="dave", password="pw-dave", database="app").stdout.strip() == "1"


def test_empty_input_is_an_error():
    result = run_pgsieve("passwd", "erin", input="")
    assert result.returncode == 2
    assert "no password on standard input" in result.stderr
    assert result.stdout == ""


def test_non_ascii_password_is_refused_with_the_reason():
    result = run_pgsieve("passwd", "frank", input="pässwort\n")
    assert result.returncode == 2
    assert "SASLprep" in result.stderr
    assert result.stdout == ""
