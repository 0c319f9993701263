"""Helpers for the reporting service's end-to-end tests: waiting until the
read models have caught up with a tenant's events, and the oracle — every
report's figures computed by SQL straight from the projects schema."""
import datetime
import decimal

from conftest import wait_until


def events_head(stack, tenant_id):
    """The seq of the tenant's last projects event (0 without any)."""
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT coalesce(max(seq), 0) FROM projects.events"
                    " WHERE tenant_id = %s", (tenant_id,))
        return cur.fetchone()[0]


def users_head(stack, tenant_id):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT coalesce(max(seq), 0) FROM users.events"
                    " WHERE tenant_id = %s", (tenant_id,))
        return cur.fetchone()[0]


def wait_caught_up(stack, p, tenant_id, timeout=30.0):
    """Polls the dashboard of `p`'s tenant until its as_of has reached the
    tenant's last projects and users events; returns that dashboard."""
    want = (events_head(stack, tenant_id), users_head(stack, tenant_id))
    seen = {}

    def caught_up():
        r = p.call("GET", "/api/reports/dashboard")
        assert r.status == 200, r
        seen["body"] = r.body
        a = r.body["as_of"]
        return (a["seq"], a["users_seq"]) >= want and \
            a["seq"] >= want[0] and a["users_seq"] >= want[1]

    wait_until(caught_up, timeout, f"reports as of {want}")
    return seen["body"]


def num(v):
    """A JSON or SQL number, comparable: hours have two decimals."""
    return decimal.Decimal(str(v or 0)).quantize(decimal.Decimal("0.01"))


def _task_figures(cur, where, args):
    cur.execute(f"""
        SELECT count(*),
               count(*) FILTER (WHERE t.status = 'todo'),
               count(*) FILTER (WHERE t.status = 'in_progress'),
               count(*) FILTER (WHERE t.status = 'blocked'),
               count(*) FILTER (WHERE t.status = 'done'),
               count(*) FILTER (WHERE t.status <> 'done' AND t.due_date <
                                (now() AT TIME ZONE 'UTC')::date),
               count(*) FILTER (WHERE t.status <> 'done' AND t.due_date
                                BETWEEN (now() AT TIME ZONE 'UTC')::date
                                    AND (now() AT TIME ZONE 'UTC')::date + 7),
               sum(t.estimate_hours) FILTER (WHERE t.status <> 'done'),
               sum(t.estimate_hours) FILTER (WHERE t.status = 'done')
          FROM projects.tasks t
          JOIN projects.projects p
            ON p.tenant_id = t.tenant_id AND p.id = t.project_id
         WHERE t.deleted_at IS NULL AND p.deleted_at IS NULL {where}""", args)
    (total, todo, doing, blocked, done, overdue, soon, h_open,
     h_done) = cur.fetchone()
    return {
        "tasks_total": total,
        "tasks_by_status": {"todo": todo, "in_progress": doing,
                            "blocked": blocked, "done": done},
        "overdue_tasks": overdue, "due_next_7_days": soon,
        "estimate_hours_open": num(h_open), "estimate_hours_done": num(h_done),
        "percent_complete": 0 if total == 0 else
        round(decimal.Decimal(100 * done) / total, 1),
    }


def _tenant_cursor(conn, tenant_id):
    cur = conn.cursor()
    cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_id,))
    return cur


def oracle_dashboard(stack, tenant_id):
    with stack.db("migrator") as conn, _tenant_cursor(conn, tenant_id) as cur:
        cur.execute("SELECT status, count(*) FROM projects.projects"
                    " WHERE deleted_at IS NULL GROUP BY status")
        by_status = dict.fromkeys(
            ("planned", "active", "on_hold", "completed", "cancelled"), 0)
        by_status.update(dict(cur.fetchall()))
        cur.execute("SELECT currency, sum(budget_cents) FROM projects.projects"
                    " WHERE deleted_at IS NULL AND status = 'active'"
                    "   AND budget_cents IS NOT NULL"
                    " GROUP BY currency ORDER BY currency")
        budgets = [{"currency": c, "budget_cents": int(s)}
                   for c, s in cur.fetchall()]
        out = {"projects_total": sum(by_status.values()),
               "projects_by_status": by_status,
               "budget_by_currency": budgets}
        out.update(_task_figures(cur, "", ()))
        cur.execute("""
            SELECT count(*), count(*) FILTER (WHERE type = 'task.created'),
                   count(*) FILTER (WHERE type IN ('task.created',
                                                   'task.updated')
                                    AND data->>'status' = 'done'
                                    AND prev IS DISTINCT FROM 'done')
              FROM (SELECT *, lag(data->>'status') OVER (PARTITION BY task_id
                                                         ORDER BY seq) AS prev
                      FROM projects.events WHERE tenant_id = %s) e
             WHERE (occurred_at AT TIME ZONE 'UTC')::date >
                   (now() AT TIME ZONE 'UTC')::date - 30""", (tenant_id,))
        changes, created, completed = cur.fetchone()
        out["activity_last_30_days"] = {"changes": changes,
                                        "tasks_created": created,
                                        "tasks_completed": completed}
        return out


