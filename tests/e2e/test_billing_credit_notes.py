"""Credit notes: issued by a platform admin on the apex for a tenant's
final invoice, numbered per tenant in their own gapless series, immutable
at the database level, never crediting more than the invoice's total, and
reducing what is due on it (the invoice's amount_due_minor and what a
dunning retry charges); listed and read by the tenant's admins, as JSON
and as a PDF."""
import json
import subprocess
import uuid

import psycopg2
import pytest
import requests

from conftest import wait_until
from test_billing_invoices import invoices, tenant_tx
from test_billing_webhooks import (an_open_invoice, charges, job_rows, post,
                                   processed, run_due_steps, script_charges)
from users_api import EdgeApi

import payment_provider  # noqa: E402  (tools/, on the path via test_billing_webhooks)


@pytest.fixture
def api(stack):
    return EdgeApi(stack)


@pytest.fixture
def secret(stack):
    return stack.service_env("billing")["LINTEL_PAYMENT_WEBHOOK_SECRET"]


def issue(api, admin, t, invoice_id, lines, reason="Goodwill", key=None):
    return api.call(
        "POST",
        f"/api/admin/billing/tenants/{t['id']}/invoices/{invoice_id}/credit-notes",
        token=admin, json_body={"reason": reason, "lines": lines},
        headers={"Idempotency-Key": key} if key else None)


def credit_notes(api, t, query=None):
    r = api.call("GET", "/api/billing/credit-notes", t["slug"], t["token"],
                 query=query)
    assert r.status == 200, r
    return r.body


def test_a_credit_note_takes_its_amount_off_what_is_due(stack, api):
    t, inv = an_open_invoice(stack, api)
    admin = api.admin_token()
    total = inv["total_minor"]
    assert (inv["credited_minor"], inv["amount_due_minor"]) == (0, total)
    r = issue(api, admin, t, inv["id"],
              [{"description": "Outage credit", "amount_minor": 300},
               {"description": "Seat billed twice", "amount_minor": 200}])
    assert r.status == 201, r
    note = r.body
    assert r.headers["location"] == f"/api/billing/credit-notes/{note['id']}"
    assert (note["number"], note["total_minor"], note["currency"]) == \
        (1, -500, inv["currency"])
    assert note["invoice"] == {"id": inv["id"], "number": inv["number"]}
    assert [l["amount_minor"] for l in note["lines"]] == [-300, -200]
    got = invoices(api, t)["data"][0]
    assert (got["total_minor"], got["credited_minor"], got["amount_due_minor"]) \
        == (total, -500, total - 500)
    # the tenant's admins read it, on their own host
    r = api.call("GET", f"/api/billing/credit-notes/{note['id']}", t["slug"],
                 t["token"])
    assert r.status == 200 and r.body == note, r
    assert credit_notes(api, t)["data"] == [
        {k: v for k, v in note.items() if k != "lines"}]


def test_credit_notes_are_numbered_per_tenant_without_gaps(stack, api):
    t, inv = an_open_invoice(stack, api)
    other, other_inv = an_open_invoice(stack, api)
    admin = api.admin_token()
    for n in range(1, 4):
        r = issue(api, admin, t, inv["id"],
                  [{"description": f"Credit {n}", "amount_minor": 1}])
        assert r.status == 201 and r.body["number"] == n, r
    # a refused one takes no number
    r = issue(api, admin, t, inv["id"],
              [{"description": "Too much", "amount_minor": inv["total_minor"]}])
    assert r.status == 409 and r.code == "conflict", r
    r = issue(api, admin, other, other_inv["id"],
              [{"description": "Other tenant", "amount_minor": 1}])
    assert r.body["number"] == 1, r
    r = issue(api, admin, t, inv["id"],
              [{"description": "Credit 4", "amount_minor": 1}])
    assert r.body["number"] == 4, r
    page1 = credit_notes(api, t, "limit=2")
    page2 = credit_notes(api, t, f"limit=2&cursor={page1['next_cursor']}")
    assert [n["number"] for n in page1["data"] + page2["data"]] == [4, 3, 2, 1]
    assert page2["next_cursor"] is None


