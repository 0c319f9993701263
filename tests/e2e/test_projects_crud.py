"""Projects and tasks through the real edge: create, read, list, update
under If-Match, soft delete, and validation errors that name the field."""
import uuid

from projects_api import P, papi, tenant  # noqa: F401 (fixtures)


def test_project_create_read_update_delete(papi, tenant):
    p = P(papi, tenant)
    r = p.call("POST", "/api/projects", {
        "name": "Harbour Tower", "code": "HT-1", "status": "active",
        "start_date": "2027-01-10", "end_date": "2027-12-20",
        "budget_cents": 125000000, "currency": "USD",
        "address": "1 Quay St", "description": "32 floors"})
    assert r.status == 201, r
    proj = r.body
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/api/projects/{proj['id']}"
    assert proj["name"] == "Harbour Tower" and proj["code"] == "HT-1"
    assert proj["budget_cents"] == 125000000 and proj["currency"] == "USD"
    assert proj["version"] == 1
    assert proj["created_by"] == proj["updated_by"] == tenant["user_id"]
    assert proj["created_at"].endswith("Z") and proj["updated_at"]

    r = p.call("GET", f"/api/projects/{proj['id']}")
    assert r.status == 200 and r.body == proj and r.headers["etag"] == '"1"'

    r = p.call("PATCH", f"/api/projects/{proj['id']}",
               {"status": "on_hold", "description": None},
               headers={"If-Match": '"1"'})
    assert r.status == 200, r
    assert r.body["status"] == "on_hold" and r.body["description"] is None
    assert r.body["name"] == "Harbour Tower" and r.body["version"] == 2
    assert r.headers["etag"] == '"2"'

    r = p.call("DELETE", f"/api/projects/{proj['id']}")
    assert r.status == 204, r
    r = p.call("GET", f"/api/projects/{proj['id']}")
    assert r.status == 404 and r.code == "not_found"


