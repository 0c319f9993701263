"""Invoices: gapless per-tenant numbers given at finalisation, immutable
final invoices (both at the database level), the invoicing run
(`lintel-billing invoice --as-of`, idempotent, catching up), and the
invoices' routes through the edge."""
import datetime
import subprocess
import threading
import uuid

import psycopg2
import requests
import pytest

from conftest import BIN, wait_until
from projects_api import add_member, new_tenant
from users_api import EdgeApi, Mailbox
from test_billing import trialing_tenant


@pytest.fixture
def api(stack):
    return EdgeApi(stack)


def tenant_tx(conn, tenant_id):
    cur = conn.cursor()
    cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_id,))
    return cur


def drafts(stack, tenant_id, n):
    """n draft invoices of a tenant (as the billing service's role)."""
    conn = stack.db("billing")
    ids = []
    with conn:
        cur = tenant_tx(conn, tenant_id)
        for i in range(n):
            cur.execute(
                "INSERT INTO billing.invoices (tenant_id, plan_code,"
                " plan_version, period_start, period_end, currency)"
                " VALUES (%s, 'team', 1, %s, %s, 'USD') RETURNING id",
                (tenant_id, datetime.date(2000, 1, 1) + datetime.timedelta(days=i),
                 datetime.date(2000, 1, 2) + datetime.timedelta(days=i)))
            ids.append(cur.fetchone()[0])
    conn.close()
    return ids


def numbers(stack, tenant_id):
    conn = stack.db("billing")
    with conn:
        cur = tenant_tx(conn, tenant_id)
        cur.execute("SELECT number FROM billing.invoices WHERE number IS NOT NULL"
                    " ORDER BY number")
        out = [r[0] for r in cur.fetchall()]
    conn.close()
    return out


def test_concurrent_finalisation_numbers_1_to_n_without_gap(stack):
    tenant = str(uuid.uuid4())
    ids = drafts(stack, tenant, 50)
    barrier = threading.Barrier(25)
    errors = []

    def finalise(chunk, roll_back_first):
        try:
            conn = stack.db("billing")
            barrier.wait(timeout=30)
            for n, invoice in enumerate(chunk):
                if roll_back_first and n == 0:
                    cur = tenant_tx(conn, tenant)
                    cur.execute("SELECT billing.finalize_invoice(%s)", (invoice,))
                    conn.rollback()  # its number is given back
                with conn:
                    cur = tenant_tx(conn, tenant)
                    cur.execute("SELECT billing.finalize_invoice(%s)", (invoice,))
            conn.close()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=finalise, args=(ids[i::25], i % 3 == 0))
               for i in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert numbers(stack, tenant) == list(range(1, 51))
    # finalising again changes nothing
    conn = stack.db("billing")
    with conn:
        cur = tenant_tx(conn, tenant)
        cur.execute("SELECT billing.finalize_invoice(%s)", (ids[7],))
        again = cur.fetchone()[0]
        cur.execute("SELECT number FROM billing.invoices WHERE id = %s", (ids[7],))
        assert cur.fetchone()[0] == again
    conn.close()
    assert numbers(stack, tenant) == list(range(1, 51))


