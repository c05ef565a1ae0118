"""The deployment kit (issue 15), checked offline where it cannot run here:
the systemd unit passes `systemd-analyze verify` and its security review;
the Kubernetes manifests validate against the API's own schemas; every
configuration the kit ships passes `pgsieve check-config`; compose's grants
are what `pgsieve grants` prints today; `cmake --install` installs the
binary, the example and the unit; the image's runtime stage installs every
library the binary links. With PGSIEVE_TEST_IMAGE set to an image built by
deploy/container/build-image.sh, the image itself serves clients."""

import os
import re
import shutil
import subprocess
import time

import psycopg
import pytest
import yaml

from conftest import CLIENT_PASSWORD, UPSTREAM_PASSWORD, free_port, pgsieve_bin, psql, release_only, run_pgsieve

ROOT = os.environ.get("PGSIEVE_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
DEPLOY = os.path.join(ROOT, "deploy")
SECRETS = {"PGSIEVE_UPSTREAM_PASSWORD": "x", "PGSIEVE_CS_BOT_PASSWORD": "y"}


def check_config(path):
    result = run_pgsieve("check-config", "-c", path, env=dict(os.environ, **SECRETS))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies_and_is_hardened(tmp_path):
    unit = open(os.path.join(DEPLOY, "systemd/pgsieve.service")).read()
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ExecReload=/bin/kill -HUP $MAINPID",
                    "User=pgsieve"):
        assert setting in unit
    # verify needs the binary where ExecStart says: point it at this build.
    (tmp_path / "pgsieve.service").write_text(unit.replace("/usr/bin/pgsieve", pgsieve_bin()))
    verify = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "pgsieve.service")],
                            capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(tmp_path / "pgsieve.service")],
                              capture_output=True, text=True)
    level = re.search(r"Overall exposure level for pgsieve.service: ([0-9.]+)", security.stdout)
    assert level and float(level.group(1)) < 2.0, security.stdout[-2000:]


def validated_manifests():
    """The manifests' objects, after validating them with the API's schemas."""
    manifests = os.path.join(DEPLOY, "kubernetes/pgsieve.yaml")
    node_dir = os.path.join(ROOT, "tests/integration/node")
    result = subprocess.run(["node", "validate-manifests.mjs", manifests], cwd=node_dir, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = re.findall(r" (\S+) (\S+): valid", result.stdout)
    assert sorted(kinds) == sorted([("ConfigMap", "pgsieve-config"), ("Secret", "pgsieve-secrets"),
                                    ("Deployment", "pgsieve"), ("Service", "pgsieve"),
                                    ("Service", "pgsieve-peers"), ("PodDisruptionBudget", "pgsieve")])
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(open(manifests))}


def test_the_kubernetes_manifests_validate_against_the_api_schemas():
    objects = validated_manifests()
    container = objects[("Deployment", "pgsieve")]["spec"]["template"]["spec"]["containers"][0]
    # Readiness follows refusals; liveness must not, or an audit outage restart-loops every replica.
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert objects[("Deployment", "pgsieve")]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_every_configuration_the_kit_ships_passes_check_config(tmp_path):
    objects = validated_manifests()
    config_map = tmp_path / "configmap.yaml"
    config_map.write_text(objects[("ConfigMap", "pgsieve-config")]["data"]["pgsieve.yaml"])
    for path in (str(config_map), os.path.join(DEPLOY, "pgsieve.example.yaml"),
                 os.path.join(DEPLOY, "compose/pgsieve.yaml")):
        assert "OK" in check_config(path)


def test_compose_wires_postgres_pgsieve_and_an_mcp_server_through_it():
    compose = yaml.safe_load(open(os.path.join(DEPLOY, "compose/compose.yaml")))
    services = compose["services"]
    assert set(services) == {"postgres", "pgsieve", "dbhub"}
    assert services["pgsieve"]["build"]["dockerfile"] == "deploy/container/Dockerfile"
    assert "@pgsieve:6432/" in " ".join(services["dbhub"]["command"])  # the MCP server reaches only pgsieve
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert os.path.exists(os.path.join(DEPLOY, "compose", source)), source


