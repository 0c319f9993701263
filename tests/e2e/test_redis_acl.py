"""Redis as an attacker on the host meets it: no access without a
password, and each service's own credentials (what a compromised service
holds) refused every command it does not need — CONFIG, FLUSHALL, KEYS and
the other dangerous ones — while the services work (the rest of the suite,
and /readyz's Redis check here)."""
import socket

import pytest
import requests

from conftest import redis_cli

SERVICES = ("users", "projects", "reporting", "billing")
REFUSED = [("CONFIG", "GET", "*"), ("CONFIG", "SET", "appendonly", "yes"),
           ("FLUSHALL",), ("FLUSHDB",), ("KEYS", "*"), ("SCAN", "0"),
           ("SHUTDOWN",), ("MONITOR",), ("ACL", "LIST"), ("CLIENT", "LIST"),
           ("SCRIPT", "FLUSH"), ("REPLICAOF", "NO", "ONE"),
           ("SAVE",)]


def service_credentials(stack, service):
    env = stack.service_env(service)
    return env["LINTEL_REDIS_USER"], env["LINTEL_REDIS_PASSWORD"]


def test_without_a_password_nothing_answers(stack):
    port = int(stack.env["LINTEL_REDIS_PORT"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for cmd in (b"PING", b"GET x", b"KEYS *", b"CONFIG GET *",
                    b"AUTH default \"\"", b"AUTH nopass"):
            s.sendall(cmd + b"\r\n")
            reply = s.recv(4096)
            assert reply.startswith(b"-"), (cmd, reply)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_s_credentials_cannot_run_dangerous_commands(stack,
                                                               service):
    user, password = service_credentials(stack, service)
    assert user == service and password
    assert redis_cli(stack, "PING", user=user, password=password) == "PONG"
    for cmd in REFUSED:
        out = redis_cli(stack, *cmd, user=user, password=password)
        assert out.startswith("NOPERM"), (service, cmd, out)
    # nor from inside a script: EVAL runs with the caller's rights
    out = redis_cli(stack, "EVAL", "return redis.call('FLUSHALL')", "0",
                    user=user, password=password)
    assert "can't run this command" in out, (service, out)


def test_a_wrong_password_is_refused(stack):
    out = redis_cli(stack, "PING", user="users", password="guess")
    assert "WRONGPASS" in out, out
    out = redis_cli(stack, "PING", user="default", password="")
    assert "PONG" not in out, out


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reaches_redis_with_its_own_user(stack, service):
    r = requests.get(stack.ops_url(service, "/readyz"), timeout=5)
    assert r.status_code == 200
    assert r.json()["checks"]["redis"] == "ok", r.text
