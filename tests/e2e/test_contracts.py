"""The documented contracts match what is built: the edge routes in
proto/openapi.yaml (each on its scope's host), the internal RPCs in proto/,
the variables in README; and the check that holds every response of the
suite to the spec (contract.py) refuses what the spec does not say."""
import json
import re
import subprocess
import uuid

import yaml

from conftest import BIN, ROOT
from contract import CONTRACT


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


def operations():
    for path, ops in CONTRACT.spec["paths"].items():
        for method, op in ops.items():
            yield method.upper(), path, op


def test_every_operation_has_an_id_and_a_scope():
    ids = [op["operationId"] for _, _, op in operations()]
    assert len(ids) == len(set(ids)) == len(list(operations()))
    for method, path, op in operations():
        assert op.get("x-lintel-scope") in ("tenant", "platform", "any"), \
            (method, path)


def _no_such_route(r):
    return r.status == 404 and r.code == "not_found" and \
        r.body["error"]["message"] == "no such route"


def test_each_operation_is_served_on_the_hosts_of_its_scope_only(api,
                                                                 tenant):
    """x-lintel-scope, tried: on a host outside the operation's scope the
    service answers as if the route did not exist; on a host inside it the
    request reaches the operation. Each call carries a token the edge
    accepts on that host (a fresh one: logout-all is among the calls)."""
    admin = api.admin_token()
    hosts = {"tenant": tenant["slug"], "platform": None}
    for method, path, op in operations():
        scope = op["x-lintel-scope"]
        concrete = re.sub(r"\{\w+\}", str(uuid.uuid4()), path)
        body = {} if "requestBody" in op else None
        for host_scope, slug in hosts.items():
            token = admin if slug is None else \
                api.login(slug, tenant["email"])["access_token"]
            r = api.call(method, concrete, slug, token, json_body=body)
            served = scope in (host_scope, "any")
            assert _no_such_route(r) != served, \
                (method, path, scope, host_scope, r)


def test_the_contract_check_refuses_what_the_spec_does_not_say():
    rid = uuid.uuid4().hex
    uid = str(uuid.uuid4())
    user = {"id": uid, "email": "a@b.test", "name": "A", "role": "owner",
            "status": "active", "created_at": "2027-01-10T08:30:00Z",
            "updated_at": "2027-01-10T08:30:00.123456Z"}
    ok = {"X-Request-Id": rid, "Content-Type": "application/json",
          "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

    def check(status, headers, body, method="GET", path="/api/users/me"):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return CONTRACT.problems(method, path, status, headers, raw)

    assert check(200, ok, user) == []
    assert check(201, ok, user), "an undocumented status"
    assert check(200, ok, dict(user, extra=1)), "an undocumented field"
    assert check(200, ok, {k: v for k, v in user.items() if k != "name"}), \
        "a missing field"
    assert check(200, ok, dict(user, role="king")), "a value off its enum"
    assert check(200, ok, dict(user, created_at="yesterday")), "a bad format"
    assert check(200, {"Content-Type": "application/json"}, user), \
        "no X-Request-Id"
    assert check(200, dict(ok, **{"X-Debug": "1"}), user), \
        "an undocumented header"
    assert check(200, dict(ok, **{"Content-Type": "text/html"}), user)
    assert check(200, {k: v for k, v in ok.items()
                       if k != "X-Content-Type-Options"}, user), "no nosniff"
    assert check(200, dict(ok, **{"Cache-Control": "max-age=60"}), user), \
        "a cacheable answer"
    err = {"error": {"code": "missing_token", "message": "sign in",
                     "request_id": rid}}
    assert check(401, dict(ok, **{"WWW-Authenticate": "Bearer"}), err) == []
    assert check(401, ok, err), "a 401 without its challenge"
    assert check(401, dict(ok, **{"WWW-Authenticate": "Bearer"}),
                 {"error": dict(err["error"], request_id="other")})
    assert check(401, dict(ok, **{"WWW-Authenticate": "Bearer"}),
                 {"error": dict(err["error"], code="nope")})
    # A project's ETag is required on its read; an unlisted route is a 404.
    assert check(200, ok, {}, path=f"/api/projects/{uid}")
    assert check(200, ok, {}, path="/api/nowhere")
    assert check(204, ok, b"", method="DELETE", path=f"/api/tasks/{uid}") \
        == []
    assert check(204, ok, b"{}", method="DELETE", path=f"/api/tasks/{uid}")


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
