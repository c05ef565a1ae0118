"""A soak: mixed drivers, pipelines, cancels, reloads, refused statements and
client aborts against one pgsieve, then its memory, descriptors and audit
rows are held to account. tests/run.sh runs it for 60 s against the release
and the ASan+UBSan builds (a sanitizer report fails it); the long run is

    PGSIEVE_SOAK_SECONDS=3600 ctest --test-dir build-asan -R test_soak --output-on-failure
"""

import asyncio
import os
import random
import signal
import socket
import sqlite3
import struct
import subprocess
import threading
import time

import asyncpg
import psycopg
import pytest

from conftest import CLIENT_PASSWORD, psql, rss_kib, scram_login, start_proxy, under_sanitizer

SECONDS = float(os.environ.get("PGSIEVE_SOAK_SECONDS", "60"))

def descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Tally:
    """What the clients saw answered: statements run and statements refused."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ran = 0
        self.refused = 0
        self.errors = []

    def add(self, ran=0, refused=0):
        with self.lock:
            self.ran += ran
            self.refused += refused


@pytest.fixture
def soaked(postgres, tmp_path):
    subprocess.run(["pgbench", "-i", "-q", "-s", "1", "app"], check=True, capture_output=True, timeout=120)
    psql("GRANT SELECT ON pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history TO ai_readonly")
    p = start_proxy(tmp_path, listen_extra="idle_timeout: 30s\n")
    yield p
    assert p.stop() == 0, p.read_log()[-3000:]


def simple_and_refused(proxy, tally, stop):
    rng = random.Random(1)
    while not stop.is_set():
        try:
            with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
                for _ in range(rng.randint(1, 40)):
                    if rng.random() < 0.2:
                        try:
                            conn.execute("SELECT ssn FROM customers")
                        except psycopg.errors.InsufficientPrivilege:
                            tally.add(refused=1)
                    else:
                        conn.execute("SELECT id, name FROM customers WHERE id = %s", (rng.randint(1, 3),)).fetchall()
                        tally.add(ran=1)
        except psycopg.OperationalError:
            pass  # a reload or an idle timeout ended the session: connect again


def pipelines(proxy, tally, stop):
    while not stop.is_set():
        try:
            with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
                with conn.pipeline():
                    curs = [conn.execute("SELECT %s::int + 1", (i,)) for i in range(50)]
                    try:
                        with conn.transaction():
                            conn.execute("SELECT name FROM customers")
                            conn.execute("SELECT ssn FROM customers")
                    except psycopg.errors.InsufficientPrivilege:
                        tally.add(refused=1)
                for c in curs:
                    c.fetchone()
                tally.add(ran=51)
        except psycopg.OperationalError:
            pass


def cancels(proxy, tally, stop):
    rng = random.Random(2)
    while not stop.is_set():
        try:
            with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
                timer = threading.Timer(rng.uniform(0.05, 0.4), conn.cancel)
                timer.start()
                try:
                    conn.execute("SELECT pg_sleep(0.5)")
                    tally.add(ran=1)
                except psycopg.errors.QueryCanceled:
                    tally.add(ran=1)
                timer.join()
        except psycopg.OperationalError:
            pass


def aborts(proxy, tally, stop):
    """Clients that vanish: mid-login, mid-message, mid-result."""
    rng = random.Random(3)
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
                kind = rng.randint(0, 2)
                if kind == 0:
                    sock.sendall(struct.pack("!II", 40, 196608) + b"user\0cs")  # half a startup packet
                else:
                    scram_login(sock, "cs_bot", CLIENT_PASSWORD)
                    if kind == 1:
                        sock.sendall(b"Q\0\0\0\x40SELECT")  # half a Query
                    else:
                        q = b"SELECT * FROM generate_series(1, 100000)\0"
                        sock.sendall(b"Q" + struct.pack("!I", 4 + len(q)) + q)
                        sock.recv(1024)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not close
        except OSError:
            pass
        time.sleep(0.01)


def asyncpg_prepared(proxy, tally, stop):
    async def run():
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(host=proxy.host, port=proxy.port, user="cs_bot", password=CLIENT_PASSWORD,
                                             database="app", ssl=False)
                try:
                    statement = await conn.prepare("SELECT id, name, created_at FROM customers WHERE id = $1")
                    for i in range(30):
                        await statement.fetch(i % 3 + 1)
                        tally.add(ran=1)
                finally:
                    await conn.close()
            except (asyncpg.PostgresError, OSError, asyncpg.exceptions.ConnectionDoesNotExistError):
                pass
    asyncio.run(run())


def pgbench(proxy, tally, stop):
    env = dict(os.environ, PGHOST=proxy.host, PGPORT=str(proxy.port), PGUSER="cs_bot", PGPASSWORD=CLIENT_PASSWORD,
               PGSSLMODE="disable")
    while not stop.is_set():
        r = subprocess.run(["pgbench", "-n", "-S", "-M", "prepared", "-c", "2", "-T", "5", "app"],
                           capture_output=True, text=True, env=env, timeout=60)
        for line in r.stdout.splitlines():
            if line.startswith("number of transactions actually processed:"):
                tally.add(ran=int(line.split(":")[1].split("/")[0]))


def reloads(proxy, tally, stop):
    configs = [open(proxy.config_path).read()]
    configs.append(configs[0].replace("columns: [id, name, plan, created_at]", "columns: [id, name]"))
    assert configs[1] != configs[0]
    n = 0
    while not stop.wait(3):
        n += 1
        with open(proxy.config_path, "w") as f:
            f.write(configs[n % 2])
        proxy.process.send_signal(signal.SIGHUP)


def test_soak_mixed_drivers_pipelines_cancels_reloads_and_aborts(soaked):
    pid = soaked.process.pid
    # Warm up: the first sessions allocate what every later one reuses.
    with psycopg.connect(soaked.dsn(), autocommit=True) as conn:
        conn.execute("SELECT 1")
    baseline_rss, baseline_fds = rss_kib(pid), descriptors(pid)
    tally = Tally()
    stop = threading.Event()
    workers = [threading.Thread(target=w, args=(soaked, tally, stop), name=w.__name__)
               for w in (simple_and_refused, simple_and_refused, pipelines, cancels, aborts, asyncpg_prepared,
                         pgbench, reloads)]
    peak_rss = baseline_rss
    for w in workers:
        w.start()
    deadline = time.time() + SECONDS
    while time.time() < deadline:
        assert soaked.process.poll() is None, soaked.read_log()[-3000:]
        peak_rss = max(peak_rss, rss_kib(pid))
        time.sleep(0.5)
    stop.set()
    for w in workers:
        w.join(120)
        assert not w.is_alive(), f"{w.name} did not stop"
    assert soaked.process.poll() is None, soaked.read_log()[-3000:]
    assert tally.ran > 100 and tally.refused > 10, (tally.ran, tally.refused)

    # Every session ended: descriptors back where they were (a few for the
    # catalog refresher's and the audit's own files may come and go).
    deadline = time.time() + 40
    while descriptors(pid) > baseline_fds + 4 and time.time() < deadline:
        time.sleep(0.5)
    assert descriptors(pid) <= baseline_fds + 4, (baseline_fds, descriptors(pid), os.listdir(f"/proc/{pid}/fd"))
    if not under_sanitizer():
        assert peak_rss - baseline_rss < 128 * 1024, (baseline_rss, peak_rss)

    # Everything the clients saw answered is in the audit, refusals as blocked.
    assert soaked.stop() == 0, soaked.read_log()[-3000:]
    db = sqlite3.connect(os.path.join(soaked.directory, "audit.db"))
    allowed = db.execute("SELECT count(*) FROM statements WHERE verdict = 'allowed'").fetchone()[0]
    blocked = db.execute("SELECT count(*) FROM statements WHERE verdict = 'blocked'").fetchone()[0]
    assert blocked >= tally.refused, (blocked, tally.refused)
    assert allowed + blocked >= tally.ran + tally.refused, (allowed, blocked, tally.ran, tally.refused)
    assert db.execute("SELECT count(*) FROM events WHERE kind = 'audit_dropped'").fetchone()[0] == 0
    verify = subprocess.run([os.environ["PGSIEVE_BIN"], "audit", "verify", "--db",
                             os.path.join(soaked.directory, "audit.db")], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
