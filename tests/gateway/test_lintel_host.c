/* Unit tests of gateway-module/lintel_host.c: Host → tenant slug. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "lintel_host.h"

#define BASE "example.test"

static lintel_host_scope_e classify(const char *host, char *slug)
{
    const char *s;
    size_t n;
    lintel_host_scope_e scope;

    scope = lintel_host_classify(host, strlen(host), BASE, strlen(BASE), &s,
                                 &n);
    slug[0] = '\0';
    if (s) {
        memcpy(slug, s, n);
        slug[n] = '\0';
    }
    return scope;
}

static void test_apex_is_platform_scope(void **state)
{
    char slug[128];

    (void)state;
    assert_int_equal(classify("example.test", slug), LINTEL_HOST_APEX);
    assert_int_equal(classify("example.test.", slug), LINTEL_HOST_APEX);
    assert_int_equal(classify("EXAMPLE.test", slug), LINTEL_HOST_APEX);
    assert_string_equal(slug, "");
}

static void test_one_label_is_a_tenant(void **state)
{
    char slug[128];

    (void)state;
    assert_int_equal(classify("acme.example.test", slug), LINTEL_HOST_TENANT);
    assert_string_equal(slug, "acme");
    assert_int_equal(classify("a-1.example.test.", slug), LINTEL_HOST_TENANT);
    assert_string_equal(slug, "a-1");
    assert_int_equal(classify("x.example.test", slug), LINTEL_HOST_TENANT);
    assert_string_equal(slug, "x");
}

static void test_hosts_outside_the_base_domain(void **state)
{
    char slug[128];
    static const char *outside[] = {
        "", ".", "example.tes", "xexample.test", "acme.example.test.evil",
        "evil.test", "acme.example.testx", ".example.test", "a.b.example.test",
        "-acme.example.test", "acme-.example.test", "ac_me.example.test",
        "ac/me.example.test", "..example.test", "acme..example.test",
        "ACME.example.test", "127.0.0.1", NULL};
    const char **h;

    (void)state;
    for (h = outside; *h; h++) {
        assert_int_equal(classify(*h, slug), LINTEL_HOST_OUTSIDE);
        assert_string_equal(slug, "");
    }
}

static void test_slug_length_limit(void **state)
{
    char host[200], slug[128];

    (void)state;
    memset(host, 'a', 63);
    strcpy(host + 63, "." BASE);
    assert_int_equal(classify(host, slug), LINTEL_HOST_TENANT);
    memset(host, 'a', 64);
    strcpy(host + 64, "." BASE);
    assert_int_equal(classify(host, slug), LINTEL_HOST_OUTSIDE);
}

static void test_slug_validity(void **state)
{
    (void)state;
    assert_true(lintel_host_slug_valid("acme", 4));
    assert_true(lintel_host_slug_valid("a-b-c9", 6));
    assert_false(lintel_host_slug_valid("", 0));
    assert_false(lintel_host_slug_valid("-a", 2));
    assert_false(lintel_host_slug_valid("a-", 2));
    assert_false(lintel_host_slug_valid("Acme", 4));
    assert_false(lintel_host_slug_valid("a\0b", 3));
}

static void test_empty_base_is_never_matched(void **state)
{
    const char *s;
    size_t n;

    (void)state;
    assert_int_equal(lintel_host_classify("acme", 4, "", 0, &s, &n),
                     LINTEL_HOST_OUTSIDE);
    assert_int_equal(lintel_host_classify(NULL, 0, BASE, strlen(BASE), &s, &n),
                     LINTEL_HOST_OUTSIDE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apex_is_platform_scope),
        cmocka_unit_test(test_one_label_is_a_tenant),
        cmocka_unit_test(test_hosts_outside_the_base_domain),
        cmocka_unit_test(test_slug_length_limit),
        cmocka_unit_test(test_slug_validity),
        cmocka_unit_test(test_empty_base_is_never_matched),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
