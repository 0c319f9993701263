"""Two instances of the projects service behind one edge upstream, one of
them killed (kill -9) under load: reads move to the other, no write is
applied twice (the database is the witness), and the instance is used
again when it returns, without a reload (issue: edge forwarding without
threads, point 6).

The test runs its own second projects instance and its own nginx, made
from gateway-module/nginx.conf.example with two servers in the projects
upstream, beside the suite's stack (same PostgreSQL, Redis and users).
"""
import collections
import os
import signal
import subprocess
import threading
import uuid

import pytest
import requests

from conftest import BIN, ROOT, SUITE_EDGE_LIMITS, wait_until
from projects_api import new_tenant
from users_api import BASE, EdgeApi

NGINX = "/usr/sbin/nginx"
MODULE = ROOT / "build" / "gateway" / "ngx_http_lintel_module.so"



class Instance:
    """A second lintel-projects, on the suite's projects ports + 10."""

    def __init__(self, stack, log):
        env = stack.service_env("projects")
        rpc = int(stack.env["LINTEL_PROJECTS_RPC_PORT"]) + 10
        ops = int(stack.env["LINTEL_PROJECTS_OPS_PORT"]) + 10
        events = int(stack.env.get("LINTEL_PROJECTS_EVENTS_PORT", "17202")) + 10
        env.update(LINTEL_RPC_URL=f"tcp://127.0.0.1:{rpc}",
                   LINTEL_OPS_URL=f"http://127.0.0.1:{ops}",
                   LINTEL_EVENTS_URL=f"tcp://127.0.0.1:{events}")
        self.env, self.rpc, self.ops, self.log = env, rpc, ops, log
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([str(BIN / "lintel-projects"), "serve"],
                                     env=self.env, stdout=self.log,
                                     stderr=self.log)
        wait_until(self.ready, what="the second projects instance")

    def ready(self):
        try:
            return requests.get(f"http://127.0.0.1:{self.ops}/readyz",
                                timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def requests_served(self):
        text = requests.get(f"http://127.0.0.1:{self.ops}/metrics",
                            timeout=2).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("lintel_requests_total"))

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Edge:
    """An nginx from the example configuration, projects on two servers."""

    def __init__(self, stack, run_dir, second):
        self.dir = run_dir
        (run_dir / "nginx.d").mkdir(parents=True)
        self.port = int(stack.env["LINTEL_HTTP_PORT"]) + 10
        first = f"127.0.0.1:{stack.env['LINTEL_PROJECTS_RPC_PORT']}"
        text = (ROOT / "gateway-module" / "nginx.conf.example").read_text()
        # the projects upstream gets a second server line
        text = text.replace(
            "server @PROJECTS_ADDR@ max_fails=1 fail_timeout=2s;",
            f"server {first} max_fails=1 fail_timeout=1s;\n"
            f"        server 127.0.0.1:{second.rpc} max_fails=1 fail_timeout=1s;")
        assert str(second.rpc) in text
        for k, v in {"@BASE_DOMAIN@": BASE, "@HTTP_PORT@": str(self.port),
                     "@USERS_ADDR@":
                         f"127.0.0.1:{stack.env['LINTEL_USERS_RPC_PORT']}",
                     "@REPORTING_ADDR@":
                         f"127.0.0.1:{stack.env['LINTEL_REPORTING_RPC_PORT']}",
                     "@BILLING_ADDR@":
                         f"127.0.0.1:{stack.env['LINTEL_BILLING_RPC_PORT']}",
                     "@RUN_DIR@": str(run_dir),
                     "@MODULE_PATH@": str(MODULE),
                     "@RPC_SSL@": "on" if stack.tls else "off",
                     "@TLS_DIR@": str(stack.run_dir / "tls"),
                     "@EDGE_CLIENT_TIMEOUT@": "10s",
                     **{"@" + k[len("LINTEL_"):] + "@": v
                        for k, v in SUITE_EDGE_LIMITS.items()}}.items():
            text = text.replace(k, v)
        # workers run as root only because this is a throw-away folder
        self.conf = run_dir / "nginx.conf"
        self.conf.write_text("user root;\n" + text)
        r = subprocess.run([NGINX, "-p", str(run_dir), "-c", str(self.conf)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        self.pid = int((run_dir / "nginx.pid").read_text())

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def error_log(self):
        return (self.dir / "nginx-error.log").read_text()

    def stop(self):
        subprocess.run([NGINX, "-p", str(self.dir), "-c", str(self.conf),
                        "-s", "quit"], capture_output=True)
        wait_until(lambda: not os.path.exists(f"/proc/{self.pid}"),
                   what="nginx to quit")


@pytest.fixture
def two_instances(stack, tmp_path):
    log = open(tmp_path / "projects-2.log", "w")
    second = Instance(stack, log)
    second.start()
    edge = None
    try:
        edge = Edge(stack, tmp_path / "edge", second)
        yield edge, second
    finally:
        if edge:
            edge.stop()
        second.stop()
        log.close()


def test_kill_9_of_one_instance_under_load(stack, two_instances):
    edge, second = two_instances
    api = EdgeApi(stack)
    t = new_tenant(api, unlimited=True)
    host = f"{t['slug']}.{BASE}"
    auth = {"Host": host, "Authorization": f"Bearer {t['token']}"}
    project = requests.post(edge.url("/api/projects"),
                            json={"name": "Tower", "code": "P-READ"},
                            headers=auth, timeout=10).json()
    stop = threading.Event()
    gets = collections.Counter()
    posts = []                       # (status, code)
    lock = threading.Lock()

    def reads():
        s = requests.Session()
        while not stop.is_set():
            r = s.get(edge.url(f"/api/projects/{project['id']}"),
                      headers=auth, timeout=10)
            with lock:
                gets[r.status_code] += 1

    def writes():
        s = requests.Session()
        while not stop.is_set():
            code = f"P-{uuid.uuid4().hex[:10]}"
            r = s.post(edge.url("/api/projects"),
                       json={"name": "Load", "code": code},
                       headers=auth, timeout=10)
            with lock:
                posts.append((r.status_code, code))

    threads = [threading.Thread(target=reads) for _ in range(4)]
    threads += [threading.Thread(target=writes) for _ in range(2)]
    for th in threads:
        th.start()
    try:
        wait_until(lambda: second.requests_served() > 50, what="load on both")
        second.kill()
        mark = gets[200]
        wait_until(lambda: gets[200] > mark + 300, what="reads after the kill")
        # the killed instance returns on its port: used again, no reload
        before = 0.0
        second.start()
        wait_until(lambda: second.requests_served() > before + 20,
                   what="traffic on the returned instance")
    finally:
        stop.set()
        for th in threads:
            th.join()

    # reads went on through the other instance: not one failed
    assert set(gets) == {200}, gets
    assert "signal 1 (SIGHUP)" not in edge.error_log()

    # writes: applied once or not at all, never twice
    with stack.db("projects") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, false)", (t["id"],))
        cur.execute("SELECT code, count(*) FROM projects.projects "
                    "WHERE code LIKE 'P-%%' GROUP BY code")
        stored = dict(cur.fetchall())
    assert max(stored.values()) == 1, stored
    for status, code in posts:
        assert status in (201, 502, 503), (status, code)
        if status == 201:
            assert stored.get(code) == 1, code
