"""The tenant registry as the platform admin sees it, suspension at the
edge, and the signing keys: rotation without logging anyone out, and no
start without a usable key."""
import json
import os
import pathlib
import subprocess
import time
import uuid

from conftest import BIN, redis_cli
from users_api import claims, header, restart_users


def test_platform_admin_lists_creates_and_renames_tenants(api):
    admin = api.admin_token()
    slug = f"p-{uuid.uuid4().hex[:10]}"
    r = api.call("POST", "/api/admin/tenants", token=admin,
                 json_body={"slug": slug, "name": "Made by admin"})
    assert r.status == 201 and r.body["slug"] == slug
    tid = r.body["id"]
    r = api.call("POST", "/api/admin/tenants", token=admin,
                 json_body={"slug": slug, "name": "Again"})
    assert r.status == 409
    r = api.call("POST", "/api/admin/tenants", token=admin,
                 json_body={"slug": "static", "name": "Reserved"})
    assert r.status == 400 and r.fields() == {"slug": "reserved"}
    r = api.call("PATCH", f"/api/admin/tenants/{tid}", token=admin,
                 json_body={"name": "Renamed"})
    assert r.status == 200 and r.body["name"] == "Renamed"
    r = api.call("PATCH", f"/api/admin/tenants/{uuid.uuid4()}", token=admin,
                 json_body={"name": "Nobody"})
    assert r.status == 404
    r = api.call("PATCH", f"/api/admin/tenants/{tid}", token=admin,
                 json_body={"status": "deleted"})
    assert r.status == 400 and r.fields() == {"status": "invalid_choice"}
    seen, cursor = [], None
    while True:
        q = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        r = api.call("GET", "/api/admin/tenants", token=admin, query=q)
        assert r.status == 200 and len(r.body["data"]) <= 2
        seen += [t["id"] for t in r.body["data"]]
        cursor = r.body["next_cursor"]
        if not cursor:
            break
    assert tid in seen and len(seen) == len(set(seen))


def test_tenant_routes_are_for_platform_admins_only(api, tenant):
    owner = tenant["tokens"]["access_token"]
    r = api.call("GET", "/api/admin/tenants")
    assert r.status == 401
    r = api.call("GET", "/api/admin/tenants", tenant["slug"], owner)
    assert r.status in (403, 404)


def test_suspended_tenant_is_blocked_at_the_edge(stack, api, tenant):
    admin = api.admin_token()
    token = tenant["tokens"]["access_token"]
    # Warm every cache first: the suspension must get through them.
    assert api.call("GET", "/api/users/me", tenant["slug"], token).status == 200
    r = api.call("PATCH", f"/api/admin/tenants/{tenant['id']}", token=admin,
                 json_body={"status": "suspended"})
    assert r.status == 200 and r.body["status"] == "suspended"
    assert redis_cli(stack, "EXISTS",
                     f"users:tenant:v1:{tenant['slug']}") == "0"
    deadline = time.time() + 70  # the edge's tenant cache TTL at most
    while time.time() < deadline:
        r = api.call("GET", "/api/users/me", tenant["slug"], token)
        if r.status == 403:
            break
        time.sleep(0.5)
    assert r.status == 403 and r.code == "tenant_suspended"
    r = api.call("POST", "/api/auth/login", tenant["slug"], json_body={
        "email": tenant["email"], "password": tenant["password"]})
    assert r.status == 403
    # Reactivation: nothing was revoked, the same token works again.
    api.call("PATCH", f"/api/admin/tenants/{tenant['id']}", token=admin,
             json_body={"status": "active"})
    deadline = time.time() + 70
    while time.time() < deadline:
        r = api.call("GET", "/api/users/me", tenant["slug"], token)
        if r.status == 200:
            break
        time.sleep(0.5)
    assert r.status == 200


def test_key_rotation_logs_nobody_out(stack, api, tenant):
    keys = pathlib.Path(stack.run_dir) / "keys"
    old_token = tenant["tokens"]["access_token"]
    old_kid = header(old_token)["kid"]
    kid = f"rotated-{uuid.uuid4().hex[:6]}"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(keys / f"{kid}.pem")],
                   check=True, capture_output=True)
    future = time.time() + 5  # newer than any key already there
    os.utime(keys / f"{kid}.pem", (future, future))
    restart_users(stack)
    try:
        _rotated(api, tenant, old_token, old_kid, kid)
    finally:
        # Back to the old key, which every edge worker knows: a worker
        # that fetched the keys in the last 30 s (lintel_jwks_min_refetch)
        # would refuse the new kid, and the next tests' tokens with it.
        (keys / f"{kid}.pem").unlink()
        restart_users(stack)


