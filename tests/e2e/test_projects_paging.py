"""Lists of projects and tasks: keyset paging with opaque cursors, sorts
with ties broken by id, filters, limits, and stability while other
requests insert."""
import threading
import uuid

from projects_api import P, new_tenant, papi, tenant  # noqa: F401 (fixtures)


def test_pages_cover_every_project_once_in_each_sort(papi, tenant):
    p = P(papi, tenant)
    names = ["Bravo", "alpha", "Charlie", "Bravo", "Delta", "Echo", "Bravo",
             "Foxtrot", "Golf", "Hotel", "India", "Juliet"]
    made = [p.create_project(
        name=n, start_date=None if i % 3 == 0 else f"2027-0{1 + i % 9}-01")
        for i, n in enumerate(names)]
    ids = {m["id"] for m in made}
    for sort in ("name", "-name", "created_at", "-created_at", "start_date",
                 "-start_date", "code", "-code", "updated_at", "end_date"):
        items = p.list_all("/api/projects", f"sort={sort}")
        assert len(items) == len(made) and {i["id"] for i in items} == ids, \
            sort
        key = sort.lstrip("-")
        if key.endswith("_at"):
            # Shown to the second; ordered to the microsecond, then by id.
            keys = [i[key] for i in items]
        else:
            keys = [((i[key] or "9999") if key.endswith("_date")
                     else i[key], i["id"]) for i in items]
        assert keys == sorted(keys, reverse=sort.startswith("-")), sort
    # The default order is newest first.
    r = p.call("GET", "/api/projects", query="limit=3")
    assert [x["id"] for x in r.body["data"]] == [m["id"] for m in made[::-1][:3]]
    assert r.body["next_cursor"]


def test_filters_status_and_q(papi, tenant):
    p = P(papi, tenant)
    a = p.create_project(name="North Bridge", code="NB-1", status="active")
    b = p.create_project(name="South Depot", code="BRIDGE-2")
    p.create_project(name="Warehouse", code="WH-1", status="active")
    r = p.call("GET", "/api/projects", query="q=bridge&sort=name")
    assert [x["id"] for x in r.body["data"]] == [a["id"], b["id"]]
    r = p.call("GET", "/api/projects", query="q=bridge&status=active")
    assert [x["id"] for x in r.body["data"]] == [a["id"]]
    r = p.call("GET", "/api/projects", query="q=%25")  # no wildcard
    assert r.body["data"] == []


def test_bad_list_parameters_are_400(papi, tenant):
    p = P(papi, tenant)
    for q, fields in (("limit=101", {"limit": "out_of_range"}),
                      ("limit=0", {"limit": "out_of_range"}),
                      ("limit=x", {"limit": "invalid_format"}),
                      ("cursor=!!!", {"cursor": "invalid_format"}),
                      ("cursor=YWJj", {"cursor": "invalid_format"}),
                      ("sort=password", {"sort": "invalid_choice"}),
                      ("status=asleep", {"status": "invalid_choice"}),
                      ("colour=red", {"colour": "unknown_field"})):
        r = p.call("GET", "/api/projects", query=q)
        assert r.status == 400 and r.code == "validation_failed", q
        assert r.fields() == fields, (q, r)
    for _ in range(3):
        p.create_project()
    cursor = p.call("GET", "/api/projects",
                    query="limit=1&sort=name").body["next_cursor"]
    r = p.call("GET", "/api/projects", query=f"cursor={cursor}&sort=-created_at")
    assert r.status == 400 and r.fields() == {"cursor": "other_sort"}
    r = p.call("GET", "/api/projects", query="limit=100")
    assert r.status == 200


def test_paging_is_stable_while_others_insert(papi):
    tenant = new_tenant(papi, unlimited=True)  # the writer adds without bound
    p = P(papi, tenant)
    before = [p.create_project(name=f"Site {i:02d}") for i in range(30)]
    stop = threading.Event()
    inserted = []

    def writer():
        w = P(papi, tenant)
        while not stop.is_set():
            inserted.append(w.create_project(
                name=f"Site {uuid.uuid4().hex[:2]}"))

    t = threading.Thread(target=writer)
    t.start()
    try:
        for sort in ("-created_at", "created_at", "name", "-name"):
            items, cursor = [], None
            while True:
                q = f"limit=4&sort={sort}" + (f"&cursor={cursor}" if cursor
                                               else "")
                r = p.call("GET", "/api/projects", query=q)
                assert r.status == 200, r
                items += r.body["data"]
                cursor = r.body["next_cursor"]
                if cursor is None:
                    break
            seen = [i["id"] for i in items]
            assert len(seen) == len(set(seen)), f"{sort}: repeated items"
            assert {b["id"] for b in before} <= set(seen), \
                f"{sort}: skipped items"
    finally:
        stop.set()
        t.join()
    assert inserted, "the writer inserted nothing meanwhile"


def test_tasks_list_filters_and_pages(papi, tenant):
    p = P(papi, tenant)
    proj = p.create_project()
    me = tenant["user_id"]
    made = []
    for i in range(7):
        made.append(p.create_task(
            proj["id"], title=f"T{i}", status="done" if i % 2 else "todo",
            assignee_id=me if i < 3 else None,
            due_date=f"2027-01-{10 + i:02d}"))
    items = p.list_all(f"/api/projects/{proj['id']}/tasks", "sort=due_date")
    assert [t["id"] for t in items] == [m["id"] for m in made]
    r = p.call("GET", f"/api/projects/{proj['id']}/tasks",
               query=f"status=done&assignee_id={me}")
    assert [t["id"] for t in r.body["data"]] == [made[1]["id"]]
    r = p.call("GET", f"/api/projects/{proj['id']}/tasks",
               query="due_before=2027-01-12&sort=due_date")
    assert [t["id"] for t in r.body["data"]] == [made[0]["id"], made[1]["id"]]
    for q in ("status=x", "assignee_id=me", "due_before=soon", "limit=500"):
        r = p.call("GET", f"/api/projects/{proj['id']}/tasks", query=q)
        assert r.status == 400, q
    # Another project's tasks are not listed.
    other = p.create_project()
    assert p.call("GET", f"/api/projects/{other['id']}/tasks"
                  ).body["data"] == []
