/* Unit tests of gateway-module/lintel_sp.c. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lintel/v1/envelope.pb-c.h"
#include "lintel_sp.h"

#define ID 0x1234u
#define MAX_LEN (1u << 20)
#define HS LINTEL_SP_HANDSHAKE_LEN
#define FR LINTEL_SP_FRAME_LEN

/* the 8 bytes a REP0 peer sends */
static size_t rep0_handshake(uint8_t *out)
{
    lintel_sp_handshake(out);
    out[5] = 0x31;
    return HS;
}

/* [REP0 handshake] + frame (length = payload_len + 4, our id) + payload */
static size_t wrap(uint8_t *out, int handshake, const uint8_t *payload,
                   size_t payload_len)
{
    size_t n = 0;

    if (handshake)
        n += rep0_handshake(out);
    lintel_sp_frame(out + n, payload_len, ID);
    n += FR;
    if (payload_len)
        memcpy(out + n, payload, payload_len);
    return n + payload_len;
}

/* a reply with a given (possibly lying) frame length */
static size_t wrap_len(uint8_t *out, uint64_t length, const uint8_t *payload,
                       size_t payload_len)
{
    size_t n = rep0_handshake(out);

    lintel_sp_frame(out + n, length - 4, ID);
    n += FR;
    memcpy(out + n, payload, payload_len);
    return n + payload_len;
}

/* a packed Response: status 201, JSON, two headers, "body" of body_len */
static size_t pack_response(uint8_t *out, const uint8_t *body, size_t body_len,
                            const char *content_type)
{
    Lintel__V1__Response res = LINTEL__V1__RESPONSE__INIT;
    Lintel__V1__Header h1 = LINTEL__V1__HEADER__INIT;
    Lintel__V1__Header h2 = LINTEL__V1__HEADER__INIT;
    Lintel__V1__Header *hp[2] = {&h1, &h2};

    res.status = 201;
    res.content_type = (char *)content_type;
    h1.name = "etag";
    h1.value = "\"7\"";
    h2.name = "location";
    h2.value = "/api/projects/42";
    res.headers = hp;
    res.n_headers = 2;
    res.body.data = (uint8_t *)body;
    res.body.len = body_len;
    return lintel__v1__response__pack(&res, out);
}

static lintel_sp_rc_e parse(const uint8_t *buf, size_t size,
                            lintel_sp_reply_t *r)
{
    return lintel_sp_parse_reply(buf, size, 0, 1, ID, MAX_LEN, r);
}

static lintel_sp_rc_e parse_payload(const uint8_t *payload, size_t len)
{
    uint8_t buf[256];
    lintel_sp_reply_t r;
    size_t n;

    assert_true(len + HS + FR <= sizeof(buf));
    n = wrap(buf, 1, payload, len);
    return parse(buf, n, &r);
}

static void check_head(const uint8_t *buf, const lintel_sp_reply_t *r,
                       const char *content_type)
{
    Lintel__V1__Response *res;

    res = lintel__v1__response__unpack(NULL, r->head_len, buf + r->head_start);
    assert_non_null(res);
    assert_int_equal(res->status, 201);
    assert_string_equal(res->content_type, content_type);
    assert_int_equal(res->n_headers, 2);
    assert_string_equal(res->headers[0]->name, "etag");
    assert_string_equal(res->headers[0]->value, "\"7\"");
    assert_string_equal(res->headers[1]->name, "location");
    assert_string_equal(res->headers[1]->value, "/api/projects/42");
    assert_int_equal(res->body.len, 0);
    lintel__v1__response__free_unpacked(res, NULL);
}

static void assert_same_reply(const lintel_sp_reply_t *a,
                              const lintel_sp_reply_t *b)
{
    assert_int_equal(a->head_start, b->head_start);
    assert_int_equal(a->head_len, b->head_len);
    assert_int_equal(a->body_start, b->body_start);
    assert_int_equal(a->body_len, b->body_len);
    assert_int_equal(a->message_len, b->message_len);
}

/* a 1000-byte body makes a two-byte length varint */
static uint8_t body[1000];
static uint8_t payload[2048];
static uint8_t buf[4096];

static size_t sample_reply(size_t *payload_len)
{
    size_t i, n;

    for (i = 0; i < sizeof(body); i++)
        body[i] = (uint8_t)(i * 7 + 1);
    n = pack_response(payload, body, sizeof(body), "application/json");
    if (payload_len)
        *payload_len = n;
    return wrap(buf, 1, payload, n);
}

