/*
 * Unit tests for lc_pbjson: round trips through JSON must give the same
 * wire bytes, bad input must be refused with the field path in the error,
 * and everything built must be freeable by protobuf_c_message_free_unpacked
 * (the sanitizer build checks for leaks and double frees).
 *
 * lintel.v1 messages cover nested and repeated messages, enums, bytes and
 * uint32; tests/unit/pbjson_test.proto covers the remaining types and oneof.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lc_pbjson.h"
#include "lintel/v1/envelope.pb-c.h"
#include "lintel/v1/users.pb-c.h"
#include "test/pbjson_test.pb-c.h"

/* ---- helpers ---- */

static uint8_t *
pack(const ProtobufCMessage *msg, size_t *len)
{
    uint8_t *buf = malloc(protobuf_c_message_get_packed_size(msg) + 1);

    assert_non_null(buf);
    *len = protobuf_c_message_pack(msg, buf);
    return buf;
}

static void
assert_same_wire(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t alen, blen;
    uint8_t *abuf = pack(a, &alen);
    uint8_t *bbuf = pack(b, &blen);

    assert_int_equal(alen, blen);
    assert_memory_equal(abuf, bbuf, alen);
    free(abuf);
    free(bbuf);
}

static char *
render(const ProtobufCMessage *msg)
{
    cJSON *json = lc_pbjson_to_json(msg);
    char *text;

    assert_non_null(json);
    text = cJSON_PrintUnformatted(json);
    assert_non_null(text);
    cJSON_Delete(json);
    return text;
}

/* Parses `text` into a message of `desc`; fails the test on error. */
static ProtobufCMessage *
parse_ok(const ProtobufCMessageDescriptor *desc, const char *text)
{
    char err[256] = "";
    cJSON *json = cJSON_Parse(text);
    ProtobufCMessage *msg;

    assert_non_null(json);
    msg = lc_pbjson_from_json(desc, json, err, sizeof(err));
    cJSON_Delete(json);
    if (msg == NULL)
        fail_msg("%s: %s", text, err);
    return msg;
}

/* Parses `text`, which must be refused with exactly `want`. */
static void
assert_refused(const ProtobufCMessageDescriptor *desc, const char *text,
               const char *want)
{
    char err[256] = "";
    cJSON *json = cJSON_Parse(text);
    ProtobufCMessage *msg;

    assert_non_null(json);
    msg = lc_pbjson_from_json(desc, json, err, sizeof(err));
    cJSON_Delete(json);
    if (msg != NULL) {
        protobuf_c_message_free_unpacked(msg, NULL);
        fail_msg("accepted: %s", text);
    }
    assert_string_equal(err, want);
}

/* Message -> cJSON tree -> message, without printing: same wire bytes. */
static void
assert_tree_round_trip(const ProtobufCMessage *msg)
{
    char err[256] = "";
    cJSON *json = lc_pbjson_to_json(msg);
    ProtobufCMessage *back;

    assert_non_null(json);
    back = lc_pbjson_from_json(msg->descriptor, json, err, sizeof(err));
    if (back == NULL)
        fail_msg("%s", err);
    assert_same_wire(msg, back);
    protobuf_c_message_free_unpacked(back, NULL);
    cJSON_Delete(json);
}

/*
 * The tree round trip, and the same through JSON text (as lintel-call uses
 * it): same wire bytes, and the parsed message renders to the same text.
 */
static void
assert_round_trip(const ProtobufCMessage *msg)
{
    char *text = render(msg);
    ProtobufCMessage *back = parse_ok(msg->descriptor, text);
    char *again = render(back);

    assert_tree_round_trip(msg);
    assert_same_wire(msg, back);
    assert_string_equal(text, again);
    free(again);
    free(text);
    protobuf_c_message_free_unpacked(back, NULL);
}

static const uint8_t binary[] = {0x00, 0xff, 0x00, 0x10, 'a', 0x00, 0x80};

/* ---- round trips ---- */

