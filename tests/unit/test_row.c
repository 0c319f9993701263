/* lc_row: JSON from binary columns, on results built without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lc_row.h"

/* A one-row result of `n` binary values (NULL: SQL NULL). */
static PGresult *
row_of(const char *const *vals, const int *lens, int n)
{
    PGresAttDesc attrs[16];
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    char names[16][16];
    int i;

    assert_non_null(res);
    memset(attrs, 0, sizeof(attrs));
    for (i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "c%d", i);
        attrs[i].name = names[i];
        attrs[i].format = 1;
    }
    assert_true(PQsetResultAttrs(res, n, attrs));
    for (i = 0; i < n; i++) {
        assert_true(PQsetvalue(res, 0, i, (char *)vals[i],
                               vals[i] ? lens[i] : -1));
    }
    return res;
}

static void
be32(uint32_t v, char *out)
{
    out[0] = (char)(v >> 24);
    out[1] = (char)(v >> 16);
    out[2] = (char)(v >> 8);
    out[3] = (char)v;
}

static void
be64(uint64_t v, char *out)
{
    be32((uint32_t)(v >> 32), out);
    be32((uint32_t)v, out + 4);
}

/* The JSON of one column of `type` holding `val` (len bytes). */
static char *
one(lc_row_type type, const char *val, int len)
{
    static char out[512];
    const lc_row_column col = {"v", 0, type};
    const char *vals[1] = {val};
    PGresult *res = row_of(vals, &len, 1);
    long n;

    assert_true(lc_row_json_size(res, 0, &col, 1) <= sizeof(out));
    n = lc_row_json(res, 0, &col, 1, out);
    PQclear(res);
    return n < 0 ? NULL : out;
}

static void
test_dates_and_times_are_rfc3339_utc(void **state)
{
    char v[8];

    (void)state;
    be32(0, v); /* PostgreSQL's epoch */
    assert_string_equal(one(LC_ROW_DATE, v, 4), "{\"v\":\"2000-01-01\"}");
    be32((uint32_t)-1, v);
    assert_string_equal(one(LC_ROW_DATE, v, 4), "{\"v\":\"1999-12-31\"}");
    be32(59, v); /* a leap day */
    assert_string_equal(one(LC_ROW_DATE, v, 4), "{\"v\":\"2000-02-29\"}");
    be32((uint32_t)-36524, v);
    assert_string_equal(one(LC_ROW_DATE, v, 4), "{\"v\":\"1900-01-01\"}");
    be32(365242, v);
    assert_string_equal(one(LC_ROW_DATE, v, 4), "{\"v\":\"2999-12-31\"}");

    be64(0, v);
    assert_string_equal(one(LC_ROW_TIMESTAMPTZ, v, 8),
                        "{\"v\":\"2000-01-01T00:00:00Z\"}");
    /* 2027-01-10T08:30:00.999999Z: seconds are truncated, never rounded */
    be64((uint64_t)((9871LL * 86400 + 8 * 3600 + 30 * 60) * 1000000 + 999999),
         v);
    assert_string_equal(one(LC_ROW_TIMESTAMPTZ, v, 8),
                        "{\"v\":\"2027-01-10T08:30:00Z\"}");
    /* half a second before the epoch is still the last second of 1999 */
    be64((uint64_t)-500000LL, v);
    assert_string_equal(one(LC_ROW_TIMESTAMPTZ, v, 8),
                        "{\"v\":\"1999-12-31T23:59:59Z\"}");
}

static void
test_numbers_uuids_and_text(void **state)
{
    static const unsigned char uuid[16] = {
        0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3,
        0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00};
    char v[8];

    (void)state;
    be32((uint32_t)-7, v);
    assert_string_equal(one(LC_ROW_INT4, v, 4), "{\"v\":-7}");
    be64(9007199254740991ULL, v);
    assert_string_equal(one(LC_ROW_INT8, v, 8), "{\"v\":9007199254740991}");
    assert_string_equal(one(LC_ROW_NUMBER_TEXT, "12.50", 5), "{\"v\":12.50}");
    assert_string_equal(one(LC_ROW_UUID, (const char *)uuid, 16),
                        "{\"v\":\"123e4567-e89b-12d3-a456-426614174000\"}");
    assert_string_equal(one(LC_ROW_TEXT, "a\"b\\c\n\x01\xc3\xa9", 9),
                        "{\"v\":\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\"}");
    assert_string_equal(one(LC_ROW_TEXT, "", 0), "{\"v\":\"\"}");
}

static void
test_nulls_order_and_wrong_sizes(void **state)
{
    const lc_row_column cols[] = {
        {"b", 1, LC_ROW_TEXT}, {"a", 0, LC_ROW_INT4}, {"c", 2, LC_ROW_DATE}};
    const char *vals[3];
    int lens[3] = {4, 1, 0};
    char v[4], out[256], text[40];
    PGresult *res;

    (void)state;
    be32(3, v);
    vals[0] = v;
    vals[1] = "x";
    vals[2] = NULL;
    res = row_of(vals, lens, 3);
    assert_int_equal(lc_row_json(res, 0, cols, 3, out), 24);
    assert_string_equal(out, "{\"b\":\"x\",\"a\":3,\"c\":null}");
    assert_int_equal(lc_row_text(res, 0, 0, LC_ROW_INT4, text), 1);
    assert_string_equal(text, "3");
    assert_int_equal(lc_row_text(res, 0, 2, LC_ROW_INT4, text), -1); /* NULL */
    assert_int_equal(lc_row_text(res, 0, 1, LC_ROW_INT4, text), -1); /* size */
    PQclear(res);
    /* a column that is not of its type is refused, not misread */
    assert_null(one(LC_ROW_INT8, v, 4));
    assert_null(one(LC_ROW_UUID, v, 4));
    assert_null(one(LC_ROW_TIMESTAMPTZ, v, 4));
}

/* The size bound holds for the worst text: every byte escaped. */
static void
test_size_bound_covers_the_worst_text(void **state)
{
    const lc_row_column col = {"name", 0, LC_ROW_TEXT};
    char worst[300], *out;
    const char *vals[1] = {worst};
    int len = sizeof(worst);
    PGresult *res;
    size_t size;

    (void)state;
    memset(worst, 0x01, sizeof(worst));
    res = row_of(vals, &len, 1);
    size = lc_row_json_size(res, 0, &col, 1);
    out = malloc(size);
    assert_true(lc_row_json(res, 0, &col, 1, out) < (long)size);
    free(out);
    PQclear(res);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates_and_times_are_rfc3339_utc),
        cmocka_unit_test(test_numbers_uuids_and_text),
        cmocka_unit_test(test_nulls_order_and_wrong_sizes),
        cmocka_unit_test(test_size_bound_covers_the_worst_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
