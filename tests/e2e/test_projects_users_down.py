"""An assignee is checked with users.GetUser; while the users service is
down that check cannot be made, and the request fails with 503 instead of
accepting an assignee nobody checked."""
import os
import subprocess
import time

from conftest import STACK
from projects_api import P, papi, tenant  # noqa: F401 (fixtures)


def past_the_edge(call):
    """Each nginx worker caches tenants on its own: with the users service
    down, a worker that has not seen this tenant yet answers 503 itself.
    Retries (new connections) until a worker that knows it answers."""
    for _ in range(50):
        r = call()
        if r.status != 503 or "tenant" not in r.body["error"]["message"]:
            return r
    raise AssertionError(f"the edge never resolved the tenant: {r}")


def test_assignee_check_with_users_down_is_503(stack, papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project()
    task = p.create_task(proj["id"])
    for _ in range(20):  # warm the tenant caches of the edge's workers
        p.call("GET", f"/api/projects/{proj['id']}")
    pid = stack.pid("users")
    os.kill(pid, 15)
    try:
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        r = past_the_edge(lambda: p.call(
            "POST", f"/api/projects/{proj['id']}/tasks",
            {"title": "T", "assignee_id": tenant["user_id"]}))
        assert r.status == 503 and r.code == "service_unavailable", r
        assert "assignee" in r.body["error"]["message"]
        assert r.headers.get("retry-after")
        r = past_the_edge(lambda: p.call(
            "PATCH", f"/api/tasks/{task['id']}",
            {"assignee_id": tenant["user_id"]}, headers={"If-Match": '"1"'}))
        assert r.status == 503, r
        r = past_the_edge(lambda: p.call("GET", f"/api/tasks/{task['id']}"))
        assert r.body == task
        # Without an assignee there is nothing to check.
        r = past_the_edge(lambda: p.call(
            "POST", f"/api/projects/{proj['id']}/tasks", {"title": "Free"}))
        assert r.status == 201, r
    finally:
        up = subprocess.run(["bash", str(STACK), "up"], env=stack.env,
                            capture_output=True, text=True)
        assert up.returncode == 0, up.stderr
    # Back: the client reconnects on its own (within its dialer's backoff).
    deadline = time.time() + 10
    while True:
        r = p.call("POST", f"/api/projects/{proj['id']}/tasks",
                   {"title": "T", "assignee_id": tenant["user_id"]})
        if r.status != 503 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert r.status == 201, r
