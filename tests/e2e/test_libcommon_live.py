"""The C unit tests of libcommon that need a live PostgreSQL or Redis run
here, against the throw-away stack."""
import os
import re
import subprocess

from conftest import ROOT


def run_unit(name, env):
    p = subprocess.run([str(ROOT / "build" / "tests" / name)], env=env,
                       capture_output=True, text=True, timeout=120)
    out = p.stdout + p.stderr  # cmocka prints its summary on stderr
    assert p.returncode == 0, out
    assert "FAILED" not in out
    ran = re.search(r"\[==========\] (\d+) test\(s\) run", out)
    passed = re.search(r"\[  PASSED  \] (\d+) test\(s\)", out)
    assert ran and passed and ran.group(1) == passed.group(1) != "0", out


def test_lc_db(stack):
    env = dict(stack.env, LINTEL_TEST_DB_URL=stack.db_url("users"))
    run_unit("test_db", env)


def redis_env(stack, user):
    """The stack's Redis, as `user` (lintel_admin, or a service's own
    user, whose ACL the test then checks too)."""
    secret = "ADMIN" if user == "lintel_admin" else user.upper()
    return dict(stack.env, LINTEL_TEST_REDIS_HOST="127.0.0.1",
                LINTEL_TEST_REDIS_PORT=stack.env["LINTEL_REDIS_PORT"],
                LINTEL_TEST_REDIS_USER=user,
                LINTEL_TEST_REDIS_PASSWORD=stack.secrets[
                    f"LINTEL_REDIS_{secret}_PASSWORD"])


def test_lc_cache(stack):
    run_unit("test_cache", redis_env(stack, "lintel_admin"))


def test_lc_throttle(stack):
    """As the users service's Redis user: its ACL must allow the throttles."""
    run_unit("test_throttle", redis_env(stack, "users"))


def test_lc_vcache(stack):
    """As the reporting service's Redis user: its ACL must allow it."""
    run_unit("test_vcache", redis_env(stack, "reporting"))


def test_lc_jobs(stack):
    """On the users schema's job table, as the users service's role."""
    env = dict(stack.env, LINTEL_TEST_DB_URL=stack.db_url("users"))
    run_unit("test_jobs", env)
def test_lc_consumer(stack):
    # A scratch schema of the migrator's, gone after the test: the consumer
    # and its producer (an lc_outbox) make their tables in it.
    stack.psql_super("CREATE SCHEMA consumer_test AUTHORIZATION"
                       " lintel_migrator")
    offset = int(os.environ.get("LINTEL_TEST_PORT_OFFSET", "0"))
    env = dict(stack.env, LINTEL_TEST_DB_URL=stack.db_url("migrator"),
               LINTEL_TEST_CONSUMER_RPC_URL=f"tcp://127.0.0.1:{17301 + offset}",
               LINTEL_TEST_CONSUMER_HINT_URL=f"tcp://127.0.0.1:{17302 + offset}")
    try:
        run_unit("test_consumer", env)
    finally:
        stack.psql_super("DROP SCHEMA consumer_test CASCADE")


def test_the_service_kit(stack):
    """lc_resource, lc_entity, lc_idem, lc_etag, lc_req_tx, lc_row, lc_body
    and lc_caller together, on a resource of a scratch schema."""
    stack.psql_super("CREATE SCHEMA kit_test AUTHORIZATION lintel_migrator")
    env = dict(stack.env, LINTEL_TEST_DB_URL=stack.db_url("migrator"))
    try:
        run_unit("test_kit", env)
    finally:
        stack.psql_super("DROP SCHEMA kit_test CASCADE")