static void
test_request_round_trip(void **state)
{
    Lintel__V1__Request req = LINTEL__V1__REQUEST__INIT;
    Lintel__V1__Tenant tenant = LINTEL__V1__TENANT__INIT;
    Lintel__V1__Principal principal = LINTEL__V1__PRINCIPAL__INIT;
    Lintel__V1__Header h0 = LINTEL__V1__HEADER__INIT;
    Lintel__V1__Header h1 = LINTEL__V1__HEADER__INIT;
    Lintel__V1__Header *headers[] = {&h0, &h1};
    (void)state;

    tenant.id = "0b8c2f1e-0000-4000-8000-000000000001";
    tenant.slug = "acme";
    principal.user_id = "0b8c2f1e-0000-4000-8000-000000000002";
    principal.role = "admin";
    principal.session_id = "s1";
    principal.token_id = "t1";
    h0.name = "content-type";
    h0.value = "application/json";
    h1.name = "x-empty"; /* value stays "": omitted, still round trips */

    req.request_id = "r-1";
    req.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    req.timeout_ms = 4294967295u;
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
    req.tenant = &tenant;
    req.principal = &principal;
    req.method = "POST";
    req.path = "/v1/projects";
    req.query = "a=1&b=%00";
    req.n_headers = 2;
    req.headers = headers;
    req.client_ip = "192.0.2.1";
    req.body.data = (uint8_t *)binary;
    req.body.len = sizeof(binary);

    assert_round_trip(&req.base);
}

static void
test_response_round_trip(void **state)
{
    Lintel__V1__Response resp = LINTEL__V1__RESPONSE__INIT;
    Lintel__V1__Header h = LINTEL__V1__HEADER__INIT;
    Lintel__V1__Header *headers[] = {&h};
    (void)state;

    resp.status = 201;
    resp.content_type = "application/json";
    h.name = "location";
    h.value = "/v1/projects/1";
    resp.n_headers = 1;
    resp.headers = headers;
    resp.body.data = (uint8_t *)"{\"id\":1}";
    resp.body.len = 8;

    assert_round_trip(&resp.base);
}

static void
test_repeated_messages_round_trip(void **state)
{
    Lintel__V1__Users__GetJwksResponse resp =
        LINTEL__V1__USERS__GET_JWKS_RESPONSE__INIT;
    Lintel__V1__Users__Jwk k0 = LINTEL__V1__USERS__JWK__INIT;
    Lintel__V1__Users__Jwk k1 = LINTEL__V1__USERS__JWK__INIT;
    Lintel__V1__Users__Jwk k2 = LINTEL__V1__USERS__JWK__INIT;
    Lintel__V1__Users__Jwk *keys[] = {&k0, &k1, &k2};
    (void)state;

    k0.kid = "2024-01";
    k0.kty = "RSA";
    k0.alg = "RS256";
    k0.use = "sig";
    k0.n = "sXch";
    k0.e = "AQAB";
    k0.pem = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n";
    k2.kid = "2024-02"; /* k1 is all defaults: renders as {} */
    resp.n_keys = 3;
    resp.keys = keys;

    assert_round_trip(&resp.base);
}

static void
test_all_scalar_types_round_trip(void **state)
{
    Lintel__Test__Scalars s = LINTEL__TEST__SCALARS__INIT;
    Lintel__Test__Inner inner = LINTEL__TEST__INNER__INIT;
    Lintel__Test__Inner ri0 = LINTEL__TEST__INNER__INIT;
    Lintel__Test__Inner *r_inner[] = {&ri0, &inner};
    int32_t r_i32[] = {0, -1, INT32_MAX};
    int64_t r_i64[] = {INT64_MIN, 0, INT64_MAX};
    uint64_t r_u64[] = {UINT64_MAX, 1};
    float r_flt[] = {0.1f, -FLT_MAX, FLT_MIN};
    double r_dbl[] = {0.1, -1e308, DBL_MIN, 5e-324};
    protobuf_c_boolean r_flag[] = {1, 0, 1};
    Lintel__Test__Color r_color[] = {LINTEL__TEST__COLOR__COLOR_GREEN,
                                     LINTEL__TEST__COLOR__COLOR_UNSPECIFIED};
    char *r_str[] = {"", "two", "th\"ree\n"};
    ProtobufCBinaryData r_raw[] = {{0, NULL},
                                   {sizeof(binary), (uint8_t *)binary}};
    (void)state;

    s.i32 = INT32_MIN;
    s.s32 = -7;
    s.sf32 = -8;
    s.u32 = UINT32_MAX;
    s.f32 = 0xdeadbeef;
    s.i64 = INT64_MIN;
    s.s64 = -9007199254740993LL;
    s.sf64 = INT64_MAX;
    s.u64 = UINT64_MAX;
    s.f64 = 18446744073709551557ULL;
    s.flt = 3.14159f;
    s.dbl = -2.718281828459045;
    s.flag = 1;
    s.color = LINTEL__TEST__COLOR__COLOR_RED;
    s.str = "caf\xc3\xa9";
    s.raw.data = (uint8_t *)binary;
    s.raw.len = sizeof(binary);
    inner.label = "in";
    inner.n = 3;
    s.inner = &inner;
    s.n_r_i32 = 3;
    s.r_i32 = r_i32;
    s.n_r_i64 = 3;
    s.r_i64 = r_i64;
    s.n_r_u64 = 2;
    s.r_u64 = r_u64;
    s.n_r_flt = 3;
    s.r_flt = r_flt;
    s.n_r_dbl = 4;
    s.r_dbl = r_dbl;
    s.n_r_flag = 3;
    s.r_flag = r_flag;
    s.n_r_color = 2;
    s.r_color = r_color;
    s.n_r_str = 3;
    s.r_str = r_str;
    s.n_r_raw = 2;
    s.r_raw = r_raw;
    s.n_r_inner = 2;
    s.r_inner = r_inner;

    assert_round_trip(&s.base);
}