static void test_whole_reply_is_ok(void **state)
{
    lintel_sp_reply_t r;
    size_t n, plen;

    (void)state;
    n = sample_reply(&plen);
    assert_int_equal(parse(buf, n, &r), LINTEL_SP_OK);
    assert_int_equal(r.head_start, HS + FR);
    assert_int_equal(r.message_len, plen + 4);
    assert_int_equal(r.body_len, sizeof(body));
    /* key 0x22 and a two-byte length separate the head from the body */
    assert_int_equal(r.body_start, r.head_start + r.head_len + 3);
    assert_int_equal(buf[r.head_start + r.head_len], 0x22);
    assert_int_equal(r.body_start + r.body_len, n);
    assert_memory_equal(buf + r.body_start, body, sizeof(body));
    check_head(buf, &r, "application/json");
}

static void test_byte_at_a_time(void **state)
{
    lintel_sp_reply_t whole, r;
    size_t n, i, head_end;
    lintel_sp_rc_e rc;

    (void)state;
    n = sample_reply(NULL);
    assert_int_equal(parse(buf, n, &whole), LINTEL_SP_OK);
    head_end = whole.body_start; /* the head and the body's key */

    for (i = 0; i <= n; i++) {
        memset(&r, 0xa5, sizeof(r));
        rc = parse(buf, i, &r);
        if (i < head_end) {
            assert_int_equal(rc, LINTEL_SP_AGAIN);
        } else {
            assert_int_equal(rc, LINTEL_SP_OK);
            assert_same_reply(&r, &whole);
        }
    }
}

static void test_random_splits(void **state)
{
    lintel_sp_reply_t whole, r;
    size_t n, got, chunk;
    uint32_t seed = 12345;
    lintel_sp_rc_e rc;
    int round, ok;

    (void)state;
    n = sample_reply(NULL);
    assert_int_equal(parse(buf, n, &whole), LINTEL_SP_OK);

    for (round = 0; round < 500; round++) {
        got = 0;
        ok = 0;
        while (got < n) {
            seed = seed * 1103515245u + 12345u;
            chunk = 1 + (seed >> 16) % 40;
            got = got + chunk > n ? n : got + chunk;
            rc = parse(buf, got, &r);
            if (got < whole.body_start) {
                assert_int_equal(rc, LINTEL_SP_AGAIN);
            } else {
                assert_int_equal(rc, LINTEL_SP_OK);
                assert_same_reply(&r, &whole);
                ok = 1;
            }
        }
        assert_true(ok);
    }
}

static lintel_sp_rc_e parse_length(uint64_t length)
{
    static const uint8_t p[] = {0x08, 0xc8, 0x01};
    uint8_t b[64];
    lintel_sp_reply_t r;
    size_t n;

    n = wrap_len(b, length, p, sizeof(p));
    return lintel_sp_parse_reply(b, n, 0, 1, ID, MAX_LEN, &r);
}

static void test_length_0_is_bad_length(void **state)
{
    (void)state;
    assert_int_equal(parse_length(0), LINTEL_SP_BAD_LENGTH);
}

static void test_length_3_is_bad_length(void **state)
{
    (void)state;
    assert_int_equal(parse_length(3), LINTEL_SP_BAD_LENGTH);
}

static void test_length_4_is_an_empty_response(void **state)
{
    uint8_t b[32];
    lintel_sp_reply_t r;
    size_t n;

    (void)state;
    n = wrap(b, 1, NULL, 0);
    assert_int_equal(parse(b, n, &r), LINTEL_SP_OK);
    assert_int_equal(r.head_len, 0);
    assert_int_equal(r.body_len, 0);
    assert_int_equal(r.body_start, HS + FR);
    assert_int_equal(r.message_len, 4);
}

static void test_length_2_63_is_too_large(void **state)
{
    (void)state;
    assert_int_equal(parse_length(UINT64_C(1) << 63), LINTEL_SP_TOO_LARGE);
}

