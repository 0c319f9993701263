"""Forwarding over NNG (DESIGN §4 step 3, §5)."""

import json
import time

from gateway_stack import BASE, TENANTS, assert_error


def test_request_is_forwarded_as_an_edge_envelope(gw, token):
    r = gw.request("POST", "/echo/items?limit=5&cursor=abc", token=token,
                   data=json.dumps({"name": "x"}),
                   headers={"Content-Type": "application/json",
                            "Idempotency-Key": "k-1",
                            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    assert r.status_code == 200, r.text
    env = r.json()
    assert env["method"] == "POST"
    assert env["path"] == "/echo/items"
    assert env["query"] == "limit=5&cursor=abc"
    assert json.loads(env["body"]) == {"name": "x"}
    assert env["headers"]["content-type"] == "application/json"
    assert env["headers"]["idempotency-key"] == "k-1"
    assert env["traceparent"].startswith("00-0af76519")
    assert env["request_id"] == r.headers["X-Request-Id"]
    assert env["timeout_ms"] == 5000
    assert env["client_ip"] == "127.0.0.1"


def test_spoofed_identity_headers_are_ignored(gw, token):
    spoof = {"X-Tenant-Id": TENANTS["beta"]["id"], "X-User-Id": "admin",
             "X-Role": "owner", "X-Tenant-Slug": "beta",
             "X-Forwarded-For": "10.0.0.1", "X-Request-Id": "forged",
             "X-Principal": "root"}
    r = gw.get("/echo", token=token, headers=spoof)
    env = r.json()
    assert env["tenant"]["id"] == TENANTS["acme"]["id"]
    assert env["principal"]["role"] == "member"
    assert env["principal"]["user_id"] != "admin"
    assert env["request_id"] != "forged"
    assert r.headers["X-Request-Id"] != "forged"
    forwarded = {k.lower() for k in env["headers"]}
    assert forwarded.isdisjoint({k.lower() for k in spoof})
    assert "authorization" not in forwarded


def test_cookie_reaches_only_the_locations_that_pass_it(gw, token):
    cookie = {"Cookie": "lintel_refresh=abc; other=1", "X-Lintel-CSRF": "1"}
    env = gw.get("/echo", token=token, headers=cookie).json()
    assert "cookie" not in env["headers"]
    assert env["headers"]["x-lintel-csrf"] == "1"
    env = gw.get("/open/echo", headers=cookie).json()
    assert "cookie" not in env["headers"]
    env = gw.get("/cookie/echo", headers=cookie).json()
    assert env["headers"]["cookie"] == "lintel_refresh=abc; other=1"


def test_spoofed_identity_without_token_is_still_anonymous(gw):
    r = gw.get("/open/echo", headers={"X-User-Id": "admin",
                                      "X-Tenant-Id": TENANTS["beta"]["id"]})
    env = r.json()
    assert env["principal"] is None
    assert env["tenant"]["id"] == TENANTS["acme"]["id"]


def test_rpc_paths_are_not_reachable_from_the_edge(gw, token):
    for path in ("/rpc/users.ResolveTenant", "/rpc/users.GetJwks", "/rpc",
                 "/RPC/users.GetJwks", "/rpc/", "//rpc/users.GetJwks",
                 "/x/../rpc/users.GetJwks", "/%72pc/users.GetJwks"):
        r = gw.get(path, token=token)
        assert_error(r, 404, "not_found")
        r = gw.get(path, host=BASE)
        assert r.status_code == 404, path


def test_rewrite_cannot_reach_rpc_paths(gw, token):
    assert_error(gw.get("/detour/rpc/users.GetJwks", token=token), 404,
                 "not_found")


def test_oversized_body(gw, token):
    r = gw.request("POST", "/echo", token=token, data=b"x" * (65 * 1024),
                   headers={"Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")


def test_oversized_chunked_body(gw, token):
    def chunks():
        for _ in range(70):
            yield b"y" * 1024
    r = gw.request("POST", "/echo", token=token, data=chunks(),
                   headers={"Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")


def test_body_at_the_limit_is_forwarded(gw, token):
    r = gw.request("POST", "/echo", token=token, data=b"z" * (64 * 1024))
    assert r.status_code == 200
    assert r.json()["body_len"] == 64 * 1024


def test_service_down_is_503_within_the_timeout(gw, token):
    start = time.monotonic()
    r = gw.get("/down/x", token=token)
    elapsed = time.monotonic() - start
    assert_error(r, 503, "service_unavailable")
    assert r.headers["Retry-After"]
    assert elapsed < 1.8, elapsed


def test_slow_service_is_504_at_the_timeout(gw, token):
    start = time.monotonic()
    r = gw.get("/delay/3000", token=token)
    elapsed = time.monotonic() - start
    assert_error(r, 504, "gateway_timeout")
    assert 0.9 <= elapsed < 1.8, elapsed


def test_service_within_the_timeout(gw, token):
    r = gw.get("/delay/200", token=token)
    assert r.status_code == 200


def test_undecodable_reply_is_502(gw, token):
    assert_error(gw.get("/garbage", token=token), 502, "bad_gateway")


def test_reply_status_headers_and_body(gw, token):
    r = gw.get("/status/201", token=token)
    assert r.status_code == 201
    assert r.json() == {"status": "set"}
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["X-Test"] == "1"
    assert r.headers["ETag"] == '"7"'
    # a header value with CR/LF is dropped, not split into two headers
    assert "X-Injected" not in r.headers
    assert "Set-Cookie" not in r.headers
    # the edge owns X-Request-Id
    assert r.headers["X-Request-Id"] != "forged"


def test_reply_without_body(gw, token):
    r = gw.get("/status/204", token=token)
    assert r.status_code == 204
    assert r.content == b""


def test_service_errors_pass_through(gw, token):
    r = gw.get("/nowhere", token=token)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert r.headers["X-Request-Id"]


def test_every_response_has_a_request_id(gw, token):
    seen = set()
    for path, kw in (("/echo", {"token": token}), ("/echo", {}),
                     ("/open/echo", {"host": "nobody." + BASE}),
                     ("/down/x", {"token": token}), ("/garbage", {"token": token})):
        r = gw.get(path, **kw)
        rid = r.headers["X-Request-Id"]
        assert len(rid) == 32
        seen.add(rid)
    assert len(seen) == 5
