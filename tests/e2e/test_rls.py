"""Row-level security in one place (DESIGN §6): every table with a
tenant_id column in every service's schema is under forced row-level
security with the tenant policy, and lintel.enable_tenant_rls() (made by
migrations/bootstrap.sql) is how a migration puts a new table there."""
import psycopg2
import pytest

SCHEMAS = ("users", "projects", "reporting", "billing")

# Tables that hold a tenant_id but are read across tenants on purpose, each
# by its own service only (the schema is closed to every other role):
CROSS_TENANT = {
    # the job runner's table: references, states and times, no tenant
    # data; every runner finds due jobs of every tenant (users 0003_jobs.sql,
    # libcommon/lc_jobs.h)
    ("users", "jobs"),
    # the same for reporting's export jobs (reporting 0002_exports.sql)
    ("reporting", "jobs"),
    # the outbox, read by EventsSince for every tenant (projects 0001_init.sql)
    ("projects", "events"),
    # the same for users' events (users 0004_events.sql)
    ("users", "events"),
    # billing's job runner (billing 0002_invoices.sql), as users'
    ("billing", "jobs"),
    # when each tenant's period ends: the invoicing run's work list, a
    # reference and a date (billing 0002_invoices.sql)
    ("billing", "invoice_schedule"),
    # the platform admin's view of every subscription (billing
    # 0004_directory.sql): plan, state, seats, MRR, kept by a trigger
    ("billing", "subscription_directory"),
}

POLICY = "(tenant_id = ( SELECT (current_setting('app.tenant_id'::text))::uuid AS current_setting))"


def tenant_tables(cur):
    cur.execute("""
        SELECT n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity,
               pg_get_expr(p.polqual, p.polrelid),
               pg_get_expr(p.polwithcheck, p.polrelid)
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
                             AND NOT a.attisdropped
          LEFT JOIN pg_policy p ON p.polrelid = c.oid
                               AND p.polname = 'tenant_isolation'
         WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p')""",
                (list(SCHEMAS),))
    return cur.fetchall()


def test_every_tenant_table_of_every_schema_has_the_tenant_policy(stack):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        rows = tenant_tables(cur)
    names = {(s, t) for s, t, *_ in rows}
    assert {("users", "users"), ("projects", "projects"),
            ("projects", "tasks")} <= names
    assert CROSS_TENANT <= names, "an allowed exception no longer exists"
    wrong = [(s, t, enabled, forced, using, check)
             for s, t, enabled, forced, using, check in rows
             if (s, t) not in CROSS_TENANT
             and not (enabled and forced and using == POLICY
                      and check == POLICY)]
    assert wrong == []


def test_enable_tenant_rls_puts_a_new_table_under_the_policy(stack):
    conn = stack.db("migrator")
    try:
        with conn.cursor() as cur:
            # DDL is transactional: the probe table never outlives the test
            cur.execute("CREATE TABLE projects.rls_probe"
                        " (tenant_id uuid NOT NULL, v int)")
            cur.execute("SELECT lintel.enable_tenant_rls('projects.rls_probe')")
            cur.execute("SELECT lintel.enable_tenant_rls('projects.rls_probe')")
            rows = [r for r in tenant_tables(cur) if r[1] == "rls_probe"]
            assert rows == [("projects", "rls_probe", True, True, POLICY,
                             POLICY)]
            # forced: the owner itself is held to it, and with no tenant
            # set the policy fails closed
            with pytest.raises(psycopg2.Error, match="app.tenant_id"):
                cur.execute("INSERT INTO projects.rls_probe VALUES"
                            " ('00000000-0000-4000-8000-000000000001', 1)")
    finally:
        conn.rollback()
        conn.close()


def test_services_cannot_call_the_helper(stack):
    conn = stack.db("projects")
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.Error):
            cur.execute("SELECT lintel.enable_tenant_rls('projects.projects')")
    finally:
        conn.rollback()
        conn.close()
