"""CSV exports: asked for with 202 and Location, run in the background,
RFC 4180 with formula-like cells defused, by role and tenant; bad input is
a JSON error; 100,000 rows export whole (their time is make bench's case
(x) in tests/bench/reporting.sh, not a test's); at most two exports of
a tenant run at once; a kill -9 in the middle of an export reruns it, and
the user sees one finished export; an export is one snapshot of the read
model, whatever changes while it runs, and lets the snapshot go when it
ends, finished or too large."""
import contextlib
import csv
import io
import os
import signal
import subprocess
import time
import uuid

import pytest

from conftest import BIN, STACK, wait_until
from projects_api import P, new_tenant, papi  # noqa: F401 (fixture)
from reporting_api import wait_caught_up
from users_api import EdgeApi, Mailbox

TASK_HEADER = ["id", "project_id", "project_name", "title", "status",
               "assignee_id", "assignee_name", "due_date", "estimate_hours"]


@pytest.fixture(scope="module")
def staffed(stack):
    return new_tenant(EdgeApi(stack), Mailbox(stack),
                      roles=("viewer", "member", "manager", "admin"))


def ask(p, body):
    r = p.call("POST", "/api/reports/exports", body)
    assert r.status == 202, r
    assert r.headers["location"] == f"/api/reports/exports/{r.body['id']}"
    assert r.body["status"] == "queued"
    return r.body


def wait_done(p, export_id, timeout=60):
    seen = {}

    def done():
        r = p.call("GET", f"/api/reports/exports/{export_id}")
        assert r.status == 200, r
        seen["body"] = r.body
        assert r.body["status"] != "failed", r
        return r.body["status"] == "done"

    wait_until(done, timeout, f"export {export_id}")
    return seen["body"]


def download(p, export_id):
    r = p.call("GET", f"/api/reports/exports/{export_id}/download")
    assert r.status == 200, r
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith("attachment;")
    return r.body


def parse(text):
    assert text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_a_tasks_export_is_rfc_4180_with_formulas_defused(stack, papi,
                                                         staffed):
    p = P(papi, staffed)
    proj = p.create_project(name="Tower, \"North\"")
    titles = ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tTab", "a,b", 'say "hi"',
              "line\nbreak", "Überdach ✓"]
    for t in titles:
        p.create_task(proj["id"], title=t, estimate_hours=1.5,
                      due_date="2027-03-01")
    wait_caught_up(stack, p, staffed["id"])
    manager = P(papi, staffed, staffed["as"]["manager"]["token"])
    e = ask(manager, {"kind": "tasks", "format": "csv",
                      "project_id": proj["id"]})
    assert e["filters"] == {"project_id": proj["id"]}
    done = wait_done(manager, e["id"])
    assert done["row_count"] == len(titles) and done["progress"] == 100
    rows = parse(download(manager, e["id"]))
    assert rows[0] == TASK_HEADER
    assert len(rows) == 1 + len(titles)
    got = sorted(r[3] for r in rows[1:])
    want = sorted("'" + t if t[0] in "=+-@\t" else t for t in titles)
    assert got == want
    assert {r[2] for r in rows[1:]} == {"Tower, \"North\""}
    assert {r[7] for r in rows[1:]} == {"2027-03-01"}
    assert {r[8] for r in rows[1:]} == {"1.50"}


def test_bad_exports_are_json_errors(papi, staffed):
    p = P(papi, staffed)
    for body, field, code in (
            ({}, "kind", "required"),
            ({"kind": "invoices"}, "kind", "invalid_choice"),
            ({"kind": "tasks", "format": "xlsx"}, "format", "invalid_choice"),
            ({"kind": "projects", "due_from": "2027-01-01"}, "due_from",
             "unknown_field"),
            ({"kind": "tasks", "status": "open"}, "status", "invalid_choice"),
            ({"kind": "activity", "to": "2027-01-01"}, "from", "required"),
            ({"kind": "activity", "from": "2027-02-01", "to": "2027-01-01"},
             "from", "after_to"),
            ({"kind": "activity", "from": "2026-01-01", "to": "2027-01-02"},
             "to", "range_too_long")):
        r = p.call("POST", "/api/reports/exports", body)
        assert r.status == 400 and r.code == "validation_failed", (body, r)
        assert r.fields().get(field) == code, (body, r)


