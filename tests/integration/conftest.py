"""Shared helpers for integration tests.

Each test file runs under tests/fixture/with-postgres.sh (see
tests/CMakeLists.txt), which provides a throwaway PostgreSQL 15 through
libpq's environment variables and stops it afterwards.
"""

import os
import subprocess

import pytest


def pgsieve_bin():
    path = os.environ.get("PGSIEVE_BIN")
    if not path:
        pytest.fail("PGSIEVE_BIN is not set: run the integration tests through ctest or tests/run.sh")
    return path


def run_pgsieve(*args, input=None, env=None):
    """Runs the pgsieve binary; returns the CompletedProcess (text mode)."""
    return subprocess.run([pgsieve_bin(), *args], input=input, capture_output=True, text=True,
                          env=env, timeout=120)


def psql(sql, *, user=None, password=None, database=None, check=True):
    """Runs one statement with psql over TCP; returns the CompletedProcess."""
    env = dict(os.environ)
    if user is not None:
        env["PGUSER"] = user
    if password is not None:
        env["PGPASSWORD"] = password
    if database is not None:
        env["PGDATABASE"] = database
    result = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                            capture_output=True, text=True, env=env, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"psql failed ({result.returncode}): {result.stderr}")
    return result


@pytest.fixture(scope="session")
def postgres():
    """The cluster with-postgres.sh started, as a dict of connection facts."""
    if "PGSIEVE_TEST_PGPID" not in os.environ:
        pytest.fail("no PostgreSQL: run this file under tests/fixture/with-postgres.sh")
    return {
        "host": os.environ["PGHOST"],
        "port": int(os.environ["PGPORT"]),
        "pid": int(os.environ["PGSIEVE_TEST_PGPID"]),
        "source_dir": os.environ.get("PGSIEVE_SOURCE_DIR", ""),
    }
