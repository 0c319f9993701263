"""GET /api/health on the apex: every service's readiness in one answer,
as a monitor (or anyone) sees it: "up" or "down" per service and nothing
else. The tests that stop a service stop it in the suite's own stack and
start it again (stack.sh up) whatever happens."""
import os
import signal
import subprocess
import time

from conftest import STACK, wait_until

ALL_UP = {"status": "ok", "services": {"users": "up", "projects": "up",
                                       "reporting": "up", "billing": "up"}}


def health(api):
    return api.call("GET", "/api/health")


def test_all_up_is_200_and_says_nothing_more(api):
    r = health(api)
    assert r.status == 200, r
    assert r.body == ALL_UP
    assert r.headers["cache-control"] == "no-store"


def test_health_is_served_on_the_apex_only(api, tenant):
    r = api.call("GET", "/api/health", tenant=tenant["slug"])
    assert r.status == 404 and r.code == "not_found", r


def restart(stack):
    up = subprocess.run(["bash", str(STACK), "up"], env=stack.env,
                        capture_output=True, text=True)
    assert up.returncode == 0, up.stderr


def test_a_stopped_service_is_named_and_the_answer_is_503(stack, api):
    pid = stack.pid("reporting")
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: subprocess.run(["kill", "-0", str(pid)],
                                          capture_output=True).returncode != 0,
                   15, "reporting to exit")
        r = health(api)
        assert r.status == 503, r
        assert r.body == {"status": "degraded", "services": {
            "users": "up", "projects": "up", "reporting": "down",
            "billing": "up"}}
        assert int(r.headers["retry-after"]) > 0
    finally:
        restart(stack)
    wait_until(lambda: health(api).status == 200, 15, "health to be ok again")
    assert health(api).body == ALL_UP


def test_a_hung_service_costs_its_deadline_not_the_answer(stack, api):
    pid = stack.pid("projects")
    os.kill(pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        r = health(api)
        took = time.monotonic() - start
        assert r.status == 503, r
        assert r.body["services"]["projects"] == "down"
        assert r.body["services"]["reporting"] == "up"
        # users asks projects with its 300 ms deadline, not the edge's 5 s
        assert took < 2, took
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: health(api).status == 200, 15, "health to be ok again")
