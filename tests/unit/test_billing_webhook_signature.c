/* The billing service's webhook signatures (services/billing/
 * webhook_signature.c): Stripe's scheme, as a matrix of headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* A unit of the service, not of libcommon: compiled in. */
#include "../../services/billing/webhook_signature.c"

#define SECRET "whsec_test_secret"
#define NOW 1800000000LL
static const char body[] = "{\"id\":\"evt_1\",\"type\":\"invoice.paid\"}";

static webhook_signature_status
check(const char *header)
{
    return webhook_signature_check(header, body, strlen(body), SECRET, NOW,
                                   WEBHOOK_TOLERANCE_S);
}

static void
signed_at(int64_t t, const char *secret, char *out, size_t len)
{
    assert_int_equal(
        webhook_signature_make(body, strlen(body), secret, t, out, len), 0);
}

/* A MAC computed elsewhere: printf '1700000000.hello' | openssl dgst
 * -sha256 -hmac key. */
static void
test_known_vector(void **state)
{
    char h[128];

    (void)state;
    assert_int_equal(webhook_signature_make("hello", 5, "key", 1700000000, h,
                                            sizeof(h)),
                     0);
    assert_string_equal(h, "t=1700000000,v1=4d583a269f4f276a3fa80ff31b5a0187"
                           "9a848096983222a17893d198418939aa");
}

static void
test_signature_matrix(void **state)
{
    char good[128], old[128], other[128], h[512];

    (void)state;
    signed_at(NOW, SECRET, good, sizeof(good));
    assert_int_equal(check(good), WEBHOOK_SIGNATURE_OK);
    /* within the tolerance, either way */
    signed_at(NOW - 300, SECRET, h, sizeof(h));
    assert_int_equal(check(h), WEBHOOK_SIGNATURE_OK);
    signed_at(NOW + 300, SECRET, h, sizeof(h));
    assert_int_equal(check(h), WEBHOOK_SIGNATURE_OK);
    /* stale, or from the future */
    signed_at(NOW - 301, SECRET, old, sizeof(old));
    assert_int_equal(check(old), WEBHOOK_SIGNATURE_STALE);
    signed_at(NOW + 301, SECRET, h, sizeof(h));
    assert_int_equal(check(h), WEBHOOK_SIGNATURE_STALE);
    /* another secret */
    signed_at(NOW, "whsec_other", other, sizeof(other));
    assert_int_equal(check(other), WEBHOOK_SIGNATURE_MISMATCH);
    /* rotation: the old secret's v1 and the new one's, in either order */
    snprintf(h, sizeof(h), "%s,%s", other, strchr(good, ',') + 1);
    assert_int_equal(check(h), WEBHOOK_SIGNATURE_OK);
    snprintf(h, sizeof(h), "%s,%s", good, strchr(other, ',') + 1);
    assert_int_equal(check(h), WEBHOOK_SIGNATURE_OK);
    /* an unknown scheme beside it is ignored */
    snprintf(h, sizeof(h), "%s,v0=abc", good);
    assert_int_equal(check(h), WEBHOOK_SIGNATURE_OK);
    /* tampered body */
    assert_int_equal(webhook_signature_check(good, "{\"id\":\"evt_2\"}", 14,
                                             SECRET, NOW, 300),
                     WEBHOOK_SIGNATURE_MISMATCH);
    /* the time is signed: a good v1 under another t does not match */
    snprintf(h, sizeof(h), "t=%lld%s", NOW + 1, strchr(good, ','));
    assert_int_equal(check(h), WEBHOOK_SIGNATURE_MISMATCH);
    /* one changed hex digit */
    strcpy(h, good);
    h[strlen(h) - 1] = h[strlen(h) - 1] == '0' ? '1' : '0';
    assert_int_equal(check(h), WEBHOOK_SIGNATURE_MISMATCH);
}

static void
test_missing_and_malformed_headers(void **state)
{
    char good[128], h[512];

    (void)state;
    signed_at(NOW, SECRET, good, sizeof(good));
    assert_int_equal(check(NULL), WEBHOOK_SIGNATURE_MISSING);
    assert_int_equal(check(""), WEBHOOK_SIGNATURE_MISSING);
    assert_int_equal(check("t=1800000000"), WEBHOOK_SIGNATURE_MISSING);
    snprintf(h, sizeof(h), "%s", strchr(good, ',') + 1);
    assert_int_equal(check(h), WEBHOOK_SIGNATURE_MISSING); /* no t */
    assert_int_equal(check("garbage"), WEBHOOK_SIGNATURE_MALFORMED);
    assert_int_equal(check("t=abc,v1=00"), WEBHOOK_SIGNATURE_MALFORMED);
    assert_int_equal(check("t=,v1=00"), WEBHOOK_SIGNATURE_MALFORMED);
    snprintf(h, sizeof(h), "t=1800000000,v1=%064d", 0);
    h[strlen(h) - 1] = 'G'; /* not hex */
    assert_int_equal(check(h), WEBHOOK_SIGNATURE_MALFORMED);
    snprintf(h, sizeof(h), "%sA", good); /* upper case and 65 digits */
    assert_int_equal(check(h), WEBHOOK_SIGNATURE_MALFORMED);
    snprintf(h, sizeof(h), "t=1,%s", good); /* two t */
    assert_int_equal(check(h), WEBHOOK_SIGNATURE_MALFORMED);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vector),
        cmocka_unit_test(test_signature_matrix),
        cmocka_unit_test(test_missing_and_malformed_headers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
