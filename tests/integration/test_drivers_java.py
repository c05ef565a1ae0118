"""pgJDBC (Debian's libpostgresql-jdbc-java) through pgsieve, without and with TLS."""

import os
import subprocess

from conftest import CLIENT_PASSWORD

HERE = os.path.dirname(os.path.abspath(__file__))
JDBC_JAR = "/usr/share/java/postgresql.jar"


def test_pgjdbc(proxy):
    env = dict(os.environ, PGSIEVE_HOST=proxy.host, PGSIEVE_PORT=str(proxy.port),
               PGSIEVE_PASSWORD=CLIENT_PASSWORD, PGSIEVE_TLS="1" if proxy.tls else "0")
    result = subprocess.run(["java", "-cp", JDBC_JAR, os.path.join(HERE, "java", "JdbcDriverTest.java")],
                            capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "jdbc ok" in result.stdout
