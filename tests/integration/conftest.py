"""Shared helpers for integration tests.

Each test file runs under tests/fixture/with-postgres.sh (see
tests/CMakeLists.txt), which provides a throwaway PostgreSQL 15 through
libpq's environment variables and stops it afterwards.
"""

import base64
import hashlib
import hmac
import os
import struct
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


# ---------------------------------------------------------------------------
# Sanitizer builds: every pgsieve process a test starts (serve and the CLI
# commands) writes its AddressSanitizer, UndefinedBehaviorSanitizer,
# LeakSanitizer or ThreadSanitizer report into PGSIEVE_SANITIZER_REPORTS
# (tests/CMakeLists.txt sets the *SAN_OPTIONS). A report fails the test
# during which it appeared, and the run: a memory error is a crash.

def sanitizer_reports():
    directory = os.environ.get("PGSIEVE_SANITIZER_REPORTS")
    if not directory or not os.path.isdir(directory):
        return {}
    return {name: os.path.join(directory, name) for name in sorted(os.listdir(directory))}


def under_sanitizer():
    """True when pgsieve is a sanitizer build: its memory and speed are not the release build's."""
    return bool(os.environ.get("PGSIEVE_SANITIZER_REPORTS"))


release_only = pytest.mark.skipif(under_sanitizer(), reason="measures the release build (memory, libraries)")


def describe_reports(paths):
    parts = []
    for path in paths:
        with open(path, errors="replace") as f:
            parts.append(f"--- {os.path.basename(path)}\n{f.read()[:20000]}")
    return "\n".join(parts)


@pytest.fixture(autouse=True)
def no_sanitizer_reports():
    before = sanitizer_reports()
    yield
    new = [path for name, path in sanitizer_reports().items() if name not in before]
    if new:
        pytest.fail("a sanitizer reported an error in pgsieve:\n" + describe_reports(new), pytrace=False)


def pytest_sessionstart(session):
    # The directory is this test file's own: what an earlier run left is not this run's.
    for path in sanitizer_reports().values():
        os.remove(path)


def pytest_sessionfinish(session, exitstatus):
    # Reports written after the last test (a module's proxy stopped at
    # teardown, a leak found at exit) fail the run too.
    reports = list(sanitizer_reports().values())
    if reports:
        print("\nsanitizer reports from pgsieve:\n" + describe_reports(reports))
        session.exitstatus = 1


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


# ---------------------------------------------------------------------------
# pgsieve serve in front of the fixture's PostgreSQL

import signal
import random
import socket
import textwrap
import time

UPSTREAM_PASSWORD = "upstream-secret"
CLIENT_PASSWORD = "cs-bot-secret"


def rss_kib(pid):
    """A process's resident memory (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port():
    """A port free now, chosen below the kernel's ephemeral range: a port
    bind(0) hands out is one any outgoing connection (another suite's, run
    beside this one) may take before pgsieve listens on it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randint(10000, max(10001, low - 1))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificate(directory, name="server", hosts=("localhost",), ips=("127.0.0.1",)):
    """A self-signed certificate (its own CA) for TLS tests; returns (cert, key)."""
    cert = os.path.join(directory, f"{name}.crt")
    key = os.path.join(directory, f"{name}.key")
    san = ",".join([f"DNS:{h}" for h in hosts] + [f"IP:{i}" for i in ips])
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={hosts[0]}", "-addext", f"subjectAltName={san}",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


