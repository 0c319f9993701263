/*
 * The RPC server and client together over loopback TCP: routing, the
 * edge/internal rule, deadlines, malformed and oversized messages, and the
 * client's distinction between a slow peer and no peer. The handlers here
 * touch neither PostgreSQL nor Redis, so nothing else needs to run.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "lc_clock.h"
#include "lc_etag.h"
#include "lc_log.h"
#include "lc_rpc_client.h"
#include "lc_rpc_server.h"
#include "lintel/v1/users.pb-c.h"

#define MAX_MESSAGE (64 * 1024)

static char url[64];
static lc_rpc_server *server;
static lc_rpc_client *client;

static void
echo_param(lc_req *req)
{
    cJSON *body = cJSON_CreateObject();

    /* A service that does not use Redis (use_cache false) has none. */
    assert_null(lc_req_cache(req));
    cJSON_AddStringToObject(body, "id", lc_req_param(req, "id"));
    lc_req_respond_json(req, 200, body);
}

static void
literal_route(lc_req *req)
{
    lc_req_respond(req, 200, "text/plain", "literal", 7);
}

static void
slow(lc_req *req)
{
    usleep(300 * 1000);
    lc_req_respond(req, 200, "text/plain", "slow", 4);
}

static void
silent(lc_req *req)
{
    (void)req; /* sets no response: a bug the server must turn into 500 */
}

static void
json_body(lc_req *req)
{
    const cJSON *body = lc_req_json(req);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");

    if (body == NULL) {
        return;
    }
    if (!cJSON_IsString(name)) {
        lc_req_error(req, 400, "validation_failed", "name");
        return;
    }
    lc_req_respond(req, 200, "text/plain", name->valuestring,
                   strlen(name->valuestring));
}

static void
unauthorized(lc_req *req)
{
    lc_req_error(req, 401, lc_req_param(req, "code"), "no");
}

static void
unauthorized_then_forbidden(lc_req *req)
{
    lc_req_error(req, 401, "missing_token", "no");
    lc_req_error(req, 403, "forbidden", "no");
}

/* PATCH-like: If-Match required, the entity answered with its ETag. */
static void
etag_route(lc_req *req)
{
    char version[LC_ETAG_VERSION_MAX + 1];

    if (lc_etag_require(req, version, sizeof(version)) == 0) {
        lc_etag_respond(req, 200, version[0] ? version : "7", "{}");
    }
}

/* A database failure of the kind the path names, as lc_db reports it. */
static void
db_error_route(lc_req *req)
{
    static const char *const faults[] = {
        "ok",    "unavailable", "timeout", "conflict",
        "refused", "bad_value", "aborted", "bug"};
    const char *which = lc_req_param(req, "fault");
    lc_db_error err;
    size_t i;

    for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        if (strcmp(which, faults[i]) == 0) {
            lc_db_error_set(&err, (lc_db_fault)i, "detail for the log");
        }
    }
    if (strcmp(which, "constraint") == 0) {
        lc_db_error_set(&err, LC_DB_CONFLICT, "duplicate key");
        snprintf(err.constraint, sizeof(err.constraint), "things_code_key");
    }
    lc_req_db_error(req, &err);
}

/* Answers /api/inline/fast on NNG's thread, leaves the rest to a worker. */
static bool
inline_fast(lc_req *req)
{
    assert_null(lc_req_db(req)); /* no worker: nothing that may block */
    if (strcmp(lc_req_param(req, "mode"), "fast") != 0) {
        return false;
    }
    lc_req_respond(req, 200, "text/plain", "inline", 6);
    return true;
}

static void
inline_worker(lc_req *req)
{
    assert_non_null(lc_req_db(req));
    lc_req_respond(req, 200, "text/plain", "worker", 6);
}

/* A continued reply in two parts; the cursor says which. */
static void
parts_route(lc_req *req)
{
    const char *cursor = lc_req_continuation(req);

    if (cursor == NULL) {
        lc_req_respond(req, 200, "text/csv", "part-1", 6);
        lc_req_continue(req, "next:1", 12);
    } else if (strcmp(cursor, "next:1") == 0) {
        lc_req_respond(req, 200, "text/csv", "part-2", 6);
    } else {
        lc_req_error(req, 400, "invalid_cursor", "no such part");
    }
}

