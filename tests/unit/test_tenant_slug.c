/* The users service's slug rules (services/users/tenant_slug.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* A unit of the service, not of libcommon: compiled in. */
#include "../../services/users/tenant_slug.c"

static void
test_valid_slugs(void **state)
{
    (void)state;
    assert_true(tenant_slug_valid("acme"));
    assert_true(tenant_slug_valid("a-1"));
    assert_true(tenant_slug_valid("0ab"));
    assert_true(tenant_slug_valid("abcdefghijabcdefghijabcdefghijabcdefghij"));
}

static void
test_invalid_slugs(void **state)
{
    (void)state;
    assert_false(tenant_slug_valid(NULL));
    assert_false(tenant_slug_valid(""));
    assert_false(tenant_slug_valid("ab"));
    assert_false(tenant_slug_valid("-abc"));
    assert_false(tenant_slug_valid("abc-"));
    assert_false(tenant_slug_valid("Acme"));
    assert_false(tenant_slug_valid("a_b"));
    assert_false(tenant_slug_valid("a.b.c"));
    assert_false(tenant_slug_valid("acmé"));
    assert_false(
        tenant_slug_valid("abcdefghijabcdefghijabcdefghijabcdefghijk"));
}

static void
test_reserved_slugs(void **state)
{
    (void)state;
    assert_true(tenant_slug_reserved("www"));
    assert_true(tenant_slug_reserved("api"));
    assert_true(tenant_slug_reserved("admin"));
    assert_true(tenant_slug_reserved("app"));
    assert_true(tenant_slug_reserved("mail"));
    assert_true(tenant_slug_reserved("static"));
    assert_false(tenant_slug_reserved("acme"));
    assert_false(tenant_slug_reserved("admins"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_slugs),
        cmocka_unit_test(test_invalid_slugs),
        cmocka_unit_test(test_reserved_slugs),
    };

    return cmocka_run_group_tests_name("tenant_slug", tests, NULL, NULL);
}
