"""deploy/quickstart.sh as a new user runs it: the demo answers psql, and
Ctrl-C stops pgsieve and the demo database."""

import os
import re
import signal
import subprocess
import time

import pytest


def test_quickstart_serves_the_demo_and_ctrl_c_stops_everything(postgres):
    script = os.path.join(postgres["source_dir"], "deploy", "quickstart.sh")
    env = dict(os.environ, PGSIEVE_DEMO_PORT="0")  # any free port
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"):
        env.pop(name, None)
    demo = subprocess.Popen([script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    output = []
    url = None
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            output.append(line)
            m = re.search(r'psql "(postgresql://cs_bot:[^"]+)"', line)
            if m and url is None:  # the first one; later lines show refused variants
                url = m.group(1)
            if "Press Ctrl-C" in line:
                break
        assert url, "".join(output)
        time.sleep(0.5)
        allowed = subprocess.run(["psql", "-X", "-At", url, "-c", "SELECT name FROM customers ORDER BY id"],
                                 capture_output=True, text=True, timeout=30)
        assert allowed.returncode == 0, allowed.stderr
        assert allowed.stdout.splitlines() == ["Acme Corp", "Globex", "Initech"]
        write = subprocess.run(["psql", "-X", "-At", url, "-c",
                                "INSERT INTO tickets (customer_id, subject) VALUES (1, 'x')"],
                               capture_output=True, text=True, timeout=30)
        assert 'pgsieve: insert statements are not allowed by policy "customer-success"' in write.stderr
        denied = subprocess.run(["psql", "-X", "-At", url, "-c", "SELECT name, ssn FROM customers"],
                                capture_output=True, text=True, timeout=30)
        assert 'column "ssn" does not exist or is not allowed' in denied.stderr
        assert "HINT:  allowed columns of public.customers: id, name, plan, email, created_at" in denied.stderr
        assert "078-05-1120" not in denied.stdout + denied.stderr
        # The demo masks e-mail addresses to their domain.
        masked = subprocess.run(["psql", "-X", "-At", url, "-c", "SELECT email FROM customers ORDER BY id"],
                                capture_output=True, text=True, timeout=30)
        assert masked.returncode == 0, masked.stderr
        assert all(line.startswith("***@") for line in masked.stdout.splitlines()), masked.stdout
        pids = subprocess.run(["pgrep", "-s", str(demo.pid)], capture_output=True, text=True).stdout.split()
        assert len(pids) >= 3  # quickstart/with-postgres, pgsieve, postgres
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
        rest = demo.communicate(timeout=60)[0]
    assert "pgsieve stopped." in rest, "".join(output) + rest
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-s", str(demo.pid)], capture_output=True, text=True).stdout.split()
    assert left == [], f"still running after Ctrl-C: {left}"
