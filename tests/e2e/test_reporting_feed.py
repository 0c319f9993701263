"""The read models follow the events exactly once: a reporting service that
was stopped catches up on what changed meanwhile; one killed with kill -9
in the middle of a backlog applies nothing twice and loses nothing; with
projects frozen, reports still answer from the read model."""
import os
import signal
import subprocess
import time

from conftest import BIN, STACK, wait_until
from projects_api import P, new_tenant, papi  # noqa: F401 (fixture)
from reporting_api import (events_head, figures, oracle_activity,
                           oracle_dashboard, today, wait_caught_up)


def stop_reporting(stack, sig=signal.SIGTERM):
    pid = stack.pid("reporting")
    os.kill(pid, sig)
    wait_until(lambda: not _alive(pid), 15, "reporting to exit")


def _alive(pid):
    """Until the process is reaped: the stack runner counts a zombie as
    running, and would not start another."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start_reporting(stack):
    up = subprocess.run(["bash", str(STACK), "up"], env=stack.env,
                        capture_output=True, text=True)
    assert up.returncode == 0, up.stderr


def cursor(stack):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT seq FROM reporting.consumer_cursors"
                    " WHERE source = 'projects'")
        row = cur.fetchone()
        return row[0] if row else 0


def global_head(stack):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT coalesce(max(seq), 0) FROM projects.events")
        return cur.fetchone()[0]


def assert_applied_once(stack, tenant_id):
    """Every projects event of the tenant is in the audit log exactly once,
    and the read models equal the oracle."""
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                    (tenant_id,))
        cur.execute("SELECT count(*), count(DISTINCT seq) FROM reporting.audit"
                    " WHERE source = 'projects'")
        audited, distinct = cur.fetchone()
        cur.execute("SELECT count(*) FROM projects.events"
                    " WHERE tenant_id = %s", (tenant_id,))
        events = cur.fetchone()[0]
    assert audited == distinct == events


def make_changes(p, n):
    proj = p.create_project(status="active", budget_cents=5, currency="USD")
    for i in range(n - 1):
        if i % 3 == 2:
            r = p.call("PATCH", f"/api/tasks/{last['id']}",
                       {"status": "done"}, headers={"If-Match": etag})
            assert r.status == 200, r
        else:
            last = p.create_task(proj["id"], estimate_hours=1)
            etag = f"\"{last['version']}\""


def check_against_oracle(stack, p, tenant_id):
    dash = wait_caught_up(stack, p, tenant_id, timeout=60)
    got = figures(dash)
    del got["as_of"]
    assert got == figures(oracle_dashboard(stack, tenant_id))
    r = p.call("GET", "/api/reports/activity")
    assert r.status == 200, r
    first, last = r.body["from"], r.body["to"]
    assert r.body["data"] == oracle_activity(stack, tenant_id, first, last)
    assert_applied_once(stack, tenant_id)


def test_a_stopped_service_catches_up(stack, papi):
    t = new_tenant(papi)
    p = P(papi, t)
    wait_caught_up(stack, p, t["id"])
    stop_reporting(stack)
    try:
        make_changes(p, 500)
        assert cursor(stack) < global_head(stack)
    finally:
        start_reporting(stack)
    check_against_oracle(stack, p, t["id"])


def test_kill_9_in_a_backlog_applies_nothing_twice(stack, papi):
    t = new_tenant(papi)
    p = P(papi, t)
    wait_caught_up(stack, p, t["id"])
    stop_reporting(stack)
    try:
        start = cursor(stack)
        make_changes(p, 600)
        head = global_head(stack)
        # One event per batch, so that the kill lands in the backlog.
        env = dict(stack.service_env("reporting"), LINTEL_REPORTING_BATCH="1")
        with open(stack.run_dir / "log" / "reporting.log", "ab") as log:
            proc = subprocess.Popen([str(BIN / "lintel-reporting"), "serve"],
                                    env=env, stdout=log, stderr=log)
        try:
            wait_until(lambda: cursor(stack) > start, 30,
                       "the catch-up to begin")
        finally:
            proc.kill()  # SIGKILL: whatever batch is under way is cut
            proc.wait()
        assert cursor(stack) < head, "the backlog was applied before the kill"
    finally:
        start_reporting(stack)
    check_against_oracle(stack, p, t["id"])


def test_reports_answer_while_projects_is_frozen(stack, papi):
    t = new_tenant(papi)
    p = P(papi, t)
    p.create_project()
    before = wait_caught_up(stack, p, t["id"])
    pid = stack.pid("projects")
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        r = p.call("GET", "/api/reports/dashboard")
        assert r.status == 200, r
        assert r.body["as_of"] == before["as_of"]
        assert r.body["projects_total"] == 1
        assert time.time() - t0 < 2
        r = p.call("GET", "/api/reports/activity",
                   query=f"to={today().isoformat()}")
        assert r.status == 200, r
    finally:
        os.kill(pid, signal.SIGCONT)
    assert events_head(stack, t["id"]) == before["as_of"]["seq"]
