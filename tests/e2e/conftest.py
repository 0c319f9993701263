"""A throw-away Lintel stack for the end-to-end suite.

The session starts its own stack with compose/local/stack.sh, on ports and
in a run folder of its own (so it can run beside a developer's `make run`),
and stops it at the end, checking that no process it started is left.
"""
import glob
import json
import os
import pathlib
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse

import psycopg2
import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = ROOT / "build" / "bin"
STACK = ROOT / "compose" / "local" / "stack.sh"

# Test ports: below Linux's ephemeral range (32768-60999), so that no
# client socket of the machine can be holding one when the stack binds it;
# LINTEL_TEST_PORT_OFFSET moves them all, so that two suites can run at once.
_OFFSET = int(os.environ.get("LINTEL_TEST_PORT_OFFSET", "0"))
PORTS = {name: str(port + _OFFSET) for name, port in {
    "LINTEL_PG_PORT": 15442,
    "LINTEL_PG_REPLICA_PORT": 15443,  # test_reporting_replica.py starts it
    "LINTEL_REDIS_PORT": 16389,
    "LINTEL_USERS_RPC_PORT": 17101,
    "LINTEL_USERS_OPS_PORT": 19101,
    "LINTEL_USERS_EVENTS_PORT": 17201,
    "LINTEL_PROJECTS_RPC_PORT": 17102,
    "LINTEL_PROJECTS_OPS_PORT": 19102,
    "LINTEL_PROJECTS_EVENTS_PORT": 17202,
    "LINTEL_REPORTING_RPC_PORT": 17103,
    "LINTEL_REPORTING_OPS_PORT": 19103,
    "LINTEL_BILLING_RPC_PORT": 17104,
    "LINTEL_BILLING_OPS_PORT": 19104,
    "LINTEL_HTTP_PORT": 18080,
    "LINTEL_TEST_TIGHT_EDGE_PORT": 18081,  # test_edge_limits.py's edge
    "LINTEL_SMTP_PORT": 12525,
    "LINTEL_PAYMENT_PROVIDER_PORT": 14242,
}.items()}


# The edge's limits for the suite: every client of the suite comes from
# 127.0.0.1 and many tests share users, so the stack's edge gets limits no
# real test reaches; test_edge_limits.py starts a second edge with tight
# ones to test them.
SUITE_EDGE_LIMITS = {
    "LINTEL_EDGE_IP_RATE": "2000r/s", "LINTEL_EDGE_IP_BURST": "20000",
    "LINTEL_EDGE_USER_RATE": "5000r/s", "LINTEL_EDGE_USER_BURST": "50000",
    "LINTEL_EDGE_TENANT_RATE": "10000r/s", "LINTEL_EDGE_TENANT_BURST": "100000",
    "LINTEL_EDGE_CONN_PER_IP": "4000",
}


