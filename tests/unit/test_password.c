/* lc_password: argon2id parameters, verification, rehash and the window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lc_password.h"

/* Cheap parameters keep the tests fast; the OWASP ones are checked once. */
static const lc_password_params cheap = {1, 1024, 1};

static void
test_owasp_parameters(void **state)
{
    char hash[LC_PASSWORD_HASH_MAX];

    (void)state;
    assert_int_equal(lc_password_owasp.m_cost_kib, 19456);
    assert_int_equal(lc_password_owasp.t_cost, 2);
    assert_int_equal(lc_password_owasp.parallelism, 1);
    assert_int_equal(
        lc_password_hash(NULL, "correct horse", hash, sizeof(hash)), 0);
    assert_true(strncmp(hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    assert_false(lc_password_needs_rehash(NULL, hash));
}

static void
test_verify_matches_only_the_password(void **state)
{
    char hash[LC_PASSWORD_HASH_MAX];

    (void)state;
    assert_int_equal(
        lc_password_hash(&cheap, "s3cret-pass", hash, sizeof(hash)), 0);
    assert_int_equal(lc_password_verify(hash, "s3cret-pass"), 1);
    assert_int_equal(lc_password_verify(hash, "s3cret-pasS"), 0);
    assert_int_equal(lc_password_verify(hash, ""), 0);
}

static void
test_same_password_different_salt(void **state)
{
    char a[LC_PASSWORD_HASH_MAX], b[LC_PASSWORD_HASH_MAX];

    (void)state;
    lc_password_hash(&cheap, "same password", a, sizeof(a));
    lc_password_hash(&cheap, "same password", b, sizeof(b));
    assert_string_not_equal(a, b);
}

static void
test_unusable_hashes_are_errors(void **state)
{
    (void)state;
    assert_int_equal(lc_password_verify(NULL, "x"), -1);
    assert_int_equal(lc_password_verify("plaintext", "plaintext"), -1);
    assert_int_equal(
        lc_password_verify("$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
                           "x"),
        -1);
    assert_int_equal(lc_password_verify("$argon2id$garbage", "x"), -1);
}

static void
test_rehash_when_parameters_change(void **state)
{
    char hash[LC_PASSWORD_HASH_MAX];
    lc_password_params more = cheap;

    (void)state;
    lc_password_hash(&cheap, "rotate me please", hash, sizeof(hash));
    assert_false(lc_password_needs_rehash(&cheap, hash));
    more.t_cost = 2;
    assert_true(lc_password_needs_rehash(&more, hash));
    assert_true(lc_password_needs_rehash(NULL, hash));
    assert_true(lc_password_needs_rehash(&cheap, "$2b$10$bcrypt"));
    assert_true(lc_password_needs_rehash(&cheap, NULL));
}

static void
test_length_window_counts_characters(void **state)
{
    char long_pw[130];

    (void)state;
    assert_int_equal(lc_password_check("1234567", 7), LC_PASSWORD_TOO_SHORT);
    assert_int_equal(lc_password_check("12345678", 8), LC_PASSWORD_OK);
    /* Eight characters, sixteen bytes: long enough. */
    assert_int_equal(lc_password_check("éééééééé", strlen("éééééééé")),
                     LC_PASSWORD_OK);
    memset(long_pw, 'a', 128);
    assert_int_equal(lc_password_check(long_pw, 128), LC_PASSWORD_OK);
    memset(long_pw, 'a', 129);
    assert_int_equal(lc_password_check(long_pw, 129), LC_PASSWORD_TOO_LONG);
    assert_int_equal(lc_password_check("abc\0defgh", 9), LC_PASSWORD_BAD_UTF8);
    assert_int_equal(lc_password_check("abcdefg\xff", 8), LC_PASSWORD_BAD_UTF8);
    assert_int_equal(lc_password_check("abcdefg\xc3", 8), LC_PASSWORD_BAD_UTF8);
}

static void
test_burn_spends_time_without_matching(void **state)
{
    (void)state;
    lc_password_burn(&cheap, "anything at all");
    lc_password_burn(&cheap, "anything at all");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owasp_parameters),
        cmocka_unit_test(test_verify_matches_only_the_password),
        cmocka_unit_test(test_same_password_different_salt),
        cmocka_unit_test(test_unusable_hashes_are_errors),
        cmocka_unit_test(test_rehash_when_parameters_change),
        cmocka_unit_test(test_length_window_counts_characters),
        cmocka_unit_test(test_burn_spends_time_without_matching),
    };

    return cmocka_run_group_tests_name("password", tests, NULL, NULL);
}