@pytest.mark.parametrize("role", ["billing", "migrator"])
def test_a_final_invoice_and_its_lines_are_immutable(stack, role):
    tenant = str(uuid.uuid4())
    final, draft = drafts(stack, tenant, 2)
    conn = stack.db("billing")
    with conn:
        cur = tenant_tx(conn, tenant)
        for inv in (final, draft):
            cur.execute(
                "INSERT INTO billing.invoice_lines (tenant_id, invoice_id,"
                " position, description, quantity, unit_price_minor,"
                " amount_minor, period_start, period_end)"
                " VALUES (%s, %s, 1, 'Team plan', 2, 1200, 2400,"
                " '2000-01-01', '2000-01-02')", (tenant, inv))
        cur.execute("SELECT billing.finalize_invoice(%s)", (final,))
        cur.execute("SELECT total_minor FROM billing.invoices WHERE id = %s",
                    (final,))
        assert cur.fetchone()[0] == 2400
    conn.close()
    refused = [
        "UPDATE billing.invoices SET total_minor = 1 WHERE id = %(i)s",
        "UPDATE billing.invoices SET status = 'draft', number = NULL,"
        " finalized_at = NULL WHERE id = %(i)s",
        "DELETE FROM billing.invoices WHERE id = %(i)s",
        "UPDATE billing.invoice_lines SET amount_minor = 1 WHERE invoice_id = %(i)s",
        "DELETE FROM billing.invoice_lines WHERE invoice_id = %(i)s",
        "INSERT INTO billing.invoice_lines (tenant_id, invoice_id, position,"
        " description, quantity, unit_price_minor, amount_minor, period_start,"
        " period_end) VALUES (%(t)s, %(i)s, 2, 'More', 1, 1, 1, '2000-01-01',"
        " '2000-01-02')",
        # moving a draft's line into the final invoice
        "UPDATE billing.invoice_lines SET invoice_id = %(i)s, position = 9"
        " WHERE invoice_id = %(d)s",
    ]
    conn = stack.db(role)
    for sql in refused:
        with pytest.raises(psycopg2.Error) as e:
            with conn:
                cur = tenant_tx(conn, tenant)
                cur.execute(sql, {"i": final, "t": tenant, "d": draft})
        assert e.value.pgcode == "55000", (sql, e.value)
    # its payment is the one change a final invoice takes; a draft is free
    with conn:
        cur = tenant_tx(conn, tenant)
        cur.execute("UPDATE billing.invoices SET status = 'paid',"
                    " paid_at = now() WHERE id = %s", (final,))
        cur.execute("UPDATE billing.invoice_lines SET amount_minor = 5"
                    " WHERE invoice_id = %s", (draft,))
        cur.execute("DELETE FROM billing.invoice_lines WHERE invoice_id = %s",
                    (draft,))
        cur.execute("DELETE FROM billing.invoices WHERE id = %s", (draft,))
    with pytest.raises(psycopg2.Error) as e:
        with conn:
            cur = tenant_tx(conn, tenant)
            cur.execute("UPDATE billing.invoices SET status = 'open',"
                        " paid_at = NULL WHERE id = %s", (final,))
    assert e.value.pgcode == "55000"
    conn.close()


# --- the invoicing run ----------------------------------------------------------


def run_invoicing(stack, as_of):
    return subprocess.run(
        [str(BIN / "lintel-billing"), "invoice", "--as-of", as_of],
        env=stack.service_env("billing"), capture_output=True, text=True,
        timeout=60)


def month_start(d, back=0):
    d = d.replace(day=1)
    for _ in range(back):
        d = (d - datetime.timedelta(days=1)).replace(day=1)
    return d


def set_period(stack, t, state, start, end, charge=None):
    with stack.db("migrator") as conn:
        cur = tenant_tx(conn, t["id"])
        cur.execute("UPDATE billing.subscriptions SET state = %s,"
                    " period_start = %s, period_end = %s", (state, start, end))
        if charge is not None:
            cur.execute(
                "INSERT INTO billing.pending_charges (tenant_id, description,"
                " amount_minor, currency, period_start, period_end)"
                " VALUES (%s, 'Remaining time on Business', %s, 'USD', %s, %s)",
                (t["id"], charge, start, end))


def subscription(api, t):
    r = api.call("GET", "/api/billing/subscription", t["slug"], t["token"])
    assert r.status == 200, r
    return r.body


def invoices(api, t, query="limit=100"):
    r = api.call("GET", "/api/billing/invoices", t["slug"], t["token"],
                 query=query)
    assert r.status == 200, r
    return r.body


