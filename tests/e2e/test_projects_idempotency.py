"""Idempotency-Key on POST: a repeat replays the first response, another
body with the same key is a 422, a repeat while the first still runs is a
409; keys are scoped per tenant, user and route."""
import threading
import time
import uuid

from projects_api import P, new_tenant, papi, tenant  # noqa: F401 (fixtures)


def count_projects(p):
    return len(p.list_all("/api/projects"))


def test_a_repeat_replays_the_first_response(papi, tenant):
    p = P(papi, tenant)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "Once", "code": "ONCE-1"}
    first = p.call("POST", "/api/projects", body, headers=key)
    assert first.status == 201, first
    again = p.call("POST", "/api/projects", body, headers=key)
    assert again.status == 201 and again.body == first.body
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == first.headers["location"] == \
        f"/api/projects/{first.body['id']}"
    assert count_projects(p) == 1
    # The same key with another body is a misuse.
    r = p.call("POST", "/api/projects", {"name": "Twice", "code": "ONCE-2"},
               headers=key)
    assert r.status == 422 and r.code == "idempotency_key_reused"
    assert count_projects(p) == 1


def test_a_replayed_task_create_keeps_its_location(papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    path = f"/api/projects/{proj['id']}/tasks"
    first = p.call("POST", path, {"title": "Once"}, headers=key)
    assert first.status == 201, first
    again = p.call("POST", path, {"title": "Once"}, headers=key)
    assert again.status == 201 and again.body == first.body
    assert again.headers["location"] == first.headers["location"] == \
        f"/api/tasks/{first.body['id']}"


def test_keys_are_scoped_per_user_and_route(papi, tenant):
    p = P(papi, tenant)
    key = {"Idempotency-Key": "same-key"}
    proj = p.call("POST", "/api/projects", {"name": "A", "code": "A-1"},
                  headers=key).body
    # The same key on another route is another key.
    r = p.call("POST", f"/api/projects/{proj['id']}/tasks", {"title": "T"},
               headers=key)
    assert r.status == 201
    r2 = p.call("POST", f"/api/projects/{proj['id']}/tasks", {"title": "T"},
                headers=key)
    assert r2.status == 201 and r2.body == r.body
    assert len(p.list_all(f"/api/projects/{proj['id']}/tasks")) == 1
    # Another tenant's user with the same key is another key.
    other = P(papi, new_tenant(papi))
    r = other.call("POST", "/api/projects", {"name": "A", "code": "A-1"},
                   headers=key)
    assert r.status == 201 and r.body["id"] != proj["id"]


def test_bad_keys_are_400(papi, tenant):
    p = P(papi, tenant)
    for key in ("x" * 256, ""):
        r = p.call("POST", "/api/projects", {"name": "A", "code": "A-2"},
                   headers={"Idempotency-Key": key})
        assert r.status == 400, (key, r)
    assert count_projects(p) == 0
    r = p.call("POST", "/api/projects", {"name": "A", "code": "A-2"},
               headers={"Idempotency-Key": "k" * 255})
    assert r.status == 201


def test_a_failed_request_does_not_keep_its_key(papi, tenant):
    p = P(papi, tenant)
    p.create_project(code="TAKEN")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    r = p.call("POST", "/api/projects", {"name": "B", "code": "TAKEN"},
               headers=key)
    assert r.status == 409
    r = p.call("POST", "/api/projects", {"name": "B", "code": "FREE"},
               headers=key)
    assert r.status == 201, r


def test_a_repeat_while_the_first_runs_is_409(stack, papi, tenant):
    p = P(papi, tenant)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "Slow", "code": "SLOW-1"}
    # Hold the outbox counter: the first request claims its key, then waits
    # to write its event.
    conn = stack.db("projects")
    cur = conn.cursor()
    cur.execute("SELECT seq FROM projects.event_counter FOR UPDATE")
    results = {}
    t = threading.Thread(target=lambda: results.setdefault(
        "first", p.call("POST", "/api/projects", body, headers=key)))
    t.start()
    try:
        watch = stack.db("projects")
        watch.autocommit = True
        deadline = time.time() + 5
        with watch.cursor() as w:  # until the first request waits
            while time.time() < deadline:
                w.execute("SELECT count(*) FROM pg_stat_activity"
                          " WHERE wait_event_type = 'Lock'"
                          "   AND usename = 'lintel_projects'")
                if w.fetchone()[0] > 0:
                    break
                time.sleep(0.02)
        watch.close()
        r = p.call("POST", "/api/projects", body, headers=key)
        assert r.status == 409 and r.code == "conflict", r
    finally:
        conn.rollback()
        conn.close()
        t.join()
    assert results["first"].status == 201
    r = p.call("POST", "/api/projects", body, headers=key)
    assert r.status == 201 and r.body == results["first"].body
    assert count_projects(p) == 1


def _keys(stack, tenant_id):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                    (tenant_id,))
        cur.execute("SELECT key FROM projects.idempotency_keys ORDER BY key")
        return [r[0] for r in cur.fetchall()]


def _old_key(stack, tenant_id, user_id, key):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                    (tenant_id,))
        cur.execute(
            "INSERT INTO projects.idempotency_keys (tenant_id, user_id,"
            " route, key, request_hash, state, created_at) VALUES"
            " (%s, %s, 'POST /api/projects', %s, repeat('0', 64), 'done',"
            " now() - interval '25 hours')", (tenant_id, user_id, key))


def test_expired_keys_are_purged_per_tenant(stack, papi, tenant):
    other = new_tenant(papi)
    _old_key(stack, tenant["id"], tenant["user_id"], "expired-1")
    _old_key(stack, tenant["id"], tenant["user_id"], "expired-2")
    _old_key(stack, other["id"], other["user_id"], "expired-other")
    p = P(papi, tenant)
    r = p.call("POST", "/api/projects", {"name": "New", "code": "NEW-1"},
               headers={"Idempotency-Key": "fresh"})
    assert r.status == 201, r
    # This tenant's expired keys went with its new claim; the other
    # tenant's are its own business, purged by its own next claim.
    assert _keys(stack, tenant["id"]) == ["fresh"]
    assert _keys(stack, other["id"]) == ["expired-other"]


def test_a_bad_body_is_refused_before_any_key_is_claimed(stack, papi, tenant):
    p = P(papi, tenant)
    for body in ({"name": "No code"}, {"name": "X", "code": "BAD CODE"},
                 {"name": "X", "code": "DATES", "start_date": "2027-02-01",
                  "end_date": "2027-01-01"}):
        r = p.call("POST", "/api/projects", body,
                   headers={"Idempotency-Key": "bad-body"})
        assert r.status == 400, r
    assert _keys(stack, tenant["id"]) == []
    # The key is still free for the corrected request.
    r = p.call("POST", "/api/projects", {"name": "X", "code": "GOOD"},
               headers={"Idempotency-Key": "bad-body"})
    assert r.status == 201, r
    assert _keys(stack, tenant["id"]) == ["bad-body"]
