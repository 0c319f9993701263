/* lc_b64url: the one base64url of libcommon and the edge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lc_b64url.h"

static void
test_known_vectors(void **state)
{
    char out[16];
    unsigned char back[8];

    (void)state;
    /* RFC 4648 §10, without padding, in the URL alphabet. */
    assert_int_equal(lc_b64url_encode("", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(lc_b64url_encode("f", 1, out, sizeof(out)), 2);
    assert_string_equal(out, "Zg");
    assert_int_equal(lc_b64url_encode("fo", 2, out, sizeof(out)), 3);
    assert_string_equal(out, "Zm8");
    assert_int_equal(lc_b64url_encode("foobar", 6, out, sizeof(out)), 8);
    assert_string_equal(out, "Zm9vYmFy");
    lc_b64url_encode("\xfb\xff", 2, out, sizeof(out));
    assert_string_equal(out, "-_8");
    assert_int_equal(lc_b64url_decode("-_8", 3, back, sizeof(back)), 2);
    assert_memory_equal(back, "\xfb\xff", 2);
    assert_int_equal(lc_b64url_decode("Zm9vYmFy", 8, back, sizeof(back)), 6);
    assert_memory_equal(back, "foobar", 6);
}

static void
test_room_is_checked(void **state)
{
    char out[16];
    unsigned char back[8];

    (void)state;
    assert_int_equal(lc_b64url_encoded_len(6), 8);
    assert_int_equal(lc_b64url_encoded_len(7), 10);
    assert_int_equal(lc_b64url_encode("foobar", 6, out, 8), -1); /* no NUL */
    assert_int_equal(lc_b64url_encode("foobar", 6, out, 9), 8);
    assert_int_equal(lc_b64url_decode("Zm9vYmFy", 8, back, 5), -1);
    assert_int_equal(lc_b64url_decode("Zm9vYmFy", 8, back, 6), 6);
}

/* One value, one text: everything but the canonical spelling is refused. */
static void
test_decoding_is_strict(void **state)
{
    unsigned char back[8];

    (void)state;
    assert_int_equal(lc_b64url_decode("Zm9vYg==", 8, back, sizeof(back)), -1);
    assert_int_equal(lc_b64url_decode("Z", 1, back, sizeof(back)), -1);
    assert_int_equal(lc_b64url_decode("Zm+v", 4, back, sizeof(back)), -1);
    assert_int_equal(lc_b64url_decode("Zm/v", 4, back, sizeof(back)), -1);
    assert_int_equal(lc_b64url_decode("Zm 9", 4, back, sizeof(back)), -1);
    assert_int_equal(lc_b64url_decode("Zm\0v", 4, back, sizeof(back)), -1);
    /* "Zh" carries the same byte as "Zg" in its first 8 bits, but its
     * unused bits are not zero. */
    assert_int_equal(lc_b64url_decode("Zh", 2, back, sizeof(back)), -1);
    assert_int_equal(lc_b64url_decode("Zm9", 3, back, sizeof(back)), -1);
    assert_int_equal(lc_b64url_decode("Zm8", 3, back, sizeof(back)), 2);
}

static void
test_every_length_and_byte_round_trips(void **state)
{
    unsigned char in[64], back[64];
    char text[100];
    size_t len, i;
    long n;

    (void)state;
    for (len = 0; len <= sizeof(in); len++) {
        for (i = 0; i < len; i++) {
            in[i] = (unsigned char)(i * 37 + len * 11);
        }
        n = lc_b64url_encode(in, len, text, sizeof(text));
        assert_int_equal(n, (long)lc_b64url_encoded_len(len));
        for (i = 0; i < (size_t)n; i++) {
            assert_true(lc_b64url_is_char((unsigned char)text[i]));
        }
        assert_int_equal(lc_b64url_decode(text, (size_t)n, back, len), len);
        assert_memory_equal(back, in, len);
    }
    for (i = 0; i < 256; i++) {
        assert_int_equal(lc_b64url_is_char((unsigned char)i),
                         (i >= 'A' && i <= 'Z') || (i >= 'a' && i <= 'z') ||
                             (i >= '0' && i <= '9') || i == '-' || i == '_');
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_room_is_checked),
        cmocka_unit_test(test_decoding_is_strict),
        cmocka_unit_test(test_every_length_and_byte_round_trips),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
