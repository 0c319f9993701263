"""CORS, rate limits and the variables seen by nginx's own modules."""

import base64
import json
import os
import socket
import time

from gateway_stack import ORIGIN, assert_error, make_token


def test_preflight_is_answered_at_the_edge_without_a_token(gw):
    r = gw.request("OPTIONS", "/echo", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "PUT" not in r.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    assert r.headers["Vary"] == "Origin"
    assert r.headers["X-Request-Id"]


def test_preflight_from_another_origin_gets_no_cors_headers(gw):
    r = gw.request("OPTIONS", "/echo", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert not any(h.lower().startswith("access-control-") for h in r.headers)
    assert r.status_code == 401


def test_cors_headers_on_responses_for_allowed_origins(gw, token):
    r = gw.get("/echo", token=token, headers={"Origin": ORIGIN})
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = r.headers["Access-Control-Expose-Headers"].split(", ")
    assert {"X-Request-Id", "Idempotent-Replayed", "WWW-Authenticate",
            "Allow"} <= set(exposed)
    r = gw.get("/echo", headers={"Origin": ORIGIN})
    assert r.status_code == 401
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_no_cors_headers_for_other_origins(gw, token):
    r = gw.get("/echo", token=token, headers={"Origin": "https://evil.example"})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers


def test_rate_limit_per_user_is_429_json_with_retry_after(gw, keys):
    t = make_token(keys["main"])
    assert gw.get("/limited/echo", token=t).status_code == 200
    r = gw.get("/limited/echo", token=t)
    assert_error(r, 429, "rate_limited")
    assert r.headers["Retry-After"]
    # another user has a budget of their own
    other = gw.get("/limited/echo", token=make_token(keys["main"]))
    assert other.status_code != 429


def test_access_log_carries_tenant_and_user(gw, keys):
    t = make_token(keys["main"], role="viewer")
    sub = json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "==="))["sub"]
    r = gw.get("/echo/logged", token=t)
    rid = r.headers["X-Request-Id"]
    path = os.path.join(gw.dir, "access.log")
    for _ in range(50):
        lines = [json.loads(l) for l in open(path) if rid in l]
        if lines:
            break
        time.sleep(0.05)
    entry = lines[0]
    assert entry["tenant"] == "acme"
    assert entry["user"] == sub
    assert entry["role"] == "viewer"
    assert entry["status"] == 200


def test_variables_survive_an_error_page(gw, keys):
    t = make_token(keys["main"])
    # chunked: the size is only known while the body is read, after the
    # rewrite phase (a Content-Length over the limit is refused before it)
    r = gw.request("POST", "/echo/big", token=t,
                   data=(b"x" * 1024 for _ in range(70)))
    rid = r.headers["X-Request-Id"]
    assert r.json()["error"]["request_id"] == rid
    path = os.path.join(gw.dir, "access.log")
    for _ in range(50):
        lines = [json.loads(l) for l in open(path) if rid in l]
        if lines:
            break
        time.sleep(0.05)
    assert lines[0]["status"] == 413
    assert lines[0]["tenant"] == "acme"


def test_stock_locations_are_untouched(gw):
    r = gw.get("/stock", host="anything.else")
    assert r.status_code == 200
    assert "X-Request-Id" not in r.headers


def raw_request(gw, data):
    """Sends bytes as they are and returns (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in
               (l.split(":", 1) for l in lines[1:] if ":" in l)}
    return status, headers, body


HOST = b"Host: acme.example.test\r\n"
CLOSE = b"Connection: close\r\n\r\n"

NGINX_OWN_ERRORS = [
    ("NUL in the path", b"GET /open/echo/%00 HTTP/1.1\r\n" + HOST + CLOSE,
     400, "bad_request"),
    ("URI over the buffer", b"GET /open/" + b"a" * 9000 + b" HTTP/1.1\r\n"
     + HOST + CLOSE, 414, "uri_too_long"),
    ("spaces in the request line", b"GET /open/a b c HTTP/1.1\r\n" + HOST
     + CLOSE, 400, "bad_request"),
    ("a bad method", b"G@T /open/echo HTTP/1.1\r\n" + HOST + CLOSE, 400,
     "bad_request"),
    ("a header too large", b"GET /open/echo HTTP/1.1\r\n" + HOST
     + b"X-Big: " + b"x" * 20000 + b"\r\n" + CLOSE, 431,
     "request_header_too_large"),
    ("a header line without a colon", b"GET /open/echo HTTP/1.1\r\n" + HOST
     + b"Bad Header\r\n" + CLOSE, 400, "bad_request"),
]


def test_nginx_s_own_errors_are_json_with_a_request_id(gw):
    for what, data, want, code in NGINX_OWN_ERRORS:
        status, headers, body = raw_request(gw, data)
        assert status == want, (what, status, body)
        assert headers["content-type"] == "application/json", what
        err = json.loads(body)["error"]
        assert err["code"] == code, (what, err)
        assert err["request_id"] == headers["x-request-id"], what


def test_the_error_location_is_not_reachable_from_outside(gw):
    r = gw.get("/.lintel/error", host="acme.example.test")
    assert r.status_code == 404


def assert_not_kept_or_sniffed(what, headers):
    assert headers.get("cache-control") == "no-store", (what, headers)
    assert headers.get("x-content-type-options") == "nosniff", (what, headers)


def test_every_answer_says_no_store_and_nosniff(gw, token):
    answers = {
        "a service's answer": gw.get("/echo", token=token),
        "a service's error": gw.get("/status/409", token=token),
        "the edge's refusal": gw.get("/echo"),
        "an upstream failure": gw.get("/down/x", token=token),
        "a preflight": gw.request("OPTIONS", "/echo", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "GET"}),
    }
    for what, r in answers.items():
        assert_not_kept_or_sniffed(what, {k.lower(): v for k, v in
                                          r.headers.items()})
    for what, data, _, _ in NGINX_OWN_ERRORS:
        _, headers, _ = raw_request(gw, data)
        assert_not_kept_or_sniffed(what, headers)


def test_a_forged_token_spends_no_one_s_budget(gw, keys):
    """limit_req counts after the rewrite phase has verified the token:
    a token signed with another key naming the victim is refused (401)
    and the victim keeps the one request /limited/ allows a minute."""
    victim = make_token(keys["main"])
    sub = json.loads(base64.urlsafe_b64decode(victim.split(".")[1] + "==="))
    forged = make_token(keys["rogue"], sub=sub["sub"])
    for _ in range(3):
        assert_error(gw.get("/limited/echo", token=forged), 401,
                     "invalid_token")
    assert gw.get("/limited/echo", token=victim).status_code == 200