def test_exports_by_role_and_tenant(stack, papi, staffed):
    body = {"kind": "projects"}
    for role in ("viewer", "member"):
        r = P(papi, staffed, staffed["as"][role]["token"]).call(
            "POST", "/api/reports/exports", body)
        assert r.status == 403, (role, r)
    manager = P(papi, staffed, staffed["as"]["manager"]["token"])
    r = manager.call("POST", "/api/reports/exports", {"kind": "audit"})
    assert r.status == 403 and r.code == "forbidden", r
    admin = P(papi, staffed, staffed["as"]["admin"]["token"])
    audit = ask(admin, {"kind": "audit"})
    wait_done(admin, audit["id"])
    rows = parse(download(admin, audit["id"]))
    assert rows[0][:4] == ["occurred_at", "source", "seq", "type"]
    assert any(r[3] == "member.joined" for r in rows[1:])
    # A manager can see neither the audit export nor its file.
    for path in (f"/api/reports/exports/{audit['id']}",
                 f"/api/reports/exports/{audit['id']}/download"):
        assert manager.call("GET", path).status == 403
    # Another tenant's export, a made-up id and a malformed one are 404s.
    other = P(papi, new_tenant(papi))
    mine = ask(manager, body)
    for p, eid in ((other, mine["id"]), (manager, str(uuid.uuid4())),
                   (manager, "nope")):
        for path in (f"/api/reports/exports/{eid}",
                     f"/api/reports/exports/{eid}/download"):
            r = p.call("GET", path)
            assert r.status == 404 and r.code == "not_found", (path, r)


def seed_tasks(stack, tenant_id, n):
    """n tasks straight into the read model of a tenant that has none (the
    events would take minutes through the API): what exports read."""
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                    (tenant_id,))
        cur.execute("""
            INSERT INTO reporting.projects (tenant_id, id, name, code, status,
                                            last_activity_at)
            VALUES (%s, gen_random_uuid(), 'Bulk', 'BULK', 'active', now())
            RETURNING id""", (tenant_id,))
        pid = cur.fetchone()[0]
        cur.execute("""
            INSERT INTO reporting.tasks (tenant_id, id, project_id, title,
                                         status, due_date, estimate_hours)
            SELECT %s, gen_random_uuid(), %s, '=row ' || i, 'todo',
                   date '2027-01-01' + (i %% 90), (i %% 40) / 4.0
              FROM generate_series(1, %s) i""", (tenant_id, pid, n))


def test_100000_rows_export_whole(stack, papi):
    t = new_tenant(papi)
    p = P(papi, t)
    seed_tasks(stack, t["id"], 100000)
    e = ask(p, {"kind": "tasks"})
    done = wait_done(p, e["id"], timeout=120)
    assert done["row_count"] == 100000
    rows = parse(download(p, e["id"]))
    assert len(rows) == 100001 and len({r[0] for r in rows[1:]}) == 100000
    assert rows[1][3].startswith("'=row ")


def test_at_most_two_exports_of_a_tenant_run_at_once(stack, papi):
    t = new_tenant(papi)
    p = P(papi, t)
    seed_tasks(stack, t["id"], 60000)
    ids = [ask(p, {"kind": "tasks"})["id"] for _ in range(3)]
    most, queued_while_full = 0, False
    deadline = time.time() + 60
    while time.time() < deadline:
        states = [p.call("GET", f"/api/reports/exports/{i}").body["status"]
                  for i in ids]
        running = states.count("running")
        most = max(most, running)
        queued_while_full |= running == 2 and "queued" in states
        if states.count("done") == 3:
            break
        time.sleep(0.02)
    assert states.count("done") == 3, states
    assert most <= 2
    assert queued_while_full, "never saw a third export wait for a slot"


def cursor_progress(stack, tenant_id, export_id):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                    (tenant_id,))
        cur.execute("SELECT status, row_count FROM reporting.exports"
                    " WHERE id = %s", (export_id,))
        return cur.fetchone()


