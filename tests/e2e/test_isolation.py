"""Tenant and service isolation, proven in PostgreSQL itself (DESIGN §6)."""
import psycopg2
import pytest
from psycopg2 import errors


def test_service_role_cannot_read_another_services_schema(stack):
    with stack.db("projects") as conn, conn.cursor() as cur:
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("SELECT count(*) FROM users.tenants")


def test_service_role_cannot_change_its_own_schema(stack):
    with stack.db("users") as conn, conn.cursor() as cur:
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("CREATE TABLE users.sneaky (id int)")


def test_service_role_cannot_write_into_public(stack):
    with stack.db("users") as conn, conn.cursor() as cur:
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("CREATE TABLE public.sneaky (id int)")


def _set_tenant(cur, tenant_id):
    cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_id,))


def _add_user(cur, tenant_id, email):
    cur.execute(
        "INSERT INTO users.users (tenant_id, email, name, role) "
        "VALUES (%s, %s, 'Someone', 'member') RETURNING id",
        (tenant_id, email))
    return cur.fetchone()[0]


def test_tenant_sees_none_of_another_tenants_rows(stack, tenants):
    a, b = tenants["a"][0], tenants["b"][0]
    conn = stack.db("users")
    try:
        with conn, conn.cursor() as cur:
            _set_tenant(cur, b)
            _add_user(cur, b, "someone@b.test")
        with conn, conn.cursor() as cur:
            _set_tenant(cur, a)
            _add_user(cur, a, "someone@a.test")
            cur.execute("SELECT tenant_id::text, email FROM users.users")
            rows = cur.fetchall()
            assert rows == [(a, "someone@a.test")]
            cur.execute("SELECT count(*) FROM users.users WHERE tenant_id = %s",
                        (b,))
            assert cur.fetchone()[0] == 0
            # Nor can it change them.
            cur.execute("UPDATE users.users SET name = 'x' WHERE tenant_id = %s",
                        (b,))
            assert cur.rowcount == 0
            cur.execute("DELETE FROM users.users WHERE tenant_id = %s", (b,))
            assert cur.rowcount == 0
        with conn, conn.cursor() as cur:
            _set_tenant(cur, b)
            cur.execute("SELECT email, name FROM users.users")
            assert cur.fetchall() == [("someone@b.test", "Someone")]
    finally:
        conn.close()


def test_tenant_cannot_insert_a_row_for_another_tenant(stack, tenants):
    a, b = tenants["a"][0], tenants["b"][0]
    with stack.db("users") as conn, conn.cursor() as cur:
        _set_tenant(cur, a)
        with pytest.raises(errors.InsufficientPrivilege,
                           match="row-level security"):
            _add_user(cur, b, "intruder@b.test")


def test_tenant_cannot_move_its_row_to_another_tenant(stack, tenants):
    a, b = tenants["a"][0], tenants["b"][0]
    with stack.db("users") as conn, conn.cursor() as cur:
        _set_tenant(cur, a)
        _add_user(cur, a, "mover@a.test")
        with pytest.raises(errors.InsufficientPrivilege,
                           match="row-level security"):
            cur.execute("UPDATE users.users SET tenant_id = %s", (b,))


def test_transaction_without_tenant_fails_closed(stack, tenants):
    with stack.db("users") as conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("SELECT count(*) FROM users.users")
        assert e.value.pgcode in ("42704", "22P02")  # unset, or not a uuid


def test_tenant_setting_does_not_leak_into_the_next_transaction(stack, tenants):
    conn = stack.db("users")
    try:
        with conn, conn.cursor() as cur:
            _set_tenant(cur, tenants["a"][0])
            cur.execute("SELECT count(*) FROM users.users")
        with conn, conn.cursor() as cur:
            # set_config(..., true) ended with the transaction: '' is no uuid.
            with pytest.raises(errors.InvalidTextRepresentation):
                cur.execute("SELECT count(*) FROM users.users")
    finally:
        conn.close()


def test_table_owner_is_subject_to_rls_too(stack, tenants):
    a, b = tenants["a"][0], tenants["b"][0]
    with stack.db("migrator") as conn, conn.cursor() as cur:
        _set_tenant(cur, b)
        _add_user(cur, b, "owner-check@b.test")
        _set_tenant(cur, a)
        cur.execute("SELECT count(*) FROM users.users WHERE tenant_id = %s",
                    (b,))
        assert cur.fetchone()[0] == 0


def test_emails_are_unique_per_tenant_case_insensitively(stack, tenants):
    a, b = tenants["a"][0], tenants["b"][0]
    with stack.db("users") as conn, conn.cursor() as cur:
        _set_tenant(cur, a)
        _add_user(cur, a, "Same@Example.test")
        with pytest.raises(errors.UniqueViolation):
            _add_user(cur, a, "same@example.TEST")
    with stack.db("users") as conn, conn.cursor() as cur:
        _set_tenant(cur, b)
        _add_user(cur, b, "same@example.test")  # another tenant: fine


def test_service_roles_cannot_bypass_rls(stack):
    with stack.db("users") as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles "
            "WHERE rolname LIKE 'lintel\\_%' ORDER BY rolname")
        rows = cur.fetchall()
    assert [r[0] for r in rows] == [
        "lintel_billing", "lintel_migrator", "lintel_projects",
        "lintel_reporting", "lintel_users"]
    assert all(not r[1] and not r[2] for r in rows)
