"""The edge's limits as an attacker meets them: a flood from one address,
one user's flood beside another user of the same tenant, a tenant's bound,
a body sent a byte at a time, a header never finished, too many open
requests from one address.

The suite's own edge has limits no real test reaches (conftest.py); this
module starts a second edge from the same shipped configuration
(`stack.sh edge-config`, gateway-module/nginx.conf.example) with tight
limits, in front of the suite's services. Each test that needs an address
of its own sends from another loopback address (127.0.0.x), so that
buckets of one test never carry into another.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import PORTS, STACK
from test_users_members import add_member
from users_api import BASE

TIGHT = {
    # 1 a minute: nothing refills while a test runs, so every count is exact
    "LINTEL_EDGE_IP_RATE": "1r/m", "LINTEL_EDGE_IP_BURST": "5",
    "LINTEL_EDGE_USER_RATE": "1r/m", "LINTEL_EDGE_USER_BURST": "5",
    "LINTEL_EDGE_TENANT_RATE": "1r/m", "LINTEL_EDGE_TENANT_BURST": "8",
    "LINTEL_EDGE_CONN_PER_IP": "3",
    "LINTEL_EDGE_CLIENT_TIMEOUT": "2s",
}
TIMEOUT_S = 2


@pytest.fixture(scope="module")
def tight_edge(stack, tmp_path_factory):
    d = tmp_path_factory.mktemp("tight-edge")
    port = PORTS["LINTEL_TEST_TIGHT_EDGE_PORT"]
    env = dict(stack.env, **TIGHT, LINTEL_HTTP_PORT=port)
    subprocess.run(["bash", str(STACK), "edge-config", str(d)], env=env,
                   check=True)
    conf = d / "nginx.conf"
    cmd = ["/usr/sbin/nginx", "-p", str(d), "-c", str(conf)]
    subprocess.run(cmd + ["-t", "-q"], check=True)
    proc = subprocess.Popen(cmd + ["-g", "daemon off;"])
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", int(port)), 0.2).close()
            break
        except OSError:
            assert time.time() < deadline, "the tight edge did not start"
            assert proc.poll() is None, "the tight edge exited"
            time.sleep(0.05)
    yield int(port)
    proc.send_signal(signal.SIGQUIT)
    proc.wait(20)


def call(port, method, path, tenant=None, token=None, body=None,
         source="127.0.0.1"):
    """One request on a connection of its own from `source`; returns
    (status, lower-cased headers, parsed JSON body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                   source_address=(source, 0))
    h = {"Host": f"{tenant}.{BASE}" if tenant else BASE}
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        headers = {k.lower(): v for k, v in r.getheaders()}
        return r.status, headers, json.loads(raw) if raw else None
    finally:
        c.close()


def assert_rate_limited(status, headers, body):
    assert status == 429, (status, body)
    assert headers["content-type"] == "application/json"
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["request_id"] == headers["x-request-id"]
    assert int(headers["retry-after"]) >= 1


def me(port, t, token):
    return call(port, "GET", "/api/users/me", t["slug"], token)


def test_a_flood_from_one_address_gets_429_json(tight_edge):
    # an anonymous route: sign-up (each request is a validation error, so
    # nothing is created); burst 5 + 1 pass, the rest are refused
    statuses = []
    for _ in range(10):
        status, headers, body = call(tight_edge, "POST", "/api/signup",
                                     body={}, source="127.0.0.2")
        statuses.append(status)
        if status == 429:
            assert_rate_limited(status, headers, body)
    assert statuses == [400] * 6 + [429] * 4, statuses
    # another address is not behind the flood
    status, _, _ = call(tight_edge, "POST", "/api/signup", body={},
                        source="127.0.0.5")
    assert status == 400


def test_one_user_s_flood_does_not_limit_another_user_of_the_tenant(
        tight_edge, api, mailbox, tenant):
    member = add_member(api, mailbox, tenant, "member")
    owner_token = tenant["tokens"]["access_token"]
    for _ in range(6):
        assert me(tight_edge, tenant, owner_token)[0] == 200
    assert_rate_limited(*me(tight_edge, tenant, owner_token))
    assert me(tight_edge, tenant, member["tokens"]["access_token"])[0] == 200


