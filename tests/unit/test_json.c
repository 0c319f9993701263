/*
 * test_json.c: lc_json's strict parser, typed getters and error envelope.
 *
 * Every parse goes through a heap copy of exactly `len` bytes with no NUL
 * after it, so that the sanitizer build catches a read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_json.h"

static lc_json_status
parse_n(const char *text, size_t len, const lc_json_limits *limits, cJSON **out)
{
    char *copy = malloc(len > 0 ? len : 1);
    lc_json_status st;

    assert_non_null(copy);
    memcpy(copy, text, len);
    st = lc_json_parse(copy, len, limits, out, NULL);
    free(copy);
    return st;
}

/* Parses and frees; for tests that only look at the status. */
static lc_json_status
status_of_n(const char *text, size_t len, const lc_json_limits *limits)
{
    cJSON *root = NULL;
    lc_json_status st = parse_n(text, len, limits, &root);

    if (st == LC_JSON_OK)
        assert_non_null(root);
    else
        assert_null(root);
    cJSON_Delete(root);
    return st;
}

static lc_json_status
status_of(const char *text)
{
    return status_of_n(text, strlen(text), NULL);
}

static cJSON *
parse_ok(const char *text)
{
    cJSON *root = NULL;

    assert_int_equal(parse_n(text, strlen(text), NULL, &root), LC_JSON_OK);
    assert_non_null(root);
    return root;
}

/* "[[[...1...]]]" with `depth` arrays, or "{"a":{"a":...1...}}". */
static char *
nested(int depth, int objects)
{
    char *s = malloc((size_t)depth * 6 + 2);
    size_t n = 0;
    int k;

    assert_non_null(s);
    for (k = 0; k < depth; k++) {
        if (objects) {
            memcpy(s + n, "{\"a\":", 5);
            n += 5;
        } else {
            s[n++] = '[';
        }
    }
    s[n++] = '1';
    for (k = 0; k < depth; k++)
        s[n++] = objects ? '}' : ']';
    s[n] = '\0';
    return s;
}

static void
test_parse_accepts_valid_object(void **state)
{
    const cJSON *meta;
    cJSON *root;

    (void)state;
    root = parse_ok(" {\"name\": \"ada\", \"age\": 36, \"admin\": false,\n"
                    "  \"tags\": [\"a\", \"b\"], \"meta\": {\"x\": null}}\r\n");
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(root, "name")->valuestring, "ada");
    assert_int_equal(
        cJSON_GetObjectItemCaseSensitive(root, "age")->valuedouble, 36);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root, "admin")));
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "tags")), 2);
    meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(meta, "x")));
    cJSON_Delete(root);
}