def wait_until(cond, timeout=30.0, what="condition"):
    """Polls `cond` until it is true; fails the test after `timeout` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class Stack:
    def __init__(self, env, run_dir):
        self.env = env
        self.run_dir = run_dir
        self.secrets = dict(
            line.split("=", 1)
            for line in (run_dir / "secrets.env").read_text().split()
        )

    # --- services over NNG ------------------------------------------------
    @property
    def tls(self):
        return self.env.get("LINTEL_RPC_TLS", "true") == "true"

    def rpc_url(self, service, caller="operator"):
        """Where `caller` reaches the service: the listener of its slot
        (lc_service_identity), tls+tcp:// unless the stack runs without TLS."""
        slot = ["edge", "operator", "users", "projects", "reporting",
                "billing"].index(caller)
        port = (int(self.env[f"LINTEL_{service.upper()}_RPC_PORT"])
                + slot * int(self.env["LINTEL_RPC_CALLER_PORT_STEP"]))
        return f"{'tls+tcp' if self.tls else 'tcp'}://127.0.0.1:{port}"

    def identity_env(self, identity="operator"):
        """lintel-call's certificate options for `identity`."""
        tls = self.run_dir / "tls"
        return {"LINTEL_CALL_CERT": str(tls / f"{identity}.pem"),
                "LINTEL_CALL_KEY": str(tls / f"{identity}.pem"),
                "LINTEL_CALL_CA": str(tls / "ca" / "services.crt")}

    def ops_url(self, service, path):
        port = self.env[f"LINTEL_{service.upper()}_OPS_PORT"]
        return f"http://127.0.0.1:{port}{path}"

    def call(self, service, *args, timeout=10):
        """Runs lintel-call; returns (exit code, parsed reply or None, stderr)."""
        p = subprocess.run(
            [str(BIN / "lintel-call"), self.rpc_url(service), *args],
            capture_output=True, text=True, timeout=timeout,
            env=dict(os.environ, **self.identity_env()),
        )
        reply = json.loads(p.stdout) if p.stdout.strip() else None
        return p.returncode, reply, p.stderr

    def rpc(self, service, method, body=None, **kw):
        args = ["--rpc", method]
        if body is not None:
            args += ["--json", json.dumps(body)]
        return self.call(service, *args, **kw)

    # --- PostgreSQL -------------------------------------------------------
    def db(self, role):
        """A connection as `lintel_<role>` (role "migrator" for the owner)."""
        password = self.secrets[f"LINTEL_PG_{role.upper()}_PASSWORD"]
        conn = psycopg2.connect(
            host="127.0.0.1", port=int(self.env["LINTEL_PG_PORT"]),
            dbname="lintel", user=f"lintel_{role}", password=password,
        )
        return conn

    def psql_super(self, sql, port=None):
        """`sql` as the cluster's superuser over the stack's socket (on the
        primary, or the server on `port`: the replica); its rows, one a
        line. The roles the services and the migrator log in as cannot
        create schemas nor read pg_statistic."""
        datadir = pathlib.Path(
            (self.run_dir / "pids" / "postgres.datadir").read_text().strip())
        psql = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))[-1]
        cmd = [psql, "-X", "-qtA", "-v", "ON_ERROR_STOP=1",
               "-h", str(datadir.parent / "sock"),
               "-p", str(port or self.env["LINTEL_PG_PORT"]), "-U", "postgres",
               "-d", "lintel", "-c", sql]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        p = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    def db_url(self, role):
        password = self.secrets[f"LINTEL_PG_{role.upper()}_PASSWORD"]
        return (f"postgresql://lintel_{role}:{password}@127.0.0.1:"
                f"{self.env['LINTEL_PG_PORT']}/lintel")

    def service_env(self, service):
        """The environment the stack runner gave a service."""
        env = dict(os.environ)
        for line in (self.run_dir / f"{service}.env").read_text().splitlines():
            k, v = line.split("=", 1)
            env[k] = v
        return env

    def pid(self, name):
        return int((self.run_dir / "pids" / f"{name}.pid").read_text())


def _stack_pids(run_dir):
    pids = []
    pid_dir = run_dir / "pids"
    for f in pid_dir.glob("*.pid") if pid_dir.exists() else []:
        pids.append(int(f.read_text()))
    return pids


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


_stack_failure = []


