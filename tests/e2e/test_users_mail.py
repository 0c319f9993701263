"""Invitations and password resets end to end: the mail goes through the
outbox and the sender to the stack's SMTP sink, and is read from there."""
import uuid

from users_api import PASSWORD, claims


def test_invitation_flow_end_to_end(api, mailbox, tenant):
    email = f"new-{uuid.uuid4().hex[:8]}@example.test"
    r = api.call("POST", "/api/users/invitations", tenant["slug"],
                 tenant["tokens"]["access_token"],
                 json_body={"email": email, "role": "manager"})
    assert r.status == 201
    assert r.body["email"] == email and r.body["role"] == "manager"
    assert "token" not in r.body  # the token travels by mail only
    token, mail = mailbox.wait_for(email, r"token=([A-Za-z0-9_-]{43})")
    assert f"http://{tenant['slug']}.lintel.localhost:" in mail
    r = api.call("POST", "/api/auth/invitations/accept", tenant["slug"],
                 json_body={"token": token, "name": "Newcomer",
                            "password": PASSWORD})
    assert r.status == 201, r
    assert r.body["user"]["role"] == "manager"
    assert claims(r.body["access_token"])["role"] == "manager"
    me = api.call("GET", "/api/users/me", tenant["slug"],
                  r.body["access_token"])
    assert me.body["email"] == email
    # Single use.
    r = api.call("POST", "/api/auth/invitations/accept", tenant["slug"],
                 json_body={"token": token, "name": "Again",
                            "password": PASSWORD})
    assert r.status == 400 and r.code == "validation_failed"
    api.login(tenant["slug"], email)


def test_invitation_token_is_bound_to_its_tenant(api, mailbox, tenant):
    other = api.signup()
    email = f"bound-{uuid.uuid4().hex[:8]}@example.test"
    api.call("POST", "/api/users/invitations", tenant["slug"],
             tenant["tokens"]["access_token"],
             json_body={"email": email, "role": "viewer"})
    token, _ = mailbox.wait_for(email, r"token=([A-Za-z0-9_-]{43})")
    r = api.call("POST", "/api/auth/invitations/accept", other["slug"],
                 json_body={"token": token, "name": "X",
                            "password": PASSWORD})
    assert r.status == 400


def test_invitation_accept_validates_its_body(api, tenant):
    r = api.call("POST", "/api/auth/invitations/accept", tenant["slug"],
                 json_body={"token": "x" * 43, "name": "", "password": "short",
                            "role": "owner"})
    assert r.status == 400
    assert r.fields() == {"role": "unknown_field", "name": "required",
                          "password": "too_short"}


def test_password_reset_end_to_end_revokes_old_sessions(api, mailbox, tenant):
    old = tenant["tokens"]
    r = api.call("POST", "/api/auth/password-reset", tenant["slug"],
                 json_body={"email": tenant["email"]})
    assert r.status == 202
    token, mail = mailbox.wait_for(tenant["email"],
                                   r"reset-password\?token=([A-Za-z0-9_-]{43})")
    r = api.call("POST", "/api/auth/password-reset/confirm", tenant["slug"],
                 json_body={"token": token, "new_password": "reset and new"})
    assert r.status == 204
    assert api.call("GET", "/api/users/me", tenant["slug"],
                    old["access_token"]).status == 401
    assert api.call("POST", "/api/auth/refresh", tenant["slug"], json_body={
        "refresh_token": old["refresh_token"]}).status == 401
    r = api.call("POST", "/api/auth/login", tenant["slug"], json_body={
        "email": tenant["email"], "password": PASSWORD})
    assert r.status == 401
    api.login(tenant["slug"], tenant["email"], "reset and new")
    # Single use.
    r = api.call("POST", "/api/auth/password-reset/confirm", tenant["slug"],
                 json_body={"token": token, "new_password": "another one!"})
    assert r.status == 400


def test_password_reset_answers_202_for_unknown_accounts(api, tenant):
    r = api.call("POST", "/api/auth/password-reset", tenant["slug"],
                 json_body={"email": "nobody@nowhere.test"})
    known = api.call("POST", "/api/auth/password-reset", tenant["slug"],
                     json_body={"email": tenant["email"]})
    assert r.status == known.status == 202
    assert r.body == known.body


def test_mail_is_retried_until_the_relay_answers(stack, api, mailbox, tenant):
    """The sink stops; an invitation is still accepted (202 semantics of the
    outbox), and is delivered once the sink is back."""
    import os
    import signal
    import time
    pid = stack.pid("smtp-sink")
    os.kill(pid, signal.SIGSTOP)
    email = f"late-{uuid.uuid4().hex[:8]}@example.test"
    try:
        r = api.call("POST", "/api/users/invitations", tenant["slug"],
                     tenant["tokens"]["access_token"],
                     json_body={"email": email, "role": "viewer"})
        assert r.status == 201
        time.sleep(1)
    finally:
        os.kill(pid, signal.SIGCONT)
    mailbox.wait_for(email, r"token=([A-Za-z0-9_-]{43})", timeout=40)