def test_project_defaults_and_list(papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project(name="Depot")
    assert proj["status"] == "planned" and proj["start_date"] is None
    r = p.call("GET", "/api/projects")
    assert r.status == 200
    assert [x["id"] for x in r.body["data"]] == [proj["id"]]
    assert r.body["next_cursor"] is None


def test_project_code_is_unique_per_tenant(papi, tenant):
    p = P(papi, tenant)
    p.create_project(code="BRIDGE-7")
    r = p.call("POST", "/api/projects", {"name": "Other", "code": "bridge-7"})
    assert r.status == 409 and r.code == "conflict"
    assert r.fields() == {"code": "taken"}


def test_project_validation_names_each_field(papi, tenant):
    p = P(papi, tenant)
    r = p.call("POST", "/api/projects", {
        "name": "", "code": "no spaces", "status": "dreaming",
        "start_date": "2027-02-30", "budget_cents": -5, "currency": "usd",
        "colour": "red"})
    assert r.status == 400 and r.code == "validation_failed"
    assert r.fields() == {"name": "required", "code": "invalid_format",
                          "status": "invalid_choice",
                          "start_date": "invalid_format",
                          "budget_cents": "out_of_range",
                          "currency": "invalid_format",
                          "colour": "unknown_field"}
    r = p.call("POST", "/api/projects", {})
    assert r.status == 400 and r.fields() == {"name": "required",
                                              "code": "required"}
    r = p.call("POST", "/api/projects", {"name": 5, "code": "A"})
    assert r.status == 400 and r.fields() == {"name": "invalid_type"}


def test_project_dates_must_be_ordered(papi, tenant):
    p = P(papi, tenant)
    r = p.call("POST", "/api/projects", {
        "name": "X", "code": "X1", "start_date": "2027-05-01",
        "end_date": "2027-04-30"})
    assert r.status == 400 and r.fields() == {"end_date": "before_start"}
    proj = p.create_project(start_date="2027-05-01", end_date="2027-06-01")
    # A PATCH that moves only one date is checked against the stored other.
    r = p.call("PATCH", f"/api/projects/{proj['id']}",
               {"end_date": "2027-01-01"}, headers={"If-Match": '"1"'})
    assert r.status == 400 and r.fields() == {"end_date": "before_start"}
    r = p.call("GET", f"/api/projects/{proj['id']}")
    assert r.body["end_date"] == "2027-06-01" and r.body["version"] == 1


def test_budget_needs_a_currency(papi, tenant):
    r = P(papi, tenant).call("POST", "/api/projects", {
        "name": "X", "code": "X2", "budget_cents": 100})
    assert r.status == 400 and r.fields() == {"currency":
                                              "required_with_budget"}


def test_malformed_json_and_ids(papi, tenant):
    p = P(papi, tenant)
    r = p.call("POST", "/api/projects", raw='{"name": "a", "name": "b"}')
    assert r.status == 400 and r.code == "invalid_json"
    for path in ("/api/projects/not-a-uuid", "/api/tasks/123",
                 "/api/projects/xyz/tasks"):
        assert p.call("GET", path).status == 404
    assert p.call("GET", f"/api/projects/{uuid.uuid4()}").status == 404


def test_patch_requires_if_match_and_refuses_stale(papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project()
    path = f"/api/projects/{proj['id']}"
    r = p.call("PATCH", path, {"name": "New"})
    assert r.status == 428 and r.code == "precondition_required"
    assert p.call("PATCH", path, {"name": "A"},
                  headers={"If-Match": '"1"'}).status == 200
    # A second writer that read version 1 loses, and changes nothing.
    r = p.call("PATCH", path, {"name": "B"}, headers={"If-Match": '"1"'})
    assert r.status == 412 and r.code == "precondition_failed"
    assert p.call("GET", path).body["name"] == "A"
    r = p.call("PATCH", path, {"name": "B"}, headers={"If-Match": "garbage"})
    assert r.status == 412
    # DELETE honours If-Match when sent.
    r = p.call("DELETE", path, headers={"If-Match": '"1"'})
    assert r.status == 412
    assert p.call("DELETE", path, headers={"If-Match": '"2"'}).status == 204


def test_a_weak_etag_never_matches_if_match(papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project()
    task = p.create_task(proj["id"])
    for path in (f"/api/projects/{proj['id']}", f"/api/tasks/{task['id']}"):
        body = {"name": "B"} if "projects" in path else {"title": "B"}
        r = p.call("PATCH", path, body, headers={"If-Match": 'W/"1"'})
        assert r.status == 412 and r.code == "precondition_failed", r
        r = p.call("DELETE", path, headers={"If-Match": 'W/"1"'})
        assert r.status == 412 and r.code == "precondition_failed", r
        assert p.call("GET", path).headers["etag"] == '"1"'


def test_if_match_star_cannot_skip_the_version_check_of_a_patch(papi, tenant):
    """The finding: `If-Match: *` changed whatever version was there. A
    PATCH needs the ETag it read; `*` is a 428 and changes nothing."""
    p = P(papi, tenant)
    proj = p.create_project()
    task = p.create_task(proj["id"])
    for path in (f"/api/projects/{proj['id']}", f"/api/tasks/{task['id']}"):
        body = {"name": "B"} if "projects" in path else {"title": "B"}
        r = p.call("PATCH", path, body, headers={"If-Match": "*"})
        assert r.status == 428 and r.code == "precondition_required", r
        assert p.call("GET", path).headers["etag"] == '"1"'


def test_patch_cannot_clear_required_fields(papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project()
    r = p.call("PATCH", f"/api/projects/{proj['id']}",
               {"name": None, "code": None, "id": str(uuid.uuid4())},
               headers={"If-Match": '"1"'})
    assert r.status == 400
    assert r.fields() == {"name": "invalid_type", "code": "invalid_type",
                          "id": "unknown_field"}
    r = p.call("PATCH", f"/api/projects/{proj['id']}", {"name": "   "},
               headers={"If-Match": '"1"'})
    assert r.status == 400 and r.fields() == {"name": "required"}
    task = p.create_task(proj["id"])
    r = p.call("PATCH", f"/api/tasks/{task['id']}", {"title": " "},
               headers={"If-Match": '"1"'})
    assert r.status == 400 and r.fields() == {"title": "required"}


def test_task_create_read_update_delete(papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project()
    r = p.call("POST", f"/api/projects/{proj['id']}/tasks", {
        "title": "Excavate", "description": "North pit", "status": "todo",
        "priority": "high", "assignee_id": tenant["user_id"],
        "due_date": "2027-03-01", "estimate_hours": 12.5})
    assert r.status == 201, r
    task = r.body
    assert r.headers["etag"] == '"1"'
    assert task["project_id"] == proj["id"]
    assert task["assignee_id"] == tenant["user_id"]
    assert task["estimate_hours"] == 12.5 and task["priority"] == "high"
    assert task["created_by"] == tenant["user_id"] and task["version"] == 1

    r = p.call("GET", f"/api/tasks/{task['id']}")
    assert r.status == 200 and r.body == task

    r = p.call("PATCH", f"/api/tasks/{task['id']}",
               {"status": "in_progress", "assignee_id": None},
               headers={"If-Match": '"1"'})
    assert r.status == 200, r
    assert r.body["status"] == "in_progress" and r.body["assignee_id"] is None
    assert r.body["version"] == 2
    r = p.call("PATCH", f"/api/tasks/{task['id']}", {"status": "done"})
    assert r.status == 428
    r = p.call("PATCH", f"/api/tasks/{task['id']}", {"status": "done"},
               headers={"If-Match": '"1"'})
    assert r.status == 412

    r = p.call("GET", f"/api/projects/{proj['id']}/tasks")
    assert [t["id"] for t in r.body["data"]] == [task["id"]]
    assert p.call("DELETE", f"/api/tasks/{task['id']}").status == 204
    assert p.call("GET", f"/api/tasks/{task['id']}").status == 404
    assert p.call("GET", f"/api/projects/{proj['id']}/tasks").body["data"] == []


def test_task_validation_names_each_field(papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project()
    r = p.call("POST", f"/api/projects/{proj['id']}/tasks", {
        "status": "maybe", "priority": "meh", "assignee_id": "bob",
        "due_date": "tomorrow", "estimate_hours": -1, "owner": "x"})
    assert r.status == 400
    assert r.fields() == {"title": "required", "status": "invalid_choice",
                          "priority": "invalid_choice",
                          "assignee_id": "invalid_format",
                          "due_date": "invalid_format",
                          "estimate_hours": "out_of_range",
                          "owner": "unknown_field"}


def test_task_assignee_must_be_a_user_of_the_tenant(papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project()
    other = papi.signup()  # a real user, of another tenant
    for who in (str(uuid.uuid4()), other["user"]["id"]):
        r = p.call("POST", f"/api/projects/{proj['id']}/tasks",
                   {"title": "T", "assignee_id": who})
        assert r.status == 400 and r.fields() == {"assignee_id":
                                                  "not_found"}, r
    task = p.create_task(proj["id"])
    r = p.call("PATCH", f"/api/tasks/{task['id']}",
               {"assignee_id": other["user"]["id"]},
               headers={"If-Match": '"1"'})
    assert r.status == 400 and r.fields() == {"assignee_id": "not_found"}


def test_tasks_of_a_missing_project_are_404(papi, tenant):
    p = P(papi, tenant)
    missing = uuid.uuid4()
    assert p.call("GET", f"/api/projects/{missing}/tasks").status == 404
    r = p.call("POST", f"/api/projects/{missing}/tasks", {"title": "T"})
    assert r.status == 404 and r.code == "not_found"


def test_soft_delete_takes_the_tasks_along(stack, papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project(code="GONE-1")
    tasks = [p.create_task(proj["id"]) for _ in range(3)]
    assert p.call("DELETE", f"/api/projects/{proj['id']}").status == 204
    for method, path, body in (
            ("GET", f"/api/projects/{proj['id']}", None),
            ("PATCH", f"/api/projects/{proj['id']}", {"name": "x"}),
            ("DELETE", f"/api/projects/{proj['id']}", None),
            ("GET", f"/api/projects/{proj['id']}/tasks", None),
            ("POST", f"/api/projects/{proj['id']}/tasks", {"title": "x"}),
            ("GET", f"/api/tasks/{tasks[0]['id']}", None),
            ("PATCH", f"/api/tasks/{tasks[1]['id']}", {"title": "x"}),
            ("DELETE", f"/api/tasks/{tasks[2]['id']}", None)):
        r = p.call(method, path, body, headers={"If-Match": '"1"'})
        assert r.status == 404, (method, path, r)
    assert p.call("GET", "/api/projects").body["data"] == []
    # The rows stay, marked deleted; the code is free again.
    with stack.db("projects") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                    (tenant["id"],))
        cur.execute("SELECT count(*) FROM projects.tasks WHERE project_id = %s"
                    " AND deleted_at IS NOT NULL", (proj["id"],))
        assert cur.fetchone()[0] == 3
    p.create_project(code="GONE-1")


def test_a_read_builds_the_same_json_as_a_write(papi, tenant):
    """GET builds its JSON in C from binary columns (libcommon/lc_row); the
    writes have PostgreSQL build it. Both must say the same, whatever the
    text, dates and nulls."""
    p = P(papi, tenant)
    text = 'Quotes " and \\ back\\slash, tab\t, newline\n, bell\x07, é, 漢字, 🏗'
    for body in (
        {"name": text, "code": "ODD-1", "description": text,
         "start_date": "1900-01-01", "end_date": "2999-12-31",
         "budget_cents": 9007199254740991, "currency": "EUR",
         "address": ""},
        {"name": "Leap", "code": "ODD-2", "start_date": "2028-02-29",
         "end_date": None, "budget_cents": None, "currency": None},
        {"name": "Before 2000", "code": "ODD-3", "start_date": "1999-12-31",
         "end_date": "2000-01-01", "budget_cents": 0, "currency": "JPY"},
    ):
        r = p.call("POST", "/api/projects", body)
        assert r.status == 201, r
        got = p.call("GET", f"/api/projects/{r.body['id']}")
        assert got.status == 200 and got.body == r.body
    proj = p.create_project()
    for est in (0, 0.01, 12.5, 9999.99, None):
        r = p.call("POST", f"/api/projects/{proj['id']}/tasks",
                   {"title": text, "description": None, "estimate_hours": est,
                    "due_date": "2000-02-29"})
        assert r.status == 201, r
        got = p.call("GET", f"/api/tasks/{r.body['id']}")
        assert got.status == 200 and got.body == r.body
