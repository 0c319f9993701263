/*
 * test_rpc_callers: the caller of a request is the listener it came
 * through (lc_rpc_listener), and what a caller may send is checked before
 * any handler runs; lc_service_caller_url derives each caller's listener.
 * The listeners here are ipc:// (no TLS): the TLS half, certificates and
 * all, is tests/e2e/test_mtls.py's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lc_clock.h"
#include "lc_log.h"
#include "lc_rpc_client.h"
#include "lc_rpc_server.h"
#include "lc_service.h"

static lc_rpc_server *server;
static lc_rpc_client *edge, *peer;
static char edge_url[96], peer_url[128];
static int handled; /* handler runs, all routes */

static const char *const edge_rpcs[] = {"test.Lookup", NULL};
static const char *const peer_rpcs[] = {"test.Count", NULL};

static void
answer(lc_req *req)
{
    handled++;
    lc_req_respond(req, 200, "text/plain", "ok", 2);
}

static int
setup(void **state)
{
    static lc_rpc_listener listeners[2];
    lc_rpc_server_options o = {0};
    char err[256];

    (void)state;
    lc_log_init("test", LC_LOG_ERROR);
    snprintf(edge_url, sizeof(edge_url), "ipc:///tmp/lintel-test-callers-%d",
             (int)getpid());
    snprintf(peer_url, sizeof(peer_url), "%s.projects", edge_url);
    listeners[0] = (lc_rpc_listener){.caller = "edge",
                                     .kind = LC_RPC_CALLER_EDGE,
                                     .url = edge_url,
                                     .rpcs = edge_rpcs};
    listeners[1] = (lc_rpc_listener){.caller = "projects",
                                     .kind = LC_RPC_CALLER_SERVICE,
                                     .url = peer_url,
                                     .rpcs = peer_rpcs};
    o.service = "test";
    o.listeners = listeners;
    o.nlisteners = 2;
    o.workers = 1;
    o.max_message = 65536;
    o.default_timeout_ms = 2000;
    o.max_timeout_ms = 5000;
    o.max_json_bytes = 1024;
    o.db = (lc_db_options){"postgresql://127.0.0.1:1/none", "test", true, 1};
    server = lc_rpc_server_new(&o);
    assert_non_null(server);
    assert_int_equal(lc_rpc_server_route(server, "GET", "/api/things", answer),
                     0);
    assert_int_equal(
        lc_rpc_server_route(server, "RPC", "/rpc/test.Lookup", answer), 0);
    assert_int_equal(
        lc_rpc_server_route(server, "RPC", "/rpc/test.Count", answer), 0);
    assert_int_equal(lc_rpc_server_start(server, err, sizeof(err)), 0);
    edge = lc_rpc_client_open(edge_url, 65536, err, sizeof(err));
    peer = lc_rpc_client_open(peer_url, 65536, err, sizeof(err));
    assert_non_null(edge);
    assert_non_null(peer);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    lc_rpc_client_close(edge);
    lc_rpc_client_close(peer);
    lc_rpc_server_stop(server, 1000);
    lc_rpc_server_free(server);
    unlink(edge_url + strlen("ipc://"));
    unlink(peer_url + strlen("ipc://"));
    return 0;
}

/* The status `c` gets for `method path` with `origin`; counts the
 * handler's runs into *ran. */
static uint32_t
status_of(lc_rpc_client *c, const char *method, const char *path,
          Lintel__V1__Origin origin, int *ran)
{
    lc_request req = LINTEL__V1__REQUEST__INIT;
    lc_response *res = NULL;
    int before = handled;
    uint32_t status;

    req.request_id = "req-callers";
    req.method = (char *)method;
    req.path = (char *)path;
    req.origin = origin;
    assert_int_equal(lc_rpc_call(c, &req, lc_clock_mono_ms() + 3000, &res),
                     LC_RPC_OK);
    status = res->status;
    lc_envelope_free_response(res);
    *ran = handled - before;
    return status;
}