/* A handler that fails after it began a continued reply. */
static void
parts_then_error(lc_req *req)
{
    lc_req_respond(req, 200, "text/csv", "part-1", 6);
    lc_req_continue(req, "next:1", 12);
    lc_req_error(req, 503, "service_unavailable", "gone");
}

static const lc_req_constraint test_constraints[] = {
    {.constraint = "things_code_key", .status = 409, .code = "conflict",
     .field = "code", .field_code = "taken",
     .message = "another thing has this code"},
};

static void
rpc_echo_slug(lc_req *req)
{
    const Lintel__V1__Users__ResolveTenantRequest *in;
    Lintel__V1__Users__ResolveTenantResponse out =
        LINTEL__V1__USERS__RESOLVE_TENANT_RESPONSE__INIT;

    in = (const Lintel__V1__Users__ResolveTenantRequest *)lc_req_pb(
        req, &lintel__v1__users__resolve_tenant_request__descriptor);
    if (in == NULL) {
        return;
    }
    out.found = 1;
    out.slug = in->slug;
    lc_req_respond_pb(req, &out.base);
}

static int
setup(void **state)
{
    lc_rpc_server_options o = {0};
    char err[256];

    (void)state;
    lc_log_init("test", LC_LOG_ERROR);
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", 20000 + getpid() % 20000);
    o.service = "test";
    o.url = url;
    o.workers = 2;
    o.max_message = MAX_MESSAGE;
    o.default_timeout_ms = 2000;
    o.max_timeout_ms = 5000;
    o.max_json_bytes = 1024;
    o.db = (lc_db_options){"postgresql://127.0.0.1:1/none", "test", true, 1};
    o.cache = (lc_cache_options){"127.0.0.1", 1, 50, 50, 1000};
    o.constraints = test_constraints;
    o.nconstraints = 1;
    server = lc_rpc_server_new(&o);
    assert_non_null(server);
    assert_int_equal(
        lc_rpc_server_route(server, "GET", "/api/things/:id", echo_param), 0);
    assert_int_equal(lc_rpc_server_route(server, "GET", "/api/things/special",
                                         literal_route),
                     0);
    assert_int_equal(lc_rpc_server_route(server, "GET", "/api/slow", slow), 0);
    assert_int_equal(lc_rpc_server_route(server, "GET", "/api/silent", silent),
                     0);
    assert_int_equal(
        lc_rpc_server_route(server, "POST", "/api/json", json_body), 0);
    assert_int_equal(
        lc_rpc_server_route(server, "RPC", "/rpc/users.Echo", rpc_echo_slug),
        0);
    assert_int_equal(lc_rpc_server_route(server, "GET",
                                         "/api/unauthorized/:code",
                                         unauthorized),
                     0);
    assert_int_equal(lc_rpc_server_route(server, "GET", "/api/overridden",
                                         unauthorized_then_forbidden),
                     0);
    assert_int_equal(lc_rpc_server_route(server, "PATCH", "/api/etag",
                                         etag_route),
                     0);
    assert_int_equal(lc_rpc_server_route(server, "GET", "/api/db/:fault",
                                         db_error_route),
                     0);
    assert_int_equal(lc_rpc_server_route_inline(server, "GET",
                                                "/api/inline/:mode",
                                                inline_fast, inline_worker),
                     0);
    assert_int_equal(
        lc_rpc_server_route(server, "GET", "/api/parts", parts_route), 0);
    assert_int_equal(lc_rpc_server_route(server, "GET", "/api/parts/error",
                                         parts_then_error),
                     0);
    assert_int_equal(lc_rpc_server_start(server, err, sizeof(err)), 0);
    client = lc_rpc_client_open(url, MAX_MESSAGE * 4, err, sizeof(err));
    assert_non_null(client);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    lc_rpc_client_close(client);
    lc_rpc_server_stop(server, 1000);
    lc_rpc_server_free(server);
    return 0;
}

/* Sends an edge request and returns the response (caller frees). */
static lc_response *
call(const char *method, const char *path, Lintel__V1__Origin origin,
     uint32_t budget_ms, lc_rpc_status *st_out)
{
    lc_request req = LINTEL__V1__REQUEST__INIT;
    lc_response *res = NULL;
    lc_rpc_status st;

    req.request_id = "req-1";
    req.method = (char *)method;
    req.path = (char *)path;
    req.origin = origin;
    st = lc_rpc_call(client, &req, lc_clock_mono_ms() + 3000, &res);
    (void)budget_ms;
    if (st_out != NULL) {
        *st_out = st;
    }
    return res;
}