static void test_length_2_64_minus_1_is_too_large(void **state)
{
    uint8_t b[32];
    lintel_sp_reply_t r;
    size_t n;

    (void)state;
    assert_int_equal(parse_length(UINT64_MAX), LINTEL_SP_TOO_LARGE);

    /* even when the caller accepts anything, nothing overflows */
    n = wrap_len(b, UINT64_MAX, (const uint8_t *)"\x08\x01", 2);
    assert_int_equal(
        lintel_sp_parse_reply(b, n, 0, 1, ID, UINT64_MAX, &r),
        LINTEL_SP_AGAIN);
    n = wrap_len(b, UINT64_MAX, (const uint8_t *)"\x22\x7f", 2);
    assert_int_equal(
        lintel_sp_parse_reply(b, n, 0, 1, ID, UINT64_MAX, &r),
        LINTEL_SP_BODY_NOT_LAST);
}

static void test_length_over_max_len_is_too_large(void **state)
{
    uint8_t b[32];
    lintel_sp_reply_t r;
    size_t n;

    (void)state;
    /* max_len counts the id and the payload: 4 + 2 */
    n = wrap(b, 1, (const uint8_t *)"\x08\x01", 2);
    assert_int_equal(lintel_sp_parse_reply(b, n, 0, 1, ID, 6, &r),
                     LINTEL_SP_OK);
    assert_int_equal(lintel_sp_parse_reply(b, n, 0, 1, ID, 5, &r),
                     LINTEL_SP_TOO_LARGE);
    /* judged as soon as the length is there, before the id */
    assert_int_equal(lintel_sp_parse_reply(b, HS + 8, 0, 1, ID, 5, &r),
                     LINTEL_SP_TOO_LARGE);
    assert_int_equal(lintel_sp_parse_reply(b, HS + 7, 0, 1, ID, 5, &r),
                     LINTEL_SP_AGAIN);
}

static void test_wrong_id_is_bad_id(void **state)
{
    lintel_sp_reply_t r;
    size_t n;

    (void)state;
    n = sample_reply(NULL);
    assert_int_equal(lintel_sp_parse_reply(buf, n, 0, 1, ID + 1, MAX_LEN, &r),
                     LINTEL_SP_BAD_ID);
    /* the id needs its high bit: 0x00001234 on the wire is not our reply */
    buf[HS + 8] = 0x00;
    assert_int_equal(parse(buf, n, &r), LINTEL_SP_BAD_ID);
    /* the caller may pass the id with or without the bit */
    buf[HS + 8] = 0x80;
    assert_int_equal(lintel_sp_parse_reply(buf, n, 0, 1, ID | 0x80000000u,
                                           MAX_LEN, &r),
                     LINTEL_SP_OK);
    assert_int_equal(parse(buf, HS + FR - 1, &r), LINTEL_SP_AGAIN);
}

static void test_bad_handshake_magic(void **state)
{
    lintel_sp_reply_t r;
    size_t n, i;

    (void)state;
    n = sample_reply(NULL);
    for (i = 0; i < 4; i++) {
        buf[i] ^= 0x20;
        assert_int_equal(parse(buf, n, &r), LINTEL_SP_BAD_HANDSHAKE);
        /* a wrong byte fails as soon as it has arrived */
        assert_int_equal(parse(buf, i + 1, &r), LINTEL_SP_BAD_HANDSHAKE);
        assert_int_equal(parse(buf, i, &r), LINTEL_SP_AGAIN);
        buf[i] ^= 0x20;
    }
    assert_int_equal(parse((const uint8_t *)"HTTP/1.1 400", 12, &r),
                     LINTEL_SP_BAD_HANDSHAKE);
    assert_int_equal(lintel_sp_check_handshake((const uint8_t *)"\0SQ\0\0\x31"
                                                                "\0\0"),
                     LINTEL_SP_BAD_HANDSHAKE);
}

static void test_peer_req0_is_bad_protocol(void **state)
{
    uint8_t hs[HS];
    lintel_sp_reply_t r;
    size_t n;

    (void)state;
    lintel_sp_handshake(hs);
    assert_int_equal(lintel_sp_check_handshake(hs), LINTEL_SP_BAD_PROTOCOL);
    rep0_handshake(hs);
    assert_int_equal(lintel_sp_check_handshake(hs), LINTEL_SP_OK);

    n = sample_reply(NULL);
    buf[5] = 0x30;
    assert_int_equal(parse(buf, n, &r), LINTEL_SP_BAD_PROTOCOL);
    /* the protocol is judged only with the reserved bytes seen */
    assert_int_equal(parse(buf, 7, &r), LINTEL_SP_AGAIN);
    assert_int_equal(parse(buf, 8, &r), LINTEL_SP_BAD_PROTOCOL);
    buf[4] = 0x01; /* any other SP protocol, PUB0 = 0x0020, ... */
    buf[5] = 0x31;
    assert_int_equal(parse(buf, n, &r), LINTEL_SP_BAD_PROTOCOL);
}

