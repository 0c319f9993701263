"""Sign-up, login, refresh-token rotation, logout and sessions, login
throttling and the JWKS — through the edge (users_api.EdgeApi)."""
import concurrent.futures
import time
import uuid

from users_api import (ADMIN_EMAIL, DEMO_PASSWORD, PASSWORD, claims, header,
                       restart_users)


def test_signup_then_login(api):
    t = api.signup()
    assert t["user"]["role"] == "owner"
    assert t["user"]["email"] == t["email"]
    tokens = api.login(t["slug"], t["email"].upper())  # case-insensitive
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    assert len(tokens["refresh_token"]) == 43
    c = claims(tokens["access_token"])
    assert set(c) == {"iss", "aud", "sub", "tid", "role", "sid", "jti",
                      "iat", "exp", "typ"}
    assert (c["iss"], c["aud"], c["typ"]) == (api.issuer, "lintel-api",
                                              "access")
    assert c["tid"] == t["id"] and c["sub"] == t["user"]["id"]
    assert c["role"] == "owner" and c["exp"] - c["iat"] == 900
    assert header(tokens["access_token"])["alg"] == "RS256"
    me = api.call("GET", "/api/users/me", t["slug"], tokens["access_token"])
    assert me.status == 200 and me.body["id"] == t["user"]["id"]


def test_demo_tenants_are_seeded(api):
    for slug in ("acme", "globex"):
        tokens = api.login(slug, f"owner@{slug}.test", DEMO_PASSWORD)
        assert claims(tokens["access_token"])["role"] == "owner"


def test_signup_refuses_taken_reserved_and_malformed_slugs(api, tenant):
    body = {"tenant_name": "X", "name": "Y", "email": "y@x.test",
            "password": PASSWORD}
    r = api.call("POST", "/api/signup", json_body={**body,
                                                   "tenant_slug": tenant["slug"]})
    assert r.status == 409 and r.code == "conflict"
    for slug, code in (("www", "reserved"), ("admin", "reserved"),
                       ("ab", "invalid_format"), ("-abc", "invalid_format"),
                       ("abc-", "invalid_format"), ("Acme", "invalid_format"),
                       ("a" * 41, "invalid_format"),
                       ("a_b", "invalid_format")):
        r = api.call("POST", "/api/signup",
                     json_body={**body, "tenant_slug": slug})
        assert r.status == 400, slug
        assert r.fields() == {"tenant_slug": code}, slug


def test_signup_is_only_on_the_apex_host(api, tenant):
    r = api.call("POST", "/api/signup", tenant["slug"], json_body={})
    assert r.status == 404


def test_bad_bodies_are_400_naming_the_field(api):
    good = {"tenant_slug": f"t-{uuid.uuid4().hex[:10]}", "tenant_name": "T",
            "name": "N", "email": "n@t.test", "password": PASSWORD}
    r = api.call("POST", "/api/signup", raw='{"tenant_slug": ')
    assert r.status == 400 and r.code == "invalid_json"
    r = api.call("POST", "/api/signup", raw='{"a": 1, "a": 2}')
    assert r.status == 400 and r.code == "invalid_json"
    r = api.call("POST", "/api/signup", json_body=[1, 2])
    assert r.status == 400 and r.code == "validation_failed"
    cases = [
        ({**good, "tenant_slug": 42}, {"tenant_slug": "invalid_type"}),
        ({**good, "email": "not-an-email"}, {"email": "invalid_format"}),
        ({**good, "email": "a" * 300 + "@x.test"}, {"email": "too_long"}),
        ({**good, "name": "n" * 201}, {"name": "too_long"}),
        ({**good, "password": "short"}, {"password": "too_short"}),
        ({**good, "password": "p" * 129}, {"password": "too_long"}),
        ({**good, "plan": "free"}, {"plan": "unknown_field"}),
        ({k: v for k, v in good.items() if k != "email"},
         {"email": "required"}),
    ]
    for body, fields in cases:
        r = api.call("POST", "/api/signup", json_body=body)
        assert r.status == 400, body
        assert r.code == "validation_failed"
        assert r.fields() == fields, body
        assert r.body["error"]["request_id"]


def test_wrong_password_and_unknown_email_look_the_same(api, tenant):
    times = {}
    replies = {}
    for case, email, pw in (("wrong", tenant["email"], "wrong password!"),
                            ("unknown", "nobody@nowhere.test", PASSWORD)):
        start = time.monotonic()
        r = api.call("POST", "/api/auth/login", tenant["slug"],
                     json_body={"email": email, "password": pw})
        times[case] = time.monotonic() - start
        replies[case] = r
    assert replies["wrong"].status == replies["unknown"].status == 401
    assert replies["wrong"].body["error"]["message"] == \
        replies["unknown"].body["error"]["message"]
    assert replies["wrong"].code == replies["unknown"].code
    # Both spend an argon2 verification: comparable, not 10x apart.
    assert times["unknown"] > times["wrong"] / 3