static cJSON *
body_json(const lc_response *res)
{
    cJSON *json = NULL;

    assert_int_equal(lc_json_parse((const char *)res->body.data, res->body.len,
                                   NULL, &json, NULL),
                     LC_JSON_OK);
    return json;
}

static const char *
error_code(const cJSON *json)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(json, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");

    assert_true(cJSON_IsString(code));
    return code->valuestring;
}

static void
test_route_param_is_extracted(void **state)
{
    lc_response *res = call("GET", "/api/things/42", 1, 0, NULL);
    cJSON *json;

    (void)state;
    assert_non_null(res);
    assert_int_equal(res->status, 200);
    json = body_json(res);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(json, "id")->valuestring, "42");
    cJSON_Delete(json);
    lc_envelope_free_response(res);
}

static void
test_literal_segment_wins_over_parameter(void **state)
{
    lc_response *res = call("GET", "/api/things/special", 1, 0, NULL);

    (void)state;
    assert_int_equal(res->status, 200);
    assert_memory_equal(res->body.data, "literal", 7);
    lc_envelope_free_response(res);
}

static void
test_unknown_path_is_json_404(void **state)
{
    lc_response *res = call("GET", "/api/nothing", 1, 0, NULL);
    cJSON *json;

    (void)state;
    assert_int_equal(res->status, 404);
    assert_string_equal(res->content_type, "application/json");
    json = body_json(res);
    assert_string_equal(error_code(json), "not_found");
    cJSON_Delete(json);
    lc_envelope_free_response(res);
}

static void
test_wrong_method_is_405_with_allow(void **state)
{
    lc_response *res = call("DELETE", "/api/things/1", 1, 0, NULL);
    cJSON *json;

    (void)state;
    assert_int_equal(res->status, 405);
    assert_int_equal(res->n_headers, 1);
    assert_string_equal(res->headers[0]->name, "allow");
    assert_string_equal(res->headers[0]->value, "GET");
    json = body_json(res);
    assert_string_equal(error_code(json), "method_not_allowed");
    cJSON_Delete(json);
    lc_envelope_free_response(res);
}

static void
test_rpc_path_refused_from_edge(void **state)
{
    lc_response *res = call("RPC", "/rpc/users.Echo",
                            LINTEL__V1__ORIGIN__ORIGIN_EDGE, 0, NULL);
    cJSON *json;

    (void)state;
    assert_int_equal(res->status, 404);
    json = body_json(res);
    assert_string_equal(error_code(json), "not_found");
    cJSON_Delete(json);
    lc_envelope_free_response(res);

    /* Nor with another method, nor with an unset origin. */
    res = call("GET", "/rpc/users.Echo", LINTEL__V1__ORIGIN__ORIGIN_EDGE, 0,
               NULL);
    assert_int_equal(res->status, 404);
    lc_envelope_free_response(res);
    res = call("RPC", "/rpc/users.Echo", LINTEL__V1__ORIGIN__ORIGIN_UNSPECIFIED,
               0, NULL);
    assert_int_equal(res->status, 404);
    lc_envelope_free_response(res);
}

static void
test_internal_rpc_round_trip(void **state)
{
    Lintel__V1__Users__ResolveTenantRequest in =
        LINTEL__V1__USERS__RESOLVE_TENANT_REQUEST__INIT;
    Lintel__V1__Users__ResolveTenantResponse *out;
    ProtobufCMessage *msg = NULL;
    int status = 0;

    (void)state;
    in.slug = "acme";
    assert_int_equal(
        lc_rpc_call_method(
            client, "users.Echo", "r", NULL, &in.base,
            &lintel__v1__users__resolve_tenant_response__descriptor,
            lc_clock_mono_ms() + 2000, &msg, &status),
        LC_RPC_OK);
    out = (Lintel__V1__Users__ResolveTenantResponse *)msg;
    assert_true(out->found);
    assert_string_equal(out->slug, "acme");
    lc_envelope_free_message(msg);
}

