"""Payment webhooks through the edge: on the apex host without a token,
the signature matrix (unsigned, stale, tampered, another secret, rotation),
nothing stored for a refused event, one effect for ten replays, an unknown
invoice stored and flagged, the effects of invoice.paid and
invoice.payment_failed on the invoice and the subscription, and the dunning
retries that ask the stand-in provider (tools/payment_provider.py serve, in
the stack) to charge again."""
import datetime
import json
import sys
import time
import urllib.request
import uuid

import pytest

from conftest import PORTS, ROOT, wait_until
from test_billing import trialing_tenant
from test_billing_invoices import (invoices, month_start, run_invoicing,
                                   set_period, subscription)
from users_api import EdgeApi

sys.path.insert(0, str(ROOT / "tools"))
import payment_provider  # noqa: E402  (tools/payment_provider.py)

PATH = "/api/billing/webhooks/local"
PROVIDER = f"http://127.0.0.1:{PORTS['LINTEL_PAYMENT_PROVIDER_PORT']}"


@pytest.fixture
def api(stack):
    return EdgeApi(stack)


@pytest.fixture
def secret(stack):
    return stack.service_env("billing")["LINTEL_PAYMENT_WEBHOOK_SECRET"]


def post(api, body, signature=None, tenant=None, path=PATH):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Webhook-Signature": signature} if signature else None
    return api.call("POST", path, tenant, raw=raw, headers=headers)


def stored(stack, event_id):
    with stack.db("billing") as conn, conn.cursor() as cur:
        cur.execute("SELECT processed_at IS NOT NULL, outcome, flagged"
                    " FROM billing.webhook_events WHERE event_id = %s",
                    (event_id,))
        return cur.fetchall()


def processed(stack, event_id):
    wait_until(lambda: (stored(stack, event_id) or [(False,)])[0][0], 15,
               f"event {event_id} processed")
    return stored(stack, event_id)[0]


def test_the_signature_matrix(stack, api, secret):
    ev = payment_provider.event("invoice.paid", str(uuid.uuid4()),
                                str(uuid.uuid4()))
    body = json.dumps(ev).encode()
    now = int(time.time())
    good = payment_provider.sign(body, secret, now)
    other = payment_provider.sign(body, "whsec-not-ours", now)
    refused = {
        "unsigned": (body, None),
        "stale": (body, payment_provider.sign(body, secret, now - 301)),
        "future": (body, payment_provider.sign(body, secret, now + 301)),
        "another secret": (body, other),
        "tampered": (body.replace(b"invoice.paid", b"invoice.pa1d"), good),
        "malformed": (body, "t=now,v1=xyz"),
        "no v1": (body, f"t={now}"),
    }
    for what, (raw, sig) in refused.items():
        r = post(api, raw, sig)
        assert r.status == 400 and r.code == "invalid_signature", (what, r)
    assert stored(stack, ev["id"]) == []
    # rotation: an old secret's v1 beside the current one's
    r = post(api, body, other + "," + good.split(",")[1])
    assert r.status == 200 and r.body == {"received": True, "duplicate": False}, r
    # no token needed, and none is looked at; never on a tenant's host
    t = trialing_tenant(api)
    r = post(api, body, good, tenant=t["slug"])
    assert r.status == 404, r
    r = post(api, body, good, path="/api/billing/webhooks/acme-pay")
    assert r.status == 404, r


def test_a_signed_event_must_name_itself(api, secret):
    for body, field in (({"type": "invoice.paid"}, "id"),
                        ({"id": "evt_x"}, "type"),
                        ({"id": "", "type": "invoice.paid"}, "id")):
        raw = json.dumps(body).encode()
        r = post(api, raw, payment_provider.sign(raw, secret))
        assert r.status == 400 and r.code == "validation_failed", r
        assert field in r.fields(), r
    raw = b"{not json"
    r = post(api, raw, payment_provider.sign(raw, secret))
    assert r.status == 400 and r.code == "invalid_json", r


def an_open_invoice(stack, api):
    t = trialing_tenant(api)
    today = datetime.date.today()
    set_period(stack, t, "active", month_start(today, 1), month_start(today))
    r = run_invoicing(stack, today.isoformat())
    assert r.returncode == 0, r.stderr
    return t, invoices(api, t)["data"][0]


