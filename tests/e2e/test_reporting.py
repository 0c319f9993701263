"""The reporting service's reports through the edge: each answer carries
as_of and follows changes made through the projects API; a project of
another tenant, a deleted one and a malformed id are 404s; bad ranges and
filters are JSON errors; the overdue list pages by keyset; roles and
tenants are kept apart; the cache serves a tenant's current version only
and Redis being down costs nothing but speed."""
import datetime
import json
import re
import uuid

import pytest
import requests

from conftest import redis_cli, wait_until
from projects_api import P, new_tenant, papi, tenant  # noqa: F401 (fixtures)
from reporting_api import (events_head, figures, num, oracle_dashboard,
                           oracle_project, today, wait_caught_up)


def days(n):
    return (today() + datetime.timedelta(days=n)).isoformat()


def norm(expected):
    out = dict(expected)
    out["percent_complete"] = figures(
        {"percent_complete": out["percent_complete"],
         "estimate_hours_open": 0, "estimate_hours_done": 0}
    )["percent_complete"]
    return out


def test_the_dashboard_follows_changes_with_as_of(stack, papi, tenant):
    p = P(papi, tenant)
    first = wait_caught_up(stack, p, tenant["id"])
    assert first["projects_total"] == 0 and first["tasks_total"] == 0
    proj = p.create_project(status="active", budget_cents=1000,
                            currency="EUR")
    p.create_task(proj["id"], status="done", estimate_hours=2.5)
    p.create_task(proj["id"], due_date=days(-3), estimate_hours=1.25)
    dash = wait_caught_up(stack, p, tenant["id"])
    assert dash["as_of"]["seq"] == events_head(stack, tenant["id"])
    assert dash["as_of"]["at"] is not None
    assert dash["projects_by_status"]["active"] == 1
    assert dash["budget_by_currency"] == [{"currency": "EUR",
                                           "budget_cents": 1000}]
    assert dash["tasks_by_status"] == {"todo": 1, "in_progress": 0,
                                       "blocked": 0, "done": 1}
    assert dash["overdue_tasks"] == 1
    assert num(dash["estimate_hours_open"]) == num(1.25)
    assert num(dash["estimate_hours_done"]) == num(2.5)
    assert dash["percent_complete"] == 50
    assert dash["activity_last_30_days"] == {
        "changes": 3, "tasks_created": 2, "tasks_completed": 1}
    expected = norm(oracle_dashboard(stack, tenant["id"]))
    assert {k: v for k, v in figures(dash).items() if k != "as_of"} == expected