static void
test_malformed_envelope_is_400(void **state)
{
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    lc_response *res = NULL;
    cJSON *json;

    (void)state;
    assert_int_equal(lc_rpc_call_raw(client, junk, sizeof(junk),
                                     lc_clock_mono_ms() + 2000, &res),
                     LC_RPC_OK);
    assert_int_equal(res->status, 400);
    json = body_json(res);
    assert_string_equal(error_code(json), "invalid_envelope");
    cJSON_Delete(json);
    lc_envelope_free_response(res);
}

static void
test_oversized_message_is_dropped_and_server_survives(void **state)
{
    size_t len = MAX_MESSAGE * 2;
    char *big = malloc(len);
    lc_response *res = NULL;
    lc_rpc_status st;

    (void)state;
    memset(big, 'x', len);
    st = lc_rpc_call_raw(client, big, len, lc_clock_mono_ms() + 500, &res);
    free(big);
    assert_int_not_equal(st, LC_RPC_OK);
    assert_null(res);
    /* The server is still there for the next caller (the client's dialer
     * reconnects after NNG dropped the oversized connection). */
    res = call("GET", "/api/things/7", 1, 0, &st);
    assert_int_equal(st, LC_RPC_OK);
    assert_int_equal(res->status, 200);
    lc_envelope_free_response(res);
}

static void
assert_challenge(const char *path, const char *challenge)
{
    lc_response *res = call("GET", path, 1, 0, NULL);

    assert_int_equal(res->status, 401);
    assert_int_equal(res->n_headers, 1);
    assert_string_equal(res->headers[0]->name, "www-authenticate");
    assert_string_equal(res->headers[0]->value, challenge);
    lc_envelope_free_response(res);
}

static void
test_every_401_carries_a_bearer_challenge(void **state)
{
    lc_response *res;

    (void)state;
    assert_challenge("/api/unauthorized/missing_token", "Bearer");
    assert_challenge("/api/unauthorized/invalid_credentials", "Bearer");
    assert_challenge("/api/unauthorized/invalid_token",
                     "Bearer error=\"invalid_token\"");
    /* Only the final answer counts: a 401 replaced by a 403 has none. */
    res = call("GET", "/api/overridden", 1, 0, NULL);
    assert_int_equal(res->status, 403);
    assert_int_equal(res->n_headers, 0);
    lc_envelope_free_response(res);
}

static void
test_handler_without_response_is_500(void **state)
{
    lc_response *res = call("GET", "/api/silent", 1, 0, NULL);
    cJSON *json;

    (void)state;
    assert_int_equal(res->status, 500);
    json = body_json(res);
    assert_string_equal(error_code(json), "internal");
    cJSON_Delete(json);
    lc_envelope_free_response(res);
}

static void
test_invalid_json_body_is_400_and_wrong_type_415(void **state)
{
    Lintel__V1__Header ct = LINTEL__V1__HEADER__INIT;
    Lintel__V1__Header *hdrs[1] = {&ct};
    lc_request req = LINTEL__V1__REQUEST__INIT;
    lc_response *res = NULL;
    cJSON *json;

    (void)state;
    ct.name = "content-type";
    ct.value = "application/json";
    req.method = "POST";
    req.path = "/api/json";
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
    req.n_headers = 1;
    req.headers = hdrs;
    req.body.data = (uint8_t *)"{\"name\":\"a\",\"name\":\"b\"}";
    req.body.len = strlen((char *)req.body.data);
    assert_int_equal(lc_rpc_call(client, &req, lc_clock_mono_ms() + 2000, &res),
                     LC_RPC_OK);
    assert_int_equal(res->status, 400);
    json = body_json(res);
    assert_string_equal(error_code(json), "invalid_json");
    cJSON_Delete(json);
    lc_envelope_free_response(res);

    ct.value = "text/plain";
    req.body.data = (uint8_t *)"{\"name\":\"a\"}";
    req.body.len = strlen((char *)req.body.data);
    assert_int_equal(lc_rpc_call(client, &req, lc_clock_mono_ms() + 2000, &res),
                     LC_RPC_OK);
    assert_int_equal(res->status, 415);
    lc_envelope_free_response(res);

    ct.value = "application/json; charset=utf-8";
    assert_int_equal(lc_rpc_call(client, &req, lc_clock_mono_ms() + 2000, &res),
                     LC_RPC_OK);
    assert_int_equal(res->status, 200);
    assert_memory_equal(res->body.data, "a", 1);
    lc_envelope_free_response(res);
}