def test_the_run_bills_ended_periods_once_and_catches_up(stack, api):
    t = trialing_tenant(api, Mailbox(stack), roles=("member",))  # 2 seats
    today = datetime.date.today()
    # two whole months have ended, the first with a plan change's charge
    set_period(stack, t, "active", month_start(today, 2), month_start(today, 1),
               charge=777)
    r = run_invoicing(stack, today.isoformat())
    assert r.returncode == 0, r.stderr
    page = invoices(api, t)
    assert [i["number"] for i in page["data"]] == [2, 1]
    assert page["next_cursor"] is None
    second, first = page["data"]
    assert first["period"] == {"start": month_start(today, 2).isoformat(),
                               "end": month_start(today, 1).isoformat()}
    assert second["period"] == {"start": month_start(today, 1).isoformat(),
                                "end": month_start(today).isoformat()}
    r = api.call("GET", f"/api/billing/invoices/{first['id']}", t["slug"],
                 t["token"])
    assert r.status == 200, r
    lines = r.body["lines"]
    assert [(l["quantity"], l["unit_price_minor"], l["amount_minor"])
            for l in lines] == [(2, 1200, 2400), (1, 777, 777)]
    assert r.body["total_minor"] == 3177 == first["total_minor"]
    assert r.body["status"] == "open" and r.body["currency"] == "USD"
    # the period moved on to this month
    sub = subscription(api, t)
    assert sub["current_period"] == {
        "start": month_start(today).isoformat(),
        "end": month_start(today + datetime.timedelta(days=32)).isoformat()}
    # a second run makes nothing more
    r = run_invoicing(stack, today.isoformat())
    assert r.returncode == 0, r.stderr
    assert [i["number"] for i in invoices(api, t)["data"]] == [2, 1]
    # keyset pages
    p1 = invoices(api, t, "limit=1")
    assert [i["number"] for i in p1["data"]] == [2] and p1["next_cursor"]
    p2 = invoices(api, t, f"limit=1&cursor={p1['next_cursor']}")
    assert [i["number"] for i in p2["data"]] == [1] and p2["next_cursor"] is None


def test_an_ended_trial_becomes_active_without_an_invoice(stack, api):
    t = trialing_tenant(api)
    today = datetime.date.today()
    start = today - datetime.timedelta(days=20)
    end = today - datetime.timedelta(days=6)
    set_period(stack, t, "trialing", start, end)
    r = run_invoicing(stack, today.isoformat())
    assert r.returncode == 0, r.stderr
    sub = subscription(api, t)
    assert sub["state"] == "active"
    assert sub["current_period"]["start"] == end.isoformat()
    assert sub["current_period"]["end"] == month_start(
        end + datetime.timedelta(days=32)).isoformat()
    assert invoices(api, t)["data"] == []


