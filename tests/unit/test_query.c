/* lc_query: parameters of a raw query string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lc_query.h"

static void
test_get_decodes_values(void **state)
{
    char v[32];

    (void)state;
    assert_int_equal(
        lc_query_get("a=1&email=ann%40x.test&b=x+y", "email", v, sizeof(v)),
        LC_QUERY_OK);
    assert_string_equal(v, "ann@x.test");
    assert_int_equal(lc_query_get("a=1&b=x+y", "b", v, sizeof(v)), LC_QUERY_OK);
    assert_string_equal(v, "x y");
    assert_int_equal(lc_query_get("flag&a=1", "flag", v, sizeof(v)),
                     LC_QUERY_OK);
    assert_string_equal(v, "");
    assert_int_equal(lc_query_get("ab=1", "a", v, sizeof(v)), LC_QUERY_MISSING);
    assert_int_equal(lc_query_get("", "a", v, sizeof(v)), LC_QUERY_MISSING);
    assert_int_equal(lc_query_get(NULL, "a", v, sizeof(v)), LC_QUERY_MISSING);
}

static void
test_get_refuses_ambiguity_and_garbage(void **state)
{
    char v[8];

    (void)state;
    assert_int_equal(lc_query_get("a=1&a=2", "a", v, sizeof(v)),
                     LC_QUERY_INVALID);
    assert_int_equal(lc_query_get("a=%zz", "a", v, sizeof(v)),
                     LC_QUERY_INVALID);
    assert_int_equal(lc_query_get("a=%4", "a", v, sizeof(v)), LC_QUERY_INVALID);
    assert_int_equal(lc_query_get("a=%00", "a", v, sizeof(v)),
                     LC_QUERY_INVALID);
    assert_int_equal(lc_query_get("a=12345678", "a", v, sizeof(v)),
                     LC_QUERY_INVALID);
}

static void
test_unknown_names_the_first_stranger(void **state)
{
    static const char *const allowed[] = {"limit", "cursor", NULL};
    char name[16];

    (void)state;
    assert_int_equal(
        lc_query_unknown("limit=1&cursor=x", allowed, name, sizeof(name)), 0);
    assert_int_equal(
        lc_query_unknown("limit=1&sort=x", allowed, name, sizeof(name)), 1);
    assert_string_equal(name, "sort");
    assert_int_equal(lc_query_unknown("", allowed, name, sizeof(name)), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_decodes_values),
        cmocka_unit_test(test_get_refuses_ambiguity_and_garbage),
        cmocka_unit_test(test_unknown_names_the_first_stranger),
    };

    return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
