"""Statements SQLsmith builds from the fixture's live catalog, for the
differential tests (differential.py, discovery_fuzz.py)."""

import os
import re
import subprocess


def generated_statements(count, seeds, include_catalog=False):
    """`count` statements over fixed seeds; over user relations only unless `include_catalog`."""
    if count <= 0:
        return []
    target = (f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} user={os.environ['PGUSER']} "
              f"password={os.environ['PGPASSWORD']} dbname={os.environ['PGDATABASE']}")
    out = []
    per_seed = max(1, count // len(seeds))
    for seed in seeds:
        command = ["sqlsmith", f"--target={target}", "--dry-run", f"--max-queries={per_seed}", f"--seed={seed}"]
        if not include_catalog:
            command.append("--exclude-catalog")
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode != 0 and not result.stdout:
            raise SystemExit(f"sqlsmith failed: {result.stderr[-2000:]}")
        # Each statement ends with ";" at the end of a line.
        for statement in re.split(r";\n(?=\S|\Z)", result.stdout):
            statement = statement.strip()
            if statement:
                out.append(statement)
    return out[:count]
