"""`make rollout SERVICE=projects` on a running stack, under load (issue 14,
point 6): the new build starts on the service's other ports, the edge's
`upstream projects` is switched over to it with `nginx -s reload`, the old
instance is drained and stopped. Under load there is not one failed
request and not one lost write, and nothing else restarts.

The load is Debian's wrk with tests/e2e/rollout_load.lua: 2 threads, 4
connections, one POST /api/projects in four requests and GETs (a list, a
project) for the rest, each connection pausing 2 ms between requests so
that the load stays modest on a shared machine. The script counts every
request sent and every status and keeps the code of every project
created; wrk itself counts socket errors.

Every request says "Connection: close". A graceful nginx reload closes the
client connections that sit idle in keep-alive, as nginx always does; an
HTTP client reconnects, but wrk counts each such close as a read error
even when no request was on the connection, so it could not tell them
from a failed request. With one connection per request, every error wrk
counts is a real failure, and there must be none.

The rollout runs twice — to the ports + 10 and back — so that a second
rollout is shown to work and the suite's stack ends on its own ports for
the tests after this one. (With reporting built, which dials projects on
its configured port, each rollout moves there and back by itself.)
"""
import json
import os
import re
import signal
import subprocess
import uuid

import pytest
import requests

from conftest import ROOT, STACK, wait_until
from projects_api import new_tenant
from users_api import BASE, EdgeApi

WRK = "/usr/bin/wrk"
LOAD = ROOT / "tests" / "e2e" / "rollout_load.lua"



def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def listening(stack, service):
    """The ports the running instance of `service` listens on."""
    env = stack.service_env(service)
    return {k: int(re.search(r":(\d+)$", env[k]).group(1))
            for k in ("LINTEL_RPC_URL", "LINTEL_OPS_URL",
                      "LINTEL_EVENTS_URL") if k in env}


def served(ops_port):
    """The requests an instance has answered (its /metrics)."""
    text = requests.get(f"http://127.0.0.1:{ops_port}/metrics",
                        timeout=2).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("lintel_requests_total"))


def upstream_servers(stack, name):
    text = (stack.run_dir / "nginx" / "nginx.conf").read_text()
    block = re.search(r"upstream %s \{(.*?)\}" % name, text, re.S).group(1)
    return re.findall(r"^\s*server\s+(\S+?);?\s", block, re.M)


def nginx_master(stack):
    return int((stack.run_dir / "nginx" / "nginx.pid").read_text())


