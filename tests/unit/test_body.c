/*
 * lc_body: every kind of field and every code of the one body grammar,
 * checked on parsed JSON (lc_body_parse is pure; lc_body_read only adds
 * the request around it, which the e2e suite drives).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lc_body.h"

#define ID "0b7c5f3e-6a1d-4c4e-9d51-1f2a3b4c5d6e"
#define TOKEN "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"

static const char *const colours[] = {"red", "green", NULL};

/* One field of every kind; none required, so a body names what it tests. */
enum {
    F_TEXT,
    F_NAME,
    F_EMAIL,
    F_PASSWORD,
    F_ENUM,
    F_DATE,
    F_UUID,
    F_INT,
    F_NUMBER,
    F_CURRENCY,
    F_CODE,
    F_TOKEN,
    F_BOOL,
    F_NOTE,
    F_COUNT
};

static const lc_body_field spec[F_COUNT] = {
    {.name = "text", .kind = LC_BODY_TEXT, .max = 5},
    {.name = "name", .kind = LC_BODY_NAME},
    {.name = "email", .kind = LC_BODY_EMAIL},
    {.name = "password", .kind = LC_BODY_PASSWORD},
    {.name = "enum", .kind = LC_BODY_ENUM, .choices = colours},
    {.name = "date", .kind = LC_BODY_DATE, .nullable = true},
    {.name = "uuid", .kind = LC_BODY_UUID},
    {.name = "int", .kind = LC_BODY_INT, .min = -3, .max = 1000},
    {.name = "number",
     .kind = LC_BODY_NUMBER,
     .max = 100000,
     .decimals = 2,
     .nullable = true},
    {.name = "currency", .kind = LC_BODY_CURRENCY},
    {.name = "code", .kind = LC_BODY_CODE},
    {.name = "token", .kind = LC_BODY_TOKEN},
    {.name = "bool", .kind = LC_BODY_BOOL},
    {.name = "note", .kind = LC_BODY_TEXT, .nullable = true},
};

static const lc_body_field required_spec[2] = {
    {.name = "title", .kind = LC_BODY_TEXT, .required = true, .max = 200},
    {.name = "due", .kind = LC_BODY_DATE, .nullable = true},
};

typedef struct {
    lc_body_status status;
    lc_body_value vals[F_COUNT];
    lc_json_field_errors errs;
} parsed;

/* Values point into the tree: it lives until the next parse. */
static cJSON *last_body;

static void
parse_with(const char *json, const lc_body_field *fields, size_t n,
           lc_body_mode mode, parsed *p)
{
    memset(p, 0, sizeof(*p));
    cJSON_Delete(last_body);
    last_body = NULL;
    assert_int_equal(lc_json_parse(json, strlen(json), NULL, &last_body, NULL),
                     LC_JSON_OK);
    p->status = lc_body_parse(last_body, fields, n, mode, p->vals, &p->errs);
}

static int
free_last_body(void **state)
{
    (void)state;
    cJSON_Delete(last_body);
    last_body = NULL;
    return 0;
}

/* The code the one error of `json` (against `spec`) names, or "". */
static const char *
code_of(const char *json, const char *field)
{
    static char code[32];
    parsed p;
    int i;

    parse_with(json, spec, F_COUNT, LC_BODY_CREATE, &p);
    code[0] = '\0';
    for (i = 0; i < p.errs.count; i++) {
        if (strcmp(p.errs.items[i].field, field) == 0) {
            snprintf(code, sizeof(code), "%s", p.errs.items[i].code);
        }
    }
    if (code[0] != '\0') {
        assert_int_equal(p.status, LC_BODY_INVALID);
        assert_int_equal(p.errs.count, 1);
    } else {
        assert_int_equal(p.status, LC_BODY_OK);
    }
    return code;
}

