"""compose/compose.yaml: valid for docker-compose, and the same services,
variables, ports and health checks as the binaries declare."""
import os
import re
import shutil

from conftest import CLEAN_ENV, ROOT, run, url_port

COMPOSE = os.path.join(ROOT, "compose", "compose.yaml")
ENV_EXAMPLE = os.path.join(ROOT, "compose", ".env.example")


def compose_config_q(path):
    return run(["docker-compose", "--env-file", ENV_EXAMPLE, "-f", path, "config", "-q"],
               env=CLEAN_ENV)


def test_compose_file_is_valid():
    r = compose_config_q(COMPOSE)
    assert r.returncode == 0, r.stderr


def test_compose_validation_refuses_an_unknown_service_key(tmp_path):
    text = open(COMPOSE).read().replace("    command: [\"bootstrap\"]\n",
                                        "    command: [\"bootstrap\"]\n    restart_polcy: always\n")
    assert "restart_polcy" in text
    shutil.copytree(os.path.join(ROOT, "compose"), tmp_path / "compose")
    (tmp_path / "compose" / "compose.yaml").write_text(text)
    r = compose_config_q(str(tmp_path / "compose" / "compose.yaml"))
    assert r.returncode != 0
    assert "restart_polcy" in r.stderr


def env_names(env):
    """Variables set, a VAR_FILE secret counting as VAR."""
    return {k[:-5] if k.endswith("_FILE") else k for k in env}


# Secrets only the serving container gets (its migration needs none).
SERVE_ONLY = {"LINTEL_PAYMENT_WEBHOOK_SECRET"}


def test_every_variable_a_service_reads_is_set(services, compose):
    for name, svc in services.items():
        for c in (name, name + "-migrate"):
            env = compose["services"][c]["environment"]
            missing = svc.vars - env_names(env)
            if c.endswith("-migrate"):
                missing -= SERVE_ONLY
            assert not missing, f"compose service {c} lacks {sorted(missing)}"
            assert env_names(env) - {"PGPASSWORD"} <= svc.vars, \
                f"compose service {c} sets what lintel-{name} does not read"
            assert "PGPASSWORD_FILE" in env, c
            # Redis: the service's own ACL user, its password a secret
            assert env["LINTEL_REDIS_USER"] == name, c
            secret = f"redis_{name}_password"
            assert env["LINTEL_REDIS_PASSWORD_FILE"] == f"/run/secrets/{secret}"
            assert {"source": secret} in compose["services"][c]["secrets"], c


def test_the_payment_webhook_secret_comes_from_a_secret(compose):
    """Never a default such as `off` in the environment: the file of the
    compose secret payment_webhook_secret (compose/secrets.sh makes one)."""
    billing = compose["services"]["billing"]
    assert billing["environment"]["LINTEL_PAYMENT_WEBHOOK_SECRET_FILE"] == \
        "/run/secrets/payment_webhook_secret"
    assert {"source": "payment_webhook_secret"} in billing["secrets"]
    assert "payment_webhook_secret" in compose["secrets"]
    for name, svc in compose["services"].items():
        assert "LINTEL_PAYMENT_WEBHOOK_SECRET" not in svc.get("environment", {}), name
    assert "LINTEL_PAYMENT_WEBHOOK_SECRET" not in open(ENV_EXAMPLE).read()


def test_migrate_runs_before_its_service(services, compose):
    for name in services:
        s = compose["services"][name]
        assert s["depends_on"][name + "-migrate"]["condition"] == "service_completed_successfully"
        m = compose["services"][name + "-migrate"]
        assert m["command"] == ["migrate"]
        assert m["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
        for peer in services[name].peers:
            # Two services that call each other (users and billing): compose
            # cannot start a cycle, so the one that comes first does not
            # wait for the other, which waits for it (checked from its side).
            if name in compose["services"][peer]["depends_on"]:
                assert name in services[peer].peers, (name, peer)
                assert peer not in s["depends_on"], (name, peer)
                continue
            assert s["depends_on"][peer]["condition"] == "service_healthy", (name, peer)


def test_ports_and_health_checks_match_the_binaries(services, compose):
    for name, svc in services.items():
        s = compose["services"][name]
        env = s["environment"]
        assert url_port(env["LINTEL_RPC_URL"]) == svc.rpc_port
        assert url_port(env["LINTEL_OPS_URL"]) == svc.ops_port
        # "127.0.0.1:<host>:<container>/tcp": the same host ports as make run.
        published = {p for p in s["ports"]}
        for port in (svc.rpc_port, svc.ops_port):
            assert f"127.0.0.1:{port}:{port}/tcp" in published, published
        assert "/readyz" in " ".join(s["healthcheck"]["test"])
        assert "LINTEL_OPS_URL" in " ".join(s["healthcheck"]["test"])
        assert s["read_only"] is True
        for peer in svc.peers:
            url = env[f"LINTEL_{peer.upper()}_RPC_URL"]
            assert re.fullmatch(rf"tcp://{peer}:{services[peer].rpc_port}", url), url


def test_env_example_lists_every_compose_variable():
    used = dict(re.findall(r"\$\{([A-Z0-9_]+):-([^}]*)\}", open(COMPOSE).read()))
    listed = dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", open(ENV_EXAMPLE).read(), re.M))
    listed.pop("COMPOSE_PROJECT_NAME")
    assert set(used) == set(listed)
    for k, v in used.items():
        assert listed[k] == v, f"{k}: compose.yaml default {v!r}, .env.example {listed[k]!r}"


def test_jwt_issuer_is_the_edge_s(compose):
    site = open(os.path.join(ROOT, "k8s", "base", "edge", "site.conf")).read()
    issuer = re.search(r"lintel_jwt_issuer\s+(\S+);", site).group(1)
    assert compose["services"]["users"]["environment"]["LINTEL_JWT_ISSUER"] == issuer
