"""The read replica (LINTEL_DB_READ_URL): report reads reach a streaming
replica of the stack's PostgreSQL (stack.sh replica up), and a replica that
lags beyond LINTEL_DB_READ_MAX_LAG_MS or is down leaves them to the
primary, counted on /metrics, never an error.

The module starts the replica and a second lintel-reporting that reads
from it (its own sockets; the stack's instance keeps reading the primary),
with its report cache off so that every answer is a read."""
import base64
import json
import re
import socket
import subprocess
import uuid

import pytest
import requests

from conftest import BIN, PORTS, STACK, wait_until
from projects_api import P, new_tenant, papi  # noqa: F401 (fixtures)
from reporting_api import events_head

MAX_LAG_MS = 300


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replica_cmd(stack, action):
    env = dict(stack.env, LINTEL_PG_REPLICA_PORT=PORTS["LINTEL_PG_REPLICA_PORT"])
    p = subprocess.run(["bash", str(STACK), "replica", action], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def psql_replica(stack, sql):
    """`sql` as the superuser on the replica; its rows, one a line."""
    return stack.psql_super(sql, port=PORTS["LINTEL_PG_REPLICA_PORT"])


@pytest.fixture(scope="module")
def reader(stack, tmp_path_factory):
    """The replica, and a lintel-reporting reading from it: {"rpc", "ops"}."""
    replica_cmd(stack, "up")
    tmp = tmp_path_factory.mktemp("replica")
    ops = free_port()
    password = stack.secrets["LINTEL_PG_REPORTING_PASSWORD"]
    env = dict(stack.service_env("reporting"),
               LINTEL_RPC_URL=f"ipc://{tmp}/rpc.sock",
               LINTEL_OPS_URL=f"http://127.0.0.1:{ops}",
               LINTEL_DB_READ_URL=(
                   f"postgresql://lintel_reporting:{password}@127.0.0.1:"
                   f"{PORTS['LINTEL_PG_REPLICA_PORT']}/lintel"),
               LINTEL_DB_READ_MAX_LAG_MS=str(MAX_LAG_MS),
               LINTEL_REPORTING_CACHE_TTL_S="0", LINTEL_WORKERS="2")
    proc = subprocess.Popen([str(BIN / "lintel-reporting"), "serve"], env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def ready():
        try:
            return requests.get(f"http://127.0.0.1:{ops}/readyz",
                                timeout=1).status_code == 200
        except requests.RequestException:
            return False
    try:
        wait_until(ready, 20, "the replica's lintel-reporting to be ready")
        yield {"rpc": f"ipc://{tmp}/rpc.sock", "ops": ops}
    finally:
        proc.terminate()
        proc.wait(15)
        replica_cmd(stack, "down")


def session_of(token):
    """The session id (sid) of an access token."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


def dashboard(reader, tenant):
    """GET /api/reports/dashboard from the replica's instance, as the
    tenant's owner (as the edge would forward it): the answer, always a
    200."""
    p = subprocess.run(
        [str(BIN / "lintel-call"), reader["rpc"], "GET",
         "/api/reports/dashboard", "--tenant",
         f"{tenant['id']}:{tenant['slug']}", "--user", tenant["user_id"],
         "--role", "owner", "--session", session_of(tenant["token"])],
        capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    reply = json.loads(p.stdout)
    assert reply["status"] == 200, reply
    return reply["body"]


def reads(reader, to, reason=None):
    """lintel_db_reads{to=…[,reason=…]} of the replica's instance."""
    text = requests.get(f"http://127.0.0.1:{reader['ops']}/metrics",
                        timeout=5).text
    labels = f'to="{to}"' + (f',reason="{reason}"' if reason else "")
    m = re.search(r"^lintel_db_reads\{" + re.escape(labels) + r"\} (\S+)$",
                  text, re.M)
    return float(m.group(1)) if m else 0.0


def change(papi, tenant):
    """One change through the edge; the tenant's projects head after it."""
    P(papi, tenant).create_project(name=f"R-{uuid.uuid4().hex[:6]}")


def test_report_reads_reach_the_replica(stack, papi, reader):
    tenant = new_tenant(papi)
    change(papi, tenant)
    head = events_head(stack, tenant["id"])
    before = reads(reader, "replica")
    # The replica replays what reporting applied on the primary.
    wait_until(lambda: dashboard(reader, tenant)["as_of"]["seq"] >= head, 20,
               "the replica to show the change")
    assert reads(reader, "replica") > before
    # Its own connections ran the reports there, under its role.
    assert psql_replica(
        stack, "SELECT count(*) FROM pg_stat_activity"
        " WHERE usename = 'lintel_reporting'"
        " AND query LIKE '%FROM reporting.projects%'") != "0"


def test_a_lagging_replica_leaves_reads_to_the_primary(stack, papi, reader):
    tenant = new_tenant(papi)
    psql_replica(stack, "SELECT pg_wal_replay_pause()")
    try:
        lagged = reads(reader, "primary", "replica_lag")
        change(papi, tenant)
        head = events_head(stack, tenant["id"])
        # The paused replica cannot show the change: an answer that does
        # came from the primary, once the lag passed the bound.
        wait_until(lambda: dashboard(reader, tenant)["as_of"]["seq"] >= head,
                   20, "an answer from the primary")
        assert reads(reader, "primary", "replica_lag") > lagged
        assert psql_replica(stack, "SELECT pg_is_wal_replay_paused()") == "t"
    finally:
        psql_replica(stack, "SELECT pg_wal_replay_resume()")
    # Replaying again, the replica takes the reads back.
    back = reads(reader, "replica")
    wait_until(lambda: dashboard(reader, tenant) and
               reads(reader, "replica") > back, 20, "reads on the replica again")


def test_a_replica_that_is_down_leaves_reads_to_the_primary(stack, papi,
                                                            reader):
    tenant = new_tenant(papi)
    replica_cmd(stack, "down")
    try:
        down = reads(reader, "primary", "replica_down")
        change(papi, tenant)
        head = events_head(stack, tenant["id"])
        wait_until(lambda: dashboard(reader, tenant)["as_of"]["seq"] >= head,
                   20, "an answer from the primary")
        assert reads(reader, "primary", "replica_down") > down
    finally:
        replica_cmd(stack, "up")
    back = reads(reader, "replica")
    wait_until(lambda: dashboard(reader, tenant) and
               reads(reader, "replica") > back, 30, "reads on the replica again")