static void
test_a_body_that_is_not_an_object_is_refused(void **state)
{
    static const char *const bodies[] = {"[]", "\"x\"", "null", "3", "true"};
    parsed p;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        parse_with(bodies[i], spec, F_COUNT, LC_BODY_CREATE, &p);
        assert_int_equal(p.status, LC_BODY_NOT_OBJECT);
        assert_int_equal(p.errs.count, 0);
    }
}

static void
test_unknown_members_are_unknown_field(void **state)
{
    parsed p;

    (void)state;
    parse_with("{\"text\":\"a\",\"colour\":1,\"Text\":\"b\"}", spec, F_COUNT,
               LC_BODY_CREATE, &p);
    assert_int_equal(p.status, LC_BODY_INVALID);
    assert_int_equal(p.errs.count, 2);
    assert_string_equal(p.errs.items[0].field, "colour");
    assert_string_equal(p.errs.items[0].code, "unknown_field");
    /* Names are case-sensitive: "Text" is not "text". */
    assert_string_equal(p.errs.items[1].field, "Text");
    assert_string_equal(p.errs.items[1].code, "unknown_field");
}

static void
test_an_empty_spec_takes_only_an_empty_object(void **state)
{
    lc_json_field_errors errs = {0};
    cJSON *body = cJSON_Parse("{}");

    (void)state;
    assert_int_equal(lc_body_parse(body, NULL, 0, LC_BODY_CREATE, NULL, &errs),
                     LC_BODY_OK);
    cJSON_Delete(body);
    body = cJSON_Parse("{\"x\":1}");
    assert_int_equal(lc_body_parse(body, NULL, 0, LC_BODY_CREATE, NULL, &errs),
                     LC_BODY_INVALID);
    assert_string_equal(errs.items[0].code, "unknown_field");
    cJSON_Delete(body);
}

static void
test_a_missing_required_field_is_required(void **state)
{
    parsed p;

    (void)state;
    parse_with("{}", required_spec, 2, LC_BODY_CREATE, &p);
    assert_int_equal(p.status, LC_BODY_INVALID);
    assert_int_equal(p.errs.count, 1);
    assert_string_equal(p.errs.items[0].field, "title");
    assert_string_equal(p.errs.items[0].code, "required");
    assert_false(p.vals[0].present);
}

static void
test_a_patch_requires_nothing(void **state)
{
    parsed p;

    (void)state;
    parse_with("{}", required_spec, 2, LC_BODY_PATCH, &p);
    assert_int_equal(p.status, LC_BODY_OK);
    assert_false(p.vals[0].present);
    assert_null(p.vals[0].text);
    /* ... but what it sends is still checked, blank included. */
    parse_with("{\"title\":\" \"}", required_spec, 2, LC_BODY_PATCH, &p);
    assert_int_equal(p.status, LC_BODY_INVALID);
    assert_string_equal(p.errs.items[0].code, "required");
}

static void
test_a_blank_string_is_required_unless_nullable(void **state)
{
    (void)state;
    assert_string_equal(code_of("{\"text\":\"\"}", "text"), "required");
    assert_string_equal(code_of("{\"text\":\" \\t\\n\"}", "text"), "required");
    assert_string_equal(code_of("{\"name\":\"   \"}", "name"), "required");
    /* A nullable text may be blank (an empty description). */
    assert_string_equal(code_of("{\"note\":\"\"}", "note"), "");
}

static void
test_null_clears_a_nullable_field_only(void **state)
{
    parsed p;

    (void)state;
    parse_with("{\"date\":null,\"number\":null}", spec, F_COUNT, LC_BODY_PATCH,
               &p);
    assert_int_equal(p.status, LC_BODY_OK);
    assert_true(p.vals[F_DATE].present);
    assert_true(p.vals[F_DATE].null);
    assert_null(p.vals[F_DATE].text);
    assert_true(p.vals[F_NUMBER].null);
    /* Not nullable: null is a value of the wrong type, required or not. */
    assert_string_equal(code_of("{\"text\":null}", "text"), "invalid_type");
    parse_with("{\"title\":null}", required_spec, 2, LC_BODY_CREATE, &p);
    assert_string_equal(p.errs.items[0].code, "invalid_type");
}