static void test_nonzero_reserved_bytes_is_bad_handshake(void **state)
{
    lintel_sp_reply_t r;
    size_t n;

    (void)state;
    n = sample_reply(NULL);
    buf[6] = 0x01;
    assert_int_equal(parse(buf, n, &r), LINTEL_SP_BAD_HANDSHAKE);
    assert_int_equal(parse(buf, 7, &r), LINTEL_SP_BAD_HANDSHAKE);
    buf[6] = 0x00;
    buf[7] = 0x80;
    assert_int_equal(parse(buf, n, &r), LINTEL_SP_BAD_HANDSHAKE);
    /* not a REP0 peer either: still not SP at all */
    buf[5] = 0x30;
    assert_int_equal(parse(buf, n, &r), LINTEL_SP_BAD_HANDSHAKE);
}

static void test_body_before_head_is_body_not_last(void **state)
{
    /* field 4 = "hi", then field 1 = 200 */
    static const uint8_t p[] = {0x22, 0x02, 'h', 'i', 0x08, 0xc8, 0x01};
    uint8_t b[64];
    lintel_sp_reply_t r;

    (void)state;
    assert_int_equal(parse_payload(p, sizeof(p)), LINTEL_SP_BODY_NOT_LAST);
    /* known with the body's key: the body itself need not be there */
    wrap(b, 1, p, sizeof(p));
    assert_int_equal(parse(b, HS + FR + 2, &r), LINTEL_SP_BODY_NOT_LAST);
    assert_int_equal(parse(b, HS + FR + 1, &r), LINTEL_SP_AGAIN);
}

static void test_trailing_bytes_after_body_is_body_not_last(void **state)
{
    uint8_t b[128], p[96];
    lintel_sp_reply_t r;
    size_t n, plen;

    (void)state;
    plen = pack_response(p, (const uint8_t *)"{}", 2, "application/json");
    /* the frame claims one byte more than head + body */
    n = wrap_len(b, plen + 4 + 1, p, plen);
    b[n++] = 0x00;
    assert_int_equal(parse(b, n, &r), LINTEL_SP_BODY_NOT_LAST);
}

static void test_body_longer_than_frame_is_malformed(void **state)
{
    uint8_t b[128], p[96];
    lintel_sp_reply_t r;
    size_t n, plen;

    (void)state;
    plen = pack_response(p, (const uint8_t *)"{}", 2, "application/json");
    /* the frame ends one byte before the body does */
    n = wrap_len(b, plen + 4 - 1, p, plen - 1);
    assert_int_equal(parse(b, n, &r), LINTEL_SP_MALFORMED);
    /* known without any body byte */
    assert_int_equal(parse(b, n - 1, &r), LINTEL_SP_MALFORMED);

    /* a head field that runs past the end of the message */
    assert_int_equal(parse_payload((const uint8_t *)"\x12\x05" "abc", 5),
                     LINTEL_SP_MALFORMED);
    assert_int_equal(parse_payload((const uint8_t *)"\x09" "1234567", 8),
                     LINTEL_SP_MALFORMED);
    assert_int_equal(parse_payload((const uint8_t *)"\x2d" "123", 4),
                     LINTEL_SP_MALFORMED);
}

static void test_truncated_varints_at_message_end_are_malformed(void **state)
{
    uint8_t b[64];
    lintel_sp_reply_t r;
    size_t n;

    (void)state;
    /* tag */
    assert_int_equal(parse_payload((const uint8_t *)"\x08\x01\x88", 3),
                     LINTEL_SP_MALFORMED);
    /* length of a head field */
    assert_int_equal(parse_payload((const uint8_t *)"\x12\x80\x80", 3),
                     LINTEL_SP_MALFORMED);
    /* length of the body */
    assert_int_equal(parse_payload((const uint8_t *)"\x08\x01\x22\x81", 4),
                     LINTEL_SP_MALFORMED);
    /* a varint value */
    assert_int_equal(parse_payload((const uint8_t *)"\x08\xff", 2),
                     LINTEL_SP_MALFORMED);

    /* in a longer message, a varint cut by the end of the bytes is AGAIN */
    n = wrap_len(b, 4 + 100, (const uint8_t *)"\x08\x01\x22\x81", 4);
    assert_int_equal(parse(b, n, &r), LINTEL_SP_AGAIN);
    assert_int_equal(lintel_sp_parse_reply(b, n, 1, 1, ID, MAX_LEN, &r),
                     LINTEL_SP_HEAD_TOO_LARGE);
}

