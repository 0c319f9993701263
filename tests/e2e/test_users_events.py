"""Users' domain events (DESIGN §8): each change to a tenant, a member or
a session writes one event in its own transaction, served in order by
users.EventsSince (shared lintel.v1 messages) with tenant, subject, actor
and data; refused changes write nothing; the pub socket announces the
highest committed seq."""
import json
import socket
import struct
import time
import uuid

from test_users_members import add_member
from users_api import claims


def events_since(stack, after, limit=1000):
    code, reply, err = stack.rpc("users", "users.EventsSince",
                                 {"after_seq": after, "limit": limit})
    assert code == 0 and reply["status"] == 200, (reply, err)
    body = reply["body"]
    return ([dict(e, seq=int(e["seq"]), data=json.loads(e["data_json"]))
             for e in body.get("events", [])], int(body.get("last_seq", 0)))


def head(stack):
    return events_since(stack, 0, 1)[1]


def consume(stack, cursor):
    """Everything after `cursor`, page by page, as a consumer reads it."""
    out = []
    while True:
        events, _ = events_since(stack, cursor, 7)
        if not events:
            return out
        for e in events:
            assert e["seq"] == cursor + 1, "a gap or a reordering"
            cursor = e["seq"]
            out.append(e)


def of_tenant(events, tenant_id):
    return [e for e in events if e["tenant_id"] == tenant_id]


def test_signup_and_a_members_life_write_their_events_in_order(
        stack, api, mailbox):
    cursor = head(stack)
    t = api.signup()
    owner = t["user"]["id"]
    t["tokens"] = api.login(t["slug"], t["email"])
    token = t["tokens"]["access_token"]
    member = add_member(api, mailbox, t, "member")
    r = api.call("PATCH", f"/api/users/{member['id']}", t["slug"], token,
                 json_body={"role": "manager"})
    assert r.status == 200, r
    assert api.call("DELETE", f"/api/users/{member['id']}", t["slug"],
                    token).status == 204
    r = api.call("PATCH", f"/api/users/{member['id']}", t["slug"], token,
                 json_body={"status": "active"})
    assert r.status == 200, r
    assert api.call("POST", "/api/auth/logout", t["slug"], token).status == 204

    events = of_tenant(consume(stack, cursor), t["id"])
    member_session = claims(member["tokens"]["access_token"])["sid"]
    owner_session = claims(token)["sid"]
    assert [(e["type"], e["subject_id"], e["actor_id"]) for e in events] == [
        ("tenant.created", t["id"], owner),
        ("member.joined", owner, owner),
        ("member.invited", events[2]["subject_id"], owner),
        ("member.joined", member["id"], member["id"]),
        ("member.role_changed", member["id"], owner),
        ("member.removed", member["id"], owner),
        ("session.revoked", member_session, owner),
        ("member.joined", member["id"], owner),
        ("session.revoked", owner_session, owner)]
    assert events[0]["data"]["slug"] == t["slug"]
    assert events[1]["data"]["role"] == "owner"
    assert events[2]["data"]["email"] == member["email"]
    assert events[2]["data"]["role"] == "member"
    assert events[3]["data"]["invitation_id"] == events[2]["subject_id"]
    assert events[4]["data"]["role"] == "manager"
    assert events[4]["data"]["previous_role"] == "member"
    assert events[5]["data"]["status"] == "deactivated"
    assert events[6]["data"] == {"session_id": member_session,
                                 "user_id": member["id"],
                                 "reason": "deactivated"}
    assert events[7]["data"]["status"] == "active"
    assert events[8]["data"]["reason"] == "logout"
    assert all(e["occurred_at"].endswith("Z") for e in events)


def test_platform_admin_changes_to_a_tenant(stack, api):
    admin = api.admin_token()
    admin_id = claims(admin)["sub"]
    cursor = head(stack)
    slug = f"t-{uuid.uuid4().hex[:12]}"
    r = api.call("POST", "/api/admin/tenants", None, admin,
                 json_body={"slug": slug, "name": "Evented"})
    assert r.status == 201, r
    tid = r.body["id"]
    for status in ("suspended", "active"):
        r = api.call("PATCH", f"/api/admin/tenants/{tid}", None, admin,
                     json_body={"status": status})
        assert r.status == 200, r
    events = of_tenant(consume(stack, cursor), tid)
    assert [(e["type"], e["subject_id"], e["actor_id"],
             e["data"]["status"]) for e in events] == [
        ("tenant.created", tid, admin_id, "active"),
        ("tenant.updated", tid, admin_id, "suspended"),
        ("tenant.updated", tid, admin_id, "active")]


