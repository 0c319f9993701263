"""make bench, reporting part (tests/bench/reporting.sh): the dashboard's
freshness under a write load through the edge.

Writer threads PATCH tasks at `rate` changes/s in all (each thread paces
its share); meanwhile one more thread, again and again, sets the marker
project's budget (the tenant's only project in JPY) to a new value and,
from the PATCH's answer on, reads GET /api/reports/dashboard until its JPY
total shows that value: that wait is one lag sample. Prints one line:
"<writes/s achieved> <write errors> <samples> <p50 ms> <p95 ms> <max ms>".

    freshness.py <http-port> <host> <token> <marker-id> <tasks-file>
                 <rate> <seconds>
"""
import http.client
import json
import sys
import threading
import time

WRITERS = 8


def connect(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def call(conn, method, path, headers, body=None):
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers=headers)
    r = conn.getresponse()
    return r.status, r.read(), r.getheader("ETag")


class Versions:
    """PATCH under If-Match with each resource's current ETag (the first
    from a GET, then each answer's): a writer owns its resources, so its
    changes never meet a 412."""

    def __init__(self, conn, headers):
        self.conn, self.headers, self.etags = conn, headers, {}

    def patch(self, path, body):
        if path not in self.etags:
            status, raw, etag = call(self.conn, "GET", path, self.headers)
            if status != 200:
                return status, raw
            self.etags[path] = etag
        status, raw, etag = call(self.conn, "PATCH", path,
                                 dict(self.headers, **{"If-Match": self.etags[path]}),
                                 body)
        if status == 200:
            self.etags[path] = etag
        else:
            self.etags.pop(path)
        return status, raw


def writer(w, port, headers, tasks, rate, stop, done):
    versions = Versions(connect(port), headers)
    interval = WRITERS / rate
    at = time.monotonic()
    i = w
    while True:
        now = time.monotonic()
        if now >= stop:
            break
        if at > now:
            time.sleep(at - now)
        at += interval
        status, _ = versions.patch(f"/api/tasks/{tasks[i % len(tasks)]}",
                                   {"title": f"Bench change {i}"})
        done[w][0 if status == 200 else 1] += 1
        i += WRITERS


def jpy_total(body):
    for b in json.loads(body)["budget_by_currency"]:
        if b["currency"] == "JPY":
            return b["budget_cents"]
    return None


def marker(port, headers, project, stop, lags, failed):
    conn = connect(port)
    versions = Versions(conn, headers)
    value = 0
    while time.monotonic() < stop:
        value += 1
        status, body = versions.patch(f"/api/projects/{project}",
                                      {"budget_cents": value})
        if status != 200:
            failed.append(f"marker PATCH answered {status}: {body!r}")
            return
        t0 = time.monotonic()
        while True:
            status, body, _ = call(conn, "GET", "/api/reports/dashboard", headers)
            if status != 200:
                failed.append(f"dashboard answered {status}")
                return
            if jpy_total(body) == value:
                break
            if time.monotonic() - t0 > 30:
                failed.append("a change not shown in 30 s")
                return
            time.sleep(0.005)
        lags.append((time.monotonic() - t0) * 1000)
        time.sleep(0.05)


def main():
    port, host, token, project, tasks_file = sys.argv[1:6]
    rate, seconds = float(sys.argv[6]), float(sys.argv[7])
    tasks = open(tasks_file).read().split()
    headers = {"Host": host, "Authorization": f"Bearer {token}",
               "Content-Type": "application/json"}
    stop = time.monotonic() + seconds
    done = [[0, 0] for _ in range(WRITERS)]
    lags, failed = [], []
    threads = [threading.Thread(target=writer, args=(w, int(port), headers,
                                                     tasks, rate, stop, done))
               for w in range(WRITERS)]
    threads.append(threading.Thread(target=marker, args=(
        int(port), headers, project, stop, lags, failed)))
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    if failed:
        raise SystemExit(f"freshness: {failed[0]}")
    lags.sort()
    if not lags:
        raise SystemExit("freshness: no lag sample")
    pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
    ok = sum(d[0] for d in done)
    bad = sum(d[1] for d in done)
    print(f"{ok / took:.0f} {bad} {len(lags)} {pick(0.5):.0f} {pick(0.95):.0f}"
          f" {lags[-1]:.0f}")


if __name__ == "__main__":
    main()
