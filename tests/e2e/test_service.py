"""A service through its NNG endpoint, its ops port and its configuration."""
import os
import subprocess
import time


from conftest import BIN, get, redis_cli


def test_ops_endpoints(stack):
    assert get(stack.ops_url("users", "/healthz")).json() == {"status": "ok"}
    r = get(stack.ops_url("users", "/readyz"))
    assert r.status_code == 200
    assert r.json() == {"status": "ready",
                        "checks": {"db": "ok", "redis": "ok"}}


def test_metrics_count_requests_by_route_and_status(stack):
    for _ in range(3):
        stack.call("users", "GET", "/api/definitely-not-here")
    text = get(stack.ops_url("users", "/metrics")).text
    assert "# TYPE lintel_requests_total counter" in text
    line = [l for l in text.splitlines()
            if l.startswith('lintel_requests_total{route="unmatched",status="404"}')]
    assert line and int(line[0].split()[-1]) >= 3
    assert "lintel_request_duration_seconds_bucket" in text
    assert "lintel_db_errors_total" in text
    assert "lintel_redis_errors_total" in text


def test_unknown_route_is_a_json_404(stack):
    code, reply, _ = stack.call("users", "GET", "/api/nope",
                                "--request-id", "rid-404")
    assert code == 0
    assert reply["status"] == 404
    assert reply["body"] == {"error": {"code": "not_found",
                                       "message": "no such route",
                                       "request_id": "rid-404"}}


def test_internal_rpc_is_refused_from_the_edge(stack):
    code, reply, _ = stack.call("users", "RPC", "/rpc/users.ResolveTenant",
                                "--origin", "edge")
    assert reply["status"] == 404
    code, reply, _ = stack.call("users", "GET", "/rpc/users.ResolveTenant")
    assert reply["status"] == 404


def test_wrong_method_on_an_rpc_is_405(stack):
    code, reply, _ = stack.call("users", "GET", "/rpc/users.ResolveTenant",
                                "--origin", "internal")
    assert reply["status"] == 405
    assert reply["headers"]["allow"] == "RPC"
    assert reply["body"]["error"]["code"] == "method_not_allowed"


def test_malformed_envelope_gets_an_error_not_a_crash(stack, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff\xff\xff\xff\x0f\x01garbage")
    code, reply, _ = stack.call("users", "--raw-file", str(junk))
    assert code == 0
    assert reply["status"] == 400
    assert reply["body"]["error"]["code"] == "invalid_envelope"
    assert get(stack.ops_url("users", "/healthz")).status_code == 200


def test_oversized_message_is_refused_and_the_service_lives(stack):
    # Over LINTEL_RPC_MAX_MESSAGE (4 MiB): NNG drops the connection before
    # allocating it; the caller sees a transport error, never a reply.
    code, reply, err = stack.call("users", "--raw-size", str(5 * 1024 * 1024),
                                  "--timeout", "1500")
    assert code in (3, 4), err
    assert reply is None
    code, reply, _ = stack.call("users", "GET", "/api/nope")
    assert reply["status"] == 404
    assert stack.pid("users") and os.kill(stack.pid("users"), 0) is None


def test_resolve_tenant(stack, tenants):
    tid, slug = tenants["a"]
    code, reply, err = stack.rpc("users", "users.ResolveTenant",
                                 {"slug": slug})
    assert code == 0, err
    assert reply["status"] == 200
    assert reply["body"] == {"found": True, "tenant_id": tid, "slug": slug,
                             "name": "Tenant a",
                             "status": "TENANT_STATUS_ACTIVE"}
    # The answer is cached in Redis for the next edge worker that asks.
    assert redis_cli(stack, "EXISTS", f"users:tenant:v1:{slug}") == "1"


def test_resolve_unknown_and_invalid_slugs(stack):
    for slug in ("no-such-tenant", "UPPER", "-bad-", "a" * 200, "x"):
        code, reply, _ = stack.rpc("users", "users.ResolveTenant",
                                   {"slug": slug})
        assert reply["status"] == 200
        assert reply["body"] == {}, slug  # found = false


def test_resolve_tenant_bad_message_is_400(stack, tmp_path):
    code, reply, _ = stack.call("users", "RPC", "/rpc/users.ResolveTenant",
                                "--origin", "internal", "--json", "\x01\x02")
    assert reply["status"] == 400
    assert reply["body"]["error"]["code"] == "invalid_message"


def test_redis_outage_degrades_to_the_database(stack, tenants, paused_redis):
    tid, slug = tenants["b"]
    start = time.monotonic()
    code, reply, err = stack.rpc("users", "users.ResolveTenant",
                                 {"slug": slug})
    assert reply["status"] == 200, err
    assert reply["body"]["tenant_id"] == tid
    assert time.monotonic() - start < 2
    # Without Redis the service is slower, not unavailable (DESIGN §7): it
    # stays in its load balancer and says why it is degraded.
    r = get(stack.ops_url("users", "/readyz"))
    assert r.status_code == 200
    assert r.json() == {"status": "degraded",
                        "checks": {"db": "ok", "redis": "down"}}


def test_ready_again_after_redis_returns(stack):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if get(stack.ops_url("users", "/readyz")).json()["status"] == "ready":
            break
        time.sleep(0.2)
    assert get(stack.ops_url("users", "/readyz")).json() == {
        "status": "ready", "checks": {"db": "ok", "redis": "ok"}}


def test_deadline_becomes_the_statement_timeout(stack, tenants):
    """A query blocked past the request's budget is cancelled by PostgreSQL
    (statement_timeout from the deadline) and answered 504."""
    slug = "locked-" + tenants["a"][1]
    conn = stack.db("migrator")
    conn.autocommit = False
    cur = conn.cursor()
    cur.execute("LOCK TABLE users.tenants IN ACCESS EXCLUSIVE MODE")
    try:
        start = time.monotonic()
        code, reply, err = stack.call(
            "users", "--rpc", "users.ResolveTenant", "--json",
            '{"slug": "%s"}' % slug, "--budget", "400", "--timeout", "5000")
        elapsed = time.monotonic() - start
    finally:
        conn.rollback()
        conn.close()
    assert code == 0, err
    assert reply["status"] == 504
    assert reply["body"]["error"]["code"] == "gateway_timeout"
    assert 0.3 < elapsed < 3


def test_bad_configuration_exits_2_naming_the_variable(stack):
    for var, value in (("LINTEL_WORKERS", "lots"), ("LINTEL_WORKERS", "0"),
                       ("LINTEL_RPC_URL", "nowhere"),
                       ("LINTEL_DB_PREPARED", "maybe"),
                       ("LINTEL_LOG_LEVEL", "loud")):
        env = dict(os.environ, **{var: value})
        p = subprocess.run([str(BIN / "lintel-users"), "serve"], env=env,
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 2, (var, value, p.stderr)
        assert var in p.stderr


def test_config_lists_every_variable(stack):
    p = subprocess.run([str(BIN / "lintel-users"), "config"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    for var in ("LINTEL_RPC_URL", "LINTEL_OPS_URL", "LINTEL_DB_URL",
                "LINTEL_REDIS_HOST", "LINTEL_WORKERS",
                "LINTEL_TENANT_CACHE_TTL_S"):
        assert var in p.stdout