def _rotated(api, tenant, old_token, old_kid, kid):
    jwks = api.call("GET", "/.well-known/jwks.json").body["keys"]
    assert {old_kid, kid} <= {k["kid"] for k in jwks}
    # The old access token still verifies; the old refresh token rotates,
    # and what it gets now is signed with the new key.
    assert api.call("GET", "/api/users/me", tenant["slug"],
                    old_token).status == 200
    r = api.call("POST", "/api/auth/refresh", tenant["slug"], json_body={
        "refresh_token": tenant["tokens"]["refresh_token"]})
    assert r.status == 200
    assert header(r.body["access_token"])["kid"] == kid
    # The edge learns the new kid on first sight, at most once per its
    # lintel_jwks_min_refetch (30 s): poll that long.
    deadline = time.time() + 45
    while time.time() < deadline:
        me = api.call("GET", "/api/users/me", tenant["slug"],
                      r.body["access_token"])
        if me.status == 200:
            break
        time.sleep(1)
    assert me.status == 200
    assert claims(r.body["access_token"])["sid"] == claims(old_token)["sid"]


def test_service_refuses_to_start_without_a_usable_key(stack, tmp_path):
    env = stack.service_env("users")
    env["LINTEL_RPC_URL"] = "tcp://127.0.0.1:1"  # never reached
    # its own events socket: the stack's users holds the configured one
    env["LINTEL_EVENTS_URL"] = f"ipc://{tmp_path}/events.sock"
    cases = {"missing": tmp_path / "nope", "empty": tmp_path / "empty"}
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "k1.pem").write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n")
    cases["unreadable"] = bad
    for case, folder in cases.items():
        env["LINTEL_JWT_KEYS_DIR"] = str(folder)
        p = subprocess.run([str(BIN / "lintel-users"), "serve"], env=env,
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 2, (case, p.stderr)
        assert "LINTEL_JWT_KEYS_DIR" in p.stderr, (case, p.stderr)


def stored_hash(stack, tenant_id, email):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                    (tenant_id,))
        cur.execute("SELECT password_hash FROM users.users"
                    " WHERE lower(email) = lower(%s)", (email,))
        return cur.fetchone()[0]


def test_login_rehashes_when_the_parameters_change(stack, api, tenant):
    assert stored_hash(stack, tenant["id"], tenant["email"]).startswith(
        "$argon2id$v=19$m=19456,t=2,p=1$")
    restart_users(stack, LINTEL_ARGON2_ITERATIONS="3")
    try:
        api.login(tenant["slug"], tenant["email"])
        assert stored_hash(stack, tenant["id"], tenant["email"]).startswith(
            "$argon2id$v=19$m=19456,t=3,p=1$")
        api.login(tenant["slug"], tenant["email"])  # the new hash verifies
    finally:
        restart_users(stack)


def test_users_refuses_login_and_refresh_for_a_suspended_tenant(stack, api,
                                                                 tenant):
    """Defence in depth: a request that gets past the edge (a stale cache,
    a caller on the service port) is refused by the users service itself,
    and only once the caller proved the password or holds a live refresh
    token, so the answer reveals nothing about accounts."""
    admin = api.admin_token()
    refresh = tenant["tokens"]["refresh_token"]
    r = api.call("PATCH", f"/api/admin/tenants/{tenant['id']}", token=admin,
                 json_body={"status": "suspended"})
    assert r.status == 200, r
    scope = ["--tenant", f"{tenant['id']}:{tenant['slug']}"]

    def direct(path, body):
        code, reply, err = stack.call("users", "POST", path, *scope,
                                      "--json", json.dumps(body))
        assert code == 0, err
        return reply

    reply = direct("/api/auth/login", {"email": tenant["email"],
                                       "password": tenant["password"]})
    assert reply["status"] == 403, reply
    assert reply["body"]["error"]["code"] == "tenant_suspended"
    reply = direct("/api/auth/login", {"email": tenant["email"],
                                       "password": "not-the-password-1"})
    assert reply["status"] == 401, reply
    assert reply["body"]["error"]["code"] == "invalid_credentials"
    reply = direct("/api/auth/refresh", {"refresh_token": refresh})
    assert reply["status"] == 403, reply
    assert reply["body"]["error"]["code"] == "tenant_suspended"

    # Back to active: the refresh token was not spent by the refusal.
    r = api.call("PATCH", f"/api/admin/tenants/{tenant['id']}", token=admin,
                 json_body={"status": "active"})
    assert r.status == 200, r
    reply = direct("/api/auth/refresh", {"refresh_token": refresh})
    assert reply["status"] == 200, reply
    assert reply["body"]["refresh_token"] != refresh