def test_service_401s_carry_a_bearer_challenge(api, tenant):
    r = api.call("POST", "/api/auth/login", tenant["slug"],
                 json_body={"email": tenant["email"],
                            "password": "wrong password!"})
    assert r.status == 401 and r.code == "invalid_credentials"
    assert r.headers["www-authenticate"] == "Bearer"
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 json_body={"refresh_token": "x" * 43})
    assert r.status == 401 and r.code == "invalid_token"
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    # A token the edge accepts whose session has ended: the service's 401.
    token = tenant["tokens"]["access_token"]
    assert api.call("POST", "/api/auth/logout", tenant["slug"],
                    token).status == 204
    r = api.call("GET", "/api/users/me", tenant["slug"], token)
    assert r.status == 401 and r.code == "invalid_token"
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_refresh_rotates_and_spends_the_old_token(api, tenant):
    old = tenant["tokens"]
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 json_body={"refresh_token": old["refresh_token"]})
    assert r.status == 200, r
    new = r.body
    assert new["refresh_token"] != old["refresh_token"]
    assert new["access_token"] != old["access_token"]
    assert claims(new["access_token"])["sid"] == \
        claims(old["access_token"])["sid"]
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 json_body={"refresh_token": new["refresh_token"]})
    assert r.status == 200
    me = api.call("GET", "/api/users/me", tenant["slug"],
                  r.body["access_token"])
    assert me.status == 200


def test_reuse_of_a_spent_refresh_token_revokes_the_session(stack, api, tenant,
                                                            monkeypatch):
    first = tenant["tokens"]
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 json_body={"refresh_token": first["refresh_token"]})
    second = r.body
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 json_body={"refresh_token": second["refresh_token"]})
    third = r.body
    # `first` was rotated two generations ago: outside any race window.
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 json_body={"refresh_token": first["refresh_token"]})
    assert r.status == 401 and r.code == "invalid_token"
    # Every token of that login is dead now, the newest included.
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 json_body={"refresh_token": third["refresh_token"]})
    assert r.status == 401
    me = api.call("GET", "/api/users/me", tenant["slug"], third["access_token"])
    assert me.status == 401
    # Another login of the same user is untouched.
    other = api.login(tenant["slug"], tenant["email"])
    assert api.call("GET", "/api/users/me", tenant["slug"],
                    other["access_token"]).status == 200


def test_reuse_after_the_grace_window_revokes_the_session(api, tenant):
    first = tenant["tokens"]
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 json_body={"refresh_token": first["refresh_token"]})
    assert r.status == 200
    time.sleep(11)  # LINTEL_REFRESH_GRACE_S is 10
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 json_body={"refresh_token": first["refresh_token"]})
    assert r.status == 401


def test_racing_refreshes_get_the_same_pair(api, tenant):
    token = tenant["tokens"]["refresh_token"]

    def refresh(_):
        return api.call("POST", "/api/auth/refresh", tenant["slug"],
                        json_body={"refresh_token": token})

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        a, b = list(pool.map(refresh, range(2)))
    assert a.status == b.status == 200, (a, b)
    assert a.body["refresh_token"] == b.body["refresh_token"]
    assert a.body["access_token"] == b.body["access_token"]
    # A third, later (still within the window) — the same pair again.
    c = refresh(0)
    assert c.body["refresh_token"] == a.body["refresh_token"]
    # The pair works and the session lives on.
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 json_body={"refresh_token": a.body["refresh_token"]})
    assert r.status == 200


def test_logout_ends_this_session_only(api, tenant):
    other = api.login(tenant["slug"], tenant["email"])
    t = tenant["tokens"]
    r = api.call("POST", "/api/auth/logout", tenant["slug"], t["access_token"])
    assert r.status == 204
    assert api.call("GET", "/api/users/me", tenant["slug"],
                    t["access_token"]).status == 401
    assert api.call("POST", "/api/auth/refresh", tenant["slug"], json_body={
        "refresh_token": t["refresh_token"]}).status == 401
    assert api.call("GET", "/api/users/me", tenant["slug"],
                    other["access_token"]).status == 200


def test_logout_all_ends_every_session(api, tenant):
    other = api.login(tenant["slug"], tenant["email"])
    r = api.call("POST", "/api/auth/logout-all", tenant["slug"],
                 tenant["tokens"]["access_token"])
    assert r.status == 204
    for t in (tenant["tokens"], other):
        assert api.call("GET", "/api/users/me", tenant["slug"],
                        t["access_token"]).status == 401
        assert api.call("POST", "/api/auth/refresh", tenant["slug"], json_body={
            "refresh_token": t["refresh_token"]}).status == 401