static void
test_a_wrong_json_type_is_invalid_type(void **state)
{
    (void)state;
    assert_string_equal(code_of("{\"text\":5}", "text"), "invalid_type");
    assert_string_equal(code_of("{\"text\":[\"a\"]}", "text"), "invalid_type");
    assert_string_equal(code_of("{\"email\":{}}", "email"), "invalid_type");
    assert_string_equal(code_of("{\"enum\":true}", "enum"), "invalid_type");
    assert_string_equal(code_of("{\"int\":\"5\"}", "int"), "invalid_type");
    assert_string_equal(code_of("{\"number\":\"1.5\"}", "number"),
                        "invalid_type");
    assert_string_equal(code_of("{\"bool\":1}", "bool"), "invalid_type");
    assert_string_equal(code_of("{\"bool\":\"true\"}", "bool"), "invalid_type");
    /* A fraction is not an integer. */
    assert_string_equal(code_of("{\"int\":1.5}", "int"), "invalid_type");
}

static void
test_text_counts_characters_not_bytes(void **state)
{
    parsed p;

    (void)state;
    /* Five two-byte characters fit a max of 5 (PostgreSQL's length()). */
    parse_with("{\"text\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}", spec,
               F_COUNT, LC_BODY_CREATE, &p);
    assert_int_equal(p.status, LC_BODY_OK);
    assert_string_equal(p.vals[F_TEXT].text,
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_string_equal(code_of("{\"text\":\"abcdef\"}", "text"), "too_long");
    assert_string_equal(code_of("{\"text\":\"abcde\"}", "text"), "");
}

static void
test_a_name_is_one_line_of_up_to_200_characters(void **state)
{
    char json[512];

    (void)state;
    assert_string_equal(code_of("{\"name\":\"Ada Lovelace\"}", "name"), "");
    assert_string_equal(code_of("{\"name\":\"Ada\\nLovelace\"}", "name"),
                        "invalid_format");
    assert_string_equal(code_of("{\"name\":\"Ada\\u007f\"}", "name"),
                        "invalid_format");
    snprintf(json, sizeof(json), "{\"name\":\"%0200d\"}", 0);
    assert_string_equal(code_of(json, "name"), "");
    snprintf(json, sizeof(json), "{\"name\":\"%0201d\"}", 0);
    assert_string_equal(code_of(json, "name"), "too_long");
}

static void
test_an_email_is_deliverable_and_at_most_254_bytes(void **state)
{
    char json[400];

    (void)state;
    assert_string_equal(code_of("{\"email\":\"ada@example.test\"}", "email"),
                        "");
    assert_string_equal(code_of("{\"email\":\"not-an-email\"}", "email"),
                        "invalid_format");
    assert_string_equal(code_of("{\"email\":\"a@b@c.test\"}", "email"),
                        "invalid_format");
    assert_string_equal(code_of("{\"email\":\"a b@c.test\"}", "email"),
                        "invalid_format");
    snprintf(json, sizeof(json), "{\"email\":\"%0300d@x.test\"}", 0);
    assert_string_equal(code_of(json, "email"), "too_long");
    assert_true(lc_body_email_valid("x@y.z"));
    assert_false(lc_body_email_valid("x@y"));
    assert_false(lc_body_email_valid("x@.y"));
    assert_false(lc_body_email_valid("@y.z"));
    assert_false(lc_body_email_valid("x@y.z."));
}

static void
test_a_password_keeps_lc_passwords_window(void **state)
{
    char json[512];

    (void)state;
    assert_string_equal(code_of("{\"password\":\"short\"}", "password"),
                        "too_short");
    assert_string_equal(code_of("{\"password\":\"long enough\"}", "password"),
                        "");
    snprintf(json, sizeof(json), "{\"password\":\"%0129d\"}", 0);
    assert_string_equal(code_of(json, "password"), "too_long");
}

static void
test_an_enum_takes_only_its_choices(void **state)
{
    (void)state;
    assert_string_equal(code_of("{\"enum\":\"red\"}", "enum"), "");
    assert_string_equal(code_of("{\"enum\":\"Red\"}", "enum"),
                        "invalid_choice");
    assert_string_equal(code_of("{\"enum\":\"\"}", "enum"), "invalid_choice");
}

static void
test_a_date_is_a_real_day(void **state)
{
    (void)state;
    assert_string_equal(code_of("{\"date\":\"2024-02-29\"}", "date"), "");
    assert_string_equal(code_of("{\"date\":\"2023-02-29\"}", "date"),
                        "invalid_format");
    assert_string_equal(code_of("{\"date\":\"2024-13-01\"}", "date"),
                        "invalid_format");
    assert_string_equal(code_of("{\"date\":\"2024-1-01\"}", "date"),
                        "invalid_format");
    assert_string_equal(code_of("{\"date\":\"2024-01-01T00:00:00Z\"}", "date"),
                        "invalid_format");
    assert_true(lc_body_date_valid("2000-02-29"));
    assert_false(lc_body_date_valid("1900-02-29"));
    assert_false(lc_body_date_valid("1899-12-31"));
    assert_false(lc_body_date_valid("3000-01-01"));
    assert_false(lc_body_date_valid("2024-04-31"));
}

static void
test_formats_of_uuid_currency_code_and_token(void **state)
{
    (void)state;
    assert_string_equal(code_of("{\"uuid\":\"" ID "\"}", "uuid"), "");
    assert_string_equal(code_of("{\"uuid\":\"not-a-uuid\"}", "uuid"),
                        "invalid_format");
    assert_string_equal(code_of("{\"currency\":\"EUR\"}", "currency"), "");
    assert_string_equal(code_of("{\"currency\":\"eur\"}", "currency"),
                        "invalid_format");
    assert_string_equal(code_of("{\"currency\":\"EURO\"}", "currency"),
                        "invalid_format");
    assert_string_equal(code_of("{\"code\":\"B-12.a_3\"}", "code"), "");
    assert_string_equal(code_of("{\"code\":\"-B12\"}", "code"),
                        "invalid_format");
    assert_string_equal(
        code_of("{\"code\":\"abcdefghijklmnopqrstuvwxyz0123456\"}", "code"),
        "invalid_format");
    assert_string_equal(code_of("{\"token\":\"" TOKEN "\"}", "token"), "");
    assert_string_equal(code_of("{\"token\":\"short\"}", "token"),
                        "invalid_format");
}

static void
test_an_int_is_whole_and_in_range(void **state)
{
    parsed p;

    (void)state;
    parse_with("{\"int\":-3}", spec, F_COUNT, LC_BODY_CREATE, &p);
    assert_int_equal(p.status, LC_BODY_OK);
    assert_int_equal(p.vals[F_INT].integer, -3);
    assert_string_equal(p.vals[F_INT].text, "-3");
    assert_string_equal(code_of("{\"int\":1000}", "int"), "");
    assert_string_equal(code_of("{\"int\":1001}", "int"), "out_of_range");
    assert_string_equal(code_of("{\"int\":-4}", "int"), "out_of_range");
    assert_string_equal(code_of("{\"int\":1e300}", "int"), "out_of_range");
}

static void
test_a_safe_int_reads_exactly(void **state)
{
    static const lc_body_field money[1] = {
        {.name = "cents", .kind = LC_BODY_INT, .max = LC_BODY_MAX_SAFE_INT},
    };
    parsed p;

    (void)state;
    parse_with("{\"cents\":9007199254740991}", money, 1, LC_BODY_CREATE, &p);
    assert_int_equal(p.status, LC_BODY_OK);
    assert_string_equal(p.vals[0].text, "9007199254740991");
    parse_with("{\"cents\":-1}", money, 1, LC_BODY_CREATE, &p);
    assert_string_equal(p.errs.items[0].code, "out_of_range");
}

static void
test_a_number_has_at_most_its_decimals(void **state)
{
    parsed p;

    (void)state;
    parse_with("{\"number\":0.29}", spec, F_COUNT, LC_BODY_CREATE, &p);
    assert_int_equal(p.status, LC_BODY_OK);
    assert_string_equal(p.vals[F_NUMBER].text, "0.29");
    parse_with("{\"number\":12}", spec, F_COUNT, LC_BODY_CREATE, &p);
    assert_string_equal(p.vals[F_NUMBER].text, "12.00");
    assert_string_equal(code_of("{\"number\":1.005}", "number"),
                        "invalid_format");
    assert_string_equal(code_of("{\"number\":100000.01}", "number"),
                        "out_of_range");
    assert_string_equal(code_of("{\"number\":-0.5}", "number"), "out_of_range");
}

static void
test_a_bool_reads_as_sql_text(void **state)
{
    parsed p;

    (void)state;
    parse_with("{\"bool\":false}", spec, F_COUNT, LC_BODY_CREATE, &p);
    assert_int_equal(p.status, LC_BODY_OK);
    assert_false(p.vals[F_BOOL].boolean);
    assert_string_equal(p.vals[F_BOOL].text, "false");
    parse_with("{\"bool\":true}", spec, F_COUNT, LC_BODY_CREATE, &p);
    assert_true(p.vals[F_BOOL].boolean);
    assert_string_equal(p.vals[F_BOOL].text, "true");
}

static void
test_every_problem_is_reported_at_once(void **state)
{
    parsed p;

    (void)state;
    parse_with("{\"x\":1,\"text\":7,\"uuid\":\"u\",\"int\":5000}", spec,
               F_COUNT, LC_BODY_CREATE, &p);
    assert_int_equal(p.status, LC_BODY_INVALID);
    assert_int_equal(p.errs.count, 4);
    assert_string_equal(p.errs.items[0].field, "x"); /* unknown first */
    assert_string_equal(p.errs.items[1].field, "text");
    assert_string_equal(p.errs.items[2].field, "uuid");
    assert_string_equal(p.errs.items[3].field, "int");
    /* A field in error holds no value. */
    assert_null(p.vals[F_UUID].text);
    assert_null(p.vals[F_INT].text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_body_that_is_not_an_object_is_refused),
        cmocka_unit_test(test_unknown_members_are_unknown_field),
        cmocka_unit_test(test_an_empty_spec_takes_only_an_empty_object),
        cmocka_unit_test(test_a_missing_required_field_is_required),
        cmocka_unit_test(test_a_patch_requires_nothing),
        cmocka_unit_test(test_a_blank_string_is_required_unless_nullable),
        cmocka_unit_test(test_null_clears_a_nullable_field_only),
        cmocka_unit_test(test_a_wrong_json_type_is_invalid_type),
        cmocka_unit_test(test_text_counts_characters_not_bytes),
        cmocka_unit_test(test_a_name_is_one_line_of_up_to_200_characters),
        cmocka_unit_test(test_an_email_is_deliverable_and_at_most_254_bytes),
        cmocka_unit_test(test_a_password_keeps_lc_passwords_window),
        cmocka_unit_test(test_an_enum_takes_only_its_choices),
        cmocka_unit_test(test_a_date_is_a_real_day),
        cmocka_unit_test(test_formats_of_uuid_currency_code_and_token),
        cmocka_unit_test(test_an_int_is_whole_and_in_range),
        cmocka_unit_test(test_a_safe_int_reads_exactly),
        cmocka_unit_test(test_a_number_has_at_most_its_decimals),
        cmocka_unit_test(test_a_bool_reads_as_sql_text),
        cmocka_unit_test(test_every_problem_is_reported_at_once),
    };

    return cmocka_run_group_tests(tests, NULL, free_last_body);
}