def test_ten_replays_have_one_effect(stack, api, secret):
    t, inv = an_open_invoice(stack, api)
    ev = payment_provider.event("invoice.paid", t["id"], inv["id"])
    body = json.dumps(ev).encode()
    replies = [post(api, body, payment_provider.sign(body, secret))
               for _ in range(10)]
    assert [r.body["duplicate"] for r in replies] == [False] + [True] * 9
    assert processed(stack, ev["id"]) == (True, "applied: invoice paid", False)
    paid = invoices(api, t)["data"][0]
    assert paid["status"] == "paid" and paid["paid_at"] is not None
    with stack.db("billing") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM billing.webhook_events"
                    " WHERE event_id = %s", (ev["id"],))
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT count(*) FROM billing.jobs WHERE kind ="
                    " 'webhook.process' AND payload->>'event_id' = %s",
                    (ev["id"],))
        assert cur.fetchone()[0] == 1


def test_an_unknown_invoice_is_stored_and_flagged(stack, api, secret):
    t = trialing_tenant(api)
    status, reply = payment_provider.send(
        f"http://127.0.0.1:{api.port}{PATH}", secret,
        ev := payment_provider.event("invoice.paid", t["id"], str(uuid.uuid4())),
        host="lintel.localhost")
    assert status == 200 and reply == {"received": True, "duplicate": False}
    assert processed(stack, ev["id"]) == (True, "flagged: no such invoice", True)


def test_a_failed_payment_makes_it_past_due_and_a_payment_active(stack, api,
                                                                 secret):
    t, inv = an_open_invoice(stack, api)
    failed = payment_provider.event("invoice.payment_failed", t["id"], inv["id"])
    body = json.dumps(failed).encode()
    assert post(api, body, payment_provider.sign(body, secret)).status == 200
    processed(stack, failed["id"])
    assert subscription(api, t)["state"] == "past_due"
    assert invoices(api, t)["data"][0]["status"] == "open"
    paid = payment_provider.event("invoice.paid", t["id"], inv["id"])
    body = json.dumps(paid).encode()
    assert post(api, body, payment_provider.sign(body, secret)).status == 200
    processed(stack, paid["id"])
    assert subscription(api, t)["state"] == "active"
    assert invoices(api, t)["data"][0]["status"] == "paid"


def provider(path, body=None):
    req = urllib.request.Request(
        PROVIDER + path, method="GET" if body is None else "POST",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def script_charges(invoice_id, outcomes):
    """The provider's answers to the next charges of the invoice."""
    provider("/control/outcomes", {"invoice_id": invoice_id,
                                   "outcomes": outcomes})


def charges(invoice_id):
    """The charges the provider was asked for: (retry key, amount, outcome)."""
    return [(c["idempotency_key"].rsplit("-", 1)[1], c["amount_minor"],
             c["outcome"])
            for c in provider(f"/control/charges?invoice_id={invoice_id}")["data"]]


def run_due_steps(stack, tenant_id):
    with stack.db("billing") as conn, conn.cursor() as cur:
        cur.execute("UPDATE billing.jobs SET run_at = now()"
                    " WHERE kind = 'dunning.step' AND tenant_id = %s"
                    " AND status = 'queued'", (tenant_id,))


def job_attempts(stack, tenant_id):
    with stack.db("billing") as conn, conn.cursor() as cur:
        cur.execute("SELECT attempts FROM billing.jobs"
                    " WHERE kind = 'dunning.step' AND tenant_id = %s"
                    " ORDER BY created_at", (tenant_id,))
        return [r[0] for r in cur.fetchall()]


def job_rows(stack, tenant_id):
    with stack.db("billing") as conn, conn.cursor() as cur:
        cur.execute("SELECT payload->>'step', status,"
                    " extract(epoch FROM run_at - now())"
                    " FROM billing.jobs WHERE kind = 'dunning.step'"
                    " AND tenant_id = %s ORDER BY created_at", (tenant_id,))
        return cur.fetchall()


def tenant_status(stack, tenant_id):
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM users.tenants WHERE id = %s",
                    (tenant_id,))
        return cur.fetchone()[0]


