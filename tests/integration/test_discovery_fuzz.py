"""The differential discovery fuzz, bounded for CI (tests/differential/
discovery_fuzz.py: the hand-written shapes of each class and a few hundred
SQLsmith statements over the live catalog, under catalog: introspection and
catalog: none, in the simple and the extended protocol). A hidden canary's
name in anything the client receives fails the test."""

import json
import os
import subprocess
import sys

from conftest import pgsieve_bin

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "differential", "discovery_fuzz.py")


def test_nothing_pgsieve_allows_prints_a_hidden_name(postgres, tmp_path):
    report = tmp_path / "discovery-fuzz.json"
    result = subprocess.run([sys.executable, SCRIPT, "--pgsieve", pgsieve_bin(), "--generated", "300",
                             "--seeds", "1,2", "--report", str(report)],
                            capture_output=True, text=True, timeout=900)
    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    summary = json.loads(report.read_text())
    assert summary["leaks"] == []
    # Both policies and both protocols really ran, and some of it reached PostgreSQL.
    counts = summary["counts"]
    for client in ("intro_bot", "none_bot"):
        for protocol in ("simple", "extended"):
            assert counts.get(f"{client} {protocol}: relayed", 0) > 0, counts
    assert summary["statements"] >= 300
