/*
 * test_throttle.c: lc_throttle against a live Redis (LINTEL_TEST_REDIS_HOST
 * and LINTEL_TEST_REDIS_PORT; run from tests/e2e/test_libcommon_live.py),
 * and against a closed port. Subjects are unique per run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lc_throttle.h"

static lc_cache *
open_live(void)
{
    const char *h = getenv("LINTEL_TEST_REDIS_HOST");
    const char *p = getenv("LINTEL_TEST_REDIS_PORT");
    lc_cache_options opts = {0};
    lc_cache *c;

    if (h == NULL || p == NULL || atoi(p) <= 0) {
        fail_msg("LINTEL_TEST_REDIS_HOST and LINTEL_TEST_REDIS_PORT must "
                 "name a Redis to test against");
    }
    opts.host = h;
    opts.port = atoi(p);
    c = lc_cache_open(&opts);
    assert_non_null(c);
    return c;
}

static void
subject(char *out, size_t len, const char *what)
{
    snprintf(out, len, "%s-%ld-%ld", what, (long)getpid(), (long)time(NULL));
}

/* A count: `limit` events pass, the next waits for the oldest to leave. */
static void
test_count_refuses_past_the_limit_until_the_window_moves(void **state)
{
    const lc_throttle_rule r = {.name = "test:count", .window_s = 60,
                                .limit = 3};
    lc_cache *c = open_live();
    char s[96];
    long wait;
    int i;

    (void)state;
    subject(s, sizeof(s), "count");
    for (i = 0; i < 3; i++) {
        assert_int_equal(lc_throttle_hit(c, &r, s, NULL, &wait),
                         LC_THROTTLE_ALLOW);
    }
    assert_int_equal(lc_throttle_hit(c, &r, s, NULL, &wait),
                     LC_THROTTLE_LIMITED);
    assert_true(wait >= 59 && wait <= 60);
    assert_int_equal(lc_throttle_check(c, &r, s, NULL, &wait),
                     LC_THROTTLE_LIMITED);
    assert_int_equal(lc_throttle_clear(c, &r, s), LC_CACHE_OK);
    assert_int_equal(lc_throttle_check(c, &r, s, NULL, &wait),
                     LC_THROTTLE_ALLOW);
    assert_int_equal(wait, 0);
    lc_cache_close(c);
}

/* Members count once: the distinct accounts that failed from one IP. */
static void
test_a_member_counts_once(void **state)
{
    const lc_throttle_rule r = {.name = "test:distinct", .window_s = 60,
                                .limit = 2};
    lc_cache *c = open_live();
    int64_t n = 0;
    char s[96];
    long wait;

    (void)state;
    subject(s, sizeof(s), "distinct");
    assert_int_equal(lc_throttle_record(c, &r, s, "a", &n), LC_CACHE_OK);
    assert_int_equal(lc_throttle_record(c, &r, s, "a", &n), LC_CACHE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(lc_throttle_record(c, &r, s, "b", &n), LC_CACHE_OK);
    assert_int_equal(n, 2);
    /* Full: a third member waits, one already counted does not. */
    assert_int_equal(lc_throttle_check(c, &r, s, "c", &wait),
                     LC_THROTTLE_LIMITED);
    assert_int_equal(lc_throttle_check(c, &r, s, "a", &wait),
                     LC_THROTTLE_ALLOW);
    assert_int_equal(lc_throttle_count(c, &r, s, &n), LC_CACHE_OK);
    assert_int_equal(n, 2);
    lc_cache_close(c);
}

/* A back-off: 2 s after the limit-th event, doubling, never over the cap. */
static void
test_backoff_doubles_and_stops_at_the_cap(void **state)
{
    const lc_throttle_rule r = {.name = "test:backoff", .window_s = 600,
                                .limit = 2, .backoff_cap_s = 5};
    lc_cache *c = open_live();
    char s[96];
    long wait;
    int i;

    (void)state;
    subject(s, sizeof(s), "backoff");
    assert_int_equal(lc_throttle_record(c, &r, s, NULL, NULL), LC_CACHE_OK);
    assert_int_equal(lc_throttle_check(c, &r, s, NULL, &wait),
                     LC_THROTTLE_ALLOW);
    assert_int_equal(lc_throttle_record(c, &r, s, NULL, NULL), LC_CACHE_OK);
    assert_int_equal(lc_throttle_check(c, &r, s, NULL, &wait),
                     LC_THROTTLE_LIMITED);
    assert_int_equal(wait, 2);
    assert_int_equal(lc_throttle_record(c, &r, s, NULL, NULL), LC_CACHE_OK);
    assert_int_equal(lc_throttle_check(c, &r, s, NULL, &wait),
                     LC_THROTTLE_LIMITED);
    assert_int_equal(wait, 4);
    for (i = 0; i < 10; i++) {
        assert_int_equal(lc_throttle_record(c, &r, s, NULL, NULL),
                         LC_CACHE_OK);
    }
    assert_int_equal(lc_throttle_check(c, &r, s, NULL, &wait),
                     LC_THROTTLE_LIMITED);
    assert_int_equal(wait, 5);
    lc_cache_close(c);
}

/* No Redis: the caller is told it cannot know, never "allowed". */
static void
test_redis_down_is_unknown(void **state)
{
    const lc_throttle_rule r = {.name = "test:down", .window_s = 60,
                                .limit = 1};
    lc_cache_options opts = {.host = "127.0.0.1", .port = 1};
    lc_cache *c = lc_cache_open(&opts);
    long wait = 7;

    (void)state;
    assert_int_equal(lc_throttle_hit(c, &r, "x", NULL, &wait),
                     LC_THROTTLE_UNKNOWN);
    assert_int_equal(wait, 0);
    assert_int_equal(lc_throttle_record(c, &r, "x", NULL, NULL),
                     LC_CACHE_DOWN);
    lc_cache_close(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_count_refuses_past_the_limit_until_the_window_moves),
        cmocka_unit_test(test_a_member_counts_once),
        cmocka_unit_test(test_backoff_doubles_and_stops_at_the_cap),
        cmocka_unit_test(test_redis_down_is_unknown),
    };

    return cmocka_run_group_tests_name("throttle", tests, NULL, NULL);
}