static void
test_slow_peer_is_timeout(void **state)
{
    lc_request req = LINTEL__V1__REQUEST__INIT;
    lc_response *res = NULL;
    int64_t start = lc_clock_mono_ms();

    (void)state;
    req.method = "GET";
    req.path = "/api/slow";
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
    assert_int_equal(lc_rpc_call(client, &req, start + 100, &res),
                     LC_RPC_TIMEOUT);
    assert_true(lc_clock_mono_ms() - start < 250);
    usleep(300 * 1000); /* let the worker finish before the next test */
}

static void *
call_slow(void *arg)
{
    lc_rpc_client *c = arg;
    lc_request req = LINTEL__V1__REQUEST__INIT;
    lc_response *res = NULL;

    req.method = "GET";
    req.path = "/api/slow";
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
    if (lc_rpc_call(c, &req, lc_clock_mono_ms() + 2000, &res) == LC_RPC_OK) {
        lc_envelope_free_response(res);
    }
    return NULL;
}

static void
test_expired_budget_is_504_without_running_handler(void **state)
{
    lc_request req = LINTEL__V1__REQUEST__INIT;
    lc_response *res = NULL;
    pthread_t t[2];
    cJSON *json;
    int i;

    (void)state;
    /* Both workers busy for 300 ms: a request with a 50 ms budget waits in
     * the queue past its deadline and must not run. */
    for (i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, call_slow, client), 0);
    }
    usleep(50 * 1000);
    req.method = "GET";
    req.path = "/api/things/1";
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
    req.timeout_ms = 50;
    req.sent_at_unix_ms = lc_clock_wall_ms();
    {
        size_t len = protobuf_c_message_get_packed_size(&req.base);
        uint8_t *buf = malloc(len);

        protobuf_c_message_pack(&req.base, buf);
        assert_int_equal(
            lc_rpc_call_raw(client, buf, len, lc_clock_mono_ms() + 2000, &res),
            LC_RPC_OK);
        free(buf);
    }
    assert_int_equal(res->status, 504);
    json = body_json(res);
    assert_string_equal(error_code(json), "gateway_timeout");
    cJSON_Delete(json);
    lc_envelope_free_response(res);
    for (i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
    }
}

static void
assert_text_reply(const char *path, const char *text)
{
    lc_response *res;

    res = call("GET", path, LINTEL__V1__ORIGIN__ORIGIN_EDGE, 0, NULL);
    assert_non_null(res);
    assert_int_equal(res->status, 200);
    assert_int_equal(res->body.len, strlen(text));
    assert_memory_equal(res->body.data, text, strlen(text));
    lc_envelope_free_response(res);
}

static void
test_inline_handler_answers_while_workers_are_busy(void **state)
{
    lc_rpc_client *c[2];
    pthread_t t[2];
    char err[256];
    int64_t start;
    int i;

    (void)state;
    /* Both workers busy for 300 ms: an inline answer needs none of them. */
    for (i = 0; i < 2; i++) {
        c[i] = lc_rpc_client_open(url, MAX_MESSAGE * 4, err, sizeof(err));
        assert_non_null(c[i]);
        assert_int_equal(pthread_create(&t[i], NULL, call_slow, c[i]), 0);
    }
    usleep(50 * 1000);
    start = lc_clock_mono_ms();
    assert_text_reply("/api/inline/fast", "inline");
    assert_true(lc_clock_mono_ms() - start < 200);
    for (i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        lc_rpc_client_close(c[i]);
    }
}

static void
test_inline_handler_that_declines_hands_off_to_a_worker(void **state)
{
    (void)state;
    assert_text_reply("/api/inline/slow", "worker");
    assert_text_reply("/api/inline/fast", "inline");
}

