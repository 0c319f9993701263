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
    return r.status, r.read()


def writer(w, port, headers, tasks, rate, stop, done):
    conn = connect(port)
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
        status, _ = call(conn, "PATCH", f"/api/tasks/{tasks[i % len(tasks)]}",
                         headers, {"title": f"Bench change {i}"})
        done[w][0 if status == 200 else 1] += 1
        i += WRITERS


def jpy_total(body):
    for b in json.loads(body)["budget_by_currency"]:
        if b["currency"] == "JPY":
            return b["budget_cents"]
    return None


def marker(port, headers, project, stop, lags):
    conn = connect(port)
    value = 0
    while time.monotonic() < stop:
        value += 1
        status, body = call(conn, "PATCH", f"/api/projects/{project}",
                            headers, {"budget_cents": value})
        if status != 200:
            raise SystemExit(f"freshness: marker PATCH answered {status}: {body!r}")
        t0 = time.monotonic()
        while True:
            status, body = call(conn, "GET", "/api/reports/dashboard", headers)
            if status != 200:
                raise SystemExit(f"freshness: dashboard answered {status}")
            if jpy_total(body) == value:
                break
            if time.monotonic() - t0 > 30:
                raise SystemExit("freshness: a change not shown in 30 s")
            time.sleep(0.005)
        lags.append((time.monotonic() - t0) * 1000)
        time.sleep(0.05)


def main():
    port, host, token, project, tasks_file = sys.argv[1:6]
    rate, seconds = float(sys.argv[6]), float(sys.argv[7])
    tasks = open(tasks_file).read().split()
    headers = {"Host": host, "Authorization": f"Bearer {token}",
               "Content-Type": "application/json", "If-Match": "*"}
    stop = time.monotonic() + seconds
    done = [[0, 0] for _ in range(WRITERS)]
    lags = []
    threads = [threading.Thread(target=writer, args=(w, int(port), headers,
                                                     tasks, rate, stop, done))
               for w in range(WRITERS)]
    threads.append(threading.Thread(target=marker, args=(
        int(port), headers, project, stop, lags)))
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
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