def test_a_tenant_s_users_together_are_bounded(tight_edge, api, mailbox,
                                                tenant):
    member = add_member(api, mailbox, tenant, "member")
    owner_token = tenant["tokens"]["access_token"]
    member_token = member["tokens"]["access_token"]
    for _ in range(6):
        assert me(tight_edge, tenant, owner_token)[0] == 200
    # the tenant allows 9 (burst 8 + 1): the member gets 3, although its
    # own budget (6) is far from spent
    for _ in range(3):
        assert me(tight_edge, tenant, member_token)[0] == 200
    assert_rate_limited(*me(tight_edge, tenant, member_token))
    # another tenant has a bound of its own
    other = api.signup()
    other_token = api.login(other["slug"], other["email"],
                            other["password"])["access_token"]
    assert me(tight_edge, other, other_token)[0] == 200


def test_a_forged_token_is_refused_before_it_is_counted(tight_edge, tenant):
    # the owner's identity with a broken signature: 401, never a 429
    # taken from the owner's budget
    token = tenant["tokens"]["access_token"]
    head, payload, sig = token.split(".")
    forged = ".".join([head, payload, sig[:-4] + ("AAAA" if sig[-4:] !=
                                                  "AAAA" else "BBBB")])
    for _ in range(10):
        status, _, body = me(tight_edge, tenant, forged)
        assert status == 401, body
    for _ in range(6):
        assert me(tight_edge, tenant, token)[0] == 200


def open_request(port, source, head):
    s = socket.create_connection(("127.0.0.1", port), timeout=15,
                                 source_address=(source, 0))
    s.sendall(head)
    return s


def read_until_closed(s):
    """Everything the server sends until it closes; raises socket.timeout
    if it keeps the connection past the socket's timeout."""
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


LOGIN_HEAD = (b"POST /api/auth/login HTTP/1.1\r\nHost: " + BASE.encode()
              + b"\r\nContent-Type: application/json\r\n"
              b"Content-Length: 64\r\n\r\n")


def test_a_body_that_stops_coming_is_cut(tight_edge):
    # 1 byte of 64, then nothing: the connection is closed once
    # client_body_timeout passes without a byte, not minutes later
    s = open_request(tight_edge, "127.0.0.3", LOGIN_HEAD + b"{")
    start = time.monotonic()
    try:
        out = read_until_closed(s)
    finally:
        s.close()
    assert TIMEOUT_S - 0.5 < time.monotonic() - start < TIMEOUT_S + 3
    # nginx ends a timed-out read by closing; anything it says is JSON
    if out:
        head, _, body = out.partition(b"\r\n\r\n")
        assert b"application/json" in head, out
        json.loads(body)


def test_a_header_never_finished_is_cut(tight_edge):
    s = open_request(tight_edge, "127.0.0.3",
                     b"GET /api/users/me HTTP/1.1\r\nHost: ")
    start = time.monotonic()
    try:
        read_until_closed(s)
    finally:
        s.close()
    assert TIMEOUT_S - 0.5 < time.monotonic() - start < TIMEOUT_S + 3


def test_too_many_open_requests_from_one_address_get_429_json(
        tight_edge, tenant):
    token = tenant["tokens"]["access_token"]
    held = [open_request(tight_edge, "127.0.0.4", LOGIN_HEAD)
            for _ in range(3)]
    try:
        # the three wait for their bodies; a fourth request from the same
        # address is refused (until nginx has read the three heads, it is
        # answered: the owner's budget allows 6), from another it is not
        for _ in range(6):
            status, headers, body = call(tight_edge, "GET", "/api/users/me",
                                         tenant["slug"], token,
                                         source="127.0.0.4")
            if status != 200:
                break
        assert_rate_limited(status, headers, body)
        status, _, _ = call(tight_edge, "GET", "/api/users/me",
                            tenant["slug"], token, source="127.0.0.6")
        assert status == 200
    finally:
        for s in held:
            s.close()
