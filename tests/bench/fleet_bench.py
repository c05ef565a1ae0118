"""Benchmark, not a test: three replicas behind HAProxy with the audit
shipped over OTLP to a local receiver, under pgbench -S. Reports idle
resident memory per replica, TPS through the fleet against PostgreSQL
directly (same run), statements shipped per second, and the export lag
(from pgbench's end until the receiver holds every row). Run after a build:

    tests/fixture/with-postgres.sh /usr/bin/python3 tests/bench/fleet_bench.py [SECONDS] [CLIENTS]
"""

import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("PGSIEVE_BIN", os.path.join(HERE, "..", "..", "build", "app", "pgsieve"))

import conftest  # noqa: E402
import test_audit_export  # noqa: E402
import test_fleet  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def pgbench(seconds, clients, env):
    out = subprocess.run(["pgbench", "-n", "-S", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds),
                          "app"], capture_output=True, text=True, env=env, check=True).stdout
    return float(re.search(r"tps = ([0-9.]+)", out).group(1)), int(
        re.search(r"number of transactions actually processed: (\d+)", out).group(1))


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    subprocess.run(["pgbench", "-i", "-q", "-s", "1", "app"], check=True, capture_output=True)
    conftest.psql("GRANT SELECT ON pgbench_accounts, pgbench_branches, pgbench_tellers TO ai_readonly")
    directory = tempfile.mkdtemp()
    receiver = test_audit_export.Receiver(directory)
    receiver.start()
    test_fleet.POLICY = conftest.DEFAULT_POLICY
    original = test_fleet.Fleet.config

    def exporting(self, i, policies):
        text = original(self, i, policies)
        return text.replace("audit:\n  sqlite: audit.db\n", "audit:\n  sqlite: audit.db\n  export: {otlp: {endpoint: "
                            f"'http://127.0.0.1:{receiver.port}/v1/logs'}}}}\n")
    test_fleet.Fleet.config = exporting
    fleet = test_fleet.Fleet(directory)
    try:
        time.sleep(1)
        idle = [rss_kib(p.process.pid) for p in fleet.replicas]
        direct_tps, _ = pgbench(seconds, clients, dict(os.environ))
        env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(fleet.port), PGUSER="cs_bot",
                   PGPASSWORD=conftest.CLIENT_PASSWORD, PGSSLMODE="disable")
        one_env = dict(env, PGPORT=str(fleet.ports[0]))
        # One replica with the receiver down (nothing shipped: the export's
        # own cost out of the picture), then up.
        receiver.stop()
        quiet_tps, _ = pgbench(seconds, clients, one_env)
        receiver.start()
        one_tps, _ = pgbench(seconds, clients, one_env)
        with sqlite3.connect(os.path.join(fleet.replicas[0].directory, "audit.db")) as db:
            rows = db.execute("SELECT count(*) FROM statements").fetchone()[0]
        while len(receiver.records()) < rows:
            time.sleep(0.05)
        before = len(receiver.records())
        began = time.time()
        fleet_tps, transactions = pgbench(seconds, clients, env)
        ended = time.time()
        target = before + transactions
        while len(receiver.records()) < target:
            time.sleep(0.05)
        caught_up = time.time()
        busy = [rss_kib(p.process.pid) for p in fleet.replicas]
        print(f"idle RSS per replica (KiB): {idle}; after the run: {busy}")
        print(f"pgbench -S -M prepared, {clients} clients, {seconds} s: direct {direct_tps:.0f} TPS, "
              f"one replica directly {quiet_tps:.0f} TPS ({quiet_tps / direct_tps:.2f}) without shipping, "
              f"{one_tps:.0f} TPS ({one_tps / direct_tps:.2f}) shipping, "
              f"through HAProxy + 3 replicas {fleet_tps:.0f} TPS ({fleet_tps / direct_tps:.2f} of direct)")
        print(f"shipped {transactions} statements in {caught_up - began:.1f} s "
              f"({transactions / (caught_up - began):.0f}/s); lag after pgbench ended: {caught_up - ended:.2f} s")
    finally:
        fleet.stop()
        receiver.stop()


if __name__ == "__main__":
    main()