static void test_long_varints_are_malformed(void **state)
{
    (void)state;
    /* 10 bytes is the longest varint */
    assert_int_equal(
        parse_payload((const uint8_t *)"\x08\xff\xff\xff\xff\xff\xff\xff\xff"
                                       "\xff\x01",
                      11),
        LINTEL_SP_OK);
    assert_int_equal(
        parse_payload((const uint8_t *)"\x08\xff\xff\xff\xff\xff\xff\xff\xff"
                                       "\xff\x81\x00",
                      12),
        LINTEL_SP_MALFORMED);
    /* a tenth byte over 1 does not fit 64 bits */
    assert_int_equal(
        parse_payload((const uint8_t *)"\x08\xff\xff\xff\xff\xff\xff\xff\xff"
                                       "\xff\x02",
                      11),
        LINTEL_SP_MALFORMED);
    /* a length of 2^64 - 1 */
    assert_int_equal(
        parse_payload((const uint8_t *)"\x12\xff\xff\xff\xff\xff\xff\xff\xff"
                                       "\xff\x01",
                      11),
        LINTEL_SP_MALFORMED);
    assert_int_equal(
        parse_payload((const uint8_t *)"\x22\xff\xff\xff\xff\xff\xff\xff\xff"
                                       "\xff\x01",
                      11),
        LINTEL_SP_MALFORMED);
}

static void test_wire_types_3_4_6_7_are_malformed(void **state)
{
    static const uint8_t wt[] = {3, 4, 6, 7};
    uint8_t p[4];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(wt); i++) {
        /* a head field (2) and the body (4) */
        p[0] = (uint8_t)(2 << 3 | wt[i]);
        p[1] = 0x00;
        assert_int_equal(parse_payload(p, 2), LINTEL_SP_MALFORMED);
        p[0] = (uint8_t)(4 << 3 | wt[i]);
        assert_int_equal(parse_payload(p, 2), LINTEL_SP_MALFORMED);
    }
    /* the body as a varint or a fixed32 */
    assert_int_equal(parse_payload((const uint8_t *)"\x20\x01", 2),
                     LINTEL_SP_MALFORMED);
    assert_int_equal(parse_payload((const uint8_t *)"\x25" "1234", 5),
                     LINTEL_SP_MALFORMED);
}

static void test_field_number_0_is_malformed(void **state)
{
    (void)state;
    assert_int_equal(parse_payload((const uint8_t *)"\x00\x01", 2),
                     LINTEL_SP_MALFORMED);
    assert_int_equal(parse_payload((const uint8_t *)"\x08\x01\x02\x00", 4),
                     LINTEL_SP_MALFORMED);
    /* 0 in a longer tag too */
    assert_int_equal(parse_payload((const uint8_t *)"\x82\x00\x00", 3),
                     LINTEL_SP_MALFORMED);
}

static void test_unknown_head_fields_are_skipped(void **state)
{
    /* status, field 9 fixed64, field 10 fixed32, field 11 varint, body */
    static const uint8_t p[] = {0x08, 0xc8, 0x01, 0x49, 1, 2, 3, 4, 5, 6, 7,
                                8, 0x55, 1, 2, 3, 4, 0x58, 0x96, 0x01, 0x22,
                                0x01, 'x'};
    uint8_t b[64];
    lintel_sp_reply_t r;
    size_t n;

    (void)state;
    n = wrap(b, 1, p, sizeof(p));
    assert_int_equal(parse(b, n, &r), LINTEL_SP_OK);
    assert_int_equal(r.head_len, sizeof(p) - 3);
    assert_int_equal(r.body_len, 1);
    assert_int_equal(b[r.body_start], 'x');
}

