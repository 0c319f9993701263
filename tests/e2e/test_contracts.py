"""The documented contracts match what is built: the edge routes in
proto/openapi.yaml, the internal RPCs in proto/, the variables in README."""
import re
import subprocess

import yaml

from conftest import BIN, ROOT


def service_names():
    return sorted(p.name for p in (ROOT / "services").iterdir()
                  if (BIN / f"lintel-{p.name}").exists())


def routes(service):
    out = subprocess.run([str(BIN / f"lintel-{service}"), "routes"],
                         capture_output=True, text=True, check=True).stdout
    return [tuple(line.split(" ", 1)) for line in out.splitlines()]


def test_every_service_is_built():
    assert service_names() == sorted(
        p.name for p in (ROOT / "services").iterdir())


def test_openapi_documents_exactly_the_edge_routes():
    spec = yaml.safe_load((ROOT / "proto" / "openapi.yaml").read_text())
    documented = {
        (method.upper(), re.sub(r"\{(\w+)\}", r":\1", path))
        for path, ops in (spec.get("paths") or {}).items()
        for method in ops if method in
        ("get", "post", "put", "patch", "delete")
    }
    served = {r for s in service_names() for r in routes(s) if r[0] != "RPC"}
    assert served == documented


def test_every_internal_rpc_is_declared_in_its_proto():
    for s in service_names():
        proto = (ROOT / "proto" / "lintel" / "v1" / f"{s}.proto").read_text()
        declared = set(re.findall(r"^\s*rpc\s+(\w+)\s*\(", proto, re.M))
        for method, path in routes(s):
            if method == "RPC":
                assert path.startswith(f"/rpc/{s}."), path
                assert path.split(".", 1)[1] in declared, path


def test_readme_lists_every_configuration_variable():
    readme = (ROOT / "README.md").read_text()
    for s in service_names():
        out = subprocess.run([str(BIN / f"lintel-{s}"), "config"],
                             capture_output=True, text=True, check=True).stdout
        for var in re.findall(r"`(LINTEL_\w+)`", out):
            assert f"`{var}`" in readme, f"{var} ({s}) missing from README"