def test_a_project_report_and_its_404s(stack, papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project(status="active")
    p.create_task(proj["id"], status="in_progress", due_date=days(2),
                  estimate_hours=3)
    gone = p.create_project()
    r = p.call("DELETE", f"/api/projects/{gone['id']}")
    assert r.status == 204, r
    wait_caught_up(stack, p, tenant["id"])
    r = p.call("GET", f"/api/reports/projects/{proj['id']}")
    assert r.status == 200, r
    assert r.body["project"]["id"] == proj["id"]
    assert r.body["due_next_7_days"] == 1
    want = oracle_project(stack, tenant["id"], proj["id"])
    assert datetime.datetime.fromisoformat(
        r.body["last_activity_at"].replace("Z", "+00:00")) == \
        want.pop("last_activity_at")
    got = figures(r.body)
    assert {k: got[k] for k in want} == norm(want)
    for missing in (gone["id"], str(uuid.uuid4()), "not-a-uuid"):
        r = p.call("GET", f"/api/reports/projects/{missing}")
        assert r.status == 404 and r.code == "not_found", (missing, r)
    other = new_tenant(papi)
    r = P(papi, other).call("GET", f"/api/reports/projects/{proj['id']}")
    assert r.status == 404 and r.code == "not_found", r


def test_activity_ranges_and_their_errors(stack, papi, tenant):
    p = P(papi, tenant)
    p.create_project()
    wait_caught_up(stack, p, tenant["id"])
    r = p.call("GET", "/api/reports/activity")
    assert r.status == 200, r
    assert len(r.body["data"]) == 30 and r.body["to"] == today().isoformat()
    assert r.body["data"][-1]["changes"] == 1
    r = p.call("GET", "/api/reports/activity",
               query=f"from={days(-365)}&to={days(0)}")
    assert r.status == 200 and len(r.body["data"]) == 366, r
    for query, field, code in (
            (f"from={days(1)}&to={days(0)}", "from", "after_to"),
            (f"from={days(-366)}&to={days(0)}", "to", "range_too_long"),
            ("from=2027-02-30", "from", "invalid_format"),
            ("to=yesterday", "to", "invalid_format"),
            ("from=2027-01-01&from=2027-01-02", "from", "invalid_format"),
            ("days=3", "days", "unknown_field")):
        r = p.call("GET", "/api/reports/activity", query=query)
        assert r.status == 400 and r.code == "validation_failed", (query, r)
        assert r.fields() == {field: code}, (query, r)
    r = p.call("GET", "/api/reports/dashboard", query="x=1")
    assert r.status == 400 and r.fields() == {"x": "unknown_field"}, r


def test_the_overdue_list_pages_by_due_date(stack, papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project()
    ids = []
    for d in (-5, -1, -3, -3, -9, -2, -1):
        ids.append((days(d), p.create_task(proj["id"], due_date=days(d))["id"]))
    p.create_task(proj["id"], due_date=days(-4), status="done")
    p.create_task(proj["id"], due_date=days(0))
    p.create_task(proj["id"])
    wait_caught_up(stack, p, tenant["id"])
    seen, cursor = [], None
    while True:
        q = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        r = p.call("GET", "/api/reports/overdue", query=q)
        assert r.status == 200, r
        assert len(r.body["data"]) <= 3 and "as_of" in r.body
        seen += [(t["due_date"], t["id"]) for t in r.body["data"]]
        cursor = r.body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids)
    assert all(t["days_overdue"] >= 1 for t in r.body["data"])
    r = p.call("GET", "/api/reports/overdue",
               query=f"project_id={uuid.uuid4()}")
    assert r.status == 200 and r.body["data"] == [], r
    for query, field in (("project_id=x", "project_id"), ("limit=101", "limit"),
                         ("cursor=zzz", "cursor"), ("sort=due_date", "sort")):
        r = p.call("GET", "/api/reports/overdue", query=query)
        assert r.status == 400 and field in r.fields(), (query, r)


def test_workload_names_the_assignees(stack, papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project()
    owner = tenant["user_id"]
    p.create_task(proj["id"], assignee_id=owner, estimate_hours=4,
                  due_date=days(-1))
    p.create_task(proj["id"], assignee_id=owner, status="done")
    p.create_task(proj["id"])
    wait_caught_up(stack, p, tenant["id"])
    r = p.call("GET", "/api/reports/workload")
    assert r.status == 200, r
    assert [(w["assignee_id"], w["name"], w["open_tasks"], w["overdue_tasks"],
             num(w["estimate_hours_open"])) for w in r.body["data"]] == [
        (owner, "Owner", 1, 1, num(4)), (None, None, 1, 0, num(0))]


def test_every_route_needs_a_member_of_the_tenant(stack, papi, tenant):
    other = new_tenant(papi)
    for path in ("/api/reports/dashboard", "/api/reports/workload",
                 "/api/reports/activity", "/api/reports/overdue",
                 f"/api/reports/projects/{uuid.uuid4()}", "/api/audit"):
        r = papi.call("GET", path, tenant["slug"])
        assert r.status == 401, (path, r)
        r = papi.call("GET", path, tenant["slug"], other["token"])
        assert r.status == 403 and r.code == "tenant_mismatch", (path, r)


def test_a_cached_answer_lasts_only_until_the_next_event(stack, papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project()
    dash = wait_caught_up(stack, p, tenant["id"])
    keys = redis_cli(stack, "--scan", "--pattern",
                     f"lintel:reporting:{{{tenant['id']}}}:a:*:dashboard"
                     ).split()
    assert len(keys) == 1, keys
    # The cache is what answers: a planted answer (its value: the version
    # it was computed at, a space, the JSON) is served as it is.
    version = redis_cli(stack, "GET", keys[0]).split(" ", 1)[0]
    planted = dict(dash, projects_total=777)
    redis_cli(stack, "SET", keys[0], f"{version} {json.dumps(planted)}")
    r = p.call("GET", "/api/reports/dashboard")
    assert r.status == 200 and r.body["projects_total"] == 777, r
    # One event of the tenant moves its version: the planted answer is gone.
    p.create_task(proj["id"])
    dash = wait_caught_up(stack, p, tenant["id"])
    assert dash["projects_total"] == 1 and dash["tasks_total"] == 1
    metrics = requests.get(stack.ops_url("reporting", "/metrics"),
                           timeout=5).text
    assert 'lintel_reporting_cache_answers{result="hit"}' in metrics
    assert 'lintel_reporting_applied_seq{source="projects"}' in metrics


def test_a_warm_answer_asks_nothing_of_postgresql(stack, papi, tenant):
    """The consumers keep the tenant's version in Redis (lc_vcache): with
    the read model's tables locked against every read, a warm dashboard
    still answers, from Redis alone, as it was."""
    p = P(papi, tenant)
    p.create_task(p.create_project()["id"])
    wait_caught_up(stack, p, tenant["id"])
    # warm (a version not yet known is filled from the primary now)
    dash = p.call("GET", "/api/reports/dashboard").body
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("LOCK TABLE reporting.tenant_state, reporting.projects,"
                    " reporting.tasks, reporting.activity"
                    " IN ACCESS EXCLUSIVE MODE")
        r = p.call("GET", "/api/reports/dashboard")
        conn.rollback()
    assert r.status == 200, r
    assert r.body == dash


def cache_answers(stack, result):
    """reporting's count of answers by cache outcome `result`."""
    text = requests.get(stack.ops_url("reporting", "/metrics"),
                        timeout=5).text
    m = re.search(r'^lintel_reporting_cache_answers\{result="%s"\} (\S+)$'
                  % result, text, re.M)
    return float(m.group(1)) if m else 0.0


def test_a_warm_answer_is_kept_in_memory_until_redis_says_it_changed(
        stack, papi, tenant):
    """A HIT in Redis is kept in reporting's memory and then given on NNG's
    thread, with no round trip; Redis tells reporting of any change of the
    tenant's keys, which drops the copy: an answer planted in Redis by
    hand replaces the one in memory."""
    p = P(papi, tenant)
    p.create_project()
    dash = wait_caught_up(stack, p, tenant["id"])
    before = cache_answers(stack, "hit_memory")

    def from_memory():
        r = p.call("GET", "/api/reports/dashboard")
        assert r.status == 200 and r.body == dash, r
        return cache_answers(stack, "hit_memory") > before

    wait_until(from_memory, 10, "an answer from memory")
    key = f"lintel:reporting:{{{tenant['id']}}}:a:{today().isoformat()}" \
        ":dashboard"
    version = redis_cli(stack, "GET", key).split(" ", 1)[0]
    planted = dict(dash, projects_total=778)
    redis_cli(stack, "SET", key, f"{version} {json.dumps(planted)}")
    # Redis's word drops the copy (within microseconds; that only Redis's
    # word drops a copy, before its own life ends, is shown without timing
    # in tests/unit/test_vcache.c).
    wait_until(lambda: p.call("GET", "/api/reports/dashboard").body[
        "projects_total"] == 778, 5, "the planted answer")


def test_reports_answer_without_redis(stack, papi, tenant, paused_redis):
    p = P(papi, tenant)
    r = p.call("GET", "/api/reports/dashboard")
    assert r.status == 200, r
    r = p.call("GET", "/api/reports/workload")
    assert r.status == 200, r


def test_get_project_summary_rpc(stack, papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project(status="active")
    p.create_task(proj["id"], status="done", estimate_hours=2)
    p.create_task(proj["id"], due_date=days(-2), estimate_hours=0.5)
    wait_caught_up(stack, p, tenant["id"])
    edge = p.call("GET", f"/api/reports/projects/{proj['id']}").body
    rc, out, err = stack.rpc("reporting", "reporting.GetProjectSummary",
                             {"tenant_id": tenant["id"],
                              "project_id": proj["id"]})
    assert rc == 0, err
    assert out["status"] == 200, out
    body = out["body"]
    assert body["found"] is True
    assert body["project_id"] == proj["id"] and body["status"] == "active"
    assert body["tasks_total"] == 2 == edge["tasks_total"]
    assert body["tasks_by_status"]["done"] == 1
    assert body["overdue_tasks"] == 1
    assert body["percent_complete"] == 50
    assert body["estimate_hours_open"] == 0.5
    assert int(body["as_of_seq"]) == edge["as_of"]["seq"]  # uint64: a string
    # Another tenant's project, a made-up one: not found.
    other = new_tenant(papi)
    for tid, pid in ((other["id"], proj["id"]),
                     (tenant["id"], str(uuid.uuid4())),
                     (tenant["id"], "nope")):
        rc, out, err = stack.rpc("reporting", "reporting.GetProjectSummary",
                                 {"tenant_id": tid, "project_id": pid})
        assert rc == 0, err
        assert out["status"] == 200, out
        assert not out["body"].get("found"), (tid, pid, out)
    # Not reachable from the edge.
    r = p.call("POST", "/rpc/reporting.GetProjectSummary", {})
    assert r.status == 404, r


def test_a_change_shows_in_the_dashboard_within_a_second(stack, papi, tenant):
    """The freshness goal, measured: 20 changes through the projects API,
    each timed until the dashboard's as_of reaches its event (p95 ≤ 1 s;
    the consumer wakes on the pub hint, not on its poll)."""
    import time
    p = P(papi, tenant)
    proj = p.create_project()
    wait_caught_up(stack, p, tenant["id"])
    lags = []
    for _ in range(20):
        p.create_task(proj["id"])
        t0 = time.monotonic()
        head = events_head(stack, tenant["id"])
        while True:
            r = p.call("GET", "/api/reports/dashboard")
            assert r.status == 200, r
            if r.body["as_of"]["seq"] >= head:
                break
            assert time.monotonic() - t0 < 5, "no sign of the change in 5 s"
            time.sleep(0.01)
        lags.append(time.monotonic() - t0)
    lags.sort()
    assert lags[18] <= 1.0, lags
    assert r.body["tasks_total"] == 20