static void test_no_body_is_ok_with_body_len_0(void **state)
{
    uint8_t p[128];
    lintel_sp_reply_t r;
    size_t n, plen, i;

    (void)state;
    plen = pack_response(p, NULL, 0, "text/plain");
    n = wrap(buf, 1, p, plen);
    /* bytes past the message are none of the parser's business */
    buf[n] = 0xff;
    assert_int_equal(parse(buf, n + 1, &r), LINTEL_SP_OK);
    assert_int_equal(r.head_start, HS + FR);
    assert_int_equal(r.head_len, plen);
    assert_int_equal(r.body_len, 0);
    assert_int_equal(r.body_start, n);
    assert_int_equal(r.message_len, plen + 4);
    check_head(buf, &r, "text/plain");

    /* the whole head must be there */
    for (i = 0; i < n; i++)
        assert_int_equal(parse(buf, i, &r), LINTEL_SP_AGAIN);
}

static void test_head_too_large_when_full(void **state)
{
    lintel_sp_reply_t r;
    char ct[300];
    size_t n, i;

    (void)state;
    memset(ct, 'a', sizeof(ct) - 1);
    ct[sizeof(ct) - 1] = '\0';
    n = pack_response(payload, body, 10, ct);
    n = wrap(buf, 1, payload, n);

    /* a 64-byte buffer cannot hold a 300-byte content type */
    assert_int_equal(parse(buf, 64, &r), LINTEL_SP_AGAIN);
    assert_int_equal(lintel_sp_parse_reply(buf, 64, 1, 1, ID, MAX_LEN, &r),
                     LINTEL_SP_HEAD_TOO_LARGE);
    /* nor anything shorter than the head, from the first byte */
    for (i = 0; i < 64; i++)
        assert_int_equal(
            lintel_sp_parse_reply(buf, i, 1, 1, ID, MAX_LEN, &r),
            LINTEL_SP_HEAD_TOO_LARGE);
    /* a full buffer that holds the head is fine */
    assert_int_equal(lintel_sp_parse_reply(buf, n - 10, 1, 1, ID, MAX_LEN, &r),
                     LINTEL_SP_OK);
    check_head(buf, &r, ct);
    /* and errors stay errors */
    buf[HS + 8] ^= 1;
    assert_int_equal(lintel_sp_parse_reply(buf, 64, 1, 1, ID, MAX_LEN, &r),
                     LINTEL_SP_BAD_ID);
}

static void test_cached_connection_without_handshake(void **state)
{
    lintel_sp_reply_t r, whole;
    size_t n, plen, i;

    (void)state;
    sample_reply(&plen);
    n = wrap(buf, 0, payload, plen);
    assert_int_equal(lintel_sp_parse_reply(buf, n, 0, 0, ID, MAX_LEN, &whole),
                     LINTEL_SP_OK);
    assert_int_equal(whole.head_start, FR);
    assert_int_equal(whole.body_len, sizeof(body));
    assert_int_equal(whole.body_start + whole.body_len, n);
    assert_memory_equal(buf + whole.body_start, body, sizeof(body));
    check_head(buf, &whole, "application/json");

    for (i = 0; i < whole.body_start; i++)
        assert_int_equal(lintel_sp_parse_reply(buf, i, 0, 0, ID, MAX_LEN, &r),
                         LINTEL_SP_AGAIN);
    assert_int_equal(lintel_sp_parse_reply(buf, i, 0, 0, ID, MAX_LEN, &r),
                     LINTEL_SP_OK);
    assert_same_reply(&r, &whole);

    /* the frame is not mistaken for a handshake, nor the other way round */
    assert_int_equal(lintel_sp_parse_reply(buf, n, 0, 1, ID, MAX_LEN, &r),
                     LINTEL_SP_BAD_HANDSHAKE);
    n = sample_reply(NULL);
    assert_int_equal(lintel_sp_parse_reply(buf, n, 0, 0, ID, MAX_LEN, &r),
                     LINTEL_SP_TOO_LARGE);
}

static void test_handshake_bytes(void **state)
{
    static const uint8_t want[] = {0x00, 0x53, 0x50, 0x00,
                                   0x00, 0x30, 0x00, 0x00};
    uint8_t out[HS];

    (void)state;
    lintel_sp_handshake(out);
    assert_memory_equal(out, want, HS);
}

