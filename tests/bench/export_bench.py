"""Benchmark, not a test: how fast a backlog of recorded statements leaves
the machine, to an OTLP receiver and to the central PostgreSQL store, and
what that shipping costs the statements running meanwhile. pgbench -S
through pgsieve (no export) records the backlog; pgsieve then restarts with
one destination and the time until the destination holds every row is
measured (median of RUNS restarts, each shipping the whole file again to a
fresh destination). OTLP is measured twice: to the tests' receiver, which
decodes every request with OpenTelemetry's generated code in one Node thread
(and is then the slower side), and to a sink that answers 200 unread, where
completion is the exporter's own cursor in the file — pgsieve's ceiling.
Run after a build:

    tests/fixture/with-postgres.sh /usr/bin/python3 tests/bench/export_bench.py [SECONDS] [RUNS]
"""

import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("PGSIEVE_BIN", os.path.join(HERE, "..", "..", "build", "app", "pgsieve"))

import psycopg  # noqa: E402

import conftest  # noqa: E402
import test_audit_export as export  # noqa: E402


def pgbench(seconds, port):
    env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(port), PGUSER="cs_bot",
               PGPASSWORD=conftest.CLIENT_PASSWORD, PGSSLMODE="disable")
    out = subprocess.run(["pgbench", "-n", "-S", "-M", "prepared", "-c", "4", "-j", "2", "-T", str(seconds), "app"],
                         capture_output=True, text=True, env=env, check=True).stdout
    return int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))


def ship(directory, audit_extra, instance, count):
    """Restarts pgsieve on `directory`'s audit file with one destination; the
    seconds until `count()` reaches every statement in the file."""
    db = os.path.join(directory, "audit.db")
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM export_cursors")
        rows = conn.execute("SELECT count(*) FROM statements").fetchone()[0]
    began = time.time()
    p = conftest.start_proxy(directory, audit_extra=audit_extra, extra=f"cluster: {{instance_id: {instance}}}\n")
    try:
        while count() < rows:
            time.sleep(0.05)
        return rows, time.time() - began
    finally:
        p.stop()


# Answers every request 200 without decoding it (a collector far faster than
# the tests' receiver).
SINK = """
import { createServer } from "node:http";
createServer((req, res) => { req.resume(); req.on("end", () => res.writeHead(200).end()); })
  .listen(Number(process.argv[2]), "127.0.0.1", () => console.log("listening"));
"""


def cursor_count(db, destination):
    def count():
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT last_id FROM export_cursors WHERE destination = ? AND source = 'statements'",
                               (destination,)).fetchone()
        return row[0] if row else 0
    return count


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    subprocess.run(["pgbench", "-i", "-q", "-s", "1", "app"], check=True, capture_output=True)
    conftest.psql("GRANT SELECT ON pgbench_accounts, pgbench_branches, pgbench_tellers TO ai_readonly")
    directory = tempfile.mkdtemp(prefix="pgsieve-export-bench.")
    p = conftest.start_proxy(directory, extra="cluster: {instance_id: bench}\n")
    try:
        recorded = pgbench(seconds, p.port)
    finally:
        p.stop()
    print(f"backlog: {recorded} pgbench transactions recorded")

    sink_path = os.path.join(directory, "sink.mjs")
    with open(sink_path, "w") as f:
        f.write(SINK)
    otlp, sink, store = [], [], []
    for run in range(runs):
        port = conftest.free_port()
        process = subprocess.Popen(["node", sink_path, str(port)], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "listening"
        try:
            endpoint = f"http://127.0.0.1:{port}/v1/logs"
            rows, took = ship(directory, f"export: {{otlp: {{endpoint: '{endpoint}'}}}}\n", "bench",
                              cursor_count(os.path.join(directory, "audit.db"), f"otlp {endpoint}"))
            sink.append(rows / took)
        finally:
            process.terminate()
            process.wait()

        receiver = export.Receiver(directory, port=conftest.free_port())
        if os.path.exists(receiver.file):
            os.remove(receiver.file)
        receiver.start()
        try:
            seen = {"offset": 0, "count": 0}

            def received():  # reads only what was appended since the last look
                if not os.path.exists(receiver.file):
                    return 0
                with open(receiver.file, "rb") as f:
                    f.seek(seen["offset"])
                    chunk = f.read()
                complete = chunk[:chunk.rfind(b"\n") + 1]
                seen["offset"] += len(complete)
                seen["count"] += complete.count(b'"db.query.text"')
                return seen["count"]
            rows, took = ship(directory, f"export: {{otlp: {{endpoint: 'http://127.0.0.1:{receiver.port}/v1/logs'}}}}\n",
                              "bench", received)
            otlp.append(rows / took)
        finally:
            receiver.stop()

        conftest.psql("DROP DATABASE IF EXISTS audit_store WITH (FORCE)")
        export.ensure_role("audit_owner")
        conftest.psql("CREATE DATABASE audit_store OWNER audit_owner")
        assert export.store_init().returncode == 0
        with psycopg.connect(dbname="audit_store", autocommit=True) as counter:  # the fixture's superuser
            rows, took = ship(directory, f"export: {{{export.store_export('bench')}}}\n", "bench",
                              lambda: counter.execute("SELECT count(*) FROM pgsieve_audit.statements").fetchone()[0])
        store.append(rows / took)
    print(f"shipped {rows} statements from a standing start (process start included), median of {runs}: "
          f"OTLP {statistics.median(otlp):.0f}/s {sorted(round(x) for x in otlp)} "
          f"(to a sink that does not decode: {statistics.median(sink):.0f}/s {sorted(round(x) for x in sink)}), "
          f"central store {statistics.median(store):.0f}/s {sorted(round(x) for x in store)}")


if __name__ == "__main__":
    main()
