"""The read models' planner statistics follow a new tenant's backlog
(migrations/reporting/0005_fresh_statistics.sql, services/reporting/
feed.c): after its batches commit, the projects consumer analyzes a read
model that changed enough since its last ANALYZE, without waiting for
autovacuum; the service's role can analyze nothing itself, and through the
function nothing but those tables."""
import uuid

import pytest

from conftest import wait_until

READ_MODELS = {"reporting.projects", "reporting.tasks", "reporting.members",
               "reporting.activity"}


def tasks_stats(stack):
    """reporting.tasks: (analyze_count, n_mod_since_analyze, reltuples)."""
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT s.analyze_count, s.n_mod_since_analyze,"
                    "       c.reltuples"
                    "  FROM pg_stat_user_tables s"
                    "  JOIN pg_class c ON c.oid = s.relid"
                    " WHERE s.relid = 'reporting.tasks'::regclass")
        return cur.fetchone()


def tenant_rows_estimate(stack, tenant_id):
    """What the planner believes of the tenant's rows of reporting.tasks:
    its share among tenant_id's most common values times the table's
    size, 0 when it is not among them (pg_statistic: pg_stats hides a
    table under row-level security)."""
    return float(stack.psql_super(
        "SELECT coalesce(max(c.reltuples * m.f), 0)"
        "  FROM pg_statistic s"
        "  JOIN pg_class c ON c.oid = s.starelid"
        "  JOIN pg_attribute a"
        "    ON a.attrelid = s.starelid AND a.attnum = s.staattnum"
        "  CROSS JOIN LATERAL unnest("
        "    CASE s.stakind1 WHEN 1 THEN s.stavalues1::text::uuid[] END,"
        "    CASE s.stakind1 WHEN 1 THEN s.stanumbers1 END) AS m(v, f)"
        " WHERE s.starelid = 'reporting.tasks'::regclass"
        "   AND a.attname = 'tenant_id' AND NOT s.stainherit"
        f"   AND m.v = '{uuid.UUID(tenant_id)}'::uuid"))


def write_events(stack, tenant_id, project_id, tasks, first_task=0,
                 kind="task.created"):
    """`tasks` events of `kind` of the tenant's tasks, numbered from
    `first_task`, straight into projects' outbox (its counter taken as
    projects takes it); returns the last seq."""
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT seq FROM projects.event_counter FOR UPDATE")
        base = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO projects.events (seq, tenant_id, type, project_id,"
            "                            task_id, actor_id, data)"
            " SELECT %(base)s + g, %(t)s, %(kind)s, %(p)s,"
            "        md5(%(t)s || '-task-' || (%(first)s + g))::uuid, %(t)s,"
            "        jsonb_build_object('title', 'Task ' || g,"
            "                           'status', 'todo', 'assignee_id', NULL,"
            "                           'due_date', NULL,"
            "                           'estimate_hours', NULL)"
            "   FROM generate_series(1, %(n)s) g",
            {"base": base, "t": tenant_id, "p": project_id, "kind": kind,
             "first": first_task, "n": tasks})
        cur.execute("UPDATE projects.event_counter SET seq = %s",
                    (base + tasks,))
        return base + tasks


def applied_seq(stack):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT seq FROM reporting.consumer_cursors"
                    " WHERE source = 'projects'")
        return cur.fetchone()[0]


@pytest.fixture
def tasks_without_autovacuum(stack):
    """reporting.tasks out of autovacuum's reach for the test, so that only
    the service can be the one that analyzes it."""
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE reporting.tasks"
                    " SET (autovacuum_enabled = false)")
    yield
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE reporting.tasks RESET (autovacuum_enabled)")


def test_a_new_tenants_backlog_gets_the_read_models_analyzed(
        stack, tasks_without_autovacuum):
    tenant_id = str(uuid.uuid4())
    project_id = str(uuid.uuid4())
    # Statistics as a long-running system has them: none of this tenant.
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("ANALYZE reporting.tasks")
    analyzed0, _, rows0 = tasks_stats(stack)
    # Enough of the tenant's tasks to be due (0005: more than 500 rows and
    # 5 % of the table changed), with a margin.
    backlog = int(600 + 0.1 * max(rows0, 0))
    head = write_events(stack, tenant_id, project_id, backlog)
    wait_until(lambda: applied_seq(stack) >= head, 60,
               "the backlog to be applied")
    # The consumer's changes reach the statistics system up to a second
    # late, and the upkeep runs after a batch: a trickle of batches keeps
    # it coming until it has seen them.
    state = {"next": backlog}

    def analyzed():
        if tasks_stats(stack)[0] > analyzed0:
            return True
        write_events(stack, tenant_id, project_id, 1, state["next"],
                     "task.updated")
        state["next"] += 1
        return False

    wait_until(analyzed, 30, "reporting.tasks to be analyzed")
    _, since, _ = tasks_stats(stack)
    assert since < backlog
    # The planner knows the tenant's rows now (ANALYZE samples, so about).
    assert tenant_rows_estimate(stack, tenant_id) >= backlog * 0.5


def test_the_service_analyzes_only_through_the_function(stack):
    with stack.db("reporting") as conn, conn.cursor() as cur:
        # Not the owner: PostgreSQL skips the table with a warning.
        cur.execute("ANALYZE reporting.tasks")
        assert any("skipping" in n and "owner" in n for n in conn.notices), \
            conn.notices
        # The function takes no argument and touches the read models only.
        cur.execute("SELECT t::text FROM reporting.analyze_read_models() t")
        assert {r[0] for r in cur.fetchall()} <= READ_MODELS
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT p.prosecdef, p.pronargs, p.proconfig,"
                    "       pg_get_userbyid(p.proowner)"
                    "  FROM pg_proc p"
                    " WHERE p.oid = 'reporting.analyze_read_models'::regproc")
        definer, nargs, config, owner = cur.fetchone()
        assert definer and nargs == 0 and owner == "lintel_migrator"
        assert any(c.startswith("search_path=") for c in config), config
        # Nobody else runs it: not PUBLIC (grantee 0), no other role.
        cur.execute("SELECT coalesce(r.rolname, 'PUBLIC')"
                    "  FROM pg_proc p, aclexplode(p.proacl) a"
                    "  LEFT JOIN pg_roles r ON r.oid = a.grantee"
                    " WHERE p.oid = 'reporting.analyze_read_models'::regproc"
                    "   AND a.privilege_type = 'EXECUTE'")
        assert {r[0] for r in cur.fetchall()} == {"lintel_migrator",
                                                 "lintel_reporting"}
