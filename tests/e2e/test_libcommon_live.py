"""The C unit tests of libcommon that need a live PostgreSQL or Redis run
here, against the throw-away stack."""
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


def test_lc_cache(stack):
    env = dict(stack.env, LINTEL_TEST_REDIS_HOST="127.0.0.1",
               LINTEL_TEST_REDIS_PORT=stack.env["LINTEL_REDIS_PORT"])
    run_unit("test_cache", env)


def test_lc_jobs(stack):
    """On the users schema's job table, as the users service's role."""
    env = dict(stack.env, LINTEL_TEST_DB_URL=stack.db_url("users"))
    run_unit("test_jobs", env)