@contextlib.contextmanager
def reporting_with(stack, **settings):
    """The stack's reporting service replaced by one with `settings` on top
    of its own environment; the stack's own is back after (make up)."""
    pid = stack.pid("reporting")
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not _alive(pid), 15, "reporting to stop")
    env = dict(stack.service_env("reporting"), **settings)
    with open(stack.run_dir / "log" / "reporting.log", "ab") as log:
        proc = subprocess.Popen([str(BIN / "lintel-reporting"), "serve"],
                                env=env, stdout=log, stderr=log)
    try:
        wait_until(lambda: _ready(stack), 15, "reporting to be ready")
        yield proc
    finally:
        proc.kill()
        proc.wait()
        up = subprocess.run(["bash", str(STACK), "up"], env=stack.env,
                            capture_output=True, text=True)
        assert up.returncode == 0, up.stderr


def snapshot_holders(stack):
    """Connections that hold an export's snapshot, of any tenant."""
    with stack.db("reporting") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE"
                    " application_name = 'lintel-reporting-export-snapshot'")
        return cur.fetchone()[0]


def test_kill_9_during_an_export_reruns_it_once(stack, papi):
    t = new_tenant(papi)
    p = P(papi, t)
    seed_tasks(stack, t["id"], 100000)
    # A runner with a short lease, so that the rerun comes soon.
    with reporting_with(stack, LINTEL_JOBS_LEASE_MS="1000") as proc:
        e = ask(p, {"kind": "tasks"})
        wait_until(lambda: cursor_progress(stack, t["id"], e["id"])[1] > 0,
                   30, "the export to be under way")
        proc.kill()
        proc.wait()
        status, rows = cursor_progress(stack, t["id"], e["id"])
        assert status == "running" and 0 < rows < 100000, (status, rows)
    done = wait_done(p, e["id"], timeout=60)
    assert done["row_count"] == 100000
    rows = parse(download(p, e["id"]))
    assert len(rows) == 100001 and len({r[0] for r in rows[1:]}) == 100000
    # The dead attempt's snapshot went with its connection, the rerun's
    # with the export.
    wait_until(lambda: snapshot_holders(stack) == 0, 15,
               "the export's snapshot to be released")


def test_an_export_too_large_fails_and_releases_its_snapshot(stack, papi):
    t = new_tenant(papi)
    p = P(papi, t)
    seed_tasks(stack, t["id"], 50)  # some 7 kB of CSV
    with reporting_with(stack, LINTEL_REPORTING_EXPORT_MAX_BYTES="1024"):
        e = ask(p, {"kind": "tasks"})
        seen = {}

        def failed():
            r = p.call("GET", f"/api/reports/exports/{e['id']}")
            assert r.status == 200, r
            seen["body"] = r.body
            return r.body["status"] == "failed"
        wait_until(failed, 30, "the export to fail")
        assert seen["body"]["error"] == ("the export is larger than the"
                                         " service serves: narrow its"
                                         " filters"), seen
        r = p.call("GET", f"/api/reports/exports/{e['id']}/download")
        assert r.status == 409 and r.code == "conflict", r
        wait_until(lambda: snapshot_holders(stack) == 0, 15,
                   "the export's snapshot to be released")


def _alive(pid):
    import os
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _ready(stack):
    import requests
    try:
        return requests.get(stack.ops_url("reporting", "/readyz"),
                            timeout=1).status_code == 200
    except requests.RequestException:
        return False


def tenant_tasks(cur, tenant_id):
    """The tenant's tasks in the read model, as (id, status), by id."""
    cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_id,))
    cur.execute("SELECT id::text, status FROM reporting.tasks ORDER BY id")
    return cur.fetchall()


