"""Benchmark, not a test: resident memory of pgsieve per idle client
connection (DESIGN.md §6: at most 64 KiB). Run after a build:

    tests/fixture/with-postgres.sh /usr/bin/python3 tests/bench/idle_memory.py [CONNECTIONS]

CONNECTIONS stays below the fixture PostgreSQL's max_connections (100):
every client connection has its own upstream session.
"""

import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("PGSIEVE_BIN", os.path.join(HERE, "..", "..", "build", "app", "pgsieve"))

import conftest  # noqa: E402
import psycopg  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 80
    proxy = conftest.start_proxy(tempfile.mkdtemp())
    try:
        warm = [psycopg.connect(proxy.dsn(), autocommit=True) for _ in range(5)]
        for c in warm:
            c.execute("SELECT id, name FROM customers").fetchall()
        time.sleep(0.3)
        before = rss_kib(proxy.process.pid)
        conns = [psycopg.connect(proxy.dsn(), autocommit=True) for _ in range(count)]
        for c in conns:
            c.execute("SELECT id, name FROM customers").fetchall()
        time.sleep(0.5)
        after = rss_kib(proxy.process.pid)
        print(f"pgsieve RSS {before} KiB -> {after} KiB with {count} more idle connections: "
              f"{(after - before) / count:.1f} KiB per connection")
        for c in conns + warm:
            c.close()
    finally:
        proxy.stop()


if __name__ == "__main__":
    main()
