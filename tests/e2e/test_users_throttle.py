"""Throttles that slow attackers, not users (issue 16, point 3), each run
as the attacker would: the requests as sent, the answers expected.

Every test is a client of its own: it connects to the edge from a loopback
address nobody else uses (127.77.x.y; all of 127.0.0.0/8 is loopback), and
the edge hands the TCP peer's address to users as the client IP, so no
header needs trusting and no test can fill another's per-IP window. The
module runs users with small per-IP limits (the rest of the suite, all from
127.0.0.1, runs with them out of the way: conftest.py) and restores it
after."""
import itertools
import statistics
import time
import uuid

import pytest

from conftest import wait_until
from users_api import PASSWORD, restart_users

LIMITS = {"LINTEL_SIGNUP_MAX_PER_IP": "3", "LINTEL_RESET_MAX_PER_IP": "16",
          "LINTEL_RESET_MAX_PER_ACCOUNT": "16",
          "LINTEL_LOGIN_IP_MAX_FAILURES": "100",
          "LINTEL_INVITE_MAX_PER_MEMBER": "3"}
_addresses = (f"127.77.{n // 250}.{n % 250 + 1}" for n in itertools.count())


@pytest.fixture(scope="module", autouse=True)
def small_limits(stack):
    restart_users(stack, **LIMITS)
    yield
    restart_users(stack)


@pytest.fixture
def client(api):
    """The API from an address of this test's own."""
    return api.from_address(next(_addresses))


@pytest.fixture
def victim(api):
    """A tenant signed up from an address of its own, and its owner."""
    t = api.from_address(next(_addresses)).signup()
    return t


def login(c, t, email, password):
    return c.call("POST", "/api/auth/login", t["slug"],
                  json_body={"email": email, "password": password})


def test_failures_over_many_accounts_block_the_address_not_the_innocent(
        client, victim, api):
    # 100 accounts, one wrong guess each, from one address.
    for i in range(100):
        r = login(client, victim, f"u{i}-{uuid.uuid4().hex[:6]}@x.test",
                  "Summer2026!")
        assert r.status == 401, (i, r)
    # Its next wrong guess, on an account never tried, is a 429.
    r = login(client, victim, f"next-{uuid.uuid4().hex[:6]}@x.test",
              "Summer2026!")
    assert r.status == 429 and r.code == "rate_limited", r
    assert 1 <= int(r.headers["retry-after"]) <= 900
    # An account that failed from it is not guessed again.
    r = login(client, victim, "u0-again@x.test", "Summer2026!")
    assert r.status in (401, 429)
    # The owner behind the same address (a NAT, a proxy) still gets in.
    r = login(client, victim, victim["email"], victim["password"])
    assert r.status == 200, r
    # And nobody else is held back.
    other = api.from_address(next(_addresses))
    r = login(other, victim, "someone@x.test", "Summer2026!")
    assert r.status == 401


def test_a_guessed_account_waits_a_short_capped_back_off_then_gets_in(
        client, victim, mailbox):
    for _ in range(5):
        r = login(client, victim, victim["email"], "wrong password")
        assert r.status == 401, r
    r = login(client, victim, victim["email"], victim["password"])
    assert r.status == 429 and r.code == "rate_limited", r
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 300  # LINTEL_LOGIN_BACKOFF_CAP_S: minutes, at most
    # The owner, from anywhere, waits it out and gets in; waiting (and
    # asking meanwhile) does not make the wait longer.
    ok = []

    def owner_gets_in():
        r = login(client, victim, victim["email"], victim["password"])
        ok.append(r.status)
        return r.status == 200
    wait_until(owner_gets_in, timeout=wait + 10, what="the back-off to end")
    assert set(ok) <= {200, 429}
    # The owner hears of it, once.
    mailbox.wait_for(victim["email"], r"(Failed sign-ins)")
    # A success cleared the account's count: a typo is a 401 again.
    for _ in range(4):
        assert login(client, victim, victim["email"], "typo").status == 401
    assert mailbox.count(victim["email"], r"Failed sign-ins") == 1


def test_a_stolen_token_cannot_guess_the_current_password(client, victim):
    token = login(client, victim, victim["email"],
                  victim["password"]).body["access_token"]

    def change(current):
        return client.call("POST", "/api/users/me/password", victim["slug"],
                           token, json_body={"current_password": current,
                                             "new_password": "a new secret!"})
    for guess in range(5):
        r = change(f"guess {guess}")
        assert r.status == 400 and r.fields() == {
            "current_password": "incorrect"}, r
    r = change(victim["password"])  # even the right one waits
    assert r.status == 429 and r.code == "rate_limited", r
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 300
    wait_until(lambda: change(victim["password"]).status == 204,
               timeout=wait + 10, what="the back-off to end")


