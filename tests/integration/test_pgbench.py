"""pgbench through pgsieve in each query mode, without and with TLS."""

import os
import re
import subprocess

import pytest

from conftest import CLIENT_PASSWORD, psql


@pytest.fixture(scope="module")
def pgbench_tables(postgres):
    subprocess.run(["pgbench", "-i", "-q", "-s", "1", "app"], check=True, capture_output=True, timeout=120)
    psql("GRANT SELECT ON pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history TO ai_readonly")


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_select_only(pgbench_tables, proxy, mode):  # tables first: in the catalog pgsieve reads at start
    env = dict(os.environ, PGHOST=proxy.host, PGPORT=str(proxy.port), PGUSER="cs_bot",
               PGPASSWORD=CLIENT_PASSWORD, PGSSLMODE=proxy.sslmode)
    result = subprocess.run(["pgbench", "-n", "-S", "-M", mode, "-c", "4", "-j", "2", "-t", "200", "app"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "number of transactions actually processed: 800/800" in result.stdout
    assert re.search(r"number of failed transactions: 0 ", result.stdout)