class Proxy:
    """A running `pgsieve serve`; connection facts for clients."""

    def __init__(self, directory, config_text, env, args=()):
        self.directory = directory
        self.config_path = os.path.join(directory, "pgsieve.yaml")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.log_path = os.path.join(directory, "pgsieve.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([pgsieve_bin(), "serve", "-c", self.config_path, "--shutdown-grace", "5", *args],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.host = "127.0.0.1"
        self.port = None

    def wait_listening(self, port, timeout=10):
        self.port = port
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"pgsieve exited with {self.process.returncode}: {self.read_log()}")
            try:
                with socket.create_connection((self.host, port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"pgsieve did not listen on {port}: {self.read_log()}")

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def dsn(self, user="cs_bot", password=CLIENT_PASSWORD, **extra):
        parts = {"host": self.host, "port": self.port, "user": user, "password": password, "dbname": "app"}
        parts.update(extra)

        def quote(value):
            value = str(value).replace("\\", "\\\\").replace("'", "\\'")
            return f"'{value}'"
        return " ".join(f"{k}={quote(v)}" for k, v in parts.items())

    def url(self, user="cs_bot", password=CLIENT_PASSWORD, query=""):
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/app{query}"

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("pgsieve did not stop within 20 s of SIGTERM")
        self.log.close()
        return self.process.returncode


DEFAULT_POLICY = """\
    policies:
      customer-success:
        statements: [select, explain]
        catalog: introspection
        functions: [pg_catalog.pg_sleep, public.say_hello]
        tables:
          public.customers: {columns: [id, name, plan, created_at]}
          public.usage_daily: {}
          public.pgbench_accounts: {}
          public.pgbench_branches: {}
          public.pgbench_tellers: {}
"""

MONITOR_POLICY = DEFAULT_POLICY.replace("statements: [select, explain]", "mode: monitor\n        statements: [select, explain]")


def proxy_config(port, *, tls=None, listen_extra="", upstream_port=None, upstream_host="127.0.0.1",
                 upstream_extra="", clients_extra="", more_clients="", policies=DEFAULT_POLICY, audit_extra="",
                 extra=""):
    tls_block = ""
    if tls:
        tls_block = f"  tls: {{cert_file: {tls['cert']}, key_file: {tls['key']}, mode: {tls.get('mode', 'require')}}}\n"
    return textwrap.dedent(f"""\
        listen:
          address: 127.0.0.1
          port: {port}
        """) + tls_block + textwrap.indent(textwrap.dedent(listen_extra), "  ") + textwrap.dedent(f"""\
        upstream:
          host: {upstream_host}
          port: {upstream_port or os.environ['PGPORT']}
          database: app
          user: ai_readonly
          password_env: PGSIEVE_TEST_UPSTREAM_PASSWORD
        """) + textwrap.indent(textwrap.dedent(upstream_extra or "sslmode: disable\n"), "  ") + textwrap.dedent("""\
        audit:
          sqlite: audit.db
        """) + textwrap.indent(textwrap.dedent(audit_extra), "  ") + textwrap.dedent("""\
        clients:
          - name: cs_bot
            password_env: PGSIEVE_TEST_CLIENT_PASSWORD
            policy: customer-success
        """) + textwrap.indent(textwrap.dedent(clients_extra), "    ") + textwrap.indent(
        textwrap.dedent(more_clients), "  ") + textwrap.dedent(policies) + textwrap.dedent(extra)


def start_proxy(tmp_dir, **config):
    """Starts pgsieve with `proxy_config(**config)`; the caller stops it."""
    psql(f"ALTER ROLE ai_readonly PASSWORD '{UPSTREAM_PASSWORD}'")
    env = dict(os.environ)
    env["PGSIEVE_TEST_UPSTREAM_PASSWORD"] = UPSTREAM_PASSWORD
    env["PGSIEVE_TEST_CLIENT_PASSWORD"] = CLIENT_PASSWORD
    port = free_port()
    p = Proxy(str(tmp_dir), proxy_config(port, **config), env)
    p.wait_listening(port)
    return p


@pytest.fixture(scope="module", params=["plain", "tls"])
def proxy(request, postgres, tmp_path_factory):
    """pgsieve in front of the fixture database, without and with TLS required."""
    directory = tmp_path_factory.mktemp(f"pgsieve-{request.param}")
    tls = None
    if request.param == "tls":
        cert, key = make_certificate(str(directory))
        tls = {"cert": cert, "key": key, "mode": "require"}
    p = start_proxy(directory, tls=tls)
    p.tls = tls is not None
    p.sslmode = "require" if p.tls else "disable"
    yield p
    rc = p.stop()
    assert rc == 0, f"pgsieve exited with {rc}: {p.read_log()}"


def scram_login(sock, user, password, then=b""):
    """SCRAM-SHA-256 by hand, sending `then` in the same packet as the final message."""
    def message(kind, body):
        return kind + struct.pack("!I", len(body) + 4) + body

    def read_message():
        head = b""
        while len(head) < 5:
            head += sock.recv(5 - len(head))
        kind, length = head[:1], struct.unpack("!I", head[1:])[0]
        body = b""
        while len(body) < length - 4:
            body += sock.recv(length - 4 - len(body))
        return kind, body

    params = b"user\0" + user.encode() + b"\0database\0app\0\0"
    sock.sendall(struct.pack("!II", len(params) + 8, 196608) + params)
    kind, body = read_message()
    assert kind == b"R" and b"SCRAM-SHA-256" in body
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n=,r={nonce}"
    first = ("n,," + first_bare).encode()
    sock.sendall(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first))
    kind, body = read_message()
    server_first = body[4:].decode()
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth, hashlib.sha256).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    sock.sendall(message(b"p", f"{without_proof},p={proof}".encode()) + then)
    return read_message
