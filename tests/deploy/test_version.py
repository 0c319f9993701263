"""`lintel-<svc> version`: the build's git description and the hash of the
contracts it was built from, for every service (make deploy-check)."""
import hashlib
import os
import re
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(os.environ.get("LINTEL_BUILD", os.path.join(ROOT, "build")), "bin")
SERVICES = sorted(os.listdir(os.path.join(ROOT, "services")))


def proto_sha256():
    d = os.path.join(ROOT, "proto", "lintel", "v1")
    h = hashlib.sha256()
    for name in sorted(n for n in os.listdir(d) if n.endswith(".proto")):
        with open(os.path.join(d, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def git_describe():
    r = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "unknown"


def version_of(svc):
    # No configuration at all: `version` must not need any.
    r = subprocess.run([os.path.join(BIN, "lintel-" + svc), "version"],
                       capture_output=True, text=True, env={}, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_every_service_prints_its_version_and_contract_hash():
    want_hash, want_version = proto_sha256(), git_describe()
    assert SERVICES
    for svc in SERVICES:
        out = version_of(svc)
        m = re.fullmatch(r"lintel-(\w+) (\S+) \(proto sha256:([0-9a-f]{64})\)\n", out)
        assert m, out
        assert m.group(1) == svc
        # the tree may have been edited since the build: same commit
        assert (m.group(2).removesuffix("-dirty")
                == want_version.removesuffix("-dirty")), (m.group(2),
                                                          want_version)
        assert m.group(3) == want_hash


def test_usage_lists_version():
    r = subprocess.run([os.path.join(BIN, "lintel-" + SERVICES[0])],
                       capture_output=True, text=True, env={}, timeout=10)
    assert r.returncode == 2
    assert "version" in r.stderr
