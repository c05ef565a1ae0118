"""`pgsieve check-config` and `pgsieve --help` as a user runs them."""

import os
import textwrap

from conftest import run_pgsieve


def write(tmp_path, text):
    path = tmp_path / "pgsieve.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


VALID = """\
    upstream:
      host: 127.0.0.1
      database: app
      user: ai_readonly
      password_env: TEST_UPSTREAM_PASSWORD
    audit:
      sqlite: audit.db
    clients:
      - name: cs_bot
        password_env: TEST_CS_BOT_PASSWORD
        policy: customer-success
    policies:
      customer-success:
        owner: cs-data@example.com
        statements: [select, explain]
        catalog: introspection
        tables:
          public.customers:
            columns: [id, name, plan]
          public.usage_daily: {}
    """


def env_with_secrets():
    env = dict(os.environ)
    env["TEST_UPSTREAM_PASSWORD"] = "upstream-secret"
    env["TEST_CS_BOT_PASSWORD"] = "bot-secret"
    return env


def test_help_lists_the_subcommands():
    result = run_pgsieve("--help")
    assert result.returncode == 0
    for sub in ("passwd", "check-config"):
        assert sub in result.stdout


def test_valid_file_prints_clients_and_policies(tmp_path):
    path = write(tmp_path, VALID)
    result = run_pgsieve("check-config", "-c", path, env=env_with_secrets())
    assert result.returncode == 0, result.stderr
    assert f"{path}: OK" in result.stdout
    assert "cs_bot" in result.stdout and "policy customer-success" in result.stdout
    assert "public.customers  columns id, name, plan  [select]" in result.stdout
    # Relative paths are anchored at the file.
    assert str(tmp_path / "audit.db") in result.stdout
    # Secrets never appear in the output.
    assert "secret" not in result.stdout + result.stderr


def test_bad_file_names_file_line_and_key(tmp_path):
    path = write(tmp_path, VALID.replace("columns: [id, name, plan]", "colums: [id, name, plan]")
                 .replace("catalog: introspection", "catalog: everything"))
    result = run_pgsieve("check-config", "-c", path, env=env_with_secrets())
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == (f'{path}:16: policies.customer-success.catalog: "everything" is not one of: '
                        'none | introspection')
    assert lines[1].startswith(f'{path}:19: policies.customer-success.tables."public.customers".colums: unknown key')
    assert lines[-1] == f"pgsieve: 2 errors in {path}"
    assert result.stdout == ""


def test_missing_secret_is_reported_not_ignored(tmp_path):
    path = write(tmp_path, VALID)
    env = env_with_secrets()
    del env["TEST_CS_BOT_PASSWORD"]
    result = run_pgsieve("check-config", "-c", path, env=env)
    assert result.returncode == 2
    assert f"{path}:10: clients[0].password_env: environment variable TEST_CS_BOT_PASSWORD is not set" in result.stderr


def test_missing_file_and_missing_option():
    result = run_pgsieve("check-config", "-c", "/nonexistent/pgsieve.yaml")
    assert result.returncode == 2
    assert "/nonexistent/pgsieve.yaml: cannot read the file" in result.stderr
    result = run_pgsieve("check-config")
    assert result.returncode == 2
    assert "--config is required" in result.stderr
