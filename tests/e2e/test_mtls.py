"""Internal calls are authenticated (issue 16, point 1), tried as an
attacker on the host would: lintel-call against the services' ports without
a certificate, with a certificate of a CA nobody trusts, with a service's
real certificate asking for what that service may not ask, and an edge that
trusts the wrong CA. A refused call never reaches a handler: the service's
log, which has a line for every request it handles or refuses, never sees
the attacker's request id.
"""
import os
import shutil
import subprocess
import uuid

import pytest
import requests

from conftest import BIN, ROOT, SUITE_EDGE_LIMITS, wait_until
from projects_api import new_tenant
from users_api import BASE

NGINX = "/usr/sbin/nginx"
MODULE = ROOT / "build" / "gateway" / "ngx_http_lintel_module.so"

pytestmark = pytest.mark.skipif(
    "os.environ.get('LINTEL_RPC_TLS', 'true') == 'false'",
    reason="the stack runs without TLS (LINTEL_RPC_TLS=false)")


def call(url, *args, cert=None, ca=None, request_id=None):
    """lintel-call with exactly the options given (no identity from the
    environment); returns (exit code, stdout, request id)."""
    request_id = request_id or f"attack-{uuid.uuid4()}"
    opts = ["--request-id", request_id, "--timeout", "2000"]
    if ca:
        opts += ["--ca", str(ca)]
    if cert:
        opts += ["--cert", str(cert), "--key", str(cert)]
    env = {"PATH": "/usr/bin:/bin"}
    p = subprocess.run([str(BIN / "lintel-call"), url, *args, *opts],
                       capture_output=True, text=True, timeout=20, env=env)
    return p.returncode, p.stdout, request_id


def reached(stack, service, request_id):
    """Whether the service logged the request (handled or refused)."""
    return request_id in (stack.run_dir / "log" / f"{service}.log").read_text()


@pytest.fixture(scope="module")
def rogue(tmp_path_factory):
    """A complete PKI of the same names, made by someone else."""
    d = tmp_path_factory.mktemp("rogue-tls")
    subprocess.run(["bash", str(ROOT / "compose" / "tls.sh"), str(d)],
                   check=True, capture_output=True)
    return d


def tls(stack):
    return stack.run_dir / "tls"


def test_plain_tcp_call_as_owner_never_reaches_a_handler(stack, tenants):
    tid, slug = tenants["a"]
    for caller in ("edge", "operator"):
        url = stack.rpc_url("projects", caller).replace("tls+tcp", "tcp")
        rc, out, rid = call(url, "GET", "/api/projects",
                            "--tenant", f"{tid}:{slug}",
                            "--user", str(uuid.uuid4()), "--role", "owner")
        assert rc == 4, out  # no peer: the TLS listener cut it off
        assert not reached(stack, "projects", rid)


def test_tls_call_without_a_certificate_never_reaches_a_handler(stack):
    rc, out, rid = call(stack.rpc_url("users"), "GET", "/api/admin/tenants",
                        "--user", str(uuid.uuid4()),
                        "--role", "platform_admin",
                        ca=tls(stack) / "ca" / "services.crt")
    assert rc == 4, out
    assert not reached(stack, "users", rid)


def test_certificate_of_a_rogue_ca_never_reaches_a_handler(stack, rogue):
    # the rogue operator's certificate, on the operator's listener
    rc, out, rid = call(stack.rpc_url("users"), "--rpc",
                        "users.ResolveTenant", "--json", '{"slug":"acme"}',
                        cert=rogue / "operator.pem",
                        ca=tls(stack) / "ca" / "services.crt")
    assert rc == 4, out
    assert not reached(stack, "users", rid)


def test_a_real_identity_on_another_callers_listener_is_cut_off(stack):
    # projects' own certificate on the operator's and on billing's listener
    for listener in ("operator", "billing"):
        rc, out, rid = call(stack.rpc_url("users", listener), "--rpc",
                            "users.CountSeats", "--json", "{}",
                            cert=tls(stack) / "projects.pem",
                            ca=tls(stack) / "ca" / "services.crt")
        assert rc == 4, (listener, out)
        assert not reached(stack, "users", rid)


def test_a_client_checks_the_services_certificate(stack, rogue):
    # a real operator certificate, but trusting only a rogue services CA:
    # the service's certificate does not verify, nothing is sent
    rc, out, rid = call(stack.rpc_url("users"), "--rpc",
                        "users.ResolveTenant", "--json", '{"slug":"acme"}',
                        cert=tls(stack) / "operator.pem",
                        ca=rogue / "ca" / "services.crt")
    assert rc == 4, out
    assert not reached(stack, "users", rid)


def test_a_service_may_not_call_an_rpc_it_is_not_allowed_to(stack):
    # projects may ask users for GetCaller and GetUser, not CountSeats
    rc, out, rid = call(stack.rpc_url("users", "projects"), "--rpc",
                        "users.CountSeats", "--json", "{}",
                        cert=tls(stack) / "projects.pem",
                        ca=tls(stack) / "ca" / "services.crt")
    assert rc == 0, out
    assert '"status":403' in out and '"forbidden"' in out, out
    log = (stack.run_dir / "log" / "users.log").read_text()
    line = next(ln for ln in log.splitlines() if rid in ln and "route" in ln)
    assert '"route":"caller_refused"' in line, line


def test_a_service_may_call_what_it_is_declared_to(stack):
    rc, out, _ = call(stack.rpc_url("users", "projects"), "--rpc",
                      "users.GetUser", "--json", "{}",
                      cert=tls(stack) / "projects.pem",
                      ca=tls(stack) / "ca" / "services.crt")
    assert rc == 0 and '"status":200' in out, out


