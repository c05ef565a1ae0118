"""No client can stall, balloon or crash the proxy: attacks on the work and
memory one statement, one Query or one connection may take, each named after
the attack, each leaving the other sessions working."""

import os
import threading

import psycopg
import pytest

from conftest import CLIENT_PASSWORD, Proxy, free_port, proxy_config, psql, release_only, UPSTREAM_PASSWORD


def start(tmp_path, listen_extra="", args=("--threads", "1"), **config):
    """pgsieve with one worker thread: anything that held it up would hold up every session."""
    psql(f"ALTER ROLE ai_readonly PASSWORD '{UPSTREAM_PASSWORD}'")
    env = dict(os.environ, PGSIEVE_TEST_UPSTREAM_PASSWORD=UPSTREAM_PASSWORD,
               PGSIEVE_TEST_CLIENT_PASSWORD=CLIENT_PASSWORD)
    port = free_port()
    p = Proxy(str(tmp_path), proxy_config(port, listen_extra=listen_extra, **config), env, args=args)
    p.wait_listening(port)
    return p


@pytest.fixture(scope="module")
def single(postgres, tmp_path_factory):
    p = start(tmp_path_factory.mktemp("single"))
    yield p
    assert p.stop() == 0, p.read_log()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def refusal(proxy, sql):
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute(sql)
        assert conn.execute("SELECT 1").fetchone() == (1,), "the session stays usable"
        return info.value


def test_attack_nested_comment_starts_are_refused_before_the_lexer_stalls_a_worker(single):
    # 64 KB of /*/*/* took libpg_query 7.9 s on the worker thread every session shares.
    error = refusal(single, "SELECT 1 " + "/*" * 32768 + "*/" * 32768)
    assert error.sqlstate == "42501"
    assert "quadratic" in str(error)
    error = refusal(single, "SELECT 1 " + "+-" * 20000 + "1")
    assert "quadratic" in str(error)


def test_attack_a_query_of_40000_statements_is_refused_before_it_is_parsed(single):
    # One 360 KB Query of `SELECT 1;` grew the process by ~450 MiB; under the
    # 256 KiB statement limit, 25,000 of them still parse into ~300 MiB.
    before = rss_kib(single.process.pid)
    error = refusal(single, "SELECT 1;" * 25000)
    assert "25000 statements, more than listen.max_statements_per_query=100" in str(error)
    if not os.environ.get("PGSIEVE_SANITIZER_REPORTS"):
        assert rss_kib(single.process.pid) - before < 32 * 1024


def test_attack_text_that_is_not_utf8_is_refused_before_parsing(single):
    # libpg_query and PostgreSQL must read the same characters: an overlong '/' is neither.
    with psycopg.connect(single.dsn(), autocommit=True) as conn:
        result = conn.pgconn.exec_(b"SELECT 'a\xc0\xaf' AS x")
        assert "not valid UTF-8" in result.error_message.decode(errors="replace")
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_attack_a_long_statement_is_analysed_off_the_worker_under_a_deadline(postgres, tmp_path):
    # A statement over 4 KiB is parsed and decided on the analysis pool; past
    # listen.analysis_timeout it is refused, and the one worker thread serves
    # another session meanwhile.
    proxy = start(tmp_path, listen_extra="analysis_timeout: 1ms\n")
    try:
        long_sql = "SELECT count(*) FROM customers WHERE id IN (" + ",".join(str(i) for i in range(40000)) + ")"
        results = {}

        def long_one():
            try:
                with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
                    conn.execute(long_sql)
                    results["long"] = "ran"
            except psycopg.Error as e:
                results["long"] = str(e)

        worker = threading.Thread(target=long_one)
        worker.start()
        with psycopg.connect(proxy.dsn(), autocommit=True) as bystander:
            for _ in range(20):
                assert bystander.execute("SELECT count(*) FROM customers").fetchone() == (3,)
        worker.join(60)
        assert "listen.analysis_timeout=1 ms" in results["long"], results
        with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        assert proxy.stop() == 0, proxy.read_log()


def test_a_long_statement_within_the_deadline_runs(single):
    # The pool decides it as the worker would have: allowed, and it runs.
    with psycopg.connect(single.dsn(), autocommit=True) as conn:
        sql = "SELECT count(*) FROM customers WHERE id IN (" + ",".join(str(i) for i in range(20000)) + ")"
        assert conn.execute(sql).fetchone() == (3,)
        # And a long one refused by policy is refused with the policy's reason.
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
            conn.execute("SELECT ssn FROM customers WHERE id IN (" + ",".join(str(i) for i in range(20000)) + ")")
        assert 'column "ssn"' in str(info.value)
        # Prepared (Parse) as well as simple (Query).
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM customers WHERE id = ANY(%s) AND name <> '" + "x" * 8000 + "'",
                    ([1, 2, 3],), prepare=True)
        assert cur.fetchone() == (3,)
