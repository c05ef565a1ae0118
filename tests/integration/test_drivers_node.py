"""node-postgres and postgres.js (from npm) through pgsieve, without and with TLS."""

import os
import subprocess

from conftest import CLIENT_PASSWORD

HERE = os.path.dirname(os.path.abspath(__file__))


def test_node_drivers(proxy):
    env = dict(os.environ, PGSIEVE_HOST=proxy.host, PGSIEVE_PORT=str(proxy.port),
               PGSIEVE_PASSWORD=CLIENT_PASSWORD, PGSIEVE_TLS="1" if proxy.tls else "0")
    result = subprocess.run(["node", os.path.join(HERE, "node", "drivers.mjs")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "node drivers ok" in result.stdout
