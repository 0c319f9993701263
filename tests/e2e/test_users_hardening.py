"""Small findings of the security review (issue 16, point 5), each sent as
an attacker would: look-alike and platform-reserved tenant slugs at
sign-up, one spelling of a UUID in paths across services, and platform
admins' sessions that refresh and can be revoked."""
import uuid

from users_api import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, claims


def _signup(api, slug):
    return api.call("POST", "/api/signup", json_body={
        "tenant_slug": slug, "tenant_name": "Look-alike", "name": "Owner",
        "email": f"owner-{uuid.uuid4().hex[:8]}@example.test",
        "password": PASSWORD})


def test_signup_refuses_the_platforms_own_host_names(api):
    for slug in ("rpc", "health", "jwks", "www", "api", "admin", "static",
                 "assets", "mail", "status"):
        r = _signup(api, slug)
        assert r.status == 400, (slug, r)
        assert r.code == "validation_failed"
        assert r.fields() == {"tenant_slug": "reserved"}, (slug, r)


def test_signup_refuses_punycode_look_alikes(api):
    # xn--80ak6aa92e is "аррӏе" in Cyrillic, shown by browsers as "apple".
    for slug in ("xn--80ak6aa92e", f"xn--{uuid.uuid4().hex[:8]}",
                 f"ab--{uuid.uuid4().hex[:6]}"):
        r = _signup(api, slug)
        assert r.status == 400, (slug, r)
        assert r.fields() == {"tenant_slug": "reserved"}, (slug, r)
    ok = _signup(api, f"a--{uuid.uuid4().hex[:6]}")
    assert ok.status == 201, ok


def test_upper_case_uuid_in_a_path_is_not_found_in_every_service(api, tenant):
    slug, token = tenant["slug"], tenant["tokens"]["access_token"]
    user_id = tenant["user"]["id"]
    r = api.call("PATCH", f"/api/users/{user_id.upper()}", slug, token,
                 json_body={"role": "owner"})
    assert r.status == 404 and r.code == "not_found", r
    r = api.call("PATCH", f"/api/users/{user_id}", slug, token,
                 json_body={"role": "owner"})
    assert r.status == 200, r

    project = api.call("POST", "/api/projects", slug, token, json_body={
        "name": "Tower", "code": f"P-{uuid.uuid4().hex[:8]}"})
    assert project.status == 201, project
    pid = project.body["id"]
    r = api.call("GET", f"/api/projects/{pid.upper()}", slug, token)
    assert r.status == 404 and r.code == "not_found", r
    r = api.call("GET", f"/api/projects/{pid}", slug, token)
    assert r.status == 200, r

    sessions = api.call("GET", "/api/auth/sessions", slug, token)
    sid = sessions.body["data"][0]["id"]
    r = api.call("DELETE", f"/api/auth/sessions/{sid.upper()}", slug, token)
    assert r.status == 404 and r.code == "not_found", r


def _admin_login(api):
    r = api.call("POST", "/api/auth/login", json_body={
        "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert r.status == 200, r
    return r.body


def test_platform_admin_sessions_refresh_and_rotate(api):
    pair = _admin_login(api)
    assert pair["refresh_token"]
    sid = claims(pair["access_token"])["sid"]
    r = api.call("POST", "/api/auth/refresh",
                 json_body={"refresh_token": pair["refresh_token"]})
    assert r.status == 200, r
    assert claims(r.body["access_token"])["sid"] == sid
    assert claims(r.body["access_token"])["role"] == "platform_admin"
    assert "tid" not in claims(r.body["access_token"])
    r2 = api.call("GET", "/api/admin/tenants", token=r.body["access_token"])
    assert r2.status == 200, r2
    # A platform refresh token is no tenant's, and no tenant's is the
    # platform's.
    r3 = api.call("POST", "/api/auth/refresh", "acme",
                  json_body={"refresh_token": r.body["refresh_token"]})
    assert r3.status == 401
    # Spent and presented again within the grace window (a second tab):
    # the same child, as for a member.
    with_reuse = api.call("POST", "/api/auth/refresh",
                          json_body={"refresh_token": pair["refresh_token"]})
    assert with_reuse.status == 200  # within the grace: the same child
    assert with_reuse.body["refresh_token"] == r.body["refresh_token"]


def test_platform_admin_logout_revokes_the_access_token_everywhere(api):
    pair = _admin_login(api)
    token = pair["access_token"]
    assert api.call("GET", "/api/admin/tenants", token=token).status == 200
    other = _admin_login(api)
    r = api.call("POST", "/api/auth/logout", token=token)
    assert r.status == 204, r
    # The access token is dead at once, in users and in billing, and its
    # refresh token too; another session of the same admin lives on.
    r = api.call("GET", "/api/admin/tenants", token=token)
    assert r.status == 401 and r.code == "invalid_token", r
    r = api.call("GET", "/api/admin/billing/subscriptions", token=token)
    assert r.status == 401, r
    r = api.call("POST", "/api/auth/refresh",
                 json_body={"refresh_token": pair["refresh_token"]})
    assert r.status == 401
    assert api.call("GET", "/api/admin/tenants",
                    token=other["access_token"]).status == 200


def test_platform_admin_logout_all_ends_every_session(api):
    first, second = _admin_login(api), _admin_login(api)
    r = api.call("POST", "/api/auth/logout-all", token=first["access_token"])
    assert r.status == 204, r
    for s in (first, second):
        r = api.call("GET", "/api/admin/tenants", token=s["access_token"])
        assert r.status == 401, r
        r = api.call("POST", "/api/auth/refresh",
                     json_body={"refresh_token": s["refresh_token"]})
        assert r.status == 401, r
