"""The nginx edge in front of the real users service: tenant resolution
through users.ResolveTenant (Redis, then PostgreSQL), refusals at the edge,
and the request id on every answer."""
import json
import re
import socket

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


def raw(stack, data):
    """Sends bytes as they are to the edge; returns (status, lower-cased
    headers, body) of its answer."""
    port = int(stack.env["LINTEL_HTTP_PORT"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in
               (l.split(":", 1) for l in lines[1:] if ":" in l)}
    return int(lines[0].split()[1]), headers, body


def test_requests_nginx_cannot_parse_are_answered_in_json(stack, tenants):
    """What nginx refuses itself, before any module runs, as an attacker
    sends it: each answer is the API's JSON error with its request id."""
    host = f"Host: {tenants['a'][1]}.{BASE}\r\n".encode()
    close = b"Connection: close\r\n\r\n"
    cases = [
        ("a NUL in the path", b"GET /api/projects/%00 HTTP/1.1\r\n" + host
         + close, 400, "bad_request"),
        ("a URI over 8 KB", b"GET /api/projects/" + b"a" * 9000
         + b" HTTP/1.1\r\n" + host + close, 414, "uri_too_long"),
        ("spaces in the request line", b"GET /api/projects/a b HTTP/1.1\r\n"
         + host + close, 400, "bad_request"),
        ("a bad method", b"G@T /api/projects HTTP/1.1\r\n" + host + close,
         400, "bad_request"),
        ("a header too large", b"GET /api/projects HTTP/1.1\r\n" + host
         + b"X-Big: " + b"x" * 20000 + b"\r\n" + close, 431,
         "request_header_too_large"),
    ]
    for what, data, status, code in cases:
        got, headers, body = raw(stack, data)
        assert got == status, (what, got, body)
        assert headers["content-type"] == "application/json", what
        assert headers["x-content-type-options"] == "nosniff", what
        assert headers["cache-control"] == "no-store", what
        err = json.loads(body)["error"]
        assert err["code"] == code, (what, err)
        assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"]), what
        assert err["request_id"] == headers["x-request-id"], what


def test_the_key_set_keeps_its_own_cache_control(stack):
    r = edge(stack, BASE, "/.well-known/jwks.json")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "public, max-age=300"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
