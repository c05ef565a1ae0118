"""The differential test against PostgreSQL's privilege system, bounded for
CI (tests/differential/differential.py: the corpus and a few hundred SQLsmith
statements per policy). pgsieve allowing what PostgreSQL refuses with 42501
under the roles `pgsieve grants` makes is a leak and fails the test."""

import json
import os
import subprocess
import sys

from conftest import pgsieve_bin

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "differential", "differential.py")


def test_pgsieve_allows_nothing_postgres_privileges_refuse(postgres, tmp_path):
    report = tmp_path / "differential.json"
    result = subprocess.run([sys.executable, SCRIPT, "--pgsieve", pgsieve_bin(), "--generated", "300",
                             "--seeds", "1,2", "--report", str(report)],
                            capture_output=True, text=True, timeout=900)
    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    summary = json.loads(report.read_text())
    assert summary["leaks"] == []
    corpus = summary["by_source"]["corpus"]["counts"]
    generated = summary["by_source"]["sqlsmith"]["counts"]
    # Both streams really ran on both sides.
    assert corpus["statements"] > 400 and corpus["pgsieve allowed"] > 100 and corpus["postgres ran it"] > 100
    assert generated["statements"] >= 1000 and generated["postgres refused (42501)"] > 0