static void
test_no_listener_is_no_peer(void **state)
{
    lc_rpc_client *c;
    lc_request req = LINTEL__V1__REQUEST__INIT;
    lc_response *res = NULL;
    char err[128];
    int64_t start = lc_clock_mono_ms();

    (void)state;
    c = lc_rpc_client_open("tcp://127.0.0.1:1", MAX_MESSAGE, err, sizeof(err));
    assert_non_null(c);
    req.method = "GET";
    req.path = "/";
    assert_int_equal(lc_rpc_call(c, &req, start + 2000, &res), LC_RPC_NO_PEER);
    /* Fails fast: no waiting for the whole deadline. */
    assert_true(lc_clock_mono_ms() - start < 1000);
    lc_rpc_client_close(c);
}

/* PATCH /api/etag with If-Match `if_match` (NULL: none). */
static lc_response *
call_if_match(const char *if_match)
{
    Lintel__V1__Header h = LINTEL__V1__HEADER__INIT;
    Lintel__V1__Header *hdrs[1] = {&h};
    lc_request req = LINTEL__V1__REQUEST__INIT;
    lc_response *res = NULL;

    h.name = "if-match";
    h.value = (char *)if_match;
    req.method = "PATCH";
    req.path = "/api/etag";
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
    req.n_headers = if_match != NULL;
    req.headers = hdrs;
    assert_int_equal(lc_rpc_call(client, &req, lc_clock_mono_ms() + 2000, &res),
                     LC_RPC_OK);
    return res;
}

static void
test_if_match_is_strong_and_required(void **state)
{
    static const struct {
        const char *if_match;
        int status;
        const char *etag; /* the answer's, or its error code */
    } cases[] = {
        {NULL, 428, "precondition_required"},
        {"\"12\"", 200, "\"12\""},
        {" \"12\" ", 200, "\"12\""},
        {"*", 428, "precondition_required"}, /* protects nothing */
        {"W/\"12\"", 412, "precondition_failed"},
        {"12", 412, "precondition_failed"},
        {"\"1a\"", 412, "precondition_failed"},
        {"\"\"", 412, "precondition_failed"},
        {"\"1234567890\"", 412, "precondition_failed"}, /* over an int */
        {"\"012\"", 412, "precondition_failed"},        /* not our text */
        {"\"123456789\"", 200, "\"123456789\""},
    };
    lc_response *res;
    cJSON *json;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        res = call_if_match(cases[i].if_match);
        assert_int_equal(res->status, cases[i].status);
        if (cases[i].status == 200) {
            assert_int_equal(res->n_headers, 1);
            assert_string_equal(res->headers[0]->name, "etag");
            assert_string_equal(res->headers[0]->value, cases[i].etag);
        } else {
            json = body_json(res);
            assert_string_equal(error_code(json), cases[i].etag);
            cJSON_Delete(json);
        }
        lc_envelope_free_response(res);
    }
}

/* lc_db reports kinds of failure; the request layer alone decides HTTP. */
static void
test_db_failures_map_to_api_errors(void **state)
{
    static const struct {
        const char *fault;
        int status;
        const char *code;
    } cases[] = {
        {"unavailable", 503, "service_unavailable"},
        {"timeout", 504, "gateway_timeout"},
        {"conflict", 409, "conflict"},
        {"refused", 422, "validation_failed"},
        {"bad_value", 400, "validation_failed"},
        {"aborted", 500, "internal"},
        {"bug", 500, "internal"},
        {"constraint", 409, "conflict"},
    };
    char path[64];
    lc_response *res;
    cJSON *json, *fields;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(path, sizeof(path), "/api/db/%s", cases[i].fault);
        res = call("GET", path, LINTEL__V1__ORIGIN__ORIGIN_EDGE, 0, NULL);
        assert_non_null(res);
        assert_int_equal(res->status, cases[i].status);
        json = body_json(res);
        assert_string_equal(error_code(json), cases[i].code);
        /* the detail is for the log only */
        assert_null(memmem(res->body.data, res->body.len, "detail", 6));
        fields = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(json, "error"), "fields");
        if (strcmp(cases[i].fault, "constraint") == 0) {
            assert_int_equal(cJSON_GetArraySize(fields), 1);
            assert_string_equal(
                cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetArrayItem(fields, 0), "code")->valuestring,
                "taken");
        } else {
            assert_null(fields);
        }
        assert_int_equal(res->n_headers,
                         strcmp(cases[i].fault, "unavailable") == 0);
        cJSON_Delete(json);
        lc_envelope_free_response(res);
    }
}