def test_the_credit_notes_of_an_invoice_never_exceed_its_total(stack, api):
    t, inv = an_open_invoice(stack, api)
    admin = api.admin_token()
    total = inv["total_minor"]
    assert issue(api, admin, t, inv["id"], [
        {"description": "Most", "amount_minor": total - 1}]).status == 201
    r = issue(api, admin, t, inv["id"],
              [{"description": "Too much", "amount_minor": 2}])
    assert r.status == 409 and r.code == "conflict", r
    assert issue(api, admin, t, inv["id"], [
        {"description": "The rest", "amount_minor": 1}]).status == 201
    assert invoices(api, t)["data"][0]["amount_due_minor"] == 0


def test_bad_credit_notes_are_refused_and_store_nothing(stack, api):
    t, inv = an_open_invoice(stack, api)
    admin = api.admin_token()
    line = {"description": "Credit", "amount_minor": 1}
    cases = [
        ({"lines": [line]}, {"reason": "required"}),
        ({"reason": "x"}, {"lines": "required"}),
        ({"reason": "x", "lines": []}, {"lines": "too_short"}),
        ({"reason": "x", "lines": [line] * 21}, {"lines": "too_long"}),
        ({"reason": "x", "lines": "all"}, {"lines": "invalid_type"}),
        ({"reason": "x", "lines": [{"description": "Credit", "amount_minor": 0}]},
         {"lines[0].amount_minor": "out_of_range"}),
        ({"reason": "x", "lines": [line, {"amount_minor": -5, "extra": 1}]},
         {"lines[1].extra": "unknown_field", "lines[1].description": "required",
          "lines[1].amount_minor": "out_of_range"}),
        ({"reason": "x", "lines": [line], "total": 5}, {"total": "unknown_field"}),
    ]
    path = f"/api/admin/billing/tenants/{t['id']}/invoices/{inv['id']}/credit-notes"
    for body, fields in cases:
        r = api.call("POST", path, token=admin, json_body=body)
        assert r.status == 400 and r.fields() == fields, (body, r)
    r = api.call("POST", path, token=admin, raw=b"{", headers=None)
    assert r.status == 400 and r.code == "invalid_json", r
    # an unknown invoice, another tenant's, a malformed id: 404
    other, other_inv = an_open_invoice(stack, api)
    for tenant_id, invoice_id in ((t["id"], str(uuid.uuid4())),
                                  (t["id"], other_inv["id"]),
                                  ("nope", inv["id"]), (t["id"], "nope")):
        r = api.call("POST", f"/api/admin/billing/tenants/{tenant_id}/invoices/"
                     f"{invoice_id}/credit-notes", token=admin,
                     json_body={"reason": "x", "lines": [line]})
        assert r.status == 404, r
    # only platform admins, only on the apex
    r = api.call("POST", path, t["slug"], t["token"],
                 json_body={"reason": "x", "lines": [line]})
    assert r.status == 404, r
    r = api.call("POST", path, token=t["token"],
                 json_body={"reason": "x", "lines": [line]})
    assert r.status in (401, 403), r
    assert credit_notes(api, t)["data"] == []


def test_an_idempotency_key_issues_one_credit_note(stack, api):
    t, inv = an_open_invoice(stack, api)
    admin = api.admin_token()
    key = str(uuid.uuid4())
    lines = [{"description": "Once", "amount_minor": 7}]
    first = issue(api, admin, t, inv["id"], lines, key=key)
    again = issue(api, admin, t, inv["id"], lines, key=key)
    assert first.status == again.status == 201
    assert again.body == first.body
    assert again.headers.get("idempotent-replayed") == "true"
    assert len(credit_notes(api, t)["data"]) == 1


