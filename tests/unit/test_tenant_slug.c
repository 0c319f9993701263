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
    assert_true(tenant_slug_reserved("rpc"));
    assert_true(tenant_slug_reserved("health"));
    assert_true(tenant_slug_reserved("jwks"));
    assert_true(tenant_slug_reserved("status"));
}

/* IDNA's reserved labels: punycode ("xn--") and any "??--" prefix. */
static void
test_punycode_slugs_are_reserved(void **state)
{
    (void)state;
    assert_true(tenant_slug_reserved("xn--80ak6aa92e"));
    assert_true(tenant_slug_reserved("xn--acme"));
    assert_true(tenant_slug_reserved("ab--cd"));
    assert_false(tenant_slug_reserved("a--b"));
    assert_false(tenant_slug_reserved("acme-corp"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_slugs),
        cmocka_unit_test(test_invalid_slugs),
        cmocka_unit_test(test_reserved_slugs),
        cmocka_unit_test(test_punycode_slugs_are_reserved),
    };

    return cmocka_run_group_tests_name("tenant_slug", tests, NULL, NULL);
}
