"""The throwaway-PostgreSQL fixture itself: SCRAM only, schema loaded, and the
cluster stopped by pid even when the wrapped command fails."""

import os
import subprocess

from conftest import psql


def test_cluster_uses_scram_and_has_the_fixture_schema(postgres):
    assert psql("SHOW password_encryption").stdout.strip() == "scram-sha-256"
    hba = psql("SELECT DISTINCT auth_method FROM pg_hba_file_rules").stdout.split()
    assert hba == ["scram-sha-256"]
    assert psql("SELECT count(*) FROM public.customers").stdout.strip() == "3"
    assert psql("SELECT setting FROM pg_settings WHERE name = 'listen_addresses'").stdout.strip() == "127.0.0.1"


def test_cluster_is_stopped_by_pid_when_the_command_fails(postgres):
    script = os.path.join(postgres["source_dir"], "tests", "fixture", "with-postgres.sh")
    inner = subprocess.run(
        [script, "sh", "-c", 'echo "$PGSIEVE_TEST_PGPID $PGSIEVE_TEST_PGDATA"; exit 7'],
        capture_output=True, text=True, timeout=120)
    assert inner.returncode == 7, inner.stderr
    pid, data = inner.stdout.split()
    assert int(pid) != postgres["pid"]
    assert not os.path.exists(f"/proc/{pid}"), "postmaster still running"
    assert not os.path.exists(data), "data directory left behind"