@pytest.mark.parametrize("role", ["billing", "migrator"])
def test_a_credit_note_and_its_lines_are_immutable(stack, api, role):
    t, inv = an_open_invoice(stack, api)
    note = issue(api, api.admin_token(), t, inv["id"],
                 [{"description": "Credit", "amount_minor": 5}]).body
    refused = [
        "UPDATE billing.credit_notes SET total_minor = -1 WHERE id = %(n)s",
        "UPDATE billing.credit_notes SET reason = 'other' WHERE id = %(n)s",
        "DELETE FROM billing.credit_notes WHERE id = %(n)s",
        "UPDATE billing.credit_note_lines SET amount_minor = -1"
        " WHERE credit_note_id = %(n)s",
        "DELETE FROM billing.credit_note_lines WHERE credit_note_id = %(n)s",
        # a line added afterwards: the lines no longer add up to the total
        "INSERT INTO billing.credit_note_lines (tenant_id, credit_note_id,"
        " position, description, amount_minor)"
        " VALUES (%(t)s, %(n)s, 2, 'More', -1)",
    ]
    conn = stack.db(role)
    for sql in refused:
        with pytest.raises(psycopg2.Error) as e:
            with conn:
                cur = tenant_tx(conn, t["id"])
                cur.execute(sql, {"n": note["id"], "t": t["id"]})
        assert e.value.pgcode == "55000", (sql, e.value)
    conn.close()
    r = api.call("GET", f"/api/billing/credit-notes/{note['id']}", t["slug"],
                 t["token"])
    assert r.body == note


def test_a_dunning_retry_charges_what_the_credit_notes_leave(stack, api,
                                                             secret):
    t, inv = an_open_invoice(stack, api)
    assert issue(api, api.admin_token(), t, inv["id"], [
        {"description": "Credit", "amount_minor": 100}]).status == 201
    script_charges(inv["id"], ["fail"])
    failed = payment_provider.event("invoice.payment_failed", t["id"], inv["id"])
    body = json.dumps(failed).encode()
    assert post(api, body, payment_provider.sign(body, secret)).status == 200
    processed(stack, failed["id"])
    run_due_steps(stack, t["id"])
    wait_until(lambda: job_rows(stack, t["id"])[0][1] == "done", 15, "step 1")
    assert charges(inv["id"]) == [("1", inv["total_minor"] - 100, "fail")]


def test_the_pdf_of_a_credit_note_opens_with_its_number_and_total(
        stack, api, tmp_path):
    t, inv = an_open_invoice(stack, api)
    note = issue(api, api.admin_token(), t, inv["id"], [
        {"description": "Outage credit", "amount_minor": 250}]).body
    r = requests.get(f"http://127.0.0.1:{api.port}/api/billing/credit-notes/"
                     f"{note['id']}.pdf", timeout=10,
                     headers={"Host": f"{t['slug']}.lintel.localhost",
                              "Authorization": f"Bearer {t['token']}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    path = tmp_path / "credit-note.pdf"
    path.write_bytes(r.content)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert f"Credit note {note['number']}" in text
    assert f"credits invoice {inv['number']}" in text
    assert "Total: -2.50 USD" in text and "Outage credit" in text
    # another tenant's, or a malformed id: 404
    other, _ = an_open_invoice(stack, api)
    r = api.call("GET", f"/api/billing/credit-notes/{note['id']}.pdf",
                 other["slug"], other["token"])
    assert r.status == 404
    r = api.call("GET", "/api/billing/credit-notes/x.pdf", t["slug"], t["token"])
    assert r.status == 404
    # one id form in every service: upper case is no id of ours
    for path in (note["id"].upper(), note["id"].upper() + ".pdf"):
        r = api.call("GET", f"/api/billing/credit-notes/{path}", t["slug"],
                     t["token"])
        assert r.status == 404 and r.code == "not_found", r