def test_a_short_first_month_is_prorated_by_the_day(stack, api):
    t = trialing_tenant(api)
    # the 11th to the end of a 30-day month: 20 days of 1200
    set_period(stack, t, "active", datetime.date(2026, 6, 11),
               datetime.date(2026, 7, 1))
    r = run_invoicing(stack, "2026-07-01")
    assert r.returncode == 0, r.stderr
    inv = invoices(api, t)["data"][0]
    r = api.call("GET", f"/api/billing/invoices/{inv['id']}", t["slug"],
                 t["token"])
    assert [l["amount_minor"] for l in r.body["lines"]] == [1200 * 30 // 30 - 1200 * 10 // 30]
    assert r.body["lines"][0]["period_start"] == "2026-06-11"


def test_invoices_are_for_admins_and_their_own_tenant(stack, api):
    t = trialing_tenant(api, Mailbox(stack), roles=("manager",))
    other = trialing_tenant(api)
    today = datetime.date.today()
    set_period(stack, other, "active", month_start(today, 1), month_start(today))
    assert run_invoicing(stack, today.isoformat()).returncode == 0
    theirs = invoices(api, other)["data"][0]["id"]
    r = api.call("GET", f"/api/billing/invoices/{theirs}", t["slug"], t["token"])
    assert r.status == 404 and r.code == "not_found"
    r = api.call("GET", "/api/billing/invoices/not-a-uuid", t["slug"], t["token"])
    assert r.status == 404
    r = api.call("GET", "/api/billing/invoices", t["slug"],
                 t["as"]["manager"]["token"])
    assert r.status == 403 and r.code == "forbidden"
    r = api.call("GET", "/api/billing/invoices", t["slug"], t["token"],
                 query="limit=101")
    assert r.status == 400 and r.fields() == {"limit": "out_of_range"}


def test_the_command_refuses_a_bad_date(stack):
    for args in (["--as-of", "2026-02-30"], ["--as-of"], ["2026-01-01"]):
        r = subprocess.run([str(BIN / "lintel-billing"), "invoice", *args],
                           env=stack.service_env("billing"),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "usage" in r.stderr, args


def test_kill_9_during_the_run_then_a_rerun_makes_exactly_the_missing(stack):
    """Many tenants due (made in SQL: no members, so one seat each); the
    run is killed once some invoices exist, and run again."""
    today = datetime.date.today()
    start, end = month_start(today, 1), month_start(today)
    tenants = [str(uuid.uuid4()) for _ in range(600)]
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("""
            DO $$
            DECLARE t uuid;
            BEGIN
                FOREACH t IN ARRAY %s::uuid[] LOOP
                    PERFORM set_config('app.tenant_id', t::text, true);
                    INSERT INTO billing.subscriptions (tenant_id, plan_code,
                        plan_version, state, period_start, period_end)
                    VALUES (t, 'team', 1, 'active', %s, %s);
                END LOOP;
            END
            $$""", (tenants, start, end))

    def made():
        with stack.db("billing") as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM billing.invoice_schedule s"
                        " WHERE s.tenant_id = ANY(%s::uuid[])"
                        " AND s.due_on > %s", (tenants, end))
            return cur.fetchone()[0]

    proc = subprocess.Popen(
        [str(BIN / "lintel-billing"), "invoice", "--as-of", today.isoformat()],
        env=stack.service_env("billing"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: made() >= 20 or proc.poll() is not None, 60,
                   "the run to have billed some tenants")
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.kill()  # SIGKILL
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    partial = made()
    assert 20 <= partial < len(tenants)
    r = run_invoicing(stack, today.isoformat())
    assert r.returncode == 0, r.stderr
    assert made() == len(tenants)
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("""
            DO $$
            DECLARE t uuid; n int; lo int; hi int;
            BEGIN
                FOREACH t IN ARRAY %s::uuid[] LOOP
                    PERFORM set_config('app.tenant_id', t::text, true);
                    SELECT count(*), min(number), max(number) INTO n, lo, hi
                      FROM billing.invoices;
                    IF (n, lo, hi) IS DISTINCT FROM (1, 1, 1) THEN
                        RAISE EXCEPTION 'tenant %% has %% invoices', t, n;
                    END IF;
                END LOOP;
            END
            $$""", (tenants,))


def test_the_pdf_of_an_invoice_opens_with_its_number_and_total(
        stack, api, tmp_path):
    t = trialing_tenant(api, Mailbox(stack), roles=("member",))  # 2 seats
    today = datetime.date.today()
    set_period(stack, t, "active", month_start(today, 1), month_start(today),
               charge=-150)
    assert run_invoicing(stack, today.isoformat()).returncode == 0
    inv = invoices(api, t)["data"][0]
    r = requests.get(f"http://127.0.0.1:{api.port}/api/billing/invoices/"
                     f"{inv['id']}.pdf", timeout=10,
                     headers={"Host": f"{t['slug']}.lintel.localhost",
                              "Authorization": f"Bearer {t['token']}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    path = tmp_path / "invoice.pdf"
    path.write_bytes(r.content)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert f"Invoice {inv['number']}" in text
    assert inv["total_minor"] == 2 * 1200 - 150
    assert "Total: 22.50 USD" in text
    assert "-1.50 USD" in text and t["slug"] in text
    # another tenant's, or a malformed id: 404
    other = trialing_tenant(api)
    r = api.call("GET", f"/api/billing/invoices/{inv['id']}.pdf", other["slug"],
                 other["token"])
    assert r.status == 404
    r = api.call("GET", "/api/billing/invoices/x.pdf", t["slug"], t["token"])
    assert r.status == 404