def test_dunning_suspends_the_tenant_and_a_payment_brings_it_back(
        stack, api, secret):
    from projects_api import P
    t, inv = an_open_invoice(stack, api)
    script_charges(inv["id"], ["fail", "fail", "fail"])
    p = P(api, t)
    assert p.call("GET", "/api/projects").status == 200
    failed = payment_provider.event("invoice.payment_failed", t["id"], inv["id"])
    body = json.dumps(failed).encode()
    assert post(api, body, payment_provider.sign(body, secret)).status == 200
    processed(stack, failed["id"])
    assert subscription(api, t)["state"] == "past_due"
    # the retries: +1 day, then +3 and +7 days after the failure; each is
    # brought forward to now here, and must schedule the next
    for step, days_to_next in ((1, 1), (2, 2), (3, 4)):
        rows = job_rows(stack, t["id"])
        assert [r[0] for r in rows] == [str(s) for s in range(1, step + 1)]
        assert rows[-1][1] == "queued"
        assert days_to_next * 86400 - 120 < rows[-1][2] <= days_to_next * 86400
        with stack.db("billing") as conn, conn.cursor() as cur:
            cur.execute("UPDATE billing.jobs SET run_at = now()"
                        " WHERE kind = 'dunning.step' AND tenant_id = %s"
                        " AND status = 'queued'", (t["id"],))
        wait_until(lambda: job_rows(stack, t["id"])[step - 1][1] == "done",
                   15, f"dunning step {step}")
        assert tenant_status(stack, t["id"]) == \
            ("suspended" if step == 3 else "active")
    assert len(job_rows(stack, t["id"])) == 3  # no step after the last
    # each retry asked the provider to charge the invoice again
    assert charges(inv["id"]) == [(str(s), inv["total_minor"], "fail")
                                  for s in (1, 2, 3)]
    wait_until(lambda: p.call("GET", "/api/projects").code == "tenant_suspended",
               15, "the suspended tenant's API to answer 403")
    # a payment: the subscription is active, the tenant too
    paid = payment_provider.event("invoice.paid", t["id"], inv["id"])
    body = json.dumps(paid).encode()
    assert post(api, body, payment_provider.sign(body, secret)).status == 200
    assert processed(stack, paid["id"])[1] == "applied: invoice paid"
    wait_until(lambda: tenant_status(stack, t["id"]) == "active", 15,
               "the tenant reactivated")
    with stack.db("billing") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (t["id"],))
        cur.execute("SELECT state, dunning_step, suspended_by_billing"
                    " FROM billing.subscriptions")
        assert cur.fetchone() == ("active", 0, False)
    # the edge may hold the suspended status for its cache's TTL (60 s)
    wait_until(lambda: p.call("GET", "/api/projects").status == 200, 75,
               "the reactivated tenant's API to answer")


def test_a_payment_during_dunning_ends_the_retries(stack, api, secret):
    t, inv = an_open_invoice(stack, api)
    for type_ in ("invoice.payment_failed", "invoice.paid"):
        ev = payment_provider.event(type_, t["id"], inv["id"])
        body = json.dumps(ev).encode()
        assert post(api, body, payment_provider.sign(body, secret)).status == 200
        processed(stack, ev["id"])
    with stack.db("billing") as conn, conn.cursor() as cur:
        cur.execute("UPDATE billing.jobs SET run_at = now()"
                    " WHERE kind = 'dunning.step' AND tenant_id = %s", (t["id"],))
    wait_until(lambda: job_rows(stack, t["id"])[0][1] == "done", 15, "step 1")
    assert len(job_rows(stack, t["id"])) == 1
    assert tenant_status(stack, t["id"]) == "active"
    assert subscription(api, t)["state"] == "active"
    assert charges(inv["id"]) == []  # paid: nothing to charge


def test_a_retry_charges_again_and_the_second_one_pays(stack, api, secret):
    t, inv = an_open_invoice(stack, api)
    # the provider is down at the first try of the first retry, declines
    # the charge at its second try, and takes the second retry's
    script_charges(inv["id"], ["down", "fail", "succeed"])
    failed = payment_provider.event("invoice.payment_failed", t["id"], inv["id"])
    body = json.dumps(failed).encode()
    assert post(api, body, payment_provider.sign(body, secret)).status == 200
    processed(stack, failed["id"])
    run_due_steps(stack, t["id"])
    wait_until(lambda: job_rows(stack, t["id"])[0][1] == "done", 15, "step 1")
    assert job_attempts(stack, t["id"]) == [2, 0]  # down: lc_jobs ran it again
    assert charges(inv["id"]) == [("1", inv["total_minor"], "down"),
                                  ("1", inv["total_minor"], "fail")]
    assert subscription(api, t)["state"] == "past_due"
    run_due_steps(stack, t["id"])
    wait_until(lambda: job_rows(stack, t["id"])[1][1] == "done", 15, "step 2")
    # the provider's invoice.paid webhook, through the edge
    wait_until(lambda: subscription(api, t)["state"] == "active", 15,
               "the charged invoice's webhook")
    assert invoices(api, t)["data"][0]["status"] == "paid"
    assert charges(inv["id"])[2:] == [("2", inv["total_minor"], "succeed")]
    assert len(job_rows(stack, t["id"])) == 2  # paid: no third retry
