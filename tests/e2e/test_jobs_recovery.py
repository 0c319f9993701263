"""Durable jobs (libcommon/lc_jobs.h) end to end, on the users service's
mail: a job leased by a process killed with kill -9 runs again on the
stack's own users service; `lintel-users jobs list` and `jobs retry`."""
import json
import os
import signal
import socket
import subprocess
import threading
import uuid

import requests

from conftest import BIN, wait_until


def users_cli(stack, *args):
    p = subprocess.run([str(BIN / "lintel-users"), "jobs", *args],
                       env=stack.service_env("users"), capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def job(stack, job_id):
    """(status, attempts, leased_by, last_error) of a job."""
    with stack.db("users") as conn, conn.cursor() as cur:
        cur.execute("SELECT status, attempts, leased_by, last_error"
                    " FROM users.jobs WHERE id = %s", (job_id,))
        return cur.fetchone()


def queue_mail(stack, tenant_id, to, status="queued", payload=None):
    """A message and its mail.send job, written as the service writes them
    (in a transaction of the tenant); the job's id."""
    with stack.db("users") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                    (tenant_id,))
        cur.execute("INSERT INTO users.mail_outbox (tenant_id, to_addr,"
                    " subject, body) VALUES (%s, %s, 'Jobs test',"
                    " 'A job test message') RETURNING id", (tenant_id, to))
        outbox_id = str(cur.fetchone()[0])
        cur.execute("INSERT INTO users.jobs (tenant_id, kind, payload, status,"
                    " max_attempts, finished_at) VALUES (%s, 'mail.send', %s,"
                    " %s, 3, CASE WHEN %s = 'dead' THEN now() END)"
                    " RETURNING id",
                    (tenant_id,
                     json.dumps(payload or {"outbox_id": outbox_id}),
                     status, status))
        return str(cur.fetchone()[0])


class Blackhole:
    """An SMTP relay that accepts connections and never says a word: a
    delivery to it hangs, so its sender is caught mid-job."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_job_leased_by_a_killed_process_runs_again(stack, api, mailbox,
                                                     tmp_path):
    tenant = api.signup()
    to = f"kill9-{uuid.uuid4().hex[:8]}@example.test"
    hole = Blackhole()
    ops = free_port()
    env = dict(stack.service_env("users"),
               # sockets of its own, no port to race for
               LINTEL_RPC_URL=f"ipc://{tmp_path}/rpc.sock",
               LINTEL_OPS_URL=f"http://127.0.0.1:{ops}",
               LINTEL_EVENTS_URL=f"ipc://{tmp_path}/events.sock",
               LINTEL_SMTP_URL=f"smtp://127.0.0.1:{hole.port}",
               LINTEL_JOBS_LEASE_MS="1000", LINTEL_JOBS_POLL_MS="50",
               LINTEL_JOBS_WORKERS="4", LINTEL_WORKERS="1")
    users_pid = stack.pid("users")
    other = None
    try:
        os.kill(users_pid, signal.SIGSTOP)
        other = subprocess.Popen([str(BIN / "lintel-users"), "serve"],
                                 env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)

        def ready():
            try:
                return requests.get(f"http://127.0.0.1:{ops}/readyz",
                                    timeout=1).status_code == 200
            except requests.RequestException:
                return False
        wait_until(ready, 20, "the second lintel-users to be ready")
        job_id = queue_mail(stack, tenant["id"], to)
        # The second instance leased it and hangs in its delivery.
        wait_until(lambda: job(stack, job_id)[0] == "running"
                   and job(stack, job_id)[2].endswith(f":{other.pid}"),
                   20, "the second instance to lease the job")
        wait_until(lambda: hole.conns, 20, "the delivery to start")
        other.kill()  # SIGKILL: no drain, no outcome, no lease renewal
        other.wait(10)
    finally:
        os.kill(users_pid, signal.SIGCONT)
        if other is not None and other.poll() is None:
            other.kill()
            other.wait(10)
        hole.close()
    # The stack's users service turns the expired lease into a failed
    # attempt and delivers the message on the next.
    mailbox.wait_for(to, r"(A job test message)", timeout=30)
    wait_until(lambda: job(stack, job_id)[0] == "done", 15, "the job done")
    _, attempts, leased_by, _ = job(stack, job_id)
    assert attempts == 2 and leased_by is None


def test_jobs_list_shows_a_dead_job_and_retry_delivers_it(stack, api,
                                                          mailbox):
    tenant = api.signup()
    to = f"retry-{uuid.uuid4().hex[:8]}@example.test"
    dead = queue_mail(stack, tenant["id"], to, status="dead")
    rc, out, err = users_cli(stack, "list", "--status", "dead")
    assert rc == 0, err
    header, *rows = out.splitlines()
    assert header.split("\t") == ["ID", "KIND", "TENANT", "STATUS", "ATTEMPTS",
                                  "RUN_AT", "LAST_ERROR"]
    mine = [r.split("\t") for r in rows if r.startswith(dead)]
    assert len(mine) == 1
    assert mine[0][1:5] == ["mail.send", tenant["id"], "dead", "0/3"]
    assert all(r.split("\t")[3] == "dead" for r in rows)

    rc, out, err = users_cli(stack, "retry", dead)
    assert rc == 0, err
    assert out.strip() == f"job {dead} (mail.send) queued again"
    mailbox.wait_for(to, r"(A job test message)", timeout=30)
    wait_until(lambda: job(stack, dead)[0] == "done", 15, "the job done")

    # Only a dead or failed job can be retried.
    rc, _, err = users_cli(stack, "retry", dead)
    assert rc == 1 and "is done: only a failed or dead job" in err
    rc, _, err = users_cli(stack, "retry", str(uuid.uuid4()))
    assert rc == 1 and "no job" in err
    rc, _, err = users_cli(stack, "retry", "not-a-uuid")
    assert rc == 2 and "is not a job id" in err
    rc, _, err = users_cli(stack, "list", "--status", "lost")
    assert rc == 2 and "--status must be" in err
    rc, _, err = users_cli(stack, "frobnicate")
    assert rc == 2 and "usage:" in err


def test_a_mail_job_without_its_message_is_dead_and_counted(stack, api):
    tenant = api.signup()
    bad = queue_mail(stack, tenant["id"], "x@example.test",
                     payload={"unexpected": True})
    wait_until(lambda: job(stack, bad)[0] == "dead", 15, "the job dead")
    _, attempts, _, last_error = job(stack, bad)
    assert attempts == 1
    assert last_error == "payload names no outbox message of a tenant"
    rc, out, _ = users_cli(stack, "list", "--status", "dead", "--limit", "1000")
    assert rc == 0 and bad in out

    def dead_gauge():
        text = requests.get(stack.ops_url("users", "/metrics"), timeout=5).text
        for line in text.splitlines():
            if line.startswith('lintel_jobs{status="dead"} '):
                return float(line.split()[1])
        return 0
    wait_until(lambda: dead_gauge() >= 1, 15, "the dead-jobs gauge")
    text = requests.get(stack.ops_url("users", "/metrics"), timeout=5).text
    assert "# TYPE lintel_jobs gauge" in text
    assert "lintel_jobs_oldest_due_seconds " in text