def test_an_edge_origin_envelope_from_a_service_identity_is_refused(
        stack, tenants):
    tid, slug = tenants["a"]
    rc, out, rid = call(stack.rpc_url("projects", "billing"), "GET",
                        "/api/projects", "--tenant", f"{tid}:{slug}",
                        "--user", str(uuid.uuid4()), "--role", "owner",
                        cert=tls(stack) / "billing.pem",
                        ca=tls(stack) / "ca" / "services.crt")
    assert rc == 0, out
    assert '"status":403' in out and '"forbidden"' in out, out


def test_the_edge_identity_may_call_only_its_lookups(stack):
    edge = stack.rpc_url("users", "edge")
    ca = tls(stack) / "ca" / "services.crt"
    rc, out, _ = call(edge, "--rpc", "users.ResolveTenant", "--json",
                      '{"slug":"acme"}', cert=tls(stack) / "edge.pem", ca=ca)
    assert rc == 0 and '"status":200' in out, out
    rc, out, _ = call(edge, "--rpc", "users.CountSeats", "--json", "{}",
                      cert=tls(stack) / "edge.pem", ca=ca)
    assert rc == 0 and '"status":403' in out, out


class Edge:
    """An nginx from gateway-module/nginx.conf.example whose TLS folder the
    test composes, on the suite's HTTP port + 20."""

    def __init__(self, stack, run_dir, tls_dir):
        self.dir = run_dir
        self.port = int(stack.env["LINTEL_HTTP_PORT"]) + 20
        text = (ROOT / "gateway-module" / "nginx.conf.example").read_text()
        for k, v in {"@BASE_DOMAIN@": BASE, "@HTTP_PORT@": str(self.port),
                     "@RUN_DIR@": str(run_dir), "@MODULE_PATH@": str(MODULE),
                     "@RPC_SSL@": "on", "@TLS_DIR@": str(tls_dir),
                     "@EDGE_CLIENT_TIMEOUT@": "10s",
                     **{"@" + k[len("LINTEL_"):] + "@": v
                        for k, v in SUITE_EDGE_LIMITS.items()}}.items():
            text = text.replace(k, v)
        for s in ("users", "projects", "reporting", "billing"):
            text = text.replace(
                f"@{s.upper()}_ADDR@",
                f"127.0.0.1:{stack.env[f'LINTEL_{s.upper()}_RPC_PORT']}")
        (run_dir / "nginx.d").mkdir(parents=True, exist_ok=True)
        self.conf = run_dir / "nginx.conf"
        # workers run as root only because this is a throw-away folder
        self.conf.write_text("user root;\n" + text)
        r = subprocess.run([NGINX, "-p", str(run_dir), "-c", str(self.conf)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        self.pid = int((run_dir / "nginx.pid").read_text())

    def get(self, slug, path):
        return requests.get(f"http://127.0.0.1:{self.port}{path}",
                            headers={"Host": f"{slug}.{BASE}"}, timeout=10)

    def error_log(self):
        return (self.dir / "nginx-error.log").read_text()

    def stop(self):
        subprocess.run([NGINX, "-p", str(self.dir), "-c", str(self.conf),
                        "-s", "quit"], capture_output=True)
        wait_until(lambda: not os.path.exists(f"/proc/{self.pid}"),
                   what="nginx to quit")


def mixed_tls(stack, rogue, d, rogue_files):
    """The stack's TLS folder with `rogue_files` taken from the rogue PKI."""
    shutil.copytree(tls(stack), d, ignore=shutil.ignore_patterns("ca-keys"))
    for f in rogue_files:
        shutil.copy(rogue / f, d / f)
    return d


@pytest.mark.parametrize("case,rogue_files", [
    ("trusts a rogue CA", ["ca/services.crt"]),
    ("presents a rogue certificate", ["edge.pem"]),
])
def test_an_edge_without_the_right_pki_fails_closed(stack, rogue, tmp_path,
                                                    tenants, case,
                                                    rogue_files):
    d = mixed_tls(stack, rogue, tmp_path / "tls", rogue_files)
    edge = Edge(stack, tmp_path / "edge", d)
    try:
        _, slug = tenants["a"]
        r = edge.get(slug, "/api/projects")
        assert r.status_code in (502, 503), (case, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
        body = r.json()["error"]
        assert body["code"] in ("service_unavailable", "auth_unavailable",
                                "bad_gateway"), body
        assert body["request_id"] == r.headers["x-request-id"]
        if case == "trusts a rogue CA":
            assert "does not verify" in edge.error_log()
    finally:
        edge.stop()


def test_the_stack_edge_forwards_over_tls_and_reuses_connections(stack,
                                                                 api):
    """Through the real edge, many requests on its keepalive TLS
    connections to projects: each answered at once (a reused connection
    whose request stayed in nginx's SSL buffer would time out), and nginx
    logs no alert."""
    t = new_tenant(api)
    url = f"http://127.0.0.1:{stack.env['LINTEL_HTTP_PORT']}/api/projects"
    s = requests.Session()
    for _ in range(30):
        r = s.get(url, headers={"Host": f"{t['slug']}.{BASE}",
                                "Authorization": f"Bearer {t['token']}"},
                  timeout=2)
        assert r.status_code == 200, r.text
    log = (stack.run_dir / "nginx" / "nginx-error.log").read_text()
    assert "[alert]" not in log
