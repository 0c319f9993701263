"""Helpers for the projects service's end-to-end tests: tenants with a
member of every role, and short calls for projects and tasks, all through
the real edge (users_api.EdgeApi)."""
import uuid

import pytest

from conftest import wait_until
from users_api import PASSWORD, EdgeApi, Mailbox

ROLES = ("viewer", "member", "manager", "admin", "owner")


def add_member(api, mailbox, t, role):
    """Invites and accepts a member of `role` into tenant `t`; returns its
    id and access token."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@{t['slug']}.test"
    r = api.call("POST", "/api/users/invitations", t["slug"], t["token"],
                 json_body={"email": email, "role": role})
    assert r.status == 201, r
    inv, _ = mailbox.wait_for(email, r"token=([A-Za-z0-9_-]{43})")
    r = api.call("POST", "/api/auth/invitations/accept", t["slug"],
                 json_body={"token": inv, "name": role.title(),
                            "password": PASSWORD})
    assert r.status == 201, r
    return {"id": r.body["user"]["id"], "token": r.body["access_token"],
            "email": email}


def new_tenant(api, mailbox=None, roles=(), unlimited=False):
    """A tenant signed up through the API; its owner, plus one member of
    each of `roles`, as {"slug", "id", "token", "user_id", "as": {role:
    {"id", "token"}}}. `unlimited`: on the business plan, for a test that
    creates projects without bound (a new tenant's trial allows 50)."""
    t = api.signup()
    tokens = api.login(t["slug"], t["email"], t["password"])
    out = {"slug": t["slug"], "id": t["id"], "token": tokens["access_token"],
           "user_id": t["user"]["id"]}
    out["as"] = {"owner": {"id": out["user_id"], "token": out["token"]}}
    for role in roles:
        out["as"][role] = add_member(api, mailbox, out, role)
    if unlimited:
        wait_until(lambda: api.call("GET", "/api/billing/subscription",
                                    out["slug"], out["token"]).status == 200,
                   15, "the new tenant's subscription")
        r = api.call("POST", "/api/billing/subscription", out["slug"],
                     out["token"], json_body={"plan": "business"})
        assert r.status == 200, r
    return out


class P:
    """Calls as one user of one tenant."""

    def __init__(self, api, tenant, token=None):
        self.api = api
        self.slug = tenant["slug"]
        self.token = token or tenant["token"]

    def call(self, method, path, body=None, raw=None, query=None,
             headers=None):
        return self.api.call(method, path, self.slug, self.token,
                             json_body=body, raw=raw, query=query,
                             headers=headers)

    def create_project(self, **fields):
        body = {"name": "Tower", "code": f"P-{uuid.uuid4().hex[:8]}"}
        body.update(fields)
        r = self.call("POST", "/api/projects", body)
        assert r.status == 201, r
        return r.body

    def create_task(self, project_id, **fields):
        body = {"title": "Pour the slab"}
        body.update(fields)
        r = self.call("POST", f"/api/projects/{project_id}/tasks", body)
        assert r.status == 201, r
        return r.body

    def list_all(self, path, query=""):
        """Every item of a list, page by page (limit 5)."""
        items, cursor = [], None
        while True:
            q = f"limit=5{'&' + query if query else ''}"
            if cursor:
                q += f"&cursor={cursor}"
            r = self.call("GET", path, query=q)
            assert r.status == 200, r
            items += r.body["data"]
            cursor = r.body["next_cursor"]
            if cursor is None:
                return items


@pytest.fixture
def papi(stack):
    return EdgeApi(stack)


@pytest.fixture
def tenant(papi):
    """A fresh tenant (its owner only)."""
    return new_tenant(papi)


@pytest.fixture(scope="module")
def staffed(stack):
    """One tenant with a member of every role, shared by a module."""
    api = EdgeApi(stack)
    return new_tenant(api, Mailbox(stack),
                      roles=("viewer", "member", "manager", "admin"))