def test_compose_grants_are_what_pgsieve_grants_prints_today(postgres, tmp_path):
    text = open(os.path.join(DEPLOY, "compose/pgsieve.yaml")).read()
    local = tmp_path / "pgsieve.yaml"
    local.write_text(text.replace("  host: postgres\n", "  host: 127.0.0.1\n")
                     .replace("  port: 5432\n", f"  port: {os.environ['PGPORT']}\n"))
    result = run_pgsieve("grants", "-c", str(local), "--connect-as", os.environ["PGUSER"],
                         env=dict(os.environ, **SECRETS))
    assert result.returncode == 0, result.stderr
    shipped = open(os.path.join(DEPLOY, "compose/grants.sql")).read().splitlines()[2:]
    assert result.stdout.splitlines()[1:] == shipped, "regenerate deploy/compose/grants.sql"


def test_cmake_install_puts_the_binary_the_example_and_the_unit_in_place(tmp_path):
    build = os.path.dirname(os.path.dirname(pgsieve_bin()))
    result = subprocess.run(["cmake", "--install", build, "--prefix", "/usr"], capture_output=True, text=True,
                            env=dict(os.environ, DESTDIR=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    installed = tmp_path / "usr/bin/pgsieve"
    assert os.access(installed, os.X_OK)
    assert (tmp_path / "usr/share/doc/pgsieve/pgsieve.example.yaml").exists()
    assert (tmp_path / "usr/lib/systemd/system/pgsieve.service").exists()
    assert subprocess.run([str(installed), "--help"], capture_output=True).returncode == 0


@release_only
def test_the_image_installs_every_library_the_binary_links():
    dockerfile = open(os.path.join(DEPLOY, "container/Dockerfile")).read()
    runtime = dockerfile.split("\nFROM ${BASE}\n")[1]
    listed = set(re.findall(r"\b(lib[a-z0-9.+-]+)\b", runtime.split("rm -rf")[0]))
    ldd = subprocess.run(["ldd", pgsieve_bin()], capture_output=True, text=True, check=True).stdout
    needed = set()
    for path in re.findall(r"=> (/\S+)", ldd):
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        package = owner.stdout.split(":")[0]
        if package not in ("libc6", "libgcc-s1", "libstdc++6"):  # in every Debian base
            needed.add(package)
    assert needed and needed <= listed, f"missing from the runtime stage: {needed - listed}"


@pytest.mark.skipif(not os.environ.get("PGSIEVE_TEST_IMAGE") or shutil.which("buildah") is None,
                    reason="set PGSIEVE_TEST_IMAGE to an image built by deploy/container/build-image.sh")
def test_the_image_serves_clients_as_its_non_root_user(postgres, tmp_path):
    image = os.environ["PGSIEVE_TEST_IMAGE"]
    psql(f"ALTER ROLE ai_readonly PASSWORD '{UPSTREAM_PASSWORD}'")
    port = free_port()
    config = tmp_path / "pgsieve.yaml"
    config.write_text(f"""listen: {{address: 127.0.0.1, port: {port}}}
upstream: {{host: 127.0.0.1, port: {os.environ['PGPORT']}, database: app, user: ai_readonly,
           password_env: UP, sslmode: disable}}
audit: {{sqlite: /var/lib/pgsieve/audit.db}}
clients: [{{name: cs_bot, password_env: CS, policy: p}}]
policies: {{p: {{statements: [select], tables: {{public.customers: {{columns: [id, name]}}}}}}}}
""")
    os.chmod(config, 0o644)
    container = subprocess.run(["buildah", "from", image], capture_output=True, text=True, check=True).stdout.strip()
    try:
        # chroot isolation shares the host's network: the fixture PostgreSQL is on its loopback.
        serve = subprocess.Popen(["buildah", "run", "--isolation", "chroot", "-v", f"{config}:/etc/pgsieve/pgsieve.yaml:ro",
                                  "-e", f"UP={UPSTREAM_PASSWORD}", "-e", f"CS={CLIENT_PASSWORD}", container, "--",
                                  "pgsieve", "serve", "-c", "/etc/pgsieve/pgsieve.yaml"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 30
        while True:
            try:
                conn = psycopg.connect(host="127.0.0.1", port=port, user="cs_bot", password=CLIENT_PASSWORD,
                                       dbname="app", sslmode="disable", autocommit=True)
                break
            except psycopg.OperationalError:
                assert serve.poll() is None and time.time() < deadline, serve.stdout.read() if serve.poll() else ""
                time.sleep(0.2)
        with conn:
            assert conn.execute("SELECT name FROM customers WHERE id = 1").fetchone() == ("Acme Corp",)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT ssn FROM customers")
        serve.terminate()
        serve.wait(timeout=30)
        user = subprocess.run(["buildah", "inspect", "--format", "{{.OCIv1.Config.User}}", image],
                              capture_output=True, text=True, check=True).stdout.strip()
        assert user == "10001:10001"
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True)