@pytest.fixture(scope="session")
def stack():
    if _stack_failure:  # start once: every later test fails at once
        pytest.fail(_stack_failure[0])
    run_dir = pathlib.Path(os.environ.get("LINTEL_TEST_RUN_DIR",
                                          ROOT / "build" / "e2e-run"))
    # billing's entitlement cache keeps a plan for a minute here (2 s by
    # default), so that a plan change seen by the next check proves the
    # invalidation, not an expiry (test_billing.py)
    # The whole suite is one client address (127.0.0.1) signing up and
    # failing logins over hundreds of tenants, like a busy NAT: the users
    # service's per-IP limits are out of its way here; test_users_throttle.py
    # restarts users with small ones and sends from addresses of its own.
    env = dict(os.environ, **PORTS, **SUITE_EDGE_LIMITS,
               LINTEL_RUN_DIR=str(run_dir),
               LINTEL_PG_FSYNC="off", LINTEL_ENTITLEMENT_CACHE_MS="60000",
               LINTEL_SIGNUP_MAX_PER_IP="1000000",
               LINTEL_RESET_MAX_PER_IP="1000000",
               LINTEL_LOGIN_IP_MAX_FAILURES="1000000")
    if run_dir.exists():  # a previous run that died: stop it, start clean
        subprocess.run(["bash", str(STACK), "down"], env=env)
        if (run_dir / "pg").is_symlink():
            shutil.rmtree((run_dir / "pg").resolve(), ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    up = subprocess.run(["bash", str(STACK), "up"], env=env,
                        capture_output=True, text=True)
    if up.returncode != 0:
        subprocess.run(["bash", str(STACK), "down"], env=env)
        _stack_failure.append(f"stack did not start:\n{up.stderr}")
        pytest.fail(_stack_failure[0])
    env.update(
        line.split("=", 1)
        for line in (run_dir / "stack.env").read_text().split()
    )
    s = Stack(env, run_dir)
    pg_pid = int((pathlib.Path(
        (run_dir / "pids" / "postgres.datadir").read_text().strip())
        / "postmaster.pid").read_text().split()[0])
    yield s
    started = _stack_pids(run_dir) + [pg_pid]
    down = subprocess.run(["bash", str(STACK), "down"], env=env,
                          capture_output=True, text=True)
    assert down.returncode == 0, down.stderr
    deadline = time.time() + 5
    while time.time() < deadline and any(_alive(p) for p in started):
        time.sleep(0.1)
    left = [p for p in started if _alive(p)]
    assert not left, f"make down left processes running: {left}"
    pg = run_dir / "pg"
    if pg.is_symlink():  # the runner's fallback data folder outside the tree
        shutil.rmtree(pg.resolve(), ignore_errors=True)
    shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def tenants(stack):
    """Creates two fresh tenants (as the migration owner) and returns
    {"a": (id, slug), "b": (id, slug)}."""
    suffix = str(time.time_ns())[-9:]
    out = {}
    with stack.db("migrator") as conn, conn.cursor() as cur:
        for key in ("a", "b"):
            slug = f"t{key}-{suffix}"
            cur.execute(
                "INSERT INTO users.tenants (slug, name) VALUES (%s, %s) "
                "RETURNING id", (slug, f"Tenant {key}"))
            out[key] = (str(cur.fetchone()[0]), slug)
    return out


def redis_cli(stack, *args, user="lintel_admin", password=None):
    """redis-cli as `user` (the stack's ACL users: lintel_admin, may do
    anything; one per service); stdout and stderr, stripped."""
    if password is None:
        password = stack.secrets["LINTEL_REDIS_ADMIN_PASSWORD"]
    p = subprocess.run(
        ["redis-cli", "--user", user, "-p", stack.env["LINTEL_REDIS_PORT"],
         *args], env=dict(os.environ, REDISCLI_AUTH=password),
        capture_output=True, text=True, timeout=5)
    return (p.stdout + p.stderr).strip()


@pytest.fixture
def paused_redis(stack):
    """Redis frozen (SIGSTOP): connections hang rather than fail, the worst
    case for a client's timeouts. Resumed afterwards whatever happens."""
    pid = stack.pid("redis")
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


# --- the contract: every response of the edge against proto/openapi.yaml --

_contract_breaches = []  # found in threads other than the test's own


@pytest.fixture(scope="session", autouse=True)
def contract_checked():
    """Checks every response the suite receives from the edge (whichever
    helper sent it) against the spec (tests/e2e/contract.py). A breach
    fails the test that caused it: raised at once in the test's thread, and
    from other threads reported when that test ends (contract_clean)."""
    from contract import CONTRACT

    edge = f"127.0.0.1:{PORTS['LINTEL_HTTP_PORT']}"
    send = requests.Session.send

    def checked_send(self, request, **kw):
        r = send(self, request, **kw)
        url = urllib.parse.urlsplit(request.url)
        if url.netloc != edge:
            return r
        problems = CONTRACT.problems(request.method, url.path,
                                     r.status_code, r.headers, r.content)
        if problems:
            msg = "response breaks proto/openapi.yaml:\n  " + \
                "\n  ".join(problems)
            if threading.current_thread() is threading.main_thread():
                raise AssertionError(msg)
            _contract_breaches.append(msg)
        return r

    requests.Session.send = checked_send
    yield
    requests.Session.send = send


@pytest.fixture(autouse=True)
def contract_clean():
    yield
    breaches = list(_contract_breaches)
    _contract_breaches.clear()
    assert not breaches, "\n".join(breaches)


def get(url, **kw):
    return requests.get(url, timeout=kw.pop("timeout", 5), **kw)


# --- the users service's routes (tests/e2e/test_users_*.py) -----------------


@pytest.fixture
def api(stack):
    from users_api import EdgeApi
    return EdgeApi(stack)


@pytest.fixture
def mailbox(stack):
    from users_api import Mailbox
    return Mailbox(stack)


@pytest.fixture
def tenant(api):
    """A fresh tenant (signed up through the API) and its owner's tokens:
    {"slug", "id", "email", "password", "user", "tokens"}."""
    t = api.signup()
    t["tokens"] = api.login(t["slug"], t["email"], t["password"])
    return t
