"""Benchmark, not a test: heap allocations pgsieve makes per statement, for
pgbench's select in simple (Query) and prepared (Bind/Execute) mode, with
the audit on. Counts every malloc/calloc/realloc of the process
(tests/bench/count_allocations.c) over two runs of different lengths; the
difference divided by the extra statements is the per-statement figure
(start-up and login cancel out). Run after a build:

    tests/fixture/with-postgres.sh /usr/bin/python3 tests/bench/allocations.py [PEER_BINARY]

With PEER_BINARY (another build of pgsieve) both are measured in the same run.
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("PGSIEVE_BIN", os.path.join(ROOT, "build", "app", "pgsieve"))

import conftest  # noqa: E402


def preload():
    library = os.path.join(tempfile.mkdtemp(), "count_allocations.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", library, os.path.join(HERE, "count_allocations.c"), "-ldl"],
                   check=True)
    return library


def allocations(binary, library, mode, transactions):
    counted = os.path.join(tempfile.mkdtemp(), "count")
    saved = dict(os.environ)
    os.environ.update(PGSIEVE_BIN=binary, LD_PRELOAD=library, COUNT_ALLOCATIONS_FILE=counted)
    try:
        proxy = conftest.start_proxy(tempfile.mkdtemp())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    env = dict(os.environ, PGHOST=proxy.host, PGPORT=str(proxy.port), PGUSER="cs_bot",
               PGPASSWORD=conftest.CLIENT_PASSWORD, PGSSLMODE="disable")
    subprocess.run(["pgbench", "-n", "-S", "-M", mode, "-c", "1", "-t", str(transactions), "app"], env=env,
                   check=True, capture_output=True)
    proxy.stop()
    with open(counted) as f:
        return int(f.read())


def per_statement(binary, library, mode, short=500, long=2500):
    return (allocations(binary, library, mode, long) - allocations(binary, library, mode, short)) / (long - short)


def main():
    subprocess.run(["pgbench", "-i", "-q", "-s", "1", "app"], check=True, capture_output=True)
    conftest.psql("GRANT SELECT ON pgbench_accounts, pgbench_branches, pgbench_tellers TO ai_readonly")
    library = preload()
    builds = [("this build", os.environ["PGSIEVE_BIN"])]
    if len(sys.argv) > 1:
        builds.append(("peer", sys.argv[1]))
    for name, binary in builds:
        simple = per_statement(binary, library, "simple")
        prepared = per_statement(binary, library, "prepared")
        print(f"{name}: {simple:.1f} allocations per simple Query, {prepared:.1f} per Bind/Execute (prepared)")


if __name__ == "__main__":
    main()