def test_reset_requests_look_and_cost_the_same_for_known_and_unknown(
        stack, api, victim, mailbox):
    known = api.from_address(next(_addresses))
    unknown = api.from_address(next(_addresses))
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@x.test"
    times = {"known": [], "unknown": []}
    answers = {"known": set(), "unknown": set()}
    sends = [("known", known, victim["email"]), ("unknown", unknown, nobody)]
    for i in range(15):  # in turns, each kind first half of the time
        for kind, c, email in (sends if i % 2 else sends[::-1]):
            start = time.perf_counter()
            r = c.call("POST", "/api/auth/password-reset", victim["slug"],
                       json_body={"email": email})
            times[kind].append(time.perf_counter() - start)
            answers[kind].add((r.status, r.body["message"],
                               r.headers.get("content-type")))
    assert answers["known"] == answers["unknown"]
    assert {a[0] for a in answers["known"]} == {202}
    # The same work, structurally: each request stored a request and queued
    # a job; only the job looks the account up.
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM users.jobs WHERE tenant_id = %s"
                    " AND kind = 'password_reset.request'", (victim["id"],))
        assert cur.fetchone()[0] == 30
    # Timing, with a generous bound (a shared, busy machine): the medians
    # of interleaved requests within 10 ms or a factor of two.
    known_ms = statistics.median(times["known"]) * 1000
    unknown_ms = statistics.median(times["unknown"]) * 1000
    assert abs(known_ms - unknown_ms) <= max(10.0, min(known_ms, unknown_ms)),\
        (known_ms, unknown_ms)

    # Every job done: the known address got 5 mails (the job's own cap,
    # counted in PostgreSQL), the unknown one none.
    def jobs_done():
        with stack.db("migrator") as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM users.jobs WHERE tenant_id = %s"
                        " AND kind = 'password_reset.request'"
                        " AND status <> 'done'", (victim["id"],))
            return cur.fetchone()[0] == 0
    wait_until(jobs_done, what="the reset jobs")
    wait_until(lambda: mailbox.count(victim["email"], r"reset-password") == 5,
               what="five reset mails")
    assert mailbox.count(nobody, r".") == 0
    # The address's own limit (16 an hour here), from any client address.
    other = api.from_address(next(_addresses))
    assert other.call("POST", "/api/auth/password-reset", victim["slug"],
                      json_body={"email": victim["email"]}).status == 202
    r = other.call("POST", "/api/auth/password-reset", victim["slug"],
                   json_body={"email": victim["email"].upper()})
    assert r.status == 429 and r.code == "rate_limited", r
    assert int(r.headers["retry-after"]) >= 1
    wait_until(jobs_done, what="the last reset job")
    assert mailbox.count(victim["email"], r"reset-password") == 5


def test_reset_requests_are_limited_per_address(client, victim):
    for i in range(16):
        r = client.call("POST", "/api/auth/password-reset", victim["slug"],
                        json_body={"email": f"p{i}-{uuid.uuid4().hex[:6]}"
                                            "@x.test"})
        assert r.status == 202, (i, r)
    r = client.call("POST", "/api/auth/password-reset", victim["slug"],
                    json_body={"email": "one-more@x.test"})
    assert r.status == 429 and r.code == "rate_limited", r
    assert 1 <= int(r.headers["retry-after"]) <= 3600


def test_sign_ups_are_limited_per_address(client, api):
    for _ in range(3):
        client.signup()
    slug = f"t-{uuid.uuid4().hex[:12]}"
    r = client.call("POST", "/api/signup", json_body={
        "tenant_slug": slug, "tenant_name": "Spam", "name": "Bot",
        "email": f"bot@{slug}.test", "password": PASSWORD})
    assert r.status == 429 and r.code == "rate_limited", r
    assert 1 <= int(r.headers["retry-after"]) <= 3600
    # Another address signs up as usual.
    api.from_address(next(_addresses)).signup()


def test_invitation_sends_are_limited_per_member(client, victim):
    owner = login(client, victim, victim["email"],
                  victim["password"]).body["access_token"]

    def invite():
        return client.call("POST", "/api/users/invitations", victim["slug"],
                           owner, json_body={
                               "email": f"i-{uuid.uuid4().hex[:8]}@x.test",
                               "role": "viewer"})
    for _ in range(3):
        r = invite()
        assert r.status == 201, r
    r = invite()
    assert r.status == 429 and r.code == "rate_limited", r
    assert 1 <= int(r.headers["retry-after"]) <= 3600
