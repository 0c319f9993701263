"""Tenants cannot see or touch each other's projects and tasks: through the
edge every such request is a 404 and the row is unchanged, and in the
database itself the projects role with another tenant set sees nothing."""
import psycopg2
import pytest

from projects_api import P, papi, new_tenant  # noqa: F401 (fixture)


@pytest.fixture
def two(papi):
    acme, globex = new_tenant(papi), new_tenant(papi)
    g = P(papi, globex)
    project = g.create_project(name="Globex HQ")
    task = g.create_task(project["id"], title="Secret task")
    return P(papi, acme), g, project, task


def test_cross_tenant_access_is_404_and_changes_nothing(two):
    a, g, project, task = two
    pid, tid = project["id"], task["id"]
    for method, path, body in (
            ("GET", f"/api/projects/{pid}", None),
            ("PATCH", f"/api/projects/{pid}", {"name": "Pwned"}),
            ("DELETE", f"/api/projects/{pid}", None),
            ("GET", f"/api/projects/{pid}/tasks", None),
            ("POST", f"/api/projects/{pid}/tasks", {"title": "Injected"}),
            ("GET", f"/api/tasks/{tid}", None),
            ("PATCH", f"/api/tasks/{tid}", {"title": "Pwned"}),
            ("DELETE", f"/api/tasks/{tid}", None)):
        r = a.call(method, path, body, headers={"If-Match": '"1"'})
        assert r.status == 404 and r.code == "not_found", (method, path, r)
    assert a.call("GET", "/api/projects").body["data"] == []
    assert g.call("GET", f"/api/projects/{pid}").body == project
    assert g.call("GET", f"/api/tasks/{tid}").body == task
    assert g.call("GET", f"/api/projects/{pid}/tasks").body["data"] == [task]


def test_a_token_of_another_tenant_is_refused_at_the_edge(papi, two):
    a, g, project, _ = two
    r = papi.call("GET", f"/api/projects/{project['id']}", g.slug, a.token)
    assert r.status == 403 and r.code == "tenant_mismatch"


def test_code_uniqueness_is_per_tenant(two):
    a, g, project, _ = two
    a.create_project(code=project["code"])  # the same code, another tenant


def _as_projects_role(stack, tenant_id):
    conn = psycopg2.connect(stack.db_url("projects"))
    cur = conn.cursor()
    if tenant_id is not None:
        cur.execute("SELECT set_config('app.tenant_id', %s, false)",
                    (tenant_id,))
    return conn, cur


def test_rls_hides_other_tenants_rows_in_the_database(stack, papi):
    acme, globex = new_tenant(papi), new_tenant(papi)
    g = P(papi, globex)
    project = g.create_project()
    g.create_task(project["id"])
    conn, cur = _as_projects_role(stack, acme["id"])
    try:
        for table in ("projects", "tasks", "idempotency_keys"):
            cur.execute(f"SELECT count(*) FROM projects.{table}")
            assert cur.fetchone()[0] == 0, table
        # Writing another tenant's rows fails too, even by id.
        cur.execute("UPDATE projects.projects SET name = 'x' WHERE id = %s",
                    (project["id"],))
        assert cur.rowcount == 0
        with pytest.raises(psycopg2.Error):
            cur.execute(
                "INSERT INTO projects.projects (tenant_id, name, code,"
                " created_by, updated_by) VALUES (%s, 'x', 'X', %s, %s)",
                (globex["id"], globex["user_id"], globex["user_id"]))
        conn.rollback()
        cur.execute("SELECT set_config('app.tenant_id', %s, false)",
                    (globex["id"],))
        cur.execute("SELECT count(*) FROM projects.projects")
        assert cur.fetchone()[0] == 1
    finally:
        conn.close()


def test_rls_fails_closed_without_a_tenant(stack):
    conn, cur = _as_projects_role(stack, None)
    try:
        with pytest.raises(psycopg2.Error):
            cur.execute("SELECT count(*) FROM projects.projects")
    finally:
        conn.close()


def test_a_task_cannot_point_at_another_tenants_project(stack, papi):
    acme, globex = new_tenant(papi), new_tenant(papi)
    project = P(papi, globex).create_project()
    conn, cur = _as_projects_role(stack, acme["id"])
    try:
        # The FK includes tenant_id: acme's task cannot name globex's project.
        with pytest.raises(psycopg2.Error):
            cur.execute(
                "INSERT INTO projects.tasks (tenant_id, project_id, title,"
                " created_by, updated_by) VALUES (%s, %s, 'x', %s, %s)",
                (acme["id"], project["id"], acme["user_id"], acme["user_id"]))
    finally:
        conn.close()
