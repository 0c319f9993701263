"""compose/<name>/Dockerfile: one per deployable; the runtime stage holds
the shared libraries the built binary needs (read off the binary, mapped
to Debian packages by dpkg) and no -dev package; a non-root user; ports and
HEALTHCHECK as the binaries and nginx.conf declare them."""
import os
import re
import subprocess

import pytest

from conftest import BUILD, ROOT, SERVICES, url_port

PACKAGES_TXT = os.path.join(ROOT, "compose", "local", "packages.txt")
# What a runtime stage may hold beside the libraries its artefact needs.
TOOLS = {"users": {"ca-certificates", "curl"}, "projects": {"ca-certificates", "curl"},
         "reporting": {"ca-certificates", "curl"},
         "billing": {"ca-certificates", "curl"},
         "edge": {"nginx", "curl"},
         "ops": {"postgresql-client", "python3", "python3-aiosmtpd"}}
# Deployable → the artefact its runtime stage carries.
ARTEFACTS = dict({s: os.path.join(BUILD, "bin", "lintel-" + s) for s in SERVICES},
                 edge=os.path.join(BUILD, "gateway", "ngx_http_lintel_module.so"),
                 ops=os.path.join(BUILD, "bin", "lintel-call"))


def stages(name):
    text = open(os.path.join(ROOT, "compose", name, "Dockerfile")).read()
    text = text.replace("\\\n", " ")
    parts = re.split(r"^FROM\s+", text, flags=re.M)[1:]
    assert len(parts) == 2, f"{name}: a build stage and a runtime stage"
    return parts


def apt_packages(stage):
    out = set()
    for m in re.finditer(r"apt-get install -y --no-install-recommends\s+([^&]+)", stage):
        out |= set(m.group(1).split())
    return out


def needed_packages(path):
    r = subprocess.run(["objdump", "-p", path], capture_output=True, text=True, check=True)
    arch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True,
                          check=True).stdout.strip()
    pkgs = set()
    for lib in re.findall(r"^\s*NEEDED\s+(\S+)", r.stdout, re.M):
        d = subprocess.run(["dpkg", "-S", f"*/{arch}/{lib}"], capture_output=True, text=True)
        owners = {line.split(":")[0] for line in d.stdout.splitlines()
                  if not line.split(":")[0].endswith("-dev")}
        assert len(owners) == 1, (lib, d.stdout)
        pkgs |= owners
    return pkgs - {"libc6"}


@pytest.mark.parametrize("name", sorted(ARTEFACTS))
def test_runtime_stage_has_what_the_binary_needs(name):
    build, runtime = stages(name)
    assert build.startswith("debian:12 AS build")
    assert runtime.startswith("debian:12-slim")
    pkgs = apt_packages(runtime)
    needed = needed_packages(ARTEFACTS[name])
    missing = needed - pkgs
    assert not missing, f"{name}: runtime stage lacks {sorted(missing)}"
    extra = pkgs - needed - TOOLS[name]
    assert not extra, f"{name}: runtime stage installs {sorted(extra)}, which nothing needs"
    assert not [p for p in pkgs if p.endswith("-dev")], pkgs
    assert re.search(r"^USER 10001:10001$", runtime, re.M)
    assert "useradd --system --uid 10001" in runtime
    assert "lintel-entrypoint" in runtime


@pytest.mark.parametrize("name", sorted(ARTEFACTS))
def test_build_stage_uses_the_local_package_list(name):
    # npm: what deps.sh installs beside packages.txt when there is no npm
    listed = {line.strip() for line in open(PACKAGES_TXT)
              if line.strip() and not line.startswith("#")} | {"npm"}
    build, _ = stages(name)
    pkgs = apt_packages(build)
    assert pkgs and pkgs <= listed, pkgs - listed
    assert "DEPS_OK=" in build  # make must not install the local stack's packages


def test_every_service_has_an_image(services):
    for name, svc in services.items():
        _, runtime = stages(name)
        assert re.search(rf"^EXPOSE {svc.rpc_port} {svc.ops_port}$", runtime, re.M)
        env = dict(re.findall(r"(LINTEL_[A-Z_]+)=(\S+)", runtime))
        assert url_port(env["LINTEL_RPC_URL"]) == svc.rpc_port
        assert url_port(env["LINTEL_OPS_URL"]) == svc.ops_port
        assert env["LINTEL_MIGRATIONS_DIR"] == f"/usr/share/lintel/migrations/{name}"
        assert f"COPY migrations/{name} {env['LINTEL_MIGRATIONS_DIR']}" in runtime
        assert re.search(r'HEALTHCHECK .* CMD curl -fsS -m 2 -o /dev/null "\$\{LINTEL_OPS_URL\}/readyz"',
                         runtime)
        assert f'"/usr/local/bin/lintel-{name}"]' in runtime


def test_edge_image_serves_the_k8s_config():
    _, runtime = stages("edge")
    assert "COPY k8s/base/edge/nginx.conf k8s/base/edge/site.conf /etc/lintel/" in runtime
    conf = open(os.path.join(ROOT, "k8s", "base", "edge", "nginx.conf")).read()
    ops_server = conf.split("server {")[2]
    port = re.search(r"listen\s+(\d+);", ops_server).group(1)
    assert re.search(rf"^EXPOSE 8080 {port}$", runtime, re.M)
    assert f"http://127.0.0.1:{port}/healthz" in runtime
    assert re.search(r"^STOPSIGNAL SIGQUIT$", runtime, re.M)


def test_make_image_refuses_without_an_engine():
    r = subprocess.run(["make", "-s", "image", "SERVICE=projects"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60,
                       env={"PATH": os.environ["PATH"], "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert r.returncode != 0
    assert "make image:" in r.stderr
    r = subprocess.run(["make", "-s", "image", "SERVICE=nope"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "SERVICE must be one of" in r.stderr
