"""One body grammar (lc_body): the same bad input gets the same answer from
the users service and from the projects service — status, error code,
message, and one `fields` entry per problem with the codes of API.md."""
import pytest

from projects_api import P, papi, tenant  # noqa: F401 (fixtures)


@pytest.fixture
def both(papi, tenant):
    """Callers of a users route and a projects route that take a `name`
    (PATCH /api/users/me, POST and PATCH /api/projects), as the owner."""
    p = P(papi, tenant)
    project = p.create_project()

    def users_me(body=None, raw=None):
        return p.call("PATCH", "/api/users/me", body, raw=raw)

    def project_create(body=None, raw=None):
        if isinstance(body, dict):
            body = {"code": "GR-1", **body}
        return p.call("POST", "/api/projects", body, raw=raw)

    def project_patch(body=None, raw=None):
        return p.call("PATCH", f"/api/projects/{project['id']}", body,
                      raw=raw, headers={"If-Match": '"1"'})

    return {"p": p, "users_me": users_me, "project_create": project_create,
            "project_patch": project_patch}


def error_shape(r):
    """What a client sees of a 400, the request id aside."""
    err = r.body["error"]
    assert err["request_id"] == r.headers["x-request-id"]
    return (r.status, err["code"], err["message"], err.get("fields"),
            sorted(err))


def fields_of(*pairs):
    return [{"field": f, "code": c} for f, c in pairs]


@pytest.mark.parametrize("body, fields", [
    ({"name": 5}, fields_of(("name", "invalid_type"))),
    ({"name": ["Ada"]}, fields_of(("name", "invalid_type"))),
    ({"name": True}, fields_of(("name", "invalid_type"))),
    ({"name": None}, fields_of(("name", "invalid_type"))),
    ({"name": "   "}, fields_of(("name", "required"))),
    ({"name": "n" * 201}, fields_of(("name", "too_long"))),
    ({"name": "Ada", "colour": "red"}, fields_of(("colour", "unknown_field"))),
    ({"name": 5, "role": "owner"},
     fields_of(("role", "unknown_field"), ("name", "invalid_type"))),
], ids=["number", "array", "bool", "null", "blank", "too_long", "unknown",
        "unknown_and_type"])
def test_the_same_bad_name_is_the_same_error(both, body, fields):
    users = both["users_me"](body)
    projects = both["project_patch"](body)
    created = both["project_create"](body)
    assert users.status == 400, users
    assert error_shape(users) == error_shape(projects) == error_shape(created)
    assert error_shape(users) == (
        400, "validation_failed", f"{fields[0]['field']}: {fields[0]['code']}",
        fields, ["code", "fields", "message", "request_id"])


@pytest.mark.parametrize("raw", ["[1, 2]", '"name"', "7", "null"],
                         ids=["array", "string", "number", "null"])
def test_a_body_that_is_not_an_object_is_the_same_error(both, raw):
    replies = [both[k](raw=raw)
               for k in ("users_me", "project_create", "project_patch")]
    shapes = {error_shape(r)[:4] for r in replies}
    assert shapes == {(400, "validation_failed",
                       "the body must be a JSON object", None)}, replies


@pytest.mark.parametrize("raw", ['{"name": ', '{"name": "a", "name": "b"}'],
                         ids=["truncated", "duplicate_key"])
def test_malformed_json_is_the_same_error(both, raw):
    replies = [both[k](raw=raw)
               for k in ("users_me", "project_create", "project_patch")]
    assert {r.status for r in replies} == {400}
    assert {r.code for r in replies} == {"invalid_json"}
    assert len({r.body["error"]["message"] for r in replies}) == 1


def test_a_missing_required_member_is_required(both):
    p = both["p"]
    users = p.call("POST", "/api/users/invitations", {"role": "viewer"})
    projects = p.call("POST", "/api/projects", {"code": "GR-2"})
    assert users.status == projects.status == 400
    assert users.fields() == {"email": "required"}
    assert projects.fields() == {"name": "required"}


def test_malformed_strings_are_invalid_format(both, tenant):
    """An email, a token, a uuid, a date, a currency and a code: each
    malformed string is invalid_format, whichever service reads it."""
    p = both["p"]
    users = p.call("POST", "/api/users/invitations",
                   {"email": "not-an-email", "role": "viewer"})
    assert users.status == 400 and users.fields() == {
        "email": "invalid_format"}, users
    accept = p.api.call("POST", "/api/auth/invitations/accept",
                        tenant["slug"], json_body={
                            "token": "not a token", "name": "Ada",
                            "password": "long enough password"})
    assert accept.status == 400 and accept.fields() == {
        "token": "invalid_format"}, accept
    projects = p.call("POST", "/api/projects", {
        "name": "X", "code": "no spaces", "start_date": "2027-02-30",
        "budget_cents": 5, "currency": "usd"})
    assert projects.status == 400 and projects.fields() == {
        "code": "invalid_format", "start_date": "invalid_format",
        "currency": "invalid_format"}, projects
    project = p.create_project()
    tasks = p.call("POST", f"/api/projects/{project['id']}/tasks", {
        "title": "T", "assignee_id": "bob", "due_date": "tomorrow",
        "estimate_hours": 1.005})
    assert tasks.status == 400 and tasks.fields() == {
        "assignee_id": "invalid_format", "due_date": "invalid_format",
        "estimate_hours": "invalid_format"}, tasks


def test_a_value_outside_an_enum_is_invalid_choice(both, tenant):
    p = both["p"]
    users = p.call("PATCH", f"/api/users/{tenant['user_id']}",
                   {"role": "boss", "status": "asleep"})
    projects = p.call("POST", "/api/projects",
                      {"name": "X", "code": "GR-3", "status": "dreaming"})
    assert users.status == projects.status == 400
    assert users.fields() == {"role": "invalid_choice",
                              "status": "invalid_choice"}, users
    assert projects.fields() == {"status": "invalid_choice"}, projects


def test_list_parameters_share_the_codes(both):
    p = both["p"]
    for path in ("/api/users", "/api/projects"):
        r = p.call("GET", path, query="limit=0&colour=red&cursor=%40%40")
        assert r.status == 400, (path, r)
        assert r.fields() == {"limit": "out_of_range",
                              "colour": "unknown_field",
                              "cursor": "invalid_format"}, (path, r)