static void
test_oneof_each_member_round_trips(void **state)
{
    Lintel__Test__Scalars s = LINTEL__TEST__SCALARS__INIT;
    Lintel__Test__Inner picked = LINTEL__TEST__INNER__INIT;
    (void)state;

    s.choice_case = LINTEL__TEST__SCALARS__CHOICE_TEXT;
    s.text = "hello";
    assert_round_trip(&s.base);

    s.choice_case = LINTEL__TEST__SCALARS__CHOICE_PICKED;
    s.picked = &picked; /* an empty message is still a choice */
    assert_round_trip(&s.base);

    s.choice_case = LINTEL__TEST__SCALARS__CHOICE_NUMBER;
    s.number = INT64_MIN;
    assert_round_trip(&s.base);

    s.choice_case = LINTEL__TEST__SCALARS__CHOICE_BLOB;
    s.blob.data = (uint8_t *)binary;
    s.blob.len = sizeof(binary);
    assert_round_trip(&s.base);
}

/* Unlike plain proto3 fields, a selected oneof member is kept when zero. */
static void
test_oneof_default_value_is_kept(void **state)
{
    Lintel__Test__Scalars *s;
    char *text;
    (void)state;

    s = (Lintel__Test__Scalars *)parse_ok(&lintel__test__scalars__descriptor,
                                          "{\"number\":\"0\"}");
    assert_int_equal(s->choice_case, LINTEL__TEST__SCALARS__CHOICE_NUMBER);
    text = render(&s->base);
    assert_string_equal(text, "{\"number\":\"0\"}");
    free(text);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    /* "" must be a fresh allocation: pack skips the default pointer. */
    s = (Lintel__Test__Scalars *)parse_ok(&lintel__test__scalars__descriptor,
                                          "{\"text\":\"\"}");
    assert_int_equal(s->choice_case, LINTEL__TEST__SCALARS__CHOICE_TEXT);
    assert_ptr_not_equal(s->text, protobuf_c_empty_string);
    assert_int_equal(protobuf_c_message_get_packed_size(&s->base), 3);
    text = render(&s->base);
    assert_string_equal(text, "{\"text\":\"\"}");
    free(text);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void
test_oneof_second_member_refused(void **state)
{
    (void)state;
    assert_refused(&lintel__test__scalars__descriptor,
                   "{\"text\":\"a\",\"number\":1}",
                   "field \"number\": \"text\" of the same oneof is already "
                   "set");
    /* The first member was heap-allocated: freed on the error path. */
    assert_refused(&lintel__test__scalars__descriptor,
                   "{\"picked\":{\"label\":\"x\"},\"blob\":\"AA==\"}",
                   "field \"blob\": \"picked\" of the same oneof is already "
                   "set");
}

/* ---- output shape ---- */

static void
test_defaults_omitted(void **state)
{
    Lintel__V1__Request req = LINTEL__V1__REQUEST__INIT;
    Lintel__Test__Scalars s = LINTEL__TEST__SCALARS__INIT;
    Lintel__V1__Request *parsed;
    char *text;
    (void)state;

    text = render(&req.base);
    assert_string_equal(text, "{}");
    free(text);
    text = render(&s.base);
    assert_string_equal(text, "{}");
    free(text);

    /* Explicit defaults parse, and render back to nothing. */
    parsed = (Lintel__V1__Request *)parse_ok(
        &lintel__v1__request__descriptor,
        "{\"request_id\":\"\",\"timeout_ms\":0,\"origin\":"
        "\"ORIGIN_UNSPECIFIED\",\"headers\":[],\"body\":\"\"}");
    assert_string_equal(parsed->request_id, "");
    assert_null(parsed->body.data);
    assert_null(parsed->tenant);
    text = render(&parsed->base);
    assert_string_equal(text, "{}");
    free(text);
    protobuf_c_message_free_unpacked(&parsed->base, NULL);
}

static void
test_null_means_default(void **state)
{
    Lintel__V1__Request *req;
    (void)state;

    req = (Lintel__V1__Request *)parse_ok(
        &lintel__v1__request__descriptor,
        "{\"request_id\":null,\"tenant\":null,\"headers\":null,\"body\":null}");
    assert_ptr_equal(req->request_id, protobuf_c_empty_string);
    assert_null(req->tenant);
    assert_int_equal(req->n_headers, 0);
    protobuf_c_message_free_unpacked(&req->base, NULL);
}

static void
test_int64_rendered_as_strings(void **state)
{
    Lintel__Test__Scalars s = LINTEL__TEST__SCALARS__INIT;
    char *text;
    (void)state;

    s.i64 = INT64_MIN;
    s.u64 = UINT64_MAX;
    s.sf32 = -1;
    text = render(&s.base);
    assert_string_equal(text, "{\"sf32\":-1,\"i64\":\"-9223372036854775808\","
                              "\"u64\":\"18446744073709551615\"}");
    free(text);
}

static void
test_enum_rendered_by_name_or_number(void **state)
{
    Lintel__V1__Request req = LINTEL__V1__REQUEST__INIT;
    char *text;
    (void)state;

    req.origin = LINTEL__V1__ORIGIN__ORIGIN_INTERNAL;
    text = render(&req.base);
    assert_string_equal(text, "{\"origin\":\"ORIGIN_INTERNAL\"}");
    free(text);

    req.origin = (Lintel__V1__Origin)7;
    text = render(&req.base);
    assert_string_equal(text, "{\"origin\":7}");
    free(text);
}

/* JSON numbers cannot hold them: the proto3 mapping's strings, both ways. */
static void
test_non_finite_doubles(void **state)
{
    Lintel__Test__Scalars s = LINTEL__TEST__SCALARS__INIT;
    double r_dbl[] = {NAN, INFINITY, -INFINITY};
    Lintel__Test__Scalars *back;
    char *text;
    (void)state;

    s.flt = -INFINITY;
    s.n_r_dbl = 3;
    s.r_dbl = r_dbl;
    text = render(&s.base);
    assert_string_equal(text, "{\"flt\":\"-Infinity\",\"r_dbl\":[\"NaN\","
                              "\"Infinity\",\"-Infinity\"]}");
    back = (Lintel__Test__Scalars *)parse_ok(&lintel__test__scalars__descriptor,
                                             text);
    assert_true(isinf(back->flt) && back->flt < 0);
    assert_true(isnan(back->r_dbl[0]));
    assert_true(isinf(back->r_dbl[1]) && back->r_dbl[1] > 0);
    assert_true(isinf(back->r_dbl[2]) && back->r_dbl[2] < 0);
    free(text);
    protobuf_c_message_free_unpacked(&back->base, NULL);
}

/*
 * Values are exact in the cJSON tree. cJSON 1.7.15's printer is not: it
 * prints 15 digits when they come within a relative epsilon, so 0.1 + 0.2
 * prints as 0.3 and DBL_MAX as 1.79769313486232e+308, which reads back as
 * infinity. Only the tree is lc_pbjson's to get right.
 */
static void
test_doubles_exact_in_tree(void **state)
{
    Lintel__Test__Scalars s = LINTEL__TEST__SCALARS__INIT;
    double r_dbl[] = {0.1 + 0.2, DBL_MAX, -DBL_MAX, 5e-324, 1.0 / 3};
    float r_flt[] = {FLT_MAX, -FLT_MAX, 0.1f + 0.2f};
    (void)state;

    s.n_r_dbl = sizeof(r_dbl) / sizeof(r_dbl[0]);
    s.r_dbl = r_dbl;
    s.n_r_flt = sizeof(r_flt) / sizeof(r_flt[0]);
    s.r_flt = r_flt;
    assert_tree_round_trip(&s.base);
}

/* ---- input: enums ---- */

static void
test_enum_by_name_and_number(void **state)
{
    Lintel__V1__Request *req;
    Lintel__Test__Scalars *s;
    (void)state;

    req = (Lintel__V1__Request *)parse_ok(&lintel__v1__request__descriptor,
                                          "{\"origin\":\"ORIGIN_EDGE\"}");
    assert_int_equal(req->origin, LINTEL__V1__ORIGIN__ORIGIN_EDGE);
    protobuf_c_message_free_unpacked(&req->base, NULL);

    req = (Lintel__V1__Request *)parse_ok(&lintel__v1__request__descriptor,
                                          "{\"origin\":2}");
    assert_int_equal(req->origin, LINTEL__V1__ORIGIN__ORIGIN_INTERNAL);
    protobuf_c_message_free_unpacked(&req->base, NULL);

    /* proto3 enums are open: an unnamed number is kept. */
    req = (Lintel__V1__Request *)parse_ok(&lintel__v1__request__descriptor,
                                          "{\"origin\":-5}");
    assert_int_equal((int)req->origin, -5);
    protobuf_c_message_free_unpacked(&req->base, NULL);

    s = (Lintel__Test__Scalars *)parse_ok(
        &lintel__test__scalars__descriptor,
        "{\"r_color\":[\"COLOR_GREEN\",1,\"COLOR_UNSPECIFIED\"]}");
    assert_int_equal(s->n_r_color, 3);
    assert_int_equal(s->r_color[0], LINTEL__TEST__COLOR__COLOR_GREEN);
    assert_int_equal(s->r_color[1], LINTEL__TEST__COLOR__COLOR_RED);
    assert_int_equal(s->r_color[2], LINTEL__TEST__COLOR__COLOR_UNSPECIFIED);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void
test_enum_bad_values_refused(void **state)
{
    (void)state;
    assert_refused(&lintel__v1__request__descriptor, "{\"origin\":true}",
                   "field \"origin\": expected an enum name or number");
    assert_refused(&lintel__v1__request__descriptor, "{\"origin\":1.5}",
                   "field \"origin\": expected an enum name or number");
    assert_refused(&lintel__v1__request__descriptor, "{\"origin\":2147483648}",
                   "field \"origin\": expected an enum name or number");
    assert_refused(&lintel__v1__request__descriptor,
                   "{\"origin\":\"origin_edge\"}",
                   "field \"origin\": not a value name of enum "
                   "lintel.v1.Origin");
}

/* ---- input: bytes ---- */

static void
test_bytes_base64_round_trip_with_nuls(void **state)
{
    static const char *const want[] = {
        "", "AA==", "AP8=", "AP8A", "AP8AEA==", "AP8AEGE=", "AP8AEGEA"};
    size_t len;
    (void)state;

    /* Every length mod 3, so each padding form is produced and read. */
    for (len = 0; len < sizeof(want) / sizeof(want[0]); len++) {
        Lintel__V1__Response resp = LINTEL__V1__RESPONSE__INIT;
        Lintel__V1__Response *back;
        cJSON *json;

        resp.body.data = len > 0 ? (uint8_t *)binary : NULL;
        resp.body.len = len;
        json = lc_pbjson_to_json(&resp.base);
        assert_non_null(json);
        if (len == 0) {
            assert_null(cJSON_GetObjectItemCaseSensitive(json, "body"));
        } else {
            assert_string_equal(
                cJSON_GetObjectItemCaseSensitive(json, "body")->valuestring,
                want[len]);
        }
        back = (Lintel__V1__Response *)lc_pbjson_from_json(
            &lintel__v1__response__descriptor, json, NULL, 0);
        assert_non_null(back);
        assert_int_equal(back->body.len, len);
        if (len > 0)
            assert_memory_equal(back->body.data, binary, len);
        assert_same_wire(&resp.base, &back->base);
        protobuf_c_message_free_unpacked(&back->base, NULL);
        cJSON_Delete(json);
    }
}

static void
test_invalid_base64_refused(void **state)
{
    static const char *const bad[] = {
        "{\"body\":\"A\"}",          /* length not a multiple of 4 */
        "{\"body\":\"AAA\"}",        /* padding missing */
        "{\"body\":\"A===\"}",       /* too much padding */
        "{\"body\":\"AA=A\"}",       /* padding inside */
        "{\"body\":\"AA==AAAA\"}",   /* padding before the end */
        "{\"body\":\"AB==\"}",       /* non-zero bits after the last byte */
        "{\"body\":\"AAB=\"}",       /* same, one padding character */
        "{\"body\":\"-_8=\"}",       /* URL-safe alphabet */
        "{\"body\":\"AA AA\"}",      /* whitespace */
        "{\"body\":\"AAAA\\n\"}",    /* trailing newline */
        "{\"body\":\"A\\u0000==\"}", /* NUL inside: cJSON cuts the string */
        "{\"body\":\"\\u00e9AA\"}",  /* non-ASCII */
    };
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(&lintel__v1__response__descriptor, bad[i],
                       "field \"body\": expected standard base64 with "
                       "padding");
    }
    assert_refused(&lintel__v1__response__descriptor, "{\"body\":[1,2]}",
                   "field \"body\": expected a base64 string");
}

/* ---- input: integers and floating point ---- */

static void
test_uint32_range(void **state)
{
    Lintel__V1__Response *resp;
    (void)state;

    resp = (Lintel__V1__Response *)parse_ok(&lintel__v1__response__descriptor,
                                            "{\"status\":4294967295}");
    assert_int_equal(resp->status, 4294967295u);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    assert_refused(&lintel__v1__response__descriptor, "{\"status\":4294967296}",
                   "field \"status\": out of range for uint32");
    assert_refused(&lintel__v1__response__descriptor, "{\"status\":-1}",
                   "field \"status\": out of range for uint32");
    assert_refused(&lintel__v1__response__descriptor, "{\"status\":1e300}",
                   "field \"status\": out of range for uint32");
    assert_refused(&lintel__v1__response__descriptor, "{\"status\":200.5}",
                   "field \"status\": expected an integer");
    assert_refused(&lintel__v1__response__descriptor, "{\"status\":\"200\"}",
                   "field \"status\": expected an integer");
}

static void
test_int32_range(void **state)
{
    Lintel__Test__Scalars *s;
    (void)state;

    s = (Lintel__Test__Scalars *)parse_ok(
        &lintel__test__scalars__descriptor,
        "{\"i32\":-2147483648,\"s32\":2147483647,\"sf32\":-1.0}");
    assert_int_equal(s->i32, INT32_MIN);
    assert_int_equal(s->s32, INT32_MAX);
    assert_int_equal(s->sf32, -1);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    assert_refused(&lintel__test__scalars__descriptor, "{\"i32\":2147483648}",
                   "field \"i32\": out of range for int32");
    assert_refused(&lintel__test__scalars__descriptor, "{\"s32\":-2147483649}",
                   "field \"s32\": out of range for int32");
    assert_refused(&lintel__test__scalars__descriptor, "{\"r_i32\":[1,2,0.5]}",
                   "field \"r_i32[2]\": expected an integer");
}

static void
test_int64_strings_and_safe_numbers(void **state)
{
    Lintel__Test__Scalars *s;
    (void)state;

    s = (Lintel__Test__Scalars *)parse_ok(
        &lintel__test__scalars__descriptor,
        "{\"i64\":\"-9223372036854775808\",\"sf64\":\"9223372036854775807\","
        "\"u64\":\"18446744073709551615\",\"s64\":-9007199254740991,"
        "\"f64\":9007199254740991,\"r_i64\":[\"-1\",1,\"007\"]}");
    assert_true(s->i64 == INT64_MIN);
    assert_true(s->sf64 == INT64_MAX);
    assert_true(s->u64 == UINT64_MAX);
    assert_true(s->s64 == -9007199254740991LL);
    assert_true(s->f64 == 9007199254740991ULL);
    assert_int_equal(s->n_r_i64, 3);
    assert_true(s->r_i64[0] == -1 && s->r_i64[1] == 1 && s->r_i64[2] == 7);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void
test_int64_bad_values_refused(void **state)
{
    const ProtobufCMessageDescriptor *d = &lintel__test__scalars__descriptor;
    (void)state;

    /* 2^53 + 1 reads as 2^53: past 2^53 - 1 a number may have rounded. */
    assert_refused(d, "{\"i64\":9007199254740993}",
                   "field \"i64\": out of range for a JSON number (use a "
                   "string)");
    assert_refused(d, "{\"u64\":9007199254740992}",
                   "field \"u64\": out of range for a JSON number (use a "
                   "string)");
    assert_refused(d, "{\"i64\":\"9223372036854775808\"}",
                   "field \"i64\": out of range for int64");
    assert_refused(d, "{\"u64\":\"18446744073709551616\"}",
                   "field \"u64\": out of range for uint64");
    assert_refused(d, "{\"u64\":\"-1\"}",
                   "field \"u64\": expected an integer or a decimal string");
    assert_refused(d, "{\"u64\":-1}", "field \"u64\": out of range for uint64");
    assert_refused(d, "{\"i64\":\" 1\"}",
                   "field \"i64\": expected an integer or a decimal string");
    assert_refused(d, "{\"i64\":\"+1\"}",
                   "field \"i64\": expected an integer or a decimal string");
    assert_refused(d, "{\"i64\":\"1e3\"}",
                   "field \"i64\": expected an integer or a decimal string");
    assert_refused(d, "{\"i64\":\"\"}",
                   "field \"i64\": expected an integer or a decimal string");
    assert_refused(d, "{\"i64\":\"-\"}",
                   "field \"i64\": expected an integer or a decimal string");
    assert_refused(d, "{\"i64\":1.5}", "field \"i64\": expected an integer");
    assert_refused(d, "{\"r_u64\":[\"1\",true]}",
                   "field \"r_u64[1]\": expected an integer or a decimal "
                   "string");
}

static void
test_float_range_and_types(void **state)
{
    Lintel__Test__Scalars *s;
    const ProtobufCMessageDescriptor *d = &lintel__test__scalars__descriptor;
    (void)state;

    s = (Lintel__Test__Scalars *)parse_ok(
        d, "{\"flt\":1e38,\"dbl\":1e308,\"r_flt\":[-1e38,0.5]}");
    assert_true(s->flt == 1e38f);
    assert_true(s->dbl == 1e308);
    assert_true(s->r_flt[0] == -1e38f && s->r_flt[1] == 0.5f);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    assert_refused(d, "{\"flt\":1e39}",
                   "field \"flt\": out of range for "
                   "float");
    assert_refused(d, "{\"dbl\":\"1.5\"}", "field \"dbl\": expected a number");
    assert_refused(d, "{\"dbl\":\"nan\"}", "field \"dbl\": expected a number");
}

static void
test_bool_type_checked(void **state)
{
    Lintel__Test__Scalars *s;
    (void)state;

    s = (Lintel__Test__Scalars *)parse_ok(&lintel__test__scalars__descriptor,
                                          "{\"flag\":true,\"r_flag\":[false,"
                                          "true]}");
    assert_true(s->flag);
    assert_int_equal(s->n_r_flag, 2);
    assert_false(s->r_flag[0]);
    assert_true(s->r_flag[1]);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    assert_refused(&lintel__test__scalars__descriptor, "{\"flag\":1}",
                   "field \"flag\": expected true or false");
}

/* ---- input: structure and error paths ---- */

static void
test_unknown_key_refused(void **state)
{
    (void)state;
    assert_refused(&lintel__v1__request__descriptor, "{\"foo\":1}",
                   "unknown field \"foo\"");
    /* Keys are case-sensitive (cJSON's plain getter is not). */
    assert_refused(&lintel__v1__request__descriptor, "{\"Method\":\"GET\"}",
                   "unknown field \"Method\"");
    /* The JSON mapping's lowerCamelCase names are not accepted. */
    assert_refused(&lintel__v1__request__descriptor, "{\"requestId\":\"x\"}",
                   "unknown field \"requestId\"");
    assert_refused(&lintel__v1__request__descriptor,
                   "{\"tenant\":{\"id\":\"t\",\"name\":\"n\"}}",
                   "unknown field \"tenant.name\"");
    assert_refused(&lintel__v1__users__get_jwks_response__descriptor,
                   "{\"keys\":[{},{\"x\":1}]}", "unknown field \"keys[1].x\"");
    /* An untrusted key cannot break the error onto two lines. */
    assert_refused(&lintel__v1__request__descriptor, "{\"a\\n\\\"b\":1}",
                   "unknown field \"a??b\"");
}

static void
test_wrong_type_names_field_path(void **state)
{
    (void)state;
    assert_refused(&lintel__v1__users__get_jwks_response__descriptor,
                   "{\"keys\":[{\"kid\":\"a\"},{},{\"kid\":5}]}",
                   "field \"keys[2].kid\": expected a string");
    assert_refused(&lintel__v1__request__descriptor,
                   "{\"principal\":{\"role\":[\"admin\"]}}",
                   "field \"principal.role\": expected a string");
    assert_refused(&lintel__v1__request__descriptor, "{\"tenant\":\"acme\"}",
                   "field \"tenant\": expected an object");
    assert_refused(&lintel__v1__request__descriptor, "{\"headers\":{}}",
                   "field \"headers\": expected an array");
    assert_refused(&lintel__v1__request__descriptor, "{\"headers\":[null]}",
                   "field \"headers[0]\": expected an object");
    assert_refused(&lintel__test__scalars__descriptor,
                   "{\"r_inner\":[{\"n\":1},{\"n\":\"2\"}]}",
                   "field \"r_inner[1].n\": expected an integer");
    assert_refused(&lintel__test__scalars__descriptor,
                   "{\"picked\":{\"label\":false}}",
                   "field \"picked.label\": expected a string");
}

static void
test_duplicate_key_refused(void **state)
{
    (void)state;
    /* The first value is freed, not leaked, when the second is refused. */
    assert_refused(&lintel__v1__request__descriptor,
                   "{\"method\":\"GET\",\"method\":\"POST\"}",
                   "field \"method\": duplicate key");
    assert_refused(&lintel__v1__request__descriptor,
                   "{\"tenant\":{\"id\":\"a\",\"id\":\"b\"}}",
                   "field \"tenant.id\": duplicate key");
}

static void
test_non_object_refused(void **state)
{
    char err[64];
    cJSON *json = cJSON_Parse("[1]");
    (void)state;

    assert_null(lc_pbjson_from_json(&lintel__v1__request__descriptor, json, err,
                                    sizeof(err)));
    assert_string_equal(err, "expected a JSON object");
    cJSON_Delete(json);
    assert_null(lc_pbjson_from_json(&lintel__v1__request__descriptor, NULL, err,
                                    sizeof(err)));
    assert_string_equal(err, "expected a JSON object");
}

/* Deep in a message, after allocations: all must be freed, none twice. */
static void
test_error_after_partial_build_frees_everything(void **state)
{
    (void)state;
    assert_refused(
        &lintel__test__scalars__descriptor,
        "{\"str\":\"s\",\"raw\":\"AAEC\",\"inner\":{\"label\":\"l\"},"
        "\"r_str\":[\"a\",\"\"],\"r_raw\":[\"AA==\"],\"text\":\"t\","
        "\"r_inner\":[{\"label\":\"x\"},{\"label\":\"y\",\"n\":true}]}",
        "field \"r_inner[1].n\": expected an integer");
}

static void
test_error_is_truncated_to_buffer(void **state)
{
    char err[12];
    cJSON *json = cJSON_Parse("{\"timeout_ms\":-1}");
    (void)state;

    assert_null(lc_pbjson_from_json(&lintel__v1__request__descriptor, json, err,
                                    sizeof(err)));
    assert_string_equal(err, "field \"time");
    cJSON_Delete(json);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_response_round_trip),
        cmocka_unit_test(test_repeated_messages_round_trip),
        cmocka_unit_test(test_all_scalar_types_round_trip),
        cmocka_unit_test(test_oneof_each_member_round_trips),
        cmocka_unit_test(test_oneof_default_value_is_kept),
        cmocka_unit_test(test_oneof_second_member_refused),
        cmocka_unit_test(test_defaults_omitted),
        cmocka_unit_test(test_null_means_default),
        cmocka_unit_test(test_int64_rendered_as_strings),
        cmocka_unit_test(test_enum_rendered_by_name_or_number),
        cmocka_unit_test(test_non_finite_doubles),
        cmocka_unit_test(test_doubles_exact_in_tree),
        cmocka_unit_test(test_enum_by_name_and_number),
        cmocka_unit_test(test_enum_bad_values_refused),
        cmocka_unit_test(test_bytes_base64_round_trip_with_nuls),
        cmocka_unit_test(test_invalid_base64_refused),
        cmocka_unit_test(test_uint32_range),
        cmocka_unit_test(test_int32_range),
        cmocka_unit_test(test_int64_strings_and_safe_numbers),
        cmocka_unit_test(test_int64_bad_values_refused),
        cmocka_unit_test(test_float_range_and_types),
        cmocka_unit_test(test_bool_type_checked),
        cmocka_unit_test(test_unknown_key_refused),
        cmocka_unit_test(test_wrong_type_names_field_path),
        cmocka_unit_test(test_duplicate_key_refused),
        cmocka_unit_test(test_non_object_refused),
        cmocka_unit_test(test_error_after_partial_build_frees_everything),
        cmocka_unit_test(test_error_is_truncated_to_buffer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
