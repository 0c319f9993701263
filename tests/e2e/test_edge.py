"""The nginx edge in front of the real users service: tenant resolution
through users.ResolveTenant (Redis, then PostgreSQL), refusals at the edge,
and the request id on every answer."""
import requests

BASE = "lintel.localhost"


def edge(stack, host, path, **kw):
    url = f"http://127.0.0.1:{stack.env['LINTEL_HTTP_PORT']}{path}"
    headers = dict(kw.pop("headers", {}), Host=host)
    return requests.request(kw.pop("method", "GET"), url, headers=headers,
                            timeout=5, **kw)


def assert_error(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == r.headers["X-Request-Id"]


def test_unknown_tenant_is_404(stack):
    assert_error(edge(stack, f"no-such-tenant.{BASE}", "/api/users/me"),
                 404, "unknown_tenant")


def test_host_outside_the_base_domain_is_404(stack):
    r = edge(stack, "acme.example.com", "/api/users/me")
    assert r.status_code == 404
    assert r.json()["error"]["code"] in ("not_found", "unknown_tenant")


def test_known_tenant_without_token_is_401(stack, tenants):
    r = edge(stack, f"{tenants['a'][1]}.{BASE}", "/api/users/me")
    assert_error(r, 401, "missing_token")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_suspended_tenant_is_403_at_the_edge(stack, tenants):
    tid, slug = tenants["b"]
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("UPDATE users.tenants SET status = 'suspended' "
                    "WHERE id = %s", (tid,))
    # Never asked for before: no cache anywhere holds it yet.
    assert_error(edge(stack, f"{slug}.{BASE}", "/api/users/me"),
                 403, "tenant_suspended")


def test_internal_rpc_paths_are_not_reachable_from_the_edge(stack, tenants):
    for host in (BASE, f"{tenants['a'][1]}.{BASE}"):
        r = edge(stack, host, "/rpc/users.ResolveTenant", method="POST",
                 data=b"\x0a\x04acme")
        assert r.status_code == 404, (host, r.text)