class Load:
    """wrk with rollout_load.lua, until stop()."""

    def __init__(self, stack, tenant, project_id, prefix, out):
        self.out = out
        self.log = open(str(out) + ".stdout", "w")
        port = stack.env["LINTEL_HTTP_PORT"]
        self.proc = subprocess.Popen(
            [WRK, "-t", "2", "-c", "4", "-d", "300s", "--timeout", "10s",
             "-s", str(LOAD), f"http://127.0.0.1:{port}", "--",
             f"{tenant['slug']}.{BASE}", tenant["token"], project_id, prefix,
             "2", str(out)],
            stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        """Stops wrk (SIGINT: it reports and runs done()); returns what
        rollout_load.lua wrote."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
        assert self.proc.returncode == 0, \
            open(str(self.out) + ".stdout").read()
        return json.loads(self.out.read_text())


def rollout(stack):
    return subprocess.run(["bash", str(STACK), "rollout", "projects"],
                          env=stack.env, capture_output=True, text=True,
                          timeout=180)


def test_make_rollout_needs_a_service():
    r = subprocess.run(["make", "-s", "--no-print-directory", "rollout"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "SERVICE=<name> is required" in r.stderr


@pytest.mark.parametrize("target", ["nope", ""])
def test_rollout_refuses_an_unknown_service(stack, target):
    r = subprocess.run(["bash", str(STACK), "rollout", target],
                       env=stack.env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0
    assert "rollout:" in r.stderr


def test_rollout_of_projects_under_wrk_load(stack, tmp_path):
    api = EdgeApi(stack)
    t = new_tenant(api, unlimited=True)
    auth = {"Host": f"{t['slug']}.{BASE}", "Authorization": f"Bearer {t['token']}"}
    edge = f"http://127.0.0.1:{stack.env['LINTEL_HTTP_PORT']}"
    r = requests.post(f"{edge}/api/projects", headers=auth, timeout=10,
                      json={"name": "Tower", "code": "P-READ"})
    assert r.status_code == 201, r.text
    project_id = r.json()["id"]

    base = listening(stack, "projects")
    assert base["LINTEL_RPC_URL"] == int(stack.env["LINTEL_PROJECTS_RPC_PORT"])
    users_pid, master = stack.pid("users"), nginx_master(stack)
    all_created = []
    # A service that dials projects on its configured port (billing, for
    # projects.CountProjects; reporting, following its events) makes each
    # rollout move projects out to the other ports and straight back
    # (stack.sh rollout): it ends on them.
    dialed = any(f"=tcp://127.0.0.1:{base['LINTEL_RPC_URL']}\n" in f.read_text()
                 for f in stack.run_dir.glob("*.env")
                 if f.name != "projects.env")

    for round_, shift in ((1, 10), (2, 0)):
        old_pid = stack.pid("projects")
        old = listening(stack, "projects")
        prefix = f"R{round_}x{uuid.uuid4().hex[:8]}"
        load = Load(stack, t, project_id, prefix, tmp_path / f"wrk-{round_}.json")
        try:
            # the load reaches the old instance before the rollout starts
            mark = served(old["LINTEL_OPS_URL"])
            wait_until(lambda: served(old["LINTEL_OPS_URL"]) > mark + 100,
                       what="load on the old instance")
            r = rollout(stack)
            assert r.returncode == 0, r.stderr
            new = listening(stack, "projects")
            new_pid = stack.pid("projects")
            # and goes on, on the new one
            mark = served(new["LINTEL_OPS_URL"])
            wait_until(lambda: served(new["LINTEL_OPS_URL"]) > mark + 100,
                       what="load on the new instance")
        finally:
            result = load.stop()

        # every listening port moved by the same deterministic step
        step = 0 if dialed else shift
        assert new == {k: v + step for k, v in base.items()}, (base, new)
        assert new != old or dialed
        # the old instance is gone, the new one is the service
        assert new_pid != old_pid
        assert not alive(old_pid)
        assert alive(new_pid)
        assert upstream_servers(stack, "projects") == \
            [f"127.0.0.1:{new['LINTEL_RPC_URL']}"]
        assert requests.get(f"http://127.0.0.1:{new['LINTEL_OPS_URL']}/readyz",
                            timeout=2).status_code == 200
        status = subprocess.run(["bash", str(STACK), "status"], env=stack.env,
                                capture_output=True, text=True, timeout=30)
        assert re.search(rf"^projects\s+up\s+pid {new_pid}, rpc "
                         rf":{new['LINTEL_RPC_URL']}, readyz 200$",
                         status.stdout, re.M), status.stdout
        # nothing else restarted: same users process, same nginx master
        assert stack.pid("users") == users_pid and alive(users_pid)
        assert nginx_master(stack) == master and alive(master)

        # zero failed requests
        assert result["requests"] > 200, result
        # answered: every request made, but those on the connections that
        # were open when wrk was stopped. The script counts the requests it
        # makes, wrk the responses it saw complete; under CPU load the gap
        # at SIGINT was once 5 with 4 connections (not understood further),
        # so allow two per connection. Errors and lost writes are checked
        # exactly below and above.
        assert result["sent"] - result["requests"] <= 2 * 4, result
        assert set(result["statuses"]) <= {"200", "201"}, result
        assert result["errors"] == {"connect": 0, "read": 0, "write": 0,
                                    "status": 0, "timeout": 0}, result
        assert len(result["created"]) == len(set(result["created"])) > 20
        assert all(c.startswith(prefix + "-") for c in result["created"])

        # zero lost writes: every project created (201) is in the database,
        # once; nothing was stored that was not sent
        with stack.db("projects") as conn, conn.cursor() as cur:
            cur.execute("SELECT set_config('app.tenant_id', %s, false)",
                        (t["id"],))
            cur.execute("SELECT code FROM projects.projects WHERE code LIKE %s",
                        (prefix + "-%",))
            stored = [row[0] for row in cur.fetchall()]
        conn.close()
        assert len(stored) == len(set(stored))
        missing = set(result["created"]) - set(stored)
        assert not missing, missing
        assert len(stored) <= result["posts"]
        all_created += result["created"]

    # the stack ends on its own ports, serving, for the tests after this one
    assert listening(stack, "projects") == base
    assert requests.get(stack.ops_url("projects", "/readyz"),
                        timeout=2).status_code == 200
    r = requests.get(f"{edge}/api/projects/{project_id}", headers=auth,
                     timeout=10)
    assert r.status_code == 200, r.text
