"""Plan versions: a platform admin publishes a new version of a plan on the
apex (its price and limits, If-Match naming the version it replaces); the
catalog shows it at once, new trials and plan changes take it, and the
subscriptions on the old version keep theirs until they change plan."""
import pytest

from test_billing import change, subscription, trialing_tenant
from users_api import EdgeApi


@pytest.fixture
def api(stack):
    return EdgeApi(stack)


def publish(api, admin, code, replaces, body):
    headers = {"If-Match": f'"{replaces}"'} if replaces is not None else None
    return api.call("POST", f"/api/admin/billing/plans/{code}/versions",
                    token=admin, json_body=body, headers=headers)


def catalog(api, t):
    r = api.call("GET", "/api/billing/plans", t["slug"], t["token"])
    assert r.status == 200, r
    return {p["code"]: p for p in r.body["data"]}


def as_body(plan):
    return {"name": plan["name"], "seat_price_minor": plan["seat_price_minor"],
            "max_seats": plan["limits"]["seats"],
            "max_projects": plan["limits"]["projects"]}


@pytest.fixture
def team_republished(api):
    """team's current version; put back as it was (as a newer version,
    with the same price and limits) after the test, for the tests after."""
    admin = api.admin_token()
    t = trialing_tenant(api)
    before = catalog(api, t)["team"]
    yield before
    now = catalog(api, t)["team"]
    if now != before:
        r = publish(api, admin, "team", now["version"], as_body(before))
        assert r.status == 201, r


def test_a_new_version_leaves_existing_subscriptions_on_theirs(
        api, team_republished):
    v1 = team_republished
    admin = api.admin_token()
    old = trialing_tenant(api)
    assert subscription(api, old).body["plan"] == v1
    body = {"name": "Team 2027", "seat_price_minor": v1["seat_price_minor"] + 100,
            "max_seats": None, "max_projects": 60}
    r = publish(api, admin, "team", v1["version"], body)
    assert r.status == 201, r
    v2 = r.body
    assert r.headers["etag"] == f'"{v2["version"]}"'
    assert v2 == {"code": "team", "version": v1["version"] + 1,
                  "name": "Team 2027", "currency": v1["currency"],
                  "seat_price_minor": v1["seat_price_minor"] + 100,
                  "limits": {"seats": None, "projects": 60}}
    # the catalog shows the current version; the old subscription keeps v1
    assert catalog(api, old)["team"] == v2
    assert subscription(api, old).body["plan"] == v1
    # a new trial takes the current version, and so does a plan change
    assert subscription(api, trialing_tenant(api)).body["plan"] == v2
    assert change(api, old, "business").status == 200
    assert change(api, old, "team").status == 200
    assert subscription(api, old).body["plan"] == v2
    # the same publication again names a replaced version: nothing made
    r = publish(api, admin, "team", v1["version"], body)
    assert r.status == 412 and r.code == "precondition_failed", r
    assert catalog(api, old)["team"] == v2


def test_bad_publications_are_refused(api, team_republished):
    v1 = team_republished
    admin = api.admin_token()
    t = trialing_tenant(api)
    good = as_body(v1)
    r = publish(api, admin, "team", None, good)
    assert r.status == 428 and r.code == "precondition_required", r
    r = publish(api, admin, "gold", 1, good)
    assert r.status == 404, r
    for body, fields in (
            ({**good, "seat_price_minor": -1}, {"seat_price_minor": "out_of_range"}),
            ({**good, "max_seats": 0}, {"max_seats": "out_of_range"}),
            ({k: v for k, v in good.items() if k != "max_projects"},
             {"max_projects": "required"}),
            ({**good, "currency": "EUR"}, {"currency": "unknown_field"})):
        r = publish(api, admin, "team", v1["version"], body)
        assert r.status == 400 and r.fields() == fields, (body, r)
    # platform admins only, on the apex only
    r = api.call("POST", "/api/admin/billing/plans/team/versions", t["slug"],
                 t["token"], json_body=good,
                 headers={"If-Match": f'"{v1["version"]}"'})
    assert r.status == 404, r
    r = api.call("POST", "/api/admin/billing/plans/team/versions",
                 token=t["token"], json_body=good,
                 headers={"If-Match": f'"{v1["version"]}"'})
    assert r.status in (401, 403), r
    assert catalog(api, t)["team"] == v1
