"""The audit log: every users and projects event of a tenant, once, read by
admins and owners only, filtered and keyset-paged; append-only for the
service itself (its role has no UPDATE, DELETE or TRUNCATE on the table)."""
import datetime

import psycopg2
import pytest

from projects_api import P, new_tenant, papi  # noqa: F401 (fixture)
from reporting_api import wait_caught_up
from users_api import Mailbox


@pytest.fixture(scope="module")
def staffed(stack):
    from users_api import EdgeApi
    return new_tenant(EdgeApi(stack), Mailbox(stack),
                      roles=("manager", "admin"))


def all_pages(p, query=""):
    items, cursor = [], None
    while True:
        q = "limit=2" + (f"&{query}" if query else "") + \
            (f"&cursor={cursor}" if cursor else "")
        r = p.call("GET", "/api/audit", query=q)
        assert r.status == 200, r
        assert len(r.body["data"]) <= 2
        items += r.body["data"]
        cursor = r.body["next_cursor"]
        if cursor is None:
            return items


def test_the_log_holds_every_event_once_with_filters(stack, papi, staffed):
    owner = P(papi, staffed)
    proj = owner.create_project()
    task = owner.create_task(proj["id"])
    r = owner.call("PATCH", f"/api/tasks/{task['id']}", {"status": "done"},
                   headers={"If-Match": f"\"{task['version']}\""})
    assert r.status == 200, r
    wait_caught_up(stack, owner, staffed["id"])
    admin = P(papi, staffed, staffed["as"]["admin"]["token"])
    entries = all_pages(admin)
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT 'projects', seq FROM projects.events"
                    " WHERE tenant_id = %s UNION ALL"
                    " SELECT 'users', seq FROM users.events"
                    " WHERE tenant_id = %s", (staffed["id"],) * 2)
        events = sorted(cur.fetchall())
    assert sorted((e["source"], e["seq"]) for e in entries) == events
    # Newest first by default, oldest first on request.
    times = [e["occurred_at"] for e in entries]
    assert times == sorted(times, reverse=True)
    assert [e["id"] for e in all_pages(admin, "sort=occurred_at")] == \
        [e["id"] for e in reversed(entries)]
    types = {e["type"] for e in entries}
    assert {"tenant.created", "member.joined", "member.invited",
            "project.created", "task.created", "task.updated"} <= types
    mine = all_pages(admin, f"entity={task['id']}")
    assert [e["type"] for e in mine] == ["task.updated", "task.created"]
    assert mine[0]["data"]["status"] == "done"
    assert mine[0]["actor_id"] == staffed["user_id"]
    assert mine[0]["entity_type"] == "task"
    updated = all_pages(admin, "type=task.updated")
    assert [e["entity_id"] for e in updated] == [task["id"]]
    by_owner = all_pages(admin, f"actor={staffed['user_id']}")
    assert by_owner and all(e["actor_id"] == staffed["user_id"]
                            for e in by_owner)
    # A time window: [from, to).
    cut = mine[0]["occurred_at"]
    after = all_pages(admin, f"from={cut}")
    assert after and all(e["occurred_at"] >= cut for e in after)
    before = all_pages(admin, f"to={cut}")
    assert len(after) + len(before) == len(entries)
    tomorrow = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
    assert all_pages(admin, f"from={tomorrow}") == []


def test_only_admins_and_owners_read_the_log(papi, staffed):
    for role, status in (("manager", 403), ("admin", 200), ("owner", 200)):
        r = P(papi, staffed, staffed["as"][role]["token"]).call(
            "GET", "/api/audit")
        assert r.status == status, (role, r)


def test_bad_filters_are_json_errors(papi, staffed):
    p = P(papi, staffed)
    for query, field in (("actor=someone", "actor"), ("entity=1", "entity"),
                         ("from=yesterday", "from"),
                         ("to=2027-01-01T25:00:00Z", "to"),
                         ("type=", "type"), ("sort=seq", "sort"),
                         ("limit=0", "limit"), ("who=me", "who")):
        r = p.call("GET", "/api/audit", query=query)
        assert r.status == 400 and r.code == "validation_failed", (query, r)
        assert field in r.fields(), (query, r)


def test_another_tenant_sees_none_of_it(stack, papi, staffed):
    owner = P(papi, staffed)
    proj = owner.create_project()
    other = new_tenant(papi)
    o = P(papi, other)
    wait_caught_up(stack, o, other["id"])
    wait_caught_up(stack, owner, staffed["id"])
    r = o.call("GET", "/api/audit", query=f"entity={proj['id']}")
    assert r.status == 200 and r.body["data"] == [], r
    assert {e["source"] for e in all_pages(o)} == {"users"}


def test_the_service_cannot_change_or_remove_the_log(stack, papi, staffed):
    wait_caught_up(stack, P(papi, staffed), staffed["id"])
    for stmt in ("UPDATE reporting.audit SET type = 'forged'",
                 "DELETE FROM reporting.audit",
                 "TRUNCATE reporting.audit"):
        conn = stack.db("reporting")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                            (staffed["id"],))
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(stmt)
        finally:
            conn.close()
    with stack.db("reporting") as conn, conn.cursor() as cur:
        cur.execute("SELECT has_table_privilege('reporting.audit', 'SELECT'),"
                    " has_table_privilege('reporting.audit', 'INSERT'),"
                    " has_table_privilege('reporting.audit', 'UPDATE'),"
                    " has_table_privilege('reporting.audit', 'DELETE'),"
                    " has_table_privilege('reporting.audit', 'TRUNCATE')")
        assert cur.fetchone() == (True, True, False, False, False)
        cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                    (staffed["id"],))
        cur.execute("SELECT count(*) FROM reporting.audit"
                    " WHERE type = 'forged'")
        assert cur.fetchone()[0] == 0


def test_platform_admins_read_any_tenants_log_from_the_apex(stack, papi,
                                                            staffed):
    owner = P(papi, staffed)
    wait_caught_up(stack, owner, staffed["id"])
    token = papi.admin_token()
    r = papi.call("GET", "/api/audit", None, token,
                  query=f"tenant_id={staffed['id']}&limit=100")
    assert r.status == 200, r
    r2 = owner.call("GET", "/api/audit", query="limit=100")
    assert [e["id"] for e in r.body["data"]] == \
        [e["id"] for e in r2.body["data"]]
    r = papi.call("GET", "/api/audit", None, token)
    assert r.status == 400 and r.fields() == {"tenant_id": "required"}, r
    r = papi.call("GET", "/api/audit", None, token, query="tenant_id=x")
    assert r.status == 400 and r.fields() == {"tenant_id": "invalid_format"}
    # On a tenant's host, tenant_id is no parameter: the host decides.
    r = owner.call("GET", "/api/audit", query=f"tenant_id={staffed['id']}")
    assert r.status == 400 and r.fields() == {"tenant_id": "unknown_field"}
    r = papi.call("GET", "/api/audit", None, None,
                  query=f"tenant_id={staffed['id']}")
    assert r.status == 401, r