def test_sessions_list_and_revoke_one(api, tenant):
    other = api.login(tenant["slug"], tenant["email"])
    token = tenant["tokens"]["access_token"]
    r = api.call("GET", "/api/auth/sessions", tenant["slug"], token)
    assert r.status == 200
    ids = {s["id"]: s for s in r.body["data"]}
    mine = claims(token)["sid"]
    theirs = claims(other["access_token"])["sid"]
    assert ids[mine]["current"] is True and ids[theirs]["current"] is False
    r = api.call("DELETE", f"/api/auth/sessions/{theirs}", tenant["slug"],
                 token)
    assert r.status == 204
    assert api.call("GET", "/api/users/me", tenant["slug"],
                    other["access_token"]).status == 401
    r = api.call("DELETE", f"/api/auth/sessions/{uuid.uuid4()}",
                 tenant["slug"], token)
    assert r.status == 404
    r = api.call("DELETE", "/api/auth/sessions/not-a-uuid", tenant["slug"],
                 token)
    assert r.status == 404


def test_sessions_are_paged_newest_first(api, tenant):
    token = tenant["tokens"]["access_token"]
    sids = [claims(token)["sid"]]
    for _ in range(2):
        sids.append(claims(api.login(tenant["slug"], tenant["email"])
                           ["access_token"])["sid"])
    seen, cursor, pages = [], None, 0
    while True:
        q = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        r = api.call("GET", "/api/auth/sessions", tenant["slug"], token,
                     query=q)
        assert r.status == 200, r
        assert len(r.body["data"]) <= 2
        seen += [s["id"] for s in r.body["data"]]
        pages += 1
        cursor = r.body["next_cursor"]
        if cursor is None:
            break
    assert pages == 2
    assert seen == list(reversed(sids))
    r = api.call("GET", "/api/auth/sessions", tenant["slug"], token,
                 query="limit=101")
    assert r.status == 400 and r.code == "validation_failed"
    r = api.call("GET", "/api/auth/sessions", tenant["slug"], token,
                 query="cursor=not-a-cursor")
    assert r.status == 400 and r.code == "validation_failed"


def test_repeated_failures_are_throttled_with_retry_after(api, tenant):
    body = {"email": tenant["email"], "password": "not the password"}
    statuses = [api.call("POST", "/api/auth/login", tenant["slug"],
                         json_body=body).status for _ in range(5)]
    assert statuses == [401] * 5
    r = api.call("POST", "/api/auth/login", tenant["slug"], json_body=body)
    assert r.status == 429 and r.code == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 900
    # The right password is refused too while the back-off lasts.
    r = api.call("POST", "/api/auth/login", tenant["slug"], json_body={
        "email": tenant["email"], "password": tenant["password"]})
    assert r.status == 429
    time.sleep(int(r.headers["retry-after"]) + 0.2)
    assert api.call("POST", "/api/auth/login", tenant["slug"], json_body={
        "email": tenant["email"], "password": tenant["password"]}).status == 200


def test_platform_admin_logs_in_on_the_apex_host(api):
    token = api.admin_token()
    c = claims(token)
    assert c["role"] == "platform_admin" and "tid" not in c
    r = api.call("POST", "/api/auth/login", "acme", json_body={
        "email": ADMIN_EMAIL, "password": "lintel-admin-pass"})
    assert r.status == 401  # not a member of tenant


def test_jwks_publishes_the_signing_key(api, tenant):
    r = api.call("GET", "/.well-known/jwks.json")
    assert r.status == 200
    keys = r.body["keys"]
    assert keys and all(set(k) == {"kty", "alg", "use", "kid", "n", "e"}
                        for k in keys)
    assert header(tenant["tokens"]["access_token"])["kid"] in \
        {k["kid"] for k in keys}
    assert all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["use"] == "sig"
               for k in keys)


def test_failures_from_one_client_ip_are_throttled(stack, tenant):
    """Per-IP throttling across accounts, at the service (the edge passes
    the client IP in the envelope); the limit is lowered for the test."""
    restart_users(stack, LINTEL_LOGIN_IP_MAX_FAILURES="3")
    try:
        def login(ip, email):
            _, reply, err = stack.call(
                "users", "POST", "/api/auth/login", "--tenant",
                f"{tenant['id']}:{tenant['slug']}", "--client-ip", ip, "--json",
                '{"email": "%s", "password": "wrong password"}' % email)
            return reply
        ip = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
        for i in range(3):
            assert login(ip, f"u{i}-{uuid.uuid4().hex[:6]}@x.test")[
                "status"] == 401
        reply = login(ip, f"other-{uuid.uuid4().hex[:6]}@x.test")
        assert reply["status"] == 429
        assert int(reply["headers"]["retry-after"]) >= 1
        # Another address is not held back.
        assert login("192.0.2.77", "someone@x.test")["status"] == 401
    finally:
        restart_users(stack)
