"""Calling the users service's public routes the way a client does:
through the nginx edge of the test stack (LINTEL_HTTP_PORT, 18080 in the
tests), with a Host header naming the tenant.
"""
import base64
import json
import os
import pathlib
import re
import subprocess
import time
import uuid

import requests

from conftest import STACK

BASE = "lintel.localhost"
DEMO_PASSWORD = "lintel-demo-pass"
ADMIN_EMAIL = "admin@lintel.localhost"
ADMIN_PASSWORD = "lintel-admin-pass"
PASSWORD = "correct horse battery"


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    @property
    def code(self):
        return (self.body or {}).get("error", {}).get("code")

    def fields(self):
        return {f["field"]: f["code"]
                for f in (self.body or {}).get("error", {}).get("fields", [])}

    def __repr__(self):
        return f"<Reply {self.status} {self.body!r}>"


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def claims(token):
    return json.loads(b64d(token.split(".")[1]))


def header(token):
    return json.loads(b64d(token.split(".")[0]))


class _FromAddress(requests.adapters.HTTPAdapter):
    """Connections from one source address: 127.0.0.0/8 is all loopback on
    Linux, so a test can be a client of its own (127.a.b.c) to the edge,
    which passes the TCP peer's address to the services as the client IP."""

    def __init__(self, source):
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kw)


class EdgeApi:
    """The public API through the real nginx edge of the test stack."""

    def __init__(self, stack, source=None):
        self.stack = stack
        self.port = int(stack.env["LINTEL_HTTP_PORT"])
        self.issuer = stack.service_env("users")["LINTEL_JWT_ISSUER"]
        self.source = source
        self.session = None
        if source is not None:
            self.session = requests.Session()
            self.session.mount("http://", _FromAddress(source))

    def from_address(self, source):
        """The same API, called from the loopback address `source`."""
        return EdgeApi(self.stack, source)

    def call(self, method, path, tenant=None, token=None, json_body=None,
             raw=None, query=None, headers=None):
        """tenant: a slug, or None for the apex host. json_body: an object
        to send as JSON; raw: bytes/str sent as an application/json body."""
        if json_body is not None:
            raw = json.dumps(json_body)
        h = {"Host": f"{tenant}.{BASE}" if tenant else BASE}
        if raw is not None:
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        url = f"http://127.0.0.1:{self.port}{path}"
        if query:
            url += "?" + query
        r = (self.session or requests).request(method, url, headers=h,
                                               data=raw, timeout=10)
        try:
            body = r.json() if r.content else None
        except ValueError:
            body = r.text
        return Reply(r.status_code, dict(r.headers), body)

    # --- flows the tests share ---------------------------------------------
    def signup(self, slug=None, email=None, password=PASSWORD):
        slug = slug or f"t-{uuid.uuid4().hex[:12]}"
        email = email or f"owner@{slug}.test"
        r = self.call("POST", "/api/signup", json_body={
            "tenant_slug": slug, "tenant_name": f"Tenant {slug}",
            "name": "Owner", "email": email, "password": password})
        assert r.status == 201, r
        return {"slug": slug, "id": r.body["tenant"]["id"], "email": email,
                "password": password, "user": r.body["user"]}

    def login(self, tenant, email, password=PASSWORD):
        r = self.call("POST", "/api/auth/login", tenant=tenant,
                      json_body={"email": email, "password": password})
        assert r.status == 200, r
        return r.body

    def admin_token(self):
        r = self.call("POST", "/api/auth/login", json_body={
            "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert r.status == 200, r
        return r.body["access_token"]


class Mailbox:
    """The SMTP sink's folder ($RUN_DIR/mail): one .eml file a message."""

    def __init__(self, stack):
        self.folder = pathlib.Path(stack.run_dir) / "mail"

    def wait_for(self, to, pattern, timeout=15, exclude=()):
        """The first capture of `pattern` in a message to `to` (other than
        those in `exclude`)."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while time.time() < deadline:
            for f in sorted(self.folder.glob("*.eml")):
                text = f.read_text(errors="replace")
                if f"X-Sink-Rcpt: {to}" in text:
                    m = rx.search(text)
                    if m and m.group(1) not in exclude:
                        return m.group(1), text
            time.sleep(0.1)
        raise AssertionError(f"no mail to {to} matching {pattern}")

    def count(self, to, pattern):
        """How many messages to `to` match `pattern` now."""
        rx = re.compile(pattern)
        return sum(1 for f in self.folder.glob("*.eml")
                   if f"X-Sink-Rcpt: {to}" in (text := f.read_text(
                       errors="replace")) and rx.search(text))


def restart_users(stack, **extra_env):
    """Stops the users service and starts it again through the stack runner
    (which inherits `extra_env`: variables its env file does not set)."""
    pid = stack.pid("users")
    os.kill(pid, 15)
    deadline = time.time() + 15
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        if time.time() > deadline:  # as the stack runner's stop does
            os.kill(pid, 9)
        time.sleep(0.1)
    up = subprocess.run(["bash", str(STACK), "up"],
                        env=dict(stack.env, **extra_env),
                        capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
