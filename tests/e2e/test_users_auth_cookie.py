"""The browser's refresh token: an HttpOnly, SameSite=Strict cookie scoped
to /api/auth, set by login, rotated by refresh, cleared by logout, and
spent only by a request that carries the CSRF header (users/auth.c) —
through the edge, which passes the Cookie header to /api/auth only."""
import re

from users_api import PASSWORD

CSRF = {"X-Lintel-CSRF": "1"}


def cookie_of(reply):
    """The lintel_refresh value and the attributes of a Set-Cookie."""
    raw = reply.headers.get("set-cookie")
    assert raw, reply
    first, *attrs = [p.strip() for p in raw.split(";")]
    name, value = first.split("=", 1)
    assert name == "lintel_refresh"
    return value, {a.split("=")[0].lower(): (a.split("=", 1) + [""])[1] for a in attrs}


def browser_login(api, t):
    r = api.call("POST", "/api/auth/login", t["slug"], headers=CSRF,
                 json_body={"email": t["email"], "password": PASSWORD})
    assert r.status == 200, r
    return r


def test_login_sets_the_refresh_token_as_a_strict_httponly_cookie(api, tenant):
    r = browser_login(api, tenant)
    assert "refresh_token" not in r.body  # script never sees it
    assert r.body["access_token"]
    value, attrs = cookie_of(r)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)
    assert attrs["path"] == "/api/auth"
    assert attrs["samesite"] == "Strict"
    assert "httponly" in attrs
    assert attrs["max-age"] == str(7 * 24 * 3600)
    # the test stack's public URL is plain http (localhost): no Secure
    assert "secure" not in attrs


def test_a_client_without_the_header_keeps_the_json_token(api, tenant):
    assert "refresh_token" in tenant["tokens"]
    r = api.call("POST", "/api/auth/login", tenant["slug"],
                 json_body={"email": tenant["email"], "password": PASSWORD})
    assert r.status == 200 and "set-cookie" not in r.headers


def test_refresh_by_cookie_rotates_it(api, tenant):
    old, _ = cookie_of(browser_login(api, tenant))
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 headers={**CSRF, "Cookie": f"lintel_refresh={old}"})
    assert r.status == 200, r
    assert "refresh_token" not in r.body
    new, attrs = cookie_of(r)
    assert new != old and attrs["path"] == "/api/auth"
    me = api.call("GET", "/api/users/me", tenant["slug"], r.body["access_token"])
    assert me.status == 200 and me.body["email"] == tenant["email"]


def test_refresh_by_cookie_needs_the_csrf_header(api, tenant):
    old, _ = cookie_of(browser_login(api, tenant))
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 headers={"Cookie": f"lintel_refresh={old}"})
    assert r.status == 403 and r.code == "forbidden", r
    # the token was not spent: with the header it still works
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 headers={**CSRF, "Cookie": f"lintel_refresh={old}"})
    assert r.status == 200, r


def test_refresh_without_a_cookie_is_401(api, tenant):
    r = api.call("POST", "/api/auth/refresh", tenant["slug"], headers=CSRF)
    assert r.status == 401 and r.code == "invalid_token", r
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 headers={**CSRF, "Cookie": "lintel_refresh=forged; x=1"})
    assert r.status == 401 and r.code == "invalid_token", r


def test_logout_clears_the_cookie_and_ends_the_session(api, tenant):
    r = browser_login(api, tenant)
    old, _ = cookie_of(r)
    out = api.call("POST", "/api/auth/logout", tenant["slug"],
                   r.body["access_token"], headers=CSRF)
    assert out.status == 204, out
    value, attrs = cookie_of(out)
    assert value == "" and attrs["max-age"] == "0"
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 headers={**CSRF, "Cookie": f"lintel_refresh={old}"})
    assert r.status == 401, r