def test_an_export_is_one_snapshot_of_the_read_model(stack, papi):
    """Changes committed while an export runs show in none of its chunks:
    every chunk's transaction reads the snapshot taken when the export
    started, and the file holds exactly the rows it counted."""
    t = new_tenant(papi)
    p = P(papi, t)
    seed_tasks(stack, t["id"], 12000)  # three chunks of rows
    with stack.db("migrator") as conn, conn.cursor() as cur:
        before = tenant_tasks(cur, t["id"])
    assert len(before) == 12000
    # Writing the file waits on this lock; the snapshot is taken by then.
    lock = stack.db("migrator")
    watch = stack.db("reporting")
    watch.autocommit = True
    try:
        with lock.cursor() as cur:
            cur.execute("LOCK TABLE reporting.export_chunks IN SHARE MODE")
            cur.execute("SELECT pg_backend_pid()")
            holder = cur.fetchone()[0]
        e = ask(p, {"kind": "tasks"})

        def job_waits():
            with watch.cursor() as w:
                w.execute("SELECT count(*) FROM pg_stat_activity"
                          " WHERE application_name = 'lintel-reporting-jobs'"
                          "   AND wait_event_type = 'Lock'"
                          "   AND %s = ANY(pg_blocking_pids(pid))", (holder,))
                return w.fetchone()[0] > 0
        wait_until(job_waits, 30, "the export's job to wait on the lock")
        assert snapshot_holders(stack) == 1
        # Rows of the last chunk change: one goes, one comes (its id sorts
        # last), one is done; and the first row goes too.
        with stack.db("migrator") as conn, conn.cursor() as cur:
            cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                        (t["id"],))
            cur.execute("DELETE FROM reporting.tasks WHERE id IN (%s, %s)",
                        (before[0][0], before[-1][0]))
            cur.execute("UPDATE reporting.tasks SET status = 'done'"
                        " WHERE id = %s", (before[-2][0],))
            cur.execute("""
                INSERT INTO reporting.tasks (tenant_id, id, project_id, title,
                                             status)
                SELECT tenant_id, 'ffffffff-ffff-4fff-bfff-ffffffffffff',
                       project_id, 'late', 'todo'
                  FROM reporting.tasks WHERE id = %s""", (before[-2][0],))
        lock.commit()
    finally:
        lock.rollback()
        lock.close()
        watch.close()
    done = wait_done(p, e["id"])
    assert done["row_count"] == 12000 and done["progress"] == 100
    rows = parse(download(p, e["id"]))
    assert rows[0] == TASK_HEADER
    assert [(r[0], r[4]) for r in rows[1:]] == before
    # The read model did change: the export is the state before it.
    with stack.db("migrator") as conn, conn.cursor() as cur:
        after = tenant_tasks(cur, t["id"])
    assert len(after) == 11999 and after != before
    wait_until(lambda: snapshot_holders(stack) == 0, 15,
               "the export's snapshot to be released")


def test_an_idempotency_key_asks_for_one_export(papi, staffed):
    p = P(papi, staffed)
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    first = p.call("POST", "/api/reports/exports", {"kind": "projects"},
                   headers=key)
    assert first.status == 202, first
    again = p.call("POST", "/api/reports/exports", {"kind": "projects"},
                   headers=key)
    assert again.status == 202, again
    assert again.body["id"] == first.body["id"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers.get("idempotent-replayed") == "true"
    other = p.call("POST", "/api/reports/exports",
                   {"kind": "projects", "status": "active"}, headers=key)
    assert other.status == 422 and other.code == "idempotency_key_reused"


def test_an_expired_export_is_purged_by_its_own_job(stack, papi):
    """Its file goes when it expires, by the export.purge job enqueued with
    it, not only at the tenant's next export."""
    tenant = new_tenant(papi)
    p = P(papi, tenant)
    p.create_project(name="Purged")
    wait_caught_up(stack, p, tenant["id"])
    e = ask(p, {"kind": "projects", "format": "csv"})
    wait_done(p, e["id"])

    def chunks():
        with stack.db("migrator") as conn, conn.cursor() as cur:
            cur.execute("SELECT set_config('app.tenant_id', %s, false)",
                        (tenant["id"],))
            cur.execute("SELECT count(*) FROM reporting.export_chunks"
                        " WHERE export_id = %s", (e["id"],))
            return cur.fetchone()[0]
    assert chunks() > 0
    # 24 h pass: the export expires, and its purge job falls due.
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, false)",
                    (tenant["id"],))
        cur.execute("SELECT status, run_at > now() + interval '23 hours'"
                    " FROM reporting.jobs WHERE kind = 'export.purge'"
                    " AND payload->>'export_id' = %s", (e["id"],))
        assert cur.fetchall() == [("queued", True)]
        cur.execute("UPDATE reporting.exports SET expires_at = now()"
                    " WHERE id = %s", (e["id"],))
        cur.execute("UPDATE reporting.jobs SET run_at = now()"
                    " WHERE kind = 'export.purge'"
                    " AND payload->>'export_id' = %s", (e["id"],))
    wait_until(lambda: chunks() == 0, 30, "the expired file purged")
    r = p.call("GET", f"/api/reports/exports/{e['id']}")
    assert r.status == 200 and r.body["status"] == "expired", r
    r = p.call("GET", f"/api/reports/exports/{e['id']}/download")
    assert r.status == 410 and r.body["error"]["code"] == "expired", r