/* The reply's bytes as they are on the wire, from a plain REQ socket. */
static nng_msg *
call_raw(const char *path, const char *continuation)
{
    lc_request req = LINTEL__V1__REQUEST__INIT;
    nng_socket sock;
    nng_msg *msg;
    size_t len;

    req.request_id = "req-parts";
    req.method = "GET";
    req.path = (char *)path;
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
    req.continuation = (char *)continuation;
    assert_int_equal(nng_req0_open(&sock), 0);
    assert_int_equal(nng_dial(sock, url, NULL, 0), 0);
    len = lintel__v1__request__get_packed_size(&req);
    assert_int_equal(nng_msg_alloc(&msg, len), 0);
    lintel__v1__request__pack(&req, nng_msg_body(msg));
    assert_int_equal(nng_sendmsg(sock, msg, 0), 0);
    assert_int_equal(nng_recvmsg(sock, &msg, 0), 0);
    nng_close(sock);
    return msg;
}

/* The edge streams a body as it arrives: it must be the last field, after
 * the continuation, whose field number is higher. */
static void
test_a_continued_reply_packs_its_body_last(void **state)
{
    nng_msg *msg = call_raw("/api/parts", "");
    const uint8_t *b = nng_msg_body(msg);
    size_t len = nng_msg_len(msg);
    lc_response *res;

    (void)state;
    assert_true(len > 8);
    assert_memory_equal(b + len - 8, "\x22\x06part-1", 8);
    res = lc_envelope_unpack_response(b, len);
    assert_non_null(res);
    assert_int_equal(res->status, 200);
    assert_non_null(res->continuation);
    assert_string_equal(res->continuation->cursor, "next:1");
    assert_int_equal(res->continuation->total_length, 12);
    lc_envelope_free_response(res);
    nng_msg_free(msg);

    /* the next part, asked for with the cursor, is the last */
    msg = call_raw("/api/parts", "next:1");
    res = lc_envelope_unpack_response(nng_msg_body(msg), nng_msg_len(msg));
    assert_non_null(res);
    assert_int_equal(res->status, 200);
    assert_null(res->continuation);
    assert_memory_equal(res->body.data, "part-2", 6);
    lc_envelope_free_response(res);
    nng_msg_free(msg);
}

static void
test_an_error_after_lc_req_continue_ends_the_reply(void **state)
{
    nng_msg *msg = call_raw("/api/parts/error", "");
    lc_response *res;

    (void)state;
    res = lc_envelope_unpack_response(nng_msg_body(msg), nng_msg_len(msg));
    assert_non_null(res);
    assert_int_equal(res->status, 503);
    assert_null(res->continuation);
    lc_envelope_free_response(res);
    nng_msg_free(msg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_param_is_extracted),
        cmocka_unit_test(test_literal_segment_wins_over_parameter),
        cmocka_unit_test(test_unknown_path_is_json_404),
        cmocka_unit_test(test_wrong_method_is_405_with_allow),
        cmocka_unit_test(test_rpc_path_refused_from_edge),
        cmocka_unit_test(test_internal_rpc_round_trip),
        cmocka_unit_test(test_malformed_envelope_is_400),
        cmocka_unit_test(test_oversized_message_is_dropped_and_server_survives),
        cmocka_unit_test(test_handler_without_response_is_500),
        cmocka_unit_test(test_every_401_carries_a_bearer_challenge),
        cmocka_unit_test(test_invalid_json_body_is_400_and_wrong_type_415),
        cmocka_unit_test(test_slow_peer_is_timeout),
        cmocka_unit_test(test_expired_budget_is_504_without_running_handler),
        cmocka_unit_test(test_inline_handler_answers_while_workers_are_busy),
        cmocka_unit_test(
            test_inline_handler_that_declines_hands_off_to_a_worker),
        cmocka_unit_test(test_no_listener_is_no_peer),
        cmocka_unit_test(test_if_match_is_strong_and_required),
        cmocka_unit_test(test_db_failures_map_to_api_errors),
        cmocka_unit_test(test_a_continued_reply_packs_its_body_last),
        cmocka_unit_test(test_an_error_after_lc_req_continue_ends_the_reply),
    };

    return cmocka_run_group_tests_name("rpc", tests, setup, teardown);
}