def oracle_project(stack, tenant_id, project_id):
    with stack.db("migrator") as conn, _tenant_cursor(conn, tenant_id) as cur:
        cur.execute("SELECT max(occurred_at) FROM projects.events"
                    " WHERE tenant_id = %s AND project_id = %s",
                    (tenant_id, project_id))
        last = cur.fetchone()[0]
        out = {"last_activity_at": last}
        out.update(_task_figures(cur, "AND t.project_id = %s", (project_id,)))
        return out


def oracle_live_projects(stack, tenant_id):
    with stack.db("migrator") as conn, _tenant_cursor(conn, tenant_id) as cur:
        cur.execute("SELECT id::text, deleted_at IS NOT NULL"
                    " FROM projects.projects")
        return dict(cur.fetchall())


def oracle_workload(stack, tenant_id):
    with stack.db("migrator") as conn, _tenant_cursor(conn, tenant_id) as cur:
        cur.execute("""
            SELECT t.assignee_id::text, u.name, count(*),
                   count(*) FILTER (WHERE t.due_date <
                                    (now() AT TIME ZONE 'UTC')::date),
                   sum(t.estimate_hours)
              FROM projects.tasks t
              JOIN projects.projects p
                ON p.tenant_id = t.tenant_id AND p.id = t.project_id
              LEFT JOIN users.users u ON u.id = t.assignee_id
             WHERE t.deleted_at IS NULL AND p.deleted_at IS NULL
               AND t.status <> 'done'
             GROUP BY t.assignee_id, u.name
             ORDER BY count(*) DESC, t.assignee_id NULLS LAST""")
        return [{"assignee_id": a, "name": n, "open_tasks": c,
                 "overdue_tasks": o, "estimate_hours_open": num(h)}
                for a, n, c, o, h in cur.fetchall()]


def oracle_activity(stack, tenant_id, first, last):
    with stack.db("migrator") as conn, _tenant_cursor(conn, tenant_id) as cur:
        cur.execute("""
            SELECT to_char(g.d, 'YYYY-MM-DD'),
                   count(e.seq),
                   count(e.seq) FILTER (WHERE e.type = 'task.created'),
                   count(e.seq) FILTER (WHERE e.type IN ('task.created',
                                                         'task.updated')
                                        AND e.data->>'status' = 'done'
                                        AND e.prev IS DISTINCT FROM 'done')
              FROM generate_series(%s::date, %s::date, interval '1 day') g(d)
              LEFT JOIN (SELECT *, lag(data->>'status') OVER (
                                PARTITION BY task_id ORDER BY seq) AS prev
                           FROM projects.events WHERE tenant_id = %s) e
                ON (e.occurred_at AT TIME ZONE 'UTC')::date = g.d::date
             GROUP BY g.d ORDER BY g.d""", (first, last, tenant_id))
        return [{"day": d, "changes": c, "tasks_created": n,
                 "tasks_completed": k} for d, c, n, k in cur.fetchall()]


def oracle_overdue(stack, tenant_id):
    with stack.db("migrator") as conn, _tenant_cursor(conn, tenant_id) as cur:
        cur.execute("""
            SELECT t.id::text FROM projects.tasks t
              JOIN projects.projects p
                ON p.tenant_id = t.tenant_id AND p.id = t.project_id
             WHERE t.deleted_at IS NULL AND p.deleted_at IS NULL
               AND t.status <> 'done'
               AND t.due_date < (now() AT TIME ZONE 'UTC')::date
             ORDER BY t.due_date, t.id""")
        return [r[0] for r in cur.fetchall()]


def figures(report):
    """A report's task figures in the oracle's terms."""
    out = dict(report)
    for k in ("estimate_hours_open", "estimate_hours_done"):
        out[k] = num(out[k])
    out["percent_complete"] = decimal.Decimal(
        str(out["percent_complete"])).quantize(decimal.Decimal("0.1"))
    return out


def today():
    return datetime.datetime.now(datetime.timezone.utc).date()
