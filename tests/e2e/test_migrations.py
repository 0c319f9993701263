"""lintel-<service> migrate: ordered, transactional, locked, checksummed."""
import shutil
import subprocess

import pytest

from conftest import BIN


def migrate(stack, migrations_dir, **env):
    e = stack.service_env("users")
    e["LINTEL_MIGRATIONS_DIR"] = str(migrations_dir)
    e.update(env)
    return subprocess.run([str(BIN / "lintel-users"), "migrate"], env=e,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def migrations(stack, tmp_path):
    """A copy of the users migrations to change without touching the repo."""
    d = tmp_path / "users"
    shutil.copytree(stack.service_env("users")["LINTEL_MIGRATIONS_DIR"], d)
    return d


def applied(stack):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT version, name FROM users.schema_migrations "
                    "ORDER BY version")
        return cur.fetchall()


def table_exists(stack, name):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
        return cur.fetchone()[0]


def test_migrate_again_is_a_no_op(stack, migrations):
    before = applied(stack)
    p = migrate(stack, migrations)
    assert p.returncode == 0, p.stderr
    assert "0 applied" in p.stderr
    assert applied(stack) == before
    assert (1, "0001_init.sql") in before


def test_edited_applied_migration_is_refused(stack, migrations):
    f = migrations / "0001_init.sql"
    f.write_text(f.read_text() + "\n-- an innocent-looking edit\n")
    p = migrate(stack, migrations)
    assert p.returncode == 1
    assert "0001_init.sql was changed after it was applied" in p.stderr


def test_failing_migration_leaves_nothing_behind(stack, migrations):
    (migrations / "9001_half_done.sql").write_text(
        "CREATE TABLE users.e2e_half_done (id int);\n"
        "SELEC 'this is not SQL';\n")
    before = applied(stack)
    p = migrate(stack, migrations)
    assert p.returncode == 1
    assert "9001_half_done.sql" in p.stderr
    assert applied(stack) == before
    assert not table_exists(stack, "users.e2e_half_done")


def test_concurrent_runs_apply_a_migration_once(stack, migrations):
    (migrations / "9002_probe.sql").write_text(
        "CREATE TABLE users.e2e_probe (id int);\n"
        "SELECT pg_sleep(0.5);\n")
    e = stack.service_env("users")
    e["LINTEL_MIGRATIONS_DIR"] = str(migrations)
    runs = [subprocess.Popen([str(BIN / "lintel-users"), "migrate"], env=e,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    results = [(r.wait(timeout=60), r.stderr.read()) for r in runs]
    assert all(code == 0 for code, _ in results), results
    assert sorted("1 applied" in err for _, err in results) == [False, True]
    assert applied(stack)[-1] == (9002, "9002_probe.sql")
    assert table_exists(stack, "users.e2e_probe")


def test_misnamed_files_are_ignored(stack, migrations):
    (migrations / "0003_Backup.sql~").write_text("DROP TABLE users.users;")
    (migrations / "notes.txt").write_text("DROP TABLE users.users;")
    p = migrate(stack, migrations)
    assert p.returncode == 0, p.stderr
    assert table_exists(stack, "users.users")


def test_service_role_cannot_migrate(stack, migrations):
    p = migrate(stack, migrations,
                LINTEL_MIGRATE_DB_URL=stack.db_url("users"))
    assert p.returncode == 1
    assert "permission denied" in p.stderr
