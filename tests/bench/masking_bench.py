"""Benchmark, not a test: rows per second of a 100,000-row result through
pgsieve with two of its columns masked (hash and email_domain) against the
same result unmasked (a policy that accepts the label) and straight from
PostgreSQL, in text (psycopg) and binary (psycopg binary cursor) formats.
Rounds are interleaved so machine noise hits every target alike; prints each
run and the medians. Run after a build:

    tests/fixture/with-postgres.sh /usr/bin/python3 tests/bench/masking_bench.py [ROUNDS]
"""

import os
import statistics
import sys
import tempfile
import time

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("PGSIEVE_BIN", os.path.join(HERE, "..", "..", "build", "app", "pgsieve"))

import conftest  # noqa: E402

ROWS = 100_000
QUERY = "SELECT id, name, ssn, email FROM mb_people"
POLICIES = """\
    policies:
      customer-success:
        statements: [select]
        max_rows: 1000000
        mask: {pii: hash}
        mask_key_env: PGSIEVE_BENCH_MASK_KEY
        tables:
          public.mb_people: {mask: {email: email_domain}}
      raw:
        statements: [select]
        max_rows: 1000000
        accept_classified: [pii]
        tables:
          public.mb_people: {}
"""


def fetch(dsn, binary):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor(binary=binary)
        started = time.perf_counter()
        rows = cur.execute(QUERY).fetchall()
        elapsed = time.perf_counter() - started
    assert len(rows) == ROWS
    return ROWS / elapsed, rows[0]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    conftest.psql(f"""
        DROP TABLE IF EXISTS mb_people;
        CREATE TABLE mb_people (id int PRIMARY KEY, name text, ssn text, email text);
        INSERT INTO mb_people SELECT g, 'name ' || g, lpad(g::text, 3, '0') || '-45-' || lpad((g % 10000)::text, 4, '0'),
            'person' || g || '@example' || (g % 50) || '.com' FROM generate_series(1, {ROWS}) g;
        GRANT SELECT ON mb_people TO ai_readonly;""")
    os.environ["PGSIEVE_BENCH_MASK_KEY"] = "a-benchmark-mask-key-of-32-bytes-or-more"
    proxy = conftest.start_proxy(tempfile.mkdtemp(), policies=POLICIES,
                                 extra="classification: {pii: [public.mb_people.ssn, public.mb_people.email]}\n",
                                 more_clients="  - {name: raw_bot, password_env: PGSIEVE_TEST_CLIENT_PASSWORD, "
                                              "policy: raw}\n")
    targets = {
        "postgres": f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} user={os.environ['PGUSER']} "
                    f"password={os.environ['PGPASSWORD']} dbname=app",
        "pgsieve unmasked": proxy.dsn(user="raw_bot", sslmode="disable"),
        "pgsieve masked": proxy.dsn(sslmode="disable"),
    }
    try:
        for binary in (False, True):
            results = {name: [] for name in targets}
            for r in range(rounds):
                for name, dsn in targets.items():
                    rate, first = fetch(dsn, binary)
                    results[name].append(rate)
                    print(f"{'binary' if binary else 'text'} round {r + 1} {name:<17} {rate:>10,.0f} rows/s  {first}")
            medians = {name: statistics.median(v) for name, v in results.items()}
            print(f"\n{'binary' if binary else 'text'} medians (rows/s): " +
                  ", ".join(f"{n} {m:,.0f}" for n, m in medians.items()))
            print(f"  masked / unmasked through pgsieve: {medians['pgsieve masked'] / medians['pgsieve unmasked']:.2f}; "
                  f"unmasked pgsieve / postgres: {medians['pgsieve unmasked'] / medians['postgres']:.2f}\n")
    finally:
        assert proxy.stop() == 0, proxy.read_log()
        conftest.psql("DROP TABLE mb_people")


if __name__ == "__main__":
    main()