static void test_frame_bytes(void **state)
{
    static const uint8_t want[] = {0, 0, 0, 0, 0, 0, 0, 0x09,
                                   0x80, 0x00, 0x00, 0x07};
    static const uint8_t big[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                  0x0c, 0xde, 0xad, 0xbe, 0xef};
    uint8_t out[FR];

    (void)state;
    lintel_sp_frame(out, 5, 7);
    assert_memory_equal(out, want, FR);
    /* the id's high bit is set whether or not the caller set it */
    lintel_sp_frame(out, 5, 0x80000007u);
    assert_memory_equal(out, want, FR);
    lintel_sp_frame(out, UINT64_C(0x0102030405060708), 0xdeadbeef);
    assert_memory_equal(out, big, FR);
}

static void test_body_key_bytes(void **state)
{
    uint8_t out[LINTEL_SP_BODY_KEY_MAX];
    static const uint8_t max[] = {0x62, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0x01};

    (void)state;
    assert_int_equal(lintel_sp_body_key(out, 300), 3);
    assert_memory_equal(out, "\x62\xac\x02", 3);
    assert_int_equal(lintel_sp_body_key(out, 0), 2);
    assert_memory_equal(out, "\x62\x00", 2);
    assert_int_equal(lintel_sp_body_key(out, 127), 2);
    assert_memory_equal(out, "\x62\x7f", 2);
    assert_int_equal(lintel_sp_body_key(out, 128), 3);
    assert_memory_equal(out, "\x62\x80\x01", 3);
    assert_int_equal(lintel_sp_body_key(out, UINT64_MAX),
                     LINTEL_SP_BODY_KEY_MAX);
    assert_memory_equal(out, max, LINTEL_SP_BODY_KEY_MAX);
}

static void test_body_key_matches_protobuf_c(void **state)
{
    Lintel__V1__Request req = LINTEL__V1__REQUEST__INIT;
    static uint8_t b[70000], p[70100];
    uint8_t key[LINTEL_SP_BODY_KEY_MAX];
    size_t n, k;

    (void)state;
    /* Request.body is packed last: the packed Request ends with key+body */
    req.method = "GET";
    req.body.data = b;
    req.body.len = sizeof(b);
    n = lintel__v1__request__pack(&req, p);
    k = lintel_sp_body_key(key, sizeof(b));
    assert_true(n > k + sizeof(b));
    assert_memory_equal(p + n - sizeof(b) - k, key, k);
}

static void test_strerror(void **state)
{
    int rc;
    const char *s;

    (void)state;
    for (rc = LINTEL_SP_AGAIN; rc <= LINTEL_SP_HEAD_TOO_LARGE; rc++) {
        s = lintel_sp_strerror((lintel_sp_rc_e)rc);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_not_equal(s, "unknown error");
    }
    assert_string_equal(lintel_sp_strerror(LINTEL_SP_OK), "ok");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_reply_is_ok),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_random_splits),
        cmocka_unit_test(test_length_0_is_bad_length),
        cmocka_unit_test(test_length_3_is_bad_length),
        cmocka_unit_test(test_length_4_is_an_empty_response),
        cmocka_unit_test(test_length_2_63_is_too_large),
        cmocka_unit_test(test_length_2_64_minus_1_is_too_large),
        cmocka_unit_test(test_length_over_max_len_is_too_large),
        cmocka_unit_test(test_wrong_id_is_bad_id),
        cmocka_unit_test(test_bad_handshake_magic),
        cmocka_unit_test(test_peer_req0_is_bad_protocol),
        cmocka_unit_test(test_nonzero_reserved_bytes_is_bad_handshake),
        cmocka_unit_test(test_body_before_head_is_body_not_last),
        cmocka_unit_test(test_trailing_bytes_after_body_is_body_not_last),
        cmocka_unit_test(test_body_longer_than_frame_is_malformed),
        cmocka_unit_test(test_truncated_varints_at_message_end_are_malformed),
        cmocka_unit_test(test_long_varints_are_malformed),
        cmocka_unit_test(test_wire_types_3_4_6_7_are_malformed),
        cmocka_unit_test(test_field_number_0_is_malformed),
        cmocka_unit_test(test_unknown_head_fields_are_skipped),
        cmocka_unit_test(test_no_body_is_ok_with_body_len_0),
        cmocka_unit_test(test_head_too_large_when_full),
        cmocka_unit_test(test_cached_connection_without_handshake),
        cmocka_unit_test(test_handshake_bytes),
        cmocka_unit_test(test_frame_bytes),
        cmocka_unit_test(test_body_key_bytes),
        cmocka_unit_test(test_body_key_matches_protobuf_c),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
