#!/usr/bin/python3
"""A stand-in payment provider for the local stack and the tests (like
compose/local/smtp_sink.py for mail): it signs events with the scheme
billing checks (Stripe's: Webhook-Signature: t=<unix>,v1=<hex
HMAC-SHA256(secret, t + "." + body)>) and sends them to the edge.

    tools/payment_provider.py --secret S [--url URL] [--id ID] \\
        invoice.paid|invoice.payment_failed TENANT_ID INVOICE_ID

    tools/payment_provider.py serve --port 4242 --secret-file F [--url URL]

`serve` is the provider's charge API, as billing's dunning calls it
(services/billing/payment_charge.c):

    POST /v1/charges  {"tenant_id", "invoice_id", "amount_minor", "currency"}
                      with an Idempotency-Key header
        -> 200 {"id": "ch_…", "status": "succeeded" | "failed"}, then the
           signed invoice.paid or invoice.payment_failed webhook to --url
           (retried a few times, as a real provider does); the same key
           again answers the same, with no second charge and no webhook.
        -> 503 when the charge's scripted outcome is "down" (nothing
           charged, nothing sent): the provider is unavailable.

and, for the tests, its controls:

    POST /control/outcomes  {"invoice_id", "outcomes": ["fail", "succeed",
                             "down", …]}: the next charges of that invoice,
                             in order (then --default-outcome)
    GET  /control/charges?invoice_id=…  {"data": [every charge asked, with
                             its attempt's outcome]}

The secret of the local stack is $LINTEL_RUN_DIR/payment-webhook.secret;
the URL defaults to the local edge's apex,
http://lintel.localhost:8080/api/billing/webhooks/local.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
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


class Provider:
    """The charges asked, the scripted outcomes, the answers given."""

    def __init__(self, url, secret_file, default_outcome, host):
        self.url, self.secret_file, self.host = url, secret_file, host
        self.default_outcome = default_outcome
        self.lock = threading.Lock()
        self.outcomes = {}   # invoice_id -> [outcome, ...]
        self.charges = []    # every charge asked, in order
        self.answers = {}    # Idempotency-Key -> (status, reply)

    def secret(self):
        with open(self.secret_file) as f:
            return f.read().strip()

    def charge(self, body, key):
        """(status, reply, event to send or None) for one charge."""
        with self.lock:
            if key and key in self.answers:
                return self.answers[key] + (None,)
            script = self.outcomes.get(body["invoice_id"], [])
            outcome = script.pop(0) if script else self.default_outcome
            self.charges.append(dict(body, idempotency_key=key,
                                     outcome=outcome))
            if outcome == "down":
                return 503, {"error": "unavailable"}, None
            status = "succeeded" if outcome == "succeed" else "failed"
            reply = {"id": f"ch_{uuid.uuid4().hex}", "status": status}
            if key:
                self.answers[key] = (200, reply)
        type_ = "invoice.paid" if status == "succeeded" \
            else "invoice.payment_failed"
        return 200, reply, event(type_, body["tenant_id"], body["invoice_id"])

    def deliver(self, ev):
        """Sends a webhook, retried as a provider does (a few times)."""
        for delay in (0, 0.2, 1, 3):
            time.sleep(delay)
            try:
                if send(self.url, self.secret(), ev, self.host)[0] == 200:
                    return
            except (OSError, urllib.error.URLError) as e:
                print(f"payment provider: webhook {ev['id']}: {e}",
                      file=sys.stderr, flush=True)


def handler(provider):
    class Handler(http.server.BaseHTTPRequestHandler):
        def reply(self, status, body):
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            try:
                return json.loads(self.rfile.read(n) or b"null")
            except ValueError:
                return None

        def do_POST(self):
            body = self.body()
            if self.path == "/v1/charges":
                need = ("tenant_id", "invoice_id", "amount_minor", "currency")
                if not isinstance(body, dict) or any(k not in body
                                                     for k in need):
                    return self.reply(400, {"error": "a charge needs "
                                            + ", ".join(need)})
                status, reply, ev = provider.charge(
                    body, self.headers.get("Idempotency-Key"))
                self.reply(status, reply)
                if ev is not None:
                    threading.Thread(target=provider.deliver, args=(ev,),
                                     daemon=True).start()
                return None
            if self.path == "/control/outcomes" and isinstance(body, dict):
                with provider.lock:
                    provider.outcomes[body["invoice_id"]] = \
                        list(body["outcomes"])
                return self.reply(200, {"ok": True})
            return self.reply(404, {"error": "no such route"})

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            if u.path != "/control/charges":
                return self.reply(404, {"error": "no such route"})
            inv = urllib.parse.parse_qs(u.query).get("invoice_id", [None])[0]
            with provider.lock:
                data = [c for c in provider.charges
                        if inv is None or c["invoice_id"] == inv]
            return self.reply(200, {"data": data})

        def log_message(self, fmt, *args):
            print("payment provider: " + fmt % args, file=sys.stderr,
                  flush=True)

    return Handler


def serve(argv):
    p = argparse.ArgumentParser(prog="payment_provider.py serve")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (0.0.0.0 in a container)")
    p.add_argument("--port", type=int, default=4242)
    p.add_argument("--secret-file", required=True)
    p.add_argument("--url",
                   default="http://lintel.localhost:8080/api/billing/webhooks/local")
    p.add_argument("--webhook-host",
                   help="the Host header of the webhooks (the apex)")
    p.add_argument("--default-outcome", default="succeed",
                   choices=["succeed", "fail", "down"])
    a = p.parse_args(argv)
    provider = Provider(a.url, a.secret_file, a.default_outcome,
                        a.webhook_host)
    srv = http.server.ThreadingHTTPServer((a.host, a.port), handler(provider))
    print(f"payment provider: charges on {a.host}:{a.port}, webhooks to "
          f"{a.url}", file=sys.stderr, flush=True)
    srv.serve_forever()


def main():
    if sys.argv[1:2] == ["serve"]:
        return serve(sys.argv[2:])
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
