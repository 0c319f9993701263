"""The oracle: a random sequence of a few hundred project and task creates,
updates, status changes and deletes through the edge, across two tenants;
once the read models have caught up, every report equals the same figures
computed by SQL straight from the projects schema (reporting_api.py)."""
import datetime
import os
import random

from projects_api import P, new_tenant, papi  # noqa: F401 (fixture)
from reporting_api import (figures, oracle_activity, oracle_dashboard,
                           oracle_live_projects, oracle_overdue,
                           oracle_project, oracle_workload, today,
                           wait_caught_up)
from users_api import Mailbox

STEPS = int(os.environ.get("LINTEL_ORACLE_STEPS", "300"))


def etag_version(reply):
    return reply.headers["etag"]


class Driver:
    """Random changes to one tenant, remembering what is live."""

    def __init__(self, p, rng, people):
        self.p, self.rng, self.people = p, rng, people
        self.projects = {}  # id -> ETag
        self.tasks = {}     # id -> (ETag, project id)

    def due(self):
        if self.rng.random() < 0.2:
            return None
        return (today() + datetime.timedelta(
            days=self.rng.randint(-12, 12))).isoformat()

    def hours(self):
        return None if self.rng.random() < 0.2 else \
            round(self.rng.uniform(0, 40) * 4) / 4

    def budget(self):
        if self.rng.random() < 0.3:
            return {"budget_cents": None, "currency": None}
        return {"budget_cents": self.rng.randint(0, 10**9),
                "currency": self.rng.choice(["EUR", "USD", "GBP"])}

    def ok(self, r, status):
        assert r.status == status, r
        return r

    def create_project(self):
        body = {"name": "Site", "code": f"C{self.rng.getrandbits(40):x}",
                "status": self.rng.choice(["planned", "active", "active",
                                           "on_hold", "completed",
                                           "cancelled"])}
        body.update(self.budget())
        r = self.ok(self.p.call("POST", "/api/projects", body), 201)
        self.projects[r.body["id"]] = etag_version(r)

    def patch_project(self, pid):
        body = self.rng.choice([
            {"status": self.rng.choice(["planned", "active", "on_hold",
                                        "completed", "cancelled"])},
            self.budget(), {"name": "Renamed"}])
        r = self.ok(self.p.call("PATCH", f"/api/projects/{pid}", body,
                                headers={"If-Match": self.projects[pid]}), 200)
        self.projects[pid] = etag_version(r)

    def delete_project(self, pid):
        self.ok(self.p.call("DELETE", f"/api/projects/{pid}"), 204)
        del self.projects[pid]
        self.tasks = {t: v for t, v in self.tasks.items() if v[1] != pid}

    def create_task(self, pid):
        body = {"title": "Work",
                "status": self.rng.choice(["todo", "todo", "in_progress",
                                           "blocked", "done"]),
                "assignee_id": self.rng.choice(self.people),
                "due_date": self.due(), "estimate_hours": self.hours()}
        r = self.ok(self.p.call("POST", f"/api/projects/{pid}/tasks", body),
                    201)
        self.tasks[r.body["id"]] = (etag_version(r), pid)

    def patch_task(self, tid):
        body = self.rng.choice([
            {"status": self.rng.choice(["todo", "in_progress", "blocked",
                                        "done"])},
            {"status": "done"},
            {"due_date": self.due()}, {"estimate_hours": self.hours()},
            {"assignee_id": self.rng.choice(self.people)},
            {"status": "todo", "due_date": self.due()}])
        etag, pid = self.tasks[tid]
        r = self.ok(self.p.call("PATCH", f"/api/tasks/{tid}", body,
                                headers={"If-Match": etag}), 200)
        self.tasks[tid] = (etag_version(r), pid)

    def delete_task(self, tid):
        self.ok(self.p.call("DELETE", f"/api/tasks/{tid}"), 204)
        del self.tasks[tid]

    def step(self):
        x = self.rng.random()
        pids, tids = sorted(self.projects), sorted(self.tasks)
        if not pids or x < 0.10:
            self.create_project()
        elif x < 0.18:
            self.patch_project(self.rng.choice(pids))
        elif x < 0.21 and len(pids) > 2:
            self.delete_project(self.rng.choice(pids))
        elif x < 0.55 or not tids:
            self.create_task(self.rng.choice(pids))
        elif x < 0.92:
            self.patch_task(self.rng.choice(tids))
        else:
            self.delete_task(self.rng.choice(tids))


def paged(p, path):
    items, cursor = [], None
    while True:
        r = p.call("GET", path, query="limit=7" +
                   (f"&cursor={cursor}" if cursor else ""))
        assert r.status == 200, r
        items += r.body["data"]
        cursor = r.body["next_cursor"]
        if cursor is None:
            return items


def assert_reports_equal_the_oracle(stack, p, tenant_id):
    dash = wait_caught_up(stack, p, tenant_id)
    got = figures(dash)
    del got["as_of"]
    assert got == figures(oracle_dashboard(stack, tenant_id))
    for pid, deleted in oracle_live_projects(stack, tenant_id).items():
        r = p.call("GET", f"/api/reports/projects/{pid}")
        if deleted:
            assert r.status == 404, (pid, r)
            continue
        assert r.status == 200, (pid, r)
        want = oracle_project(stack, tenant_id, pid)
        last = want.pop("last_activity_at")
        assert datetime.datetime.fromisoformat(
            r.body["last_activity_at"].replace("Z", "+00:00")) == last
        got = figures(r.body)
        assert {k: got[k] for k in want} == figures(want), pid
    r = p.call("GET", "/api/reports/workload")
    assert r.status == 200, r
    got = [dict(w, estimate_hours_open=figures(
        {"estimate_hours_open": w["estimate_hours_open"],
         "estimate_hours_done": 0, "percent_complete": 0}
    )["estimate_hours_open"]) for w in r.body["data"]]
    assert got == oracle_workload(stack, tenant_id)
    first = (today() - datetime.timedelta(days=40)).isoformat()
    last = (today() + datetime.timedelta(days=1)).isoformat()
    r = p.call("GET", "/api/reports/activity", query=f"from={first}&to={last}")
    assert r.status == 200, r
    assert r.body["data"] == oracle_activity(stack, tenant_id, first, last)
    assert [t["id"] for t in paged(p, "/api/reports/overdue")] == \
        oracle_overdue(stack, tenant_id)


def test_every_report_equals_the_oracle_across_two_tenants(stack, papi):
    seed = int(os.environ.get("LINTEL_ORACLE_SEED", random.randrange(1 << 30)))
    print(f"oracle seed {seed}")
    rng = random.Random(seed)
    a = new_tenant(papi, Mailbox(stack), roles=("member",))
    b = new_tenant(papi)
    drivers = {
        a["id"]: Driver(P(papi, a), rng,
                        [a["user_id"], a["as"]["member"]["id"], None]),
        b["id"]: Driver(P(papi, b), rng, [b["user_id"], None]),
    }
    order = list(drivers.values())
    for _ in range(STEPS):
        rng.choice(order).step()
    for tenant_id, d in drivers.items():
        assert_reports_equal_the_oracle(stack, d.p, tenant_id)
