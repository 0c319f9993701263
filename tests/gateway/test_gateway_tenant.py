"""Tenant resolution from Host (DESIGN §4 step 1)."""

import concurrent.futures
import time

from gateway_stack import BASE, TENANTS, assert_error, make_token


def stats(gw, token):
    return gw.get("/stats", token=token).json()


def test_tenant_from_host(gw, token):
    env = gw.get("/echo", token=token).json()
    assert env["tenant"] == {"id": TENANTS["acme"]["id"], "slug": "acme"}


def test_host_with_port_and_upper_case(gw, token):
    r = gw.get("/echo", token=token, host="ACME.Example.Test:8080")
    assert r.status_code == 200, r.text
    assert r.json()["tenant"]["slug"] == "acme"


def test_apex_is_platform_scope(gw):
    r = gw.get("/open/echo", host=BASE)
    assert r.status_code == 200
    assert r.json()["tenant"] is None


def test_unknown_tenant(gw, token):
    assert_error(gw.get("/open/echo", host="nobody." + BASE), 404,
                 "unknown_tenant")
    assert_error(gw.get("/echo", token=token, host="nobody." + BASE), 404,
                 "unknown_tenant")


def test_suspended_tenant(gw, keys):
    t = make_token(keys["main"], tenant="frozen")
    assert_error(gw.get("/echo", token=t, host="frozen." + BASE), 403,
                 "tenant_suspended")


def test_host_outside_the_base_domain(gw):
    for host in ("evil.test", "acme.example.test.evil.test", "xexample.test",
                 "a.acme.example.test", "-x-.example.test", "127.0.0.1"):
        r = gw.get("/open/echo", host=host)
        assert r.status_code == 404, (host, r.status_code)
        assert r.json()["error"]["request_id"] == r.headers["X-Request-Id"]


def test_burst_for_a_cold_tenant_costs_one_lookup(gw, keys):
    token = make_token(keys["main"], tenant="cold")
    before = stats(gw, make_token(keys["main"])).get("resolve_by_slug", {})
    before = before.get("cold", 0)

    def one(_):
        return gw.get("/echo", token=token, host="cold." + BASE).status_code

    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(one, range(40)))
    assert codes == [200] * 40
    after = stats(gw, make_token(keys["main"]))["resolve_by_slug"]["cold"]
    # one ResolveTenant for the whole nginx: the workers share the entry
    assert after - before == 1, (before, after)


def test_negative_answers_are_cached(gw):
    token_host = "ghost." + BASE
    for _ in range(10):
        assert_error(gw.get("/open/echo", host=token_host), 404,
                     "unknown_tenant")
    s = gw.get("/open/stats").json()
    assert s["resolve_by_slug"]["ghost"] == 1


def test_stale_entry_served_while_users_service_is_down(own_stack, keys):
    g, users, app = own_stack(tenant_ttl="1s", split=True)
    token = make_token(keys["main"])
    for _ in range(4):   # warm both workers' caches and key sets
        assert g.get("/echo", token=token).status_code == 200
    users.stop()
    time.sleep(1.5)      # the entries are stale now
    for _ in range(6):
        r = g.get("/echo", token=token)
        assert r.status_code == 200, r.text


def test_cold_tenant_with_users_service_down_is_503(own_stack, keys):
    g, users, _ = own_stack(split=True)
    users.stop()
    r = g.get("/open/echo", host="beta." + BASE)
    assert_error(r, 503, "service_unavailable")
    assert r.headers["Retry-After"]


def test_a_tenant_in_use_is_refreshed_ahead_of_expiry(own_stack, keys):
    # ResolveTenant takes 1 s for this tenant, well inside a 5 s
    # lintel_lookup_timeout; the entry lives 12 s and is refreshed in its
    # last quarter (from 9 s), in the background
    g, users, _ = own_stack(tenant_ttl="12s", lookup_timeout="5s")
    users.config["tenants"].append({"slug": "slowpoke", "status": "active",
                                    "id": "0b9f7d3e-5555-4c3a-9a51-slow00000005",
                                    "delay_ms": 1000})
    users.write_config()
    token = make_token(keys["main"], tenant="0b9f7d3e-5555-4c3a-9a51-slow00000005")
    host = "slowpoke." + BASE
    started = time.time()
    assert g.get("/echo", token=token, host=host).status_code == 200
    assert time.time() - started >= 1.0      # the cold lookup was waited for
    slowest = 0.0
    while time.time() - started < 14:       # past one expiry and refresh
        t0 = time.time()
        assert g.get("/echo", token=token, host=host).status_code == 200
        slowest = max(slowest, time.time() - t0)
        time.sleep(0.1)
    # no request waited for a lookup again...
    assert slowest < 0.8, slowest
    # ...although the entry was looked up again
    calls = g.get("/open/stats").json()["resolve_by_slug"]["slowpoke"]
    assert calls >= 2, calls


def test_a_suspension_is_seen_by_every_worker_at_once(own_stack, keys):
    g, users, _ = own_stack(tenant_ttl="1s", split=True)
    token = make_token(keys["main"])
    for _ in range(10):
        assert g.get("/echo", token=token).status_code == 200
    for t in users.config["tenants"]:
        if t["slug"] == "acme":
            t["status"] = "suspended"
    users.write_config()
    deadline = time.time() + 10
    while g.get("/echo", token=token).status_code != 403:
        assert time.time() < deadline, "the suspension never showed"
        time.sleep(0.05)
    # one cache for all workers: no worker still holds the active tenant
    for _ in range(40):
        assert_error(g.get("/echo", token=token), 403, "tenant_suspended")
