#!/usr/bin/python3
"""A stand-in payment provider for the local stack and the tests (like
compose/local/smtp_sink.py for mail): it signs events with the scheme
billing checks (Stripe's: Webhook-Signature: t=<unix>,v1=<hex
HMAC-SHA256(secret, t + "." + body)>) and sends them to the edge.

    tools/payment_provider.py --secret S [--url URL] [--id ID] \\
        invoice.paid|invoice.payment_failed TENANT_ID INVOICE_ID

The secret of the local stack is $LINTEL_RUN_DIR/payment-webhook.secret;
the URL defaults to the local edge's apex,
http://lintel.localhost:8080/api/billing/webhooks/local.
"""
import argparse
import hashlib
import hmac
import json
import sys
import time
import urllib.request
import uuid


def sign(body, secret, t=None):
    """The Webhook-Signature header of `body` (bytes) at time `t`."""
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def event(type_, tenant_id, invoice_id, event_id=None):
    """An event as the provider sends it (its own members beside ours)."""
    return {"id": event_id or f"evt_{uuid.uuid4().hex}", "type": type_,
            "created": int(time.time()), "livemode": False,
            "data": {"tenant_id": tenant_id, "invoice_id": invoice_id}}


def send(url, secret, ev, host=None):
    body = json.dumps(ev).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "Webhook-Signature": sign(body, secret)})
    if host:
        req.add_header("Host", host)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--secret", required=True)
    p.add_argument("--url",
                   default="http://lintel.localhost:8080/api/billing/webhooks/local")
    p.add_argument("--id", help="the event id (default: a new one)")
    p.add_argument("type", choices=["invoice.paid", "invoice.payment_failed"])
    p.add_argument("tenant_id")
    p.add_argument("invoice_id")
    a = p.parse_args()
    status, reply = send(a.url, a.secret,
                         event(a.type, a.tenant_id, a.invoice_id, a.id))
    print(status, json.dumps(reply))
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
