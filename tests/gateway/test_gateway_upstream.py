"""The forward as an nginx upstream speaking NNG's SP wire (DESIGN §4 step
3): streaming in both directions, broken replies, keepalive reuse, restarts
and failover between instances of a service.  The service on the other side
is lintel-test-service, a real NNG REP socket.
"""

import collections
import concurrent.futures
import os
import threading
import time

import requests

from gateway_stack import BASE, assert_error, make_token

MIB = 1024 * 1024
PATTERN = bytes(range(256))


def pattern(n):
    return (PATTERN * (n // 256 + 1))[:n]


def fnv(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def worker_pids(gw):
    out = os.popen("pgrep -P %d" % gw.proc.pid).read().split()
    return [int(p) for p in out]


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def wait_until(cond, timeout=15.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def test_a_reply_is_passed_on_byte_for_byte(gw, token):
    r = gw.get("/big/300001", token=token)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.content == pattern(300001)


def test_an_empty_reply_body(gw, token):
    r = gw.get("/big/0", token=token)
    assert r.status_code == 200
    assert r.content == b""


def test_a_reply_over_lintel_max_reply_size_is_502(gw, token):
    # the default, 8m (a larger body comes as a continued reply)
    r = gw.get("/big/%d" % (9 * MIB), token=token)
    assert_error(r, 502, "bad_gateway")
    # the connection was dropped, not reused half-read: the next one works
    assert gw.get("/echo", token=token).status_code == 200
    assert "reply too large" in gw.error_log()


def test_a_body_that_is_not_the_last_field_is_502(gw, token):
    assert_error(gw.get("/raw/body-not-last", token=token), 502,
                 "bad_gateway")


def test_a_status_out_of_range_is_502(gw, token):
    assert_error(gw.get("/raw/bad-status", token=token), 502, "bad_gateway")


def test_a_head_larger_than_lintel_buffer_size_is_502(gw, token):
    assert_error(gw.get("/raw/huge-head", token=token), 502, "bad_gateway")
    assert gw.get("/echo", token=token).status_code == 200


def test_a_large_request_body_is_sent_from_its_temporary_file(gw):
    body = os.urandom(3 * MIB + 17)
    r = gw.request("POST", "/open/echo", data=body,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    echo = r.json()
    assert echo["body_len"] == len(body)
    assert echo["body_fnv"] == fnv(body)


def test_a_request_over_the_services_recvmaxsz_is_502_not_a_hang(own_stack,
                                                                  keys):
    g, _, _ = own_stack(app_args=["--max-recv", "4096"])
    started = time.time()
    r = g.request("POST", "/open/echo", data=b"x" * 20000,
                  headers={"Content-Type": "application/json"})
    assert_error(r, 502, "bad_gateway")
    assert time.time() - started < 3
    # a small one still goes through on a new connection
    r = g.request("POST", "/open/echo", data=b"{}",
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 200


def test_keepalive_connections_are_reused(own_stack, keys):
    g, _, app = own_stack(split=True)
    token = make_token(keys["main"])
    concurrency = 8

    def run(n):
        s = requests.Session()
        codes = collections.Counter()
        for _ in range(n):
            r = s.get(g.base_url + "/echo",
                      headers={"Host": "acme." + BASE,
                               "Authorization": "Bearer " + token},
                      timeout=10)
            codes[r.status_code] += 1
        return codes

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(run, [1250] * concurrency))
    total = sum(results, collections.Counter())
    assert total == {200: 10000}, total
    stats = g.get("/stats", token=token).json()
    # keepalive 16 per worker, 8 requests at a time: every connection a
    # worker opened was reused; a handshake sent again on a reused one
    # would have been a broken message and closed the pipe
    assert stats["pipes_opened"] <= 16 + concurrency, stats
    assert stats["edge_calls"] >= 10000


class Load:
    """Threads that send one request after another on their own keepalive
    connection until stopped; every answer's status and X-Request-Id is
    kept, in order, under a lock."""

    def __init__(self, g, token):
        self.g, self.token = g, token
        self.stop = threading.Event()
        self.answers = []          # (method, status, request id)
        self.lock = threading.Lock()
        self.threads = []

    def start(self, method, n):
        def run():
            s = requests.Session()
            while not self.stop.is_set():
                r = s.request(method, self.g.base_url + "/echo",
                              data="{}" if method != "GET" else None,
                              headers={"Host": "acme." + BASE,
                                       "Authorization": "Bearer " + self.token,
                                       "Content-Type": "application/json"},
                              timeout=10)
                with self.lock:
                    self.answers.append((method, r.status_code,
                                         r.headers["X-Request-Id"]))
        for _ in range(n):
            t = threading.Thread(target=run)
            t.start()
            self.threads.append(t)
        return self

    def count(self, method, status=None):
        with self.lock:
            return sum(1 for m, st, _ in self.answers
                       if m == method and status in (None, st))

    def statuses(self, method):
        with self.lock:
            return collections.Counter(st for m, st, _ in self.answers
                                       if m == method)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()


def test_a_service_restart_under_load_heals_without_a_reload(own_stack,
                                                             keys):
    g, _, app = own_stack(split=True)
    token = make_token(keys["main"])
    load = Load(g, token).start("GET", 4)
    try:
        wait_until(lambda: load.count("GET", 200) > 200, what="load")
        app.stop()
        app.start()
        # after the restart every request succeeds again, through the
        # same nginx master and workers (no reload)
        wait_until(lambda: g.get("/echo", token=token).status_code == 200,
                   what="the service to answer again")
        mark = load.count("GET", 200)
        wait_until(lambda: load.count("GET", 200) > mark + 200,
                   what="more load")
        before_bad = load.count("GET") - load.count("GET", 200)
        mark = load.count("GET", 200)
        wait_until(lambda: load.count("GET", 200) > mark + 200,
                   what="load after the heal")
        after_bad = load.count("GET") - load.count("GET", 200)
    finally:
        load.finish()
    codes = load.statuses("GET")
    assert after_bad == before_bad, codes
    assert set(codes) <= {200, 502, 503}, codes
    assert "signal 1 (SIGHUP)" not in g.error_log()


def calls(log):
    """(pid, method, request id) of every edge call the services logged."""
    if not os.path.exists(log):
        return []
    with open(log) as f:
        return [tuple(line.split()) for line in f if line.strip()]


def test_failover_between_two_instances(own_stack, keys, tmp_path):
    log = str(tmp_path / "calls.log")
    g, _, apps = own_stack(apps=2, app_args=["--call-log", log])
    token = make_token(keys["main"])
    load = Load(g, token).start("GET", 4).start("POST", 2)
    try:
        wait_until(lambda: load.count("GET", 200) > 300
                   and load.count("POST") > 100, what="load")
        apps[0].kill()
        mark = load.count("GET", 200)
        wait_until(lambda: load.count("GET", 200) > mark + 500,
                   what="load after kill")
        # the killed instance comes back on its port: picked up, no reload
        apps[0].start()
        wait_until(lambda: g.get("/stats", token=token).json().get("pid")
                   == apps[0].proc.pid,
                   timeout=20, what="the returned instance to get traffic")
    finally:
        load.finish()

    # GETs move to the other instance: not one failed
    assert set(load.statuses("GET")) == {200}, load.statuses("GET")
    # a POST is never sent to a second server: each request id reached a
    # service at most once, and every POST answered 200 exactly once
    applied = collections.Counter(rid for _, m, rid in calls(log)
                                  if m == "POST")
    assert max(applied.values()) == 1
    for method, status, rid in load.answers:
        if method != "POST":
            continue
        assert status in (200, 502, 503), status
        if status == 200:
            assert applied[rid] == 1, rid


def in_flight_on_a_killed_instance(own_stack, keys, tmp_path, method):
    """Sends one slow request, kills -9 the instance that got it while it
    works, and returns the answer and how often the request reached a
    service."""
    log = str(tmp_path / "calls.log")
    g, _, apps = own_stack(apps=2, app_args=["--call-log", log])
    token = make_token(keys["main"])
    answer = {}

    def send():
        answer["r"] = g.request(method, "/open/delay/3000", token=token,
                                data="{}" if method != "GET" else None,
                                headers={"Content-Type": "application/json"})

    t = threading.Thread(target=send)
    t.start()
    wait_until(lambda: any(c[1] == method for c in calls(log)),
               what="the request to reach an instance")
    pid = int([c for c in calls(log) if c[1] == method][0][0])
    victim = [a for a in apps if a.proc.pid == pid][0]
    victim.kill()
    t.join()
    r = answer["r"]
    return r, [c for c in calls(log) if c[2] == r.headers["X-Request-Id"]]


def test_a_get_in_flight_on_a_killed_instance_moves_to_the_other(
        own_stack, keys, tmp_path):
    r, reached = in_flight_on_a_killed_instance(own_stack, keys, tmp_path,
                                                "GET")
    assert r.status_code == 200, r.text
    assert len(reached) == 2 and reached[0][0] != reached[1][0], reached


def test_writes_in_flight_on_a_killed_instance_are_never_sent_again(
        own_stack, keys, tmp_path):
    for method in ("POST", "PATCH", "DELETE"):
        (tmp_path / method).mkdir()
        r, reached = in_flight_on_a_killed_instance(own_stack, keys,
                                                    tmp_path / method, method)
        assert_error(r, 502, "bad_gateway")
        assert len(reached) == 1, (method, reached)