static void
test_parse_accepts_scalars_and_unicode(void **state)
{
    cJSON *root;

    (void)state;
    assert_int_equal(status_of("0"), LC_JSON_OK);
    assert_int_equal(status_of("-0.5e-3"), LC_JSON_OK);
    assert_int_equal(status_of("1E+2"), LC_JSON_OK);
    assert_int_equal(status_of("null"), LC_JSON_OK);
    assert_int_equal(status_of("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), LC_JSON_OK);
    /* é, €, U+1D11E raw and as a surrogate pair escape. */
    root = parse_ok("[\"\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E\", "
                    "\"\\ud834\\udd1e\"]");
    assert_string_equal(cJSON_GetArrayItem(root, 0)->valuestring,
                        "\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E");
    assert_string_equal(cJSON_GetArrayItem(root, 1)->valuestring,
                        "\xF0\x9D\x84\x9E");
    cJSON_Delete(root);
}

static void
test_parse_reads_only_len_bytes(void **state)
{
    (void)state;
    assert_int_equal(status_of_n("[1]xyz", 3, NULL), LC_JSON_OK);
    assert_int_equal(status_of_n("\"abc\"", 4, NULL), LC_JSON_SYNTAX);
}

static void
test_parse_rejects_empty_body(void **state)
{
    (void)state;
    assert_int_equal(status_of(""), LC_JSON_SYNTAX);
    assert_int_equal(status_of("   "), LC_JSON_SYNTAX);
}

static void
test_parse_rejects_trailing_garbage(void **state)
{
    (void)state;
    assert_int_equal(status_of("{} x"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("{}{}"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("1 2"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[1]]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("{\"a\":1},"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("{\"a\":1} \t\r\n"), LC_JSON_OK);
}

static void
test_parse_rejects_syntax_errors(void **state)
{
    (void)state;
    assert_int_equal(status_of("{\"a\":}"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("{\"a\" 1}"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[1,]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[tru]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("{'a':1}"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[\"abc]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[\"\\x41\"]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[\"\\u12G4\"]"), LC_JSON_SYNTAX);
}

static void
test_parse_rejects_lenient_numbers(void **state)
{
    (void)state;
    assert_int_equal(status_of("[01]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[1.]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[-.5]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[.5]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[+1]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[1e]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[1.2.3]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[-]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[0x10]"), LC_JSON_SYNTAX);
}

static void
test_parse_rejects_overflowing_number(void **state)
{
    (void)state;
    assert_int_equal(status_of("[1e999]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("{\"a\":-1e999}"), LC_JSON_SYNTAX);
}

static void
test_parse_rejects_control_characters(void **state)
{
    (void)state;
    assert_int_equal(status_of("[\"a\nb\"]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[\"a\x1f"
                               "b\"]"),
                     LC_JSON_SYNTAX);
    /* cJSON alone skips any byte <= 0x20 as whitespace. */
    assert_int_equal(status_of("\x01[1]"), LC_JSON_SYNTAX);
    assert_int_equal(status_of("[1]\x0c"), LC_JSON_SYNTAX);
}

static void
test_parse_rejects_byte_order_mark(void **state)
{
    (void)state;
    assert_int_equal(status_of("\xEF\xBB\xBF[1]"), LC_JSON_SYNTAX);
}

static void
test_parse_rejects_too_large(void **state)
{
    lc_json_limits limits = {.max_bytes = 10};

    (void)state;
    assert_int_equal(status_of_n("[1,2,3,4,5]", 11, &limits),
                     LC_JSON_TOO_LARGE);
    assert_int_equal(status_of_n("[1,2,3,45]", 10, &limits), LC_JSON_OK);
}

static void
test_parse_rejects_over_default_size(void **state)
{
    size_t len = LC_JSON_DEFAULT_MAX_BYTES + 1;
    char *big = malloc(len);
    cJSON *root = NULL;

    (void)state;
    assert_non_null(big);
    memset(big, ' ', len);
    big[0] = '1';
    assert_int_equal(lc_json_parse(big, len, NULL, &root, NULL),
                     LC_JSON_TOO_LARGE);
    assert_null(root);
    assert_int_equal(lc_json_parse(big, len - 1, NULL, &root, NULL),
                     LC_JSON_OK);
    cJSON_Delete(root);
    free(big);
}

static void
test_parse_accepts_depth_at_limit(void **state)
{
    char *arrays = nested(LC_JSON_DEFAULT_MAX_DEPTH, 0);
    char *objects = nested(LC_JSON_DEFAULT_MAX_DEPTH, 1);
    lc_json_limits one = {.max_depth = 1};

    (void)state;
    assert_int_equal(status_of(arrays), LC_JSON_OK);
    assert_int_equal(status_of(objects), LC_JSON_OK);
    assert_int_equal(status_of_n("[1,{}]", 6, &one), LC_JSON_TOO_DEEP);
    assert_int_equal(status_of_n("[1,2]", 5, &one), LC_JSON_OK);
    assert_int_equal(status_of_n("[][]", 4, &one), LC_JSON_SYNTAX);
    free(arrays);
    free(objects);
}

static void
test_parse_rejects_too_deep(void **state)
{
    char *arrays = nested(LC_JSON_DEFAULT_MAX_DEPTH + 1, 0);
    char *objects = nested(LC_JSON_DEFAULT_MAX_DEPTH + 1, 1);
    char *beyond_cjson = nested(5000, 0);

    (void)state;
    assert_int_equal(status_of(arrays), LC_JSON_TOO_DEEP);
    assert_int_equal(status_of(objects), LC_JSON_TOO_DEEP);
    /* Deeper than cJSON's own limit: still "too deep", not "syntax". */
    assert_int_equal(status_of(beyond_cjson), LC_JSON_TOO_DEEP);
    free(arrays);
    free(objects);
    free(beyond_cjson);
}

static void
test_parse_ignores_brackets_in_strings(void **state)
{
    lc_json_limits one = {.max_depth = 1};

    (void)state;
    assert_int_equal(status_of_n("[\"[[[{{\\\"[\"]", 12, &one), LC_JSON_OK);
}

static void
test_parse_rejects_duplicate_key_top_level(void **state)
{
    cJSON *root = NULL;
    const char *why = "unset";
    const char *text = "{\"a\":1,\"b\":2,\"a\":3}";

    (void)state;
    assert_int_equal(lc_json_parse(text, strlen(text), NULL, &root, &why),
                     LC_JSON_DUPLICATE_KEY);
    assert_null(root);
    assert_string_equal(why, "duplicate key in object");
}

static void
test_parse_rejects_duplicate_key_nested(void **state)
{
    (void)state;
    assert_int_equal(status_of("{\"a\":{\"x\":1,\"x\":1}}"),
                     LC_JSON_DUPLICATE_KEY);
    assert_int_equal(status_of("[{\"ok\":1},[{\"x\":1,\"y\":2,\"x\":3}]]"),
                     LC_JSON_DUPLICATE_KEY);
    /* An escaped spelling of the same key is the same key. */
    assert_int_equal(status_of("{\"ab\":1,\"a\\u0062\":2}"),
                     LC_JSON_DUPLICATE_KEY);
}

static void
test_parse_accepts_keys_differing_in_case(void **state)
{
    (void)state;
    assert_int_equal(status_of("{\"name\":1,\"Name\":2,\"NAME\":3}"),
                     LC_JSON_OK);
    assert_int_equal(status_of("{\"a\":{\"x\":1},\"b\":{\"x\":1}}"),
                     LC_JSON_OK);
}

static void
test_parse_rejects_duplicate_key_in_large_object(void **state)
{
    char buf[4096];
    size_t n = 0;
    int k;

    (void)state;
    buf[n++] = '{';
    for (k = 0; k < 200; k++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"k%d\":%d,", k, k);
    memcpy(buf + n, "\"k0\":0}", 7);
    n += 7;
    assert_int_equal(status_of_n(buf, n, NULL), LC_JSON_DUPLICATE_KEY);
    memcpy(buf + n - 7, "\"kk\":0}", 7);
    assert_int_equal(status_of_n(buf, n, NULL), LC_JSON_OK);
}

static void
test_parse_why_names_the_reason(void **state)
{
    cJSON *root = NULL;
    const char *why = "unset";

    (void)state;
    assert_int_equal(lc_json_parse("{}", 2, NULL, &root, &why), LC_JSON_OK);
    assert_null(why);
    cJSON_Delete(root);
    assert_int_equal(lc_json_parse("[\"\\u0000\"]", 10, NULL, &root, &why),
                     LC_JSON_BAD_UTF8);
    assert_string_equal(why, "\\u0000 in a string");
    assert_int_equal(lc_json_parse("{} x", 4, NULL, &root, &why),
                     LC_JSON_SYNTAX);
    assert_string_equal(why, "trailing characters after the JSON value");
}

static void
test_status_message_covers_every_status(void **state)
{
    int st;

    (void)state;
    for (st = LC_JSON_OK; st <= LC_JSON_SYNTAX; st++) {
        const char *m = lc_json_status_message((lc_json_status)st);
        assert_non_null(m);
        assert_true(strlen(m) > 0);
    }
    assert_string_equal(lc_json_status_message(LC_JSON_SYNTAX),
                        "body is not valid JSON");
}

static void
test_parse_rejects_invalid_utf8(void **state)
{
    (void)state;
    /* Stray continuation byte, bytes never used in UTF-8. */
    assert_int_equal(status_of("[\"\x80\"]"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of("[\"\xFF\"]"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of("[\"\xF5\x80\x80\x80\"]"), LC_JSON_BAD_UTF8);
    /* Overlong "/" in two, three and four bytes. */
    assert_int_equal(status_of("[\"\xC0\xAF\"]"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of("[\"\xE0\x80\xAF\"]"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of("[\"\xF0\x80\x80\xAF\"]"), LC_JSON_BAD_UTF8);
    /* Encoded surrogate U+D800, and U+110000. */
    assert_int_equal(status_of("[\"\xED\xA0\x80\"]"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of("[\"\xF4\x90\x80\x80\"]"), LC_JSON_BAD_UTF8);
    /* Sequence cut short, inside a string and at the end of the input. */
    assert_int_equal(status_of("[\"\xE2\x82\"]"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of_n("\"\xE2\x82", 3, NULL), LC_JSON_BAD_UTF8);
    /* Outside a string too. */
    assert_int_equal(status_of("[1,\xFF]"), LC_JSON_BAD_UTF8);
    /* The largest and the last 3-byte code points are fine. */
    assert_int_equal(status_of("[\"\xF4\x8F\xBF\xBF\xEF\xBF\xBF\"]"),
                     LC_JSON_OK);
}

static void
test_parse_rejects_nul_escape(void **state)
{
    (void)state;
    assert_int_equal(status_of("{\"a\":\"x\\u0000y\"}"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of("{\"a\\u0000\":1}"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of_n("[\"x\0y\"]", 7, NULL), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of("[\"\\u0001\"]"), LC_JSON_OK);
}

static void
test_parse_rejects_unpaired_surrogate_escape(void **state)
{
    (void)state;
    assert_int_equal(status_of("[\"\\ud800\"]"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of("[\"\\udc00\"]"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of("[\"\\ud800x\"]"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of("[\"\\ud800\\u0041\"]"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of("[\"\\ud800\\ud800\"]"), LC_JSON_BAD_UTF8);
    assert_int_equal(status_of("[\"\\udc00\\ud800\"]"), LC_JSON_BAD_UTF8);
}

/* Parses an envelope strictly and returns its "error" member. */
static cJSON *
parse_envelope(const char *body, cJSON **root)
{
    cJSON *error;

    assert_non_null(body);
    assert_int_equal(lc_json_parse(body, strlen(body), NULL, root, NULL),
                     LC_JSON_OK);
    assert_int_equal(cJSON_GetArraySize(*root), 1);
    error = cJSON_GetObjectItemCaseSensitive(*root, "error");
    assert_true(cJSON_IsObject(error));
    return error;
}

static const char *
member_string(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    assert_true(cJSON_IsString(item));
    return item->valuestring;
}

static void
test_error_body_without_fields(void **state)
{
    cJSON *root, *error;
    char *body =
        lc_json_error_body("not_found", "no such project", "req-1", NULL);
    lc_json_field_errors none = {.count = 0};
    char *body2, *body3;

    (void)state;
    error = parse_envelope(body, &root);
    assert_int_equal(cJSON_GetArraySize(error), 3);
    assert_string_equal(member_string(error, "code"), "not_found");
    assert_string_equal(member_string(error, "message"), "no such project");
    assert_string_equal(member_string(error, "request_id"), "req-1");
    cJSON_Delete(root);

    /* An empty list is no list; a NULL request id is "". */
    body2 = lc_json_error_body("internal", "internal error", NULL, &none);
    error = parse_envelope(body2, &root);
    assert_int_equal(cJSON_GetArraySize(error), 3);
    assert_null(cJSON_GetObjectItemCaseSensitive(error, "fields"));
    assert_string_equal(member_string(error, "request_id"), "");
    cJSON_Delete(root);

    body3 = lc_json_error_body("x", "y", "z", NULL);
    assert_string_equal(body3, "{\"error\":{\"code\":\"x\",\"message\":\"y\","
                               "\"request_id\":\"z\"}}");
    free(body);
    free(body2);
    free(body3);
}

static void
test_error_body_with_fields(void **state)
{
    lc_json_field_errors errs = {.count = 0};
    cJSON *root, *error, *fields, *f;
    char *body;

    (void)state;
    lc_json_field_error_add(&errs, "end_date", "before_start");
    lc_json_field_error_add(&errs, "name", "missing");
    body = lc_json_error_body("validation_failed",
                              "end_date is before start_date", "8f0c", &errs);
    error = parse_envelope(body, &root);
    assert_int_equal(cJSON_GetArraySize(error), 4);
    assert_string_equal(member_string(error, "code"), "validation_failed");
    fields = cJSON_GetObjectItemCaseSensitive(error, "fields");
    assert_true(cJSON_IsArray(fields));
    assert_int_equal(cJSON_GetArraySize(fields), 2);
    f = cJSON_GetArrayItem(fields, 0);
    assert_int_equal(cJSON_GetArraySize(f), 2);
    assert_string_equal(member_string(f, "field"), "end_date");
    assert_string_equal(member_string(f, "code"), "before_start");
    f = cJSON_GetArrayItem(fields, 1);
    assert_string_equal(member_string(f, "field"), "name");
    assert_string_equal(member_string(f, "code"), "missing");
    cJSON_Delete(root);
    free(body);
}

static void
test_error_body_escapes_message(void **state)
{
    const char *msg = "say \"hi\" \\ {\"x\":1}\n\ttab \x01 </script>";
    cJSON *root, *error;
    char *body = lc_json_error_body("conflict", msg, "r\"1", NULL);

    (void)state;
    error = parse_envelope(body, &root);
    assert_string_equal(member_string(error, "message"), msg);
    assert_string_equal(member_string(error, "request_id"), "r\"1");
    cJSON_Delete(root);
    free(body);
}

static void
test_error_body_replaces_invalid_utf8(void **state)
{
    cJSON *root, *error;
    char *body =
        lc_json_error_body("bad", "caf\xC3\xA9 \xFF", "\xC0\xAF", NULL);

    (void)state;
    error = parse_envelope(body, &root);
    assert_string_equal(member_string(error, "message"),
                        "caf\xC3\xA9 \xEF\xBF\xBD");
    assert_string_equal(member_string(error, "request_id"),
                        "\xEF\xBF\xBD\xEF\xBF\xBD");
    cJSON_Delete(root);
    free(body);
}

static void
test_field_errors_keep_first_16(void **state)
{
    lc_json_field_errors errs = {.count = 0};
    char name[16];
    int k;

    (void)state;
    for (k = 0; k < 20; k++) {
        snprintf(name, sizeof(name), "f%d", k);
        lc_json_field_error_add(&errs, name, "missing");
    }
    assert_int_equal(errs.count, LC_JSON_MAX_FIELD_ERRORS);
    assert_string_equal(errs.items[0].field, "f0");
    assert_string_equal(errs.items[15].field, "f15");
    assert_string_equal(errs.items[15].code, "missing");
}

static void
test_field_error_truncates_on_utf8_boundary(void **state)
{
    lc_json_field_errors errs = {.count = 0};
    char field[80];
    char *body;
    cJSON *root;

    (void)state;
    /* 62 bytes then a 2-byte é: only 63 fit, so é goes entirely. */
    memset(field, 'a', 62);
    memcpy(field + 62, "\xC3\xA9", 3);
    lc_json_field_error_add(&errs, field, "a_code_longer_than_31_bytes_xxxxx");
    assert_int_equal(strlen(errs.items[0].field), 62);
    assert_int_equal(strlen(errs.items[0].code), 31);
    body = lc_json_error_body("validation_failed", "m", "r", &errs);
    parse_envelope(body, &root);
    cJSON_Delete(root);
    free(body);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_valid_object),
        cmocka_unit_test(test_parse_accepts_scalars_and_unicode),
        cmocka_unit_test(test_parse_reads_only_len_bytes),
        cmocka_unit_test(test_parse_rejects_empty_body),
        cmocka_unit_test(test_parse_rejects_trailing_garbage),
        cmocka_unit_test(test_parse_rejects_syntax_errors),
        cmocka_unit_test(test_parse_rejects_lenient_numbers),
        cmocka_unit_test(test_parse_rejects_overflowing_number),
        cmocka_unit_test(test_parse_rejects_control_characters),
        cmocka_unit_test(test_parse_rejects_byte_order_mark),
        cmocka_unit_test(test_parse_rejects_too_large),
        cmocka_unit_test(test_parse_rejects_over_default_size),
        cmocka_unit_test(test_parse_accepts_depth_at_limit),
        cmocka_unit_test(test_parse_rejects_too_deep),
        cmocka_unit_test(test_parse_ignores_brackets_in_strings),
        cmocka_unit_test(test_parse_rejects_duplicate_key_top_level),
        cmocka_unit_test(test_parse_rejects_duplicate_key_nested),
        cmocka_unit_test(test_parse_accepts_keys_differing_in_case),
        cmocka_unit_test(test_parse_rejects_duplicate_key_in_large_object),
        cmocka_unit_test(test_parse_why_names_the_reason),
        cmocka_unit_test(test_status_message_covers_every_status),
        cmocka_unit_test(test_parse_rejects_invalid_utf8),
        cmocka_unit_test(test_parse_rejects_nul_escape),
        cmocka_unit_test(test_parse_rejects_unpaired_surrogate_escape),
        cmocka_unit_test(test_error_body_without_fields),
        cmocka_unit_test(test_error_body_with_fields),
        cmocka_unit_test(test_error_body_escapes_message),
        cmocka_unit_test(test_error_body_replaces_invalid_utf8),
        cmocka_unit_test(test_field_errors_keep_first_16),
        cmocka_unit_test(test_field_error_truncates_on_utf8_boundary),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
