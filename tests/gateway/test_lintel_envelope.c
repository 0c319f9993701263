/* Unit tests of gateway-module/lintel_envelope.c. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "lintel_envelope.h"

static int req_allowed(const char *name)
{
    return lintel_envelope_request_header_allowed(name, strlen(name));
}

static int res_allowed(const char *name, const char *value)
{
    return lintel_envelope_response_header_allowed(name, strlen(name), value,
                                                   strlen(value));
}

static void test_identity_headers_are_never_forwarded(void **state)
{
    static const char *denied[] = {
        "X-Tenant-Id", "x-user-id", "X-Role", "Authorization", "Cookie",
        "X-Forwarded-For", "X-Real-IP", "X-Request-Id", "Host", "Traceparent",
        "Content-Length", "Transfer-Encoding", "Connection", "", NULL};
    const char **d;

    (void)state;
    for (d = denied; *d; d++)
        assert_false(req_allowed(*d));
    assert_true(req_allowed("Content-Type"));
    assert_true(req_allowed("if-match"));
    assert_true(req_allowed("IDEMPOTENCY-KEY"));
    assert_false(req_allowed("content-typex"));
}

static void test_reply_headers_are_filtered(void **state)
{
    (void)state;
    assert_true(res_allowed("ETag", "\"3\""));
    assert_true(res_allowed("Location", "/api/projects/1"));
    assert_false(res_allowed("X-Evil", "a\r\nSet-Cookie: x=1"));
    assert_false(res_allowed("X-Evil", "a\nb"));
    assert_false(res_allowed("Bad Name", "x"));
    assert_false(res_allowed("Bad:Name", "x"));
    assert_false(res_allowed("", "x"));
    assert_false(res_allowed("Content-Length", "0"));
    assert_false(res_allowed("transfer-encoding", "chunked"));
    assert_false(res_allowed("Connection", "close"));
    assert_false(res_allowed("X-Request-Id", "forged"));
    assert_false(lintel_envelope_response_header_allowed("X", 1, "a\0b", 3));
}

static void test_internal_paths(void **state)
{
    static const char *internal[] = {"/rpc", "/rpc/", "/rpc/users.GetJwks",
                                     "/RPC/users.GetJwks", "/Rpc", NULL};
    static const char *edge[] = {"/", "/rpcx", "/api/rpc/x", "/rp", "rpc/x",
                                 "", NULL};
    const char **p;

    (void)state;
    for (p = internal; *p; p++)
        assert_true(lintel_envelope_path_is_internal(*p, strlen(*p)));
    for (p = edge; *p; p++)
        assert_false(lintel_envelope_path_is_internal(*p, strlen(*p)));
}

static void test_traceparent(void **state)
{
    const char *ok = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const char *up = "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01";
    const char *ff = "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    (void)state;
    assert_true(lintel_envelope_traceparent_valid(ok, strlen(ok)));
    assert_false(lintel_envelope_traceparent_valid(up, strlen(up)));
    assert_false(lintel_envelope_traceparent_valid(ff, strlen(ff)));
    assert_false(lintel_envelope_traceparent_valid(ok, strlen(ok) - 1));
    assert_false(lintel_envelope_traceparent_valid("x", 1));
}

static void test_request_id(void **state)
{
    unsigned char rnd[16];
    char id[LINTEL_REQUEST_ID_LEN + 1];
    int i;

    (void)state;
    for (i = 0; i < 16; i++)
        rnd[i] = (unsigned char)(i * 17);
    lintel_envelope_request_id(rnd, id);
    id[LINTEL_REQUEST_ID_LEN] = '\0';
    assert_string_equal(id, "00112233445566778899aabbccddeeff");
}

static void test_error_body_is_the_api_envelope(void **state)
{
    char buf[512];
    size_t n;
    cJSON *o, *e;

    (void)state;
    n = lintel_envelope_error_body(buf, sizeof(buf), "tenant_mismatch",
                                   "a \"quoted\"\n\\message", "abc", 3);
    assert_true(n > 0);
    o = cJSON_ParseWithLength(buf, n);
    assert_non_null(o);
    e = cJSON_GetObjectItemCaseSensitive(o, "error");
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(e, "code")->valuestring,
        "tenant_mismatch");
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(e, "message")->valuestring,
        "a \"quoted\"\n\\message");
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(e, "request_id")->valuestring, "abc");
    cJSON_Delete(o);

    assert_int_equal(lintel_envelope_error_body(buf, 20, "x", "y", "z", 1), 0);
}

static void test_response_round_trip(void **state)
{
    Lintel__V1__Response res = LINTEL__V1__RESPONSE__INIT, *out;
    Lintel__V1__Header h = LINTEL__V1__HEADER__INIT, *hp = &h;
    uint8_t buf[256];
    size_t n;

    (void)state;
    res.status = 201;
    res.content_type = "application/json";
    h.name = "etag";
    h.value = "\"1\"";
    res.headers = &hp;
    res.n_headers = 1;
    res.body.data = (uint8_t *)"{}";
    res.body.len = 2;
    n = lintel__v1__response__pack(&res, buf);
    out = lintel_envelope_unpack_response(buf, n);
    assert_non_null(out);
    assert_int_equal(out->status, 201);
    assert_string_equal(out->headers[0]->value, "\"1\"");
    assert_int_equal(out->body.len, 2);
    lintel_envelope_free_response(out);
}

static void test_hostile_response_is_refused_within_budget(void **state)
{
    /* 20,000 empty headers: 2 bytes each on the wire, far more unpacked */
    size_t n = 40000, i;
    uint8_t *buf = malloc(n);

    (void)state;
    for (i = 0; i < n; i += 2) {
        buf[i] = 0x1a; /* field 3, length-delimited */
        buf[i + 1] = 0;
    }
    assert_null(lintel_envelope_unpack_response(buf, n));
    assert_null(lintel_envelope_unpack_response("\xff\xff\xff\xff\x0f", 5));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_headers_are_never_forwarded),
        cmocka_unit_test(test_reply_headers_are_filtered),
        cmocka_unit_test(test_internal_paths),
        cmocka_unit_test(test_traceparent),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_error_body_is_the_api_envelope),
        cmocka_unit_test(test_response_round_trip),
        cmocka_unit_test(test_hostile_response_is_refused_within_budget),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
