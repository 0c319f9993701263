/* lc_token: random tokens, their stored hashes and derivation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lc_token.h"

static void
test_tokens_are_fresh_and_well_formed(void **state)
{
    char a[LC_TOKEN_LEN + 1], b[LC_TOKEN_LEN + 1];

    (void)state;
    assert_int_equal(lc_token_new(a), 0);
    assert_int_equal(lc_token_new(b), 0);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
    assert_true(lc_token_valid(a));
    assert_false(lc_token_valid("short"));
    a[5] = '+';
    assert_false(lc_token_valid(a));
    assert_false(lc_token_valid(NULL));
}

static void
test_hash_is_hex_sha256(void **state)
{
    char h[LC_TOKEN_HASH_LEN + 1];

    (void)state;
    lc_token_hash("abc", h);
    assert_string_equal(
        h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void
test_derive_is_deterministic_and_salted(void **state)
{
    char a[LC_TOKEN_LEN + 1], b[LC_TOKEN_LEN + 1], c[LC_TOKEN_LEN + 1];

    (void)state;
    lc_token_derive("parent-token", "salt-1", a);
    lc_token_derive("parent-token", "salt-1", b);
    lc_token_derive("parent-token", "salt-2", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_true(lc_token_valid(a));
    /* The boundary between parent and salt is part of the input. */
    lc_token_derive("parent-tokens", "alt-1", c);
    assert_string_not_equal(a, c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_are_fresh_and_well_formed),
        cmocka_unit_test(test_hash_is_hex_sha256),
        cmocka_unit_test(test_derive_is_deterministic_and_salted),
    };

    return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
