"""The role matrix of API.md for every projects and tasks route: viewers
read; members also create, edit and delete tasks; managers and above also
create, edit and delete projects. A refusal is a 403 and changes nothing."""
import pytest

from projects_api import ROLES, P, staffed  # noqa: F401 (fixture)

RANK = {r: i for i, r in enumerate(ROLES)}

# (method, path template, body, the lowest role allowed, success status)
ROUTES = [
    ("GET", "/api/projects", None, "viewer", 200),
    ("POST", "/api/projects", "project", "manager", 201),
    ("GET", "/api/projects/{project}", None, "viewer", 200),
    ("PATCH", "/api/projects/{project}", {"name": "Renamed"}, "manager", 200),
    ("DELETE", "/api/projects/{project}", None, "manager", 204),
    ("GET", "/api/projects/{project}/tasks", None, "viewer", 200),
    ("POST", "/api/projects/{project}/tasks", {"title": "T"}, "member", 201),
    ("GET", "/api/tasks/{task}", None, "viewer", 200),
    ("PATCH", "/api/tasks/{task}", {"title": "Renamed"}, "member", 200),
    ("DELETE", "/api/tasks/{task}", None, "member", 204),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,template,body,lowest,ok",
                         ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_role_matrix(stack, staffed, role, method, template, body, lowest, ok):
    from users_api import EdgeApi
    api = EdgeApi(stack)
    owner = P(api, staffed)
    project = owner.create_project()
    task = owner.create_task(project["id"])
    path = template.format(project=project["id"], task=task["id"])
    if body == "project":
        body = {"name": "New", "code": f"{role}-{project['code']}"}
    caller = P(api, staffed, staffed["as"][role]["token"])
    r = caller.call(method, path, body, headers={"If-Match": '"1"'}
                    if method == "PATCH" else None)
    if RANK[role] >= RANK[lowest]:
        assert r.status == ok, r
    else:
        assert r.status == 403 and r.code == "forbidden", r
        # Nothing changed.
        assert owner.call("GET", f"/api/projects/{project['id']}").body == \
            project
        assert owner.call("GET", f"/api/tasks/{task['id']}").body == task
        assert owner.call("GET", f"/api/projects/{project['id']}/tasks"
                          ).body["data"] == [task]


def test_no_token_is_401(stack, staffed):
    from users_api import EdgeApi
    api = EdgeApi(stack)
    for method, template, _, _, _ in ROUTES:
        path = template.format(project="00000000-0000-0000-0000-000000000000",
                               task="00000000-0000-0000-0000-000000000000")
        r = api.call(method, path, staffed["slug"])
        assert r.status == 401, (method, path, r)