#define EDGE LINTEL__V1__ORIGIN__ORIGIN_EDGE
#define INTERNAL LINTEL__V1__ORIGIN__ORIGIN_INTERNAL

static void
test_the_edge_forwards_http_requests(void **state)
{
    int ran;

    (void)state;
    assert_int_equal(status_of(edge, "GET", "/api/things", EDGE, &ran), 200);
    assert_int_equal(ran, 1);
}

static void
test_the_edge_may_call_only_its_listed_rpcs(void **state)
{
    int ran;

    (void)state;
    assert_int_equal(
        status_of(edge, "RPC", "/rpc/test.Lookup", INTERNAL, &ran), 200);
    assert_int_equal(ran, 1);
    assert_int_equal(status_of(edge, "RPC", "/rpc/test.Count", INTERNAL, &ran),
                     403);
    assert_int_equal(ran, 0);
}

static void
test_a_service_may_not_speak_for_the_edge(void **state)
{
    int ran;

    (void)state;
    assert_int_equal(status_of(peer, "GET", "/api/things", EDGE, &ran), 403);
    assert_int_equal(ran, 0);
    /* nor dress an HTTP route up as internal */
    assert_int_equal(status_of(peer, "GET", "/api/things", INTERNAL, &ran),
                     403);
    assert_int_equal(ran, 0);
}

static void
test_a_service_may_call_only_its_listed_rpcs(void **state)
{
    int ran;

    (void)state;
    assert_int_equal(status_of(peer, "RPC", "/rpc/test.Count", INTERNAL, &ran),
                     200);
    assert_int_equal(ran, 1);
    assert_int_equal(
        status_of(peer, "RPC", "/rpc/test.Lookup", INTERNAL, &ran), 403);
    assert_int_equal(ran, 0);
}

static void
test_each_caller_has_its_listener_url(void **state)
{
    lc_service_identity tls = {.tls = true, .dir = "/x", .port_step = 300};
    lc_service_identity plain = {.tls = false, .dir = "/x", .port_step = 10};
    char out[128];

    (void)state;
    assert_int_equal(lc_service_caller_url(&tls, "tcp://users:7101", "edge",
                                           out, sizeof(out)),
                     0);
    assert_string_equal(out, "tls+tcp://users:7101");
    assert_int_equal(lc_service_caller_url(&tls, "tcp://127.0.0.1:7101",
                                           "billing", out, sizeof(out)),
                     0);
    assert_string_equal(out, "tls+tcp://127.0.0.1:8601");
    assert_int_equal(lc_service_caller_url(&plain, "tls+tcp://[::1]:7000",
                                           "operator", out, sizeof(out)),
                     0);
    assert_string_equal(out, "tcp://[::1]:7010");
    assert_int_equal(lc_service_caller_url(&tls, "ipc:///run/u.sock",
                                           "projects", out, sizeof(out)),
                     0);
    assert_string_equal(out, "ipc:///run/u.sock.projects");
    assert_int_equal(lc_service_caller_url(&tls, "tcp://users:7101",
                                           "stranger", out, sizeof(out)),
                     -1);
    assert_int_equal(lc_service_caller_url(&tls, "tcp://users:65000",
                                           "billing", out, sizeof(out)),
                     -1);
    assert_int_equal(lc_service_caller_url(&tls, "tcp://users", "edge", out,
                                           sizeof(out)),
                     -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_edge_forwards_http_requests),
        cmocka_unit_test(test_the_edge_may_call_only_its_listed_rpcs),
        cmocka_unit_test(test_a_service_may_not_speak_for_the_edge),
        cmocka_unit_test(test_a_service_may_call_only_its_listed_rpcs),
        cmocka_unit_test(test_each_caller_has_its_listener_url),
    };

    return cmocka_run_group_tests_name("rpc_callers", tests, setup, teardown);
}
