"""Small findings of the security review (issue 16, point 5), each sent as
an attacker would: look-alike and platform-reserved tenant slugs at
sign-up, and one spelling of a UUID in paths across services."""
import uuid

from users_api import PASSWORD


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