def test_logout_all_and_a_password_change_revoke_each_session(stack, api,
                                                             tenant):
    owner = tenant["user"]["id"]
    a = api.login(tenant["slug"], tenant["email"])
    b = api.login(tenant["slug"], tenant["email"])
    cursor = head(stack)
    r = api.call("POST", "/api/users/me/password", tenant["slug"],
                 a["access_token"],
                 json_body={"current_password": tenant["password"],
                            "new_password": "An0ther-long-passphrase"})
    assert r.status == 204, r
    c = api.login(tenant["slug"], tenant["email"], "An0ther-long-passphrase")
    assert api.call("POST", "/api/auth/logout-all", tenant["slug"],
                    c["access_token"]).status == 204
    events = of_tenant(consume(stack, cursor), tenant["id"])
    changed = {tenant["tokens"]["access_token"], b["access_token"]}
    assert [(e["type"], e["actor_id"], e["data"]["reason"])
            for e in events] == (
        [("session.revoked", owner, "password_changed")] * 2 +
        [("session.revoked", owner, "logout_all")] * 2)
    assert {e["subject_id"] for e in events[:2]} == {
        claims(t)["sid"] for t in changed}
    assert {e["subject_id"] for e in events[2:]} == {
        claims(a["access_token"])["sid"], claims(c["access_token"])["sid"]}


def test_a_reused_refresh_token_revokes_by_the_platform(stack, api, tenant):
    first = tenant["tokens"]
    second = api.call("POST", "/api/auth/refresh", tenant["slug"],
                      json_body={"refresh_token": first["refresh_token"]}).body
    api.call("POST", "/api/auth/refresh", tenant["slug"],
             json_body={"refresh_token": second["refresh_token"]})
    cursor = head(stack)
    r = api.call("POST", "/api/auth/refresh", tenant["slug"],
                 json_body={"refresh_token": first["refresh_token"]})
    assert r.status == 401
    events = of_tenant(consume(stack, cursor), tenant["id"])
    # an empty actor (the platform) is left out of the JSON reply
    assert [(e["type"], e["subject_id"], e.get("actor_id", ""),
             e["data"]["reason"]) for e in events] == [
        ("session.revoked", claims(first["access_token"])["sid"], "",
         "refresh_token_reuse")]


def test_refused_changes_write_nothing(stack, api, mailbox, tenant):
    token = tenant["tokens"]["access_token"]
    member = add_member(api, mailbox, tenant, "member")
    cursor = head(stack)
    # an invitation for a member, a role above the member's own, the last
    # owner's demotion, a session that is not there
    assert api.call("POST", "/api/users/invitations", tenant["slug"], token,
                    json_body={"email": member["email"],
                               "role": "viewer"}).status == 409
    assert api.call("PATCH", f"/api/users/{tenant['user']['id']}",
                    tenant["slug"], member["tokens"]["access_token"],
                    json_body={"role": "viewer"}).status == 403
    assert api.call("PATCH", f"/api/users/{tenant['user']['id']}",
                    tenant["slug"], token,
                    json_body={"role": "admin"}).status == 409
    assert api.call("DELETE", f"/api/auth/sessions/{uuid.uuid4()}",
                    tenant["slug"], token).status == 404
    assert of_tenant(consume(stack, cursor), tenant["id"]) == []


def test_events_since_pages_after_a_seq(stack, api):
    cursor = head(stack)
    tenants = [api.signup() for _ in range(3)]
    page, last = events_since(stack, cursor, 2)
    assert [e["seq"] for e in page] == [cursor + 1, cursor + 2]
    assert last >= cursor + 6
    rest, _ = events_since(stack, cursor + 2, 1000)
    assert [e["seq"] for e in rest][:4] == [cursor + 3, cursor + 4,
                                            cursor + 5, cursor + 6]
    mine = [e for e in page + rest if e["type"] == "tenant.created"]
    assert [e["tenant_id"] for e in mine][:3] == [t["id"] for t in tenants]
    # nothing after the head; a limit of 0 is the default (100)
    assert events_since(stack, last, 10)[0] == []
    assert len(events_since(stack, 0, 0)[0]) == min(100, last)


def test_events_since_refuses_a_bad_limit(stack):
    code, reply, _ = stack.rpc("users", "users.EventsSince",
                               {"after_seq": 0, "limit": 1001})
    assert reply["status"] == 400
    assert reply["body"]["error"]["code"] == "validation_failed"


def _sub_connect(url):
    """An NNG sub0 peer, by hand: the SP-over-TCP handshake, then 8-byte
    big-endian length-prefixed messages (pub0 filters nothing remotely)."""
    host, port = url.replace("tcp://", "").split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(b"\x00SP\x00\x00\x21\x00\x00")  # protocol 0x21: sub0
    peer = s.recv(8)
    assert peer[:4] == b"\x00SP\x00" and peer[4:6] == b"\x00\x20"  # pub0
    return s


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, "pub socket closed"
        buf += chunk
    return buf


def test_the_pub_socket_announces_new_events(stack, api):
    url = stack.service_env("users")["LINTEL_EVENTS_URL"]
    assert url != "tcp://127.0.0.1:7201"  # the tests use their own port
    s = _sub_connect(url)
    try:
        # pub0 drops what it sends before it has attached this pipe, which
        # the handshake does not tell: sign up again until a hint covers a
        # sign-up's two events (each attempt waits 2 s for it).
        s.settimeout(2)
        announced = created = 0
        for _ in range(5):
            t = api.signup()
            created = [e for e in consume(stack, 0)
                       if e["tenant_id"] == t["id"]][-1]["seq"]
            try:
                while announced < created:
                    n = struct.unpack(">Q", _recv_exact(s, 8))[0]
                    announced = int(_recv_exact(s, n))
            except socket.timeout:
                continue
            break
        assert announced >= created > 0
        assert announced <= head(stack)
    finally:
        s.close()
