/* lc_envelope: round trips, hostile bytes, and the allocation budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lc_envelope.h"

static uint8_t *
pack(const ProtobufCMessage *m, size_t *len)
{
    uint8_t *buf;

    *len = protobuf_c_message_get_packed_size(m);
    buf = malloc(*len ? *len : 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

static void
test_request_round_trip(void **state)
{
    lc_request req = LINTEL__V1__REQUEST__INIT;
    Lintel__V1__Tenant t = LINTEL__V1__TENANT__INIT;
    Lintel__V1__Header h1 = LINTEL__V1__HEADER__INIT, h2 = h1;
    Lintel__V1__Header *hs[2] = {&h1, &h2};
    lc_request *back;
    uint8_t *buf;
    size_t len;

    (void)state;
    t.id = "0b7c5f3e-6a1d-4c4e-9d51-1f2a3b4c5d6e";
    t.slug = "acme";
    h1.name = "content-type";
    h1.value = "application/json";
    h2.name = "if-match";
    h2.value = "\"3\"";
    req.request_id = "r1";
    req.method = "PATCH";
    req.path = "/api/projects/1";
    req.tenant = &t;
    req.n_headers = 2;
    req.headers = hs;
    req.body.data = (uint8_t *)"{}";
    req.body.len = 2;
    req.timeout_ms = 1234;
    buf = pack(&req.base, &len);
    back = lc_envelope_unpack_request(buf, len);
    free(buf);
    assert_non_null(back);
    assert_string_equal(back->method, "PATCH");
    assert_string_equal(back->tenant->slug, "acme");
    assert_int_equal(back->timeout_ms, 1234);
    assert_null(back->principal);
    assert_string_equal(lc_envelope_header(back, "If-Match"), "\"3\"");
    assert_null(lc_envelope_header(back, "authorization"));
    lc_envelope_free_request(back);
}

static void
test_garbage_is_refused(void **state)
{
    static const uint8_t junk[][8] = {
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
        {0x3a, 0x7f, 'a'},              /* path: length 127, 1 byte given */
        {0x0a, 0x80, 0x80, 0x80, 0x80}, /* unterminated varint length */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        assert_null(lc_envelope_unpack_request(junk[i], sizeof(junk[i])));
    }
}

static void
test_allocation_budget_stops_expanding_messages(void **state)
{
    /* 200,000 empty headers: 2 bytes each on the wire, but each becomes a
     * struct plus strings once unpacked, far beyond 16x the input size. */
    size_t n = 200000, len = 2 * n, i;
    uint8_t *buf = malloc(len);

    (void)state;
    for (i = 0; i < n; i++) {
        buf[2 * i] = 0x52; /* field 10, length-delimited */
        buf[2 * i + 1] = 0x00;
    }
    assert_null(lc_envelope_unpack_request(buf, len));
    free(buf);
}

static void
test_budget_allows_ordinary_requests(void **state)
{
    lc_request req = LINTEL__V1__REQUEST__INIT;
    Lintel__V1__Header h[20];
    Lintel__V1__Header *hs[20];
    lc_request *back;
    uint8_t *buf;
    size_t len, i;

    (void)state;
    for (i = 0; i < 20; i++) {
        lintel__v1__header__init(&h[i]);
        h[i].name = "x";
        h[i].value = "y";
        hs[i] = &h[i];
    }
    req.n_headers = 20;
    req.headers = hs;
    buf = pack(&req.base, &len);
    back = lc_envelope_unpack_request(buf, len);
    free(buf);
    assert_non_null(back);
    assert_int_equal(back->n_headers, 20);
    lc_envelope_free_request(back);
}

static void
test_response_round_trip(void **state)
{
    lc_response res = LINTEL__V1__RESPONSE__INIT;
    lc_response *back;
    uint8_t *buf;
    size_t len;

    (void)state;
    res.status = 201;
    res.content_type = "application/json";
    res.body.data = (uint8_t *)"{\"id\":1}";
    res.body.len = 8;
    buf = pack(&res.base, &len);
    back = lc_envelope_unpack_response(buf, len);
    free(buf);
    assert_non_null(back);
    assert_int_equal(back->status, 201);
    assert_memory_equal(back->body.data, "{\"id\":1}", 8);
    lc_envelope_free_response(back);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_garbage_is_refused),
        cmocka_unit_test(test_allocation_budget_stops_expanding_messages),
        cmocka_unit_test(test_budget_allows_ordinary_requests),
        cmocka_unit_test(test_response_round_trip),
    };

    return cmocka_run_group_tests_name("envelope", tests, NULL, NULL);
}
