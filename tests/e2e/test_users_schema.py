"""The users schema keeps DESIGN §6: every table holding tenant data is under
forced row-level security, and the service's role sees one tenant's
sessions, tokens, invitations and mail only."""
import psycopg2
import pytest

# References, states and times only, read by the job runner across tenants;
# the messages themselves stay in users.mail_outbox, under RLS (0003_jobs.sql).
# The event outbox, read by EventsSince for every tenant (0004_events.sql).
NOT_TENANT_DATA = {"jobs", "events"}


def test_every_tenant_table_forces_row_level_security(stack):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("""
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_attribute a ON a.attrelid = c.oid
             WHERE n.nspname = 'users' AND c.relkind = 'r'
               AND a.attname = 'tenant_id'""")
        rows = cur.fetchall()
    assert {r[0] for r in rows} >= {"users", "sessions", "refresh_tokens",
                                    "invitations", "password_resets",
                                    "mail_outbox"}
    for name, enabled, forced in rows:
        if name not in NOT_TENANT_DATA:
            assert enabled and forced, name


def test_service_role_sees_only_its_tenants_accounts(stack, api, mailbox):
    a, b = api.signup(), api.signup()
    for t in (a, b):
        api.login(t["slug"], t["email"])
        api.call("POST", "/api/auth/password-reset", t["slug"],
                 json_body={"email": t["email"]})
    # The reset (token and mail) is made by a job after the 202.
    for t in (a, b):
        mailbox.wait_for(t["email"], r"(reset-password)")
    with stack.db("users") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (a["id"],))
        for table in ("sessions", "refresh_tokens", "password_resets",
                      "mail_outbox"):
            cur.execute(f"SELECT count(*) FROM users.{table}"
                        " WHERE tenant_id = %s", (b["id"],))
            assert cur.fetchone()[0] == 0, table
            cur.execute(f"SELECT count(*) FROM users.{table}")
            assert cur.fetchone()[0] >= 1, table


def test_service_role_cannot_read_tenant_tables_without_a_tenant(stack):
    conn = stack.db("users")
    try:
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.Error):
                cur.execute("SELECT count(*) FROM users.sessions")
    finally:
        conn.close()
