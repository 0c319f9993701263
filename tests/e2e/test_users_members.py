"""Members of a tenant: me, the admin's list, roles and their guards,
deactivation, and isolation between tenants — through the edge."""
import uuid

from users_api import DEMO_PASSWORD, PASSWORD, claims


def add_member(api, mailbox, t, role, token=None):
    """Invites and accepts a member of `role`; returns its email, id and
    tokens."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@{t['slug']}.test"
    r = api.call("POST", "/api/users/invitations", t["slug"],
                 token or t["tokens"]["access_token"],
                 json_body={"email": email, "role": role})
    assert r.status == 201, r
    inv, _ = mailbox.wait_for(email, r"token=([A-Za-z0-9_-]{43})")
    r = api.call("POST", "/api/auth/invitations/accept", t["slug"],
                 json_body={"token": inv, "name": role.title(),
                            "password": PASSWORD})
    assert r.status == 201, r
    return {"email": email, "id": r.body["user"]["id"], "tokens": r.body}


def bearer(m):
    return m["tokens"]["access_token"]


def test_me_and_rename(api, tenant):
    token = tenant["tokens"]["access_token"]
    r = api.call("PATCH", "/api/users/me", tenant["slug"], token,
                 json_body={"name": "Ada Owner"})
    assert r.status == 200 and r.body["name"] == "Ada Owner"
    assert api.call("GET", "/api/users/me", tenant["slug"],
                    token).body["name"] == "Ada Owner"


def test_mass_assignment_on_me_has_no_effect(api, mailbox, tenant):
    member = add_member(api, mailbox, tenant, "member")
    for body in ({"role": "owner"}, {"tenant_id": str(uuid.uuid4())},
                 {"name": "x", "role": "admin"}, {"status": "active"},
                 {"email": "new@x.test"}, {"id": str(uuid.uuid4())}):
        r = api.call("PATCH", "/api/users/me", tenant["slug"], bearer(member),
                     json_body=body)
        assert r.status == 400 and r.code == "validation_failed", body
        assert set(r.fields()) <= set(body), body
    me = api.call("GET", "/api/users/me", tenant["slug"], bearer(member)).body
    assert me["role"] == "member" and me["name"] == "Member"
    assert me["email"] == member["email"]


def test_member_calling_admin_routes_is_403(api, mailbox, tenant):
    member = add_member(api, mailbox, tenant, "member")
    owner_id = tenant["user"]["id"]
    for method, path, body in (
            ("GET", "/api/users", None),
            ("POST", "/api/users/invitations",
             {"email": "x@y.test", "role": "viewer"}),
            ("PATCH", f"/api/users/{owner_id}", {"role": "viewer"}),
            ("DELETE", f"/api/users/{owner_id}", None)):
        r = api.call(method, path, tenant["slug"], bearer(member),
                     json_body=body)
        assert r.status == 403 and r.code == "forbidden", (method, path, r)
    r = api.call("GET", "/api/admin/tenants", tenant["slug"], bearer(member))
    assert r.status in (403, 404)


def test_admin_lists_members_with_paging_and_filters(api, mailbox, tenant):
    admin = add_member(api, mailbox, tenant, "admin")
    for _ in range(3):
        add_member(api, mailbox, tenant, "viewer")
    r = api.call("GET", "/api/users", tenant["slug"], bearer(admin),
                 query="limit=2")
    assert r.status == 200 and len(r.body["data"]) == 2
    seen = [u["id"] for u in r.body["data"]]
    cursor = r.body["next_cursor"]
    while cursor:
        r = api.call("GET", "/api/users", tenant["slug"], bearer(admin),
                     query=f"limit=2&cursor={cursor}")
        seen += [u["id"] for u in r.body["data"]]
        cursor = r.body["next_cursor"]
    assert len(seen) == len(set(seen)) == 5
    r = api.call("GET", "/api/users", tenant["slug"], bearer(admin),
                 query="role=viewer")
    assert {u["role"] for u in r.body["data"]} == {"viewer"}
    assert len(r.body["data"]) == 3
    r = api.call("GET", "/api/users", tenant["slug"], bearer(admin),
                 query="email=ADMIN-")
    assert [u["id"] for u in r.body["data"]] == [admin["id"]]
    for q, fields in (("limit=101", {"limit": "out_of_range"}),
                      ("limit=0", {"limit": "out_of_range"}),
                      ("cursor=@@@", {"cursor": "invalid_format"}),
                      ("role=boss", {"role": "invalid_choice"}),
                      ("status=gone", {"status": "invalid_choice"}),
                      ("sort=name", {"sort": "unknown_field"})):
        r = api.call("GET", "/api/users", tenant["slug"], bearer(admin),
                     query=q)
        assert r.status == 400 and r.fields() == fields, q


def test_role_ceiling(api, mailbox, tenant):
    admin = add_member(api, mailbox, tenant, "admin")
    member = add_member(api, mailbox, tenant, "member")
    # An admin may not invite, grant or edit above admin.
    r = api.call("POST", "/api/users/invitations", tenant["slug"],
                 bearer(admin), json_body={"email": "o@x.test",
                                           "role": "owner"})
    assert r.status == 403
    r = api.call("PATCH", f"/api/users/{member['id']}", tenant["slug"],
                 bearer(admin), json_body={"role": "owner"})
    assert r.status == 403
    r = api.call("PATCH", f"/api/users/{tenant['user']['id']}", tenant["slug"],
                 bearer(admin), json_body={"role": "viewer"})
    assert r.status == 403
    r = api.call("DELETE", f"/api/users/{tenant['user']['id']}", tenant["slug"],
                 bearer(admin))
    assert r.status == 403
    # Up to their own role is fine.
    r = api.call("PATCH", f"/api/users/{member['id']}", tenant["slug"],
                 bearer(admin), json_body={"role": "admin"})
    assert r.status == 200 and r.body["role"] == "admin"
    # A demotion takes effect at once, whatever the token still says.
    r = api.call("PATCH", f"/api/users/{admin['id']}", tenant["slug"],
                 tenant["tokens"]["access_token"], json_body={"role": "member"})
    assert r.status == 200
    assert claims(bearer(admin))["role"] == "admin"
    r = api.call("GET", "/api/users", tenant["slug"], bearer(admin))
    assert r.status == 403


def test_last_owner_guard_and_ownership_transfer(api, mailbox, tenant):
    owner = tenant["tokens"]["access_token"]
    me = tenant["user"]["id"]
    for body in ({"role": "admin"}, {"status": "deactivated"}):
        r = api.call("PATCH", f"/api/users/{me}", tenant["slug"], owner,
                     json_body=body)
        assert r.status == 409 and r.code == "conflict", body
    assert api.call("DELETE", f"/api/users/{me}", tenant["slug"],
                    owner).status == 409
    # Transfer: make another owner, then step down.
    heir = add_member(api, mailbox, tenant, "admin")
    r = api.call("PATCH", f"/api/users/{heir['id']}", tenant["slug"], owner,
                 json_body={"role": "owner"})
    assert r.status == 200 and r.body["role"] == "owner"
    r = api.call("PATCH", f"/api/users/{me}", tenant["slug"], owner,
                 json_body={"role": "admin"})
    assert r.status == 200 and r.body["role"] == "admin"
    r = api.call("PATCH", f"/api/users/{heir['id']}", tenant["slug"],
                 bearer(heir), json_body={"role": "admin"})
    assert r.status == 409


def test_deactivation_revokes_sessions_and_login(api, mailbox, tenant):
    member = add_member(api, mailbox, tenant, "member")
    r = api.call("DELETE", f"/api/users/{member['id']}", tenant["slug"],
                 tenant["tokens"]["access_token"])
    assert r.status == 204
    assert api.call("GET", "/api/users/me", tenant["slug"],
                    bearer(member)).status == 401
    assert api.call("POST", "/api/auth/refresh", tenant["slug"], json_body={
        "refresh_token": member["tokens"]["refresh_token"]}).status == 401
    r = api.call("POST", "/api/auth/login", tenant["slug"], json_body={
        "email": member["email"], "password": PASSWORD})
    assert r.status == 401
    r = api.call("GET", "/api/users", tenant["slug"],
                 tenant["tokens"]["access_token"], query="status=deactivated")
    assert [u["id"] for u in r.body["data"]] == [member["id"]]


def test_password_change_revokes_the_other_sessions(api, tenant):
    other = api.login(tenant["slug"], tenant["email"])
    token = tenant["tokens"]["access_token"]
    r = api.call("POST", "/api/users/me/password", tenant["slug"], token,
                 json_body={"current_password": "wrong one!",
                            "new_password": "a brand new one"})
    assert r.status == 400 and r.fields() == {"current_password": "incorrect"}
    r = api.call("POST", "/api/users/me/password", tenant["slug"], token,
                 json_body={"current_password": PASSWORD,
                            "new_password": "a brand new one"})
    assert r.status == 204
    assert api.call("GET", "/api/users/me", tenant["slug"], token).status == 200
    assert api.call("GET", "/api/users/me", tenant["slug"],
                    other["access_token"]).status == 401
    api.login(tenant["slug"], tenant["email"], "a brand new one")


def test_a_tenant_cannot_see_edit_or_invite_into_another(api, mailbox):
    a, b = api.signup(), api.signup()
    a["tokens"] = api.login(a["slug"], a["email"])
    b["tokens"] = api.login(b["slug"], b["email"])
    a_token = a["tokens"]["access_token"]
    b_owner = b["user"]["id"]
    # A's token on B's host: refused at the edge (tid is not B).
    r = api.call("GET", "/api/users", b["slug"], a_token)
    assert r.status in (401, 403) and "data" not in (r.body or {})
    # On A's host, B's user does not exist.
    for method, body in (("PATCH", {"role": "viewer"}), ("DELETE", None)):
        r = api.call(method, f"/api/users/{b_owner}", a["slug"], a_token,
                     json_body=body)
        assert r.status == 404 and r.code == "not_found"
    r = api.call("GET", "/api/users", a["slug"], a_token)
    assert b_owner not in {u["id"] for u in r.body["data"]}
    # Inviting B's owner's email on A's host makes an A invitation only.
    r = api.call("POST", "/api/users/invitations", a["slug"], a_token,
                 json_body={"email": b["email"], "role": "member"})
    assert r.status == 201
    r = api.call("POST", "/api/users/invitations", b["slug"], a_token,
                 json_body={"email": "x@y.test", "role": "member"})
    assert r.status in (401, 403)
    # B's refresh token means nothing on A's host.
    r = api.call("POST", "/api/auth/refresh", a["slug"], json_body={
        "refresh_token": b["tokens"]["refresh_token"]})
    assert r.status == 401
    assert api.call("GET", "/api/users/me", b["slug"],
                    b["tokens"]["access_token"]).status == 200


def test_emails_are_unique_per_tenant_case_insensitively(api, mailbox, tenant):
    r = api.call("POST", "/api/users/invitations", tenant["slug"],
                 tenant["tokens"]["access_token"],
                 json_body={"email": tenant["email"].upper(), "role": "member"})
    assert r.status == 409


def test_internal_rpcs_get_user_and_count_seats(stack, api, mailbox, tenant):
    member = add_member(api, mailbox, tenant, "member")
    _, reply, _ = stack.rpc("users", "users.GetUser", {
        "tenant_id": tenant["id"], "user_id": member["id"]})
    assert reply["body"]["found"] is True
    assert reply["body"]["user"]["role"] == "member"
    other = api.signup()
    _, reply, _ = stack.rpc("users", "users.GetUser", {
        "tenant_id": other["id"], "user_id": member["id"]})
    assert reply["body"] == {}
    api.call("DELETE", f"/api/users/{member['id']}", tenant["slug"],
             tenant["tokens"]["access_token"])
    _, reply, _ = stack.rpc("users", "users.CountSeats",
                            {"tenant_id": tenant["id"]})
    assert reply["body"] == {"active": 1, "deactivated": 1}


def test_acme_cannot_see_edit_or_invite_into_globex(api):
    """The seeded demo tenants: acme's owner against globex."""
    acme = api.login("acme", "owner@acme.test", DEMO_PASSWORD)["access_token"]
    globex = api.login("globex", "owner@globex.test",
                       DEMO_PASSWORD)["access_token"]
    globex_owner = api.call("GET", "/api/users/me", "globex",
                            globex).body["id"]
    for method, path, body in (
            ("GET", "/api/users", None),
            ("GET", "/api/users/me", None),
            ("POST", "/api/users/invitations",
             {"email": "spy@acme.test", "role": "admin"}),
            ("PATCH", f"/api/users/{globex_owner}", {"role": "viewer"})):
        r = api.call(method, path, "globex", acme, json_body=body)
        assert r.status == 403, (method, path, r)
        assert "data" not in r.body and "id" not in r.body
    for method, body in (("PATCH", {"status": "deactivated"}),
                         ("DELETE", None)):
        r = api.call(method, f"/api/users/{globex_owner}", "acme", acme,
                     json_body=body)
        assert r.status == 404 and r.code == "not_found"
    r = api.call("GET", "/api/users", "acme", acme,
                 query="email=owner@globex")
    assert r.status == 200 and r.body["data"] == []
    me = api.call("GET", "/api/users/me", "globex", globex).body
    assert me["role"] == "owner" and me["status"] == "active"
