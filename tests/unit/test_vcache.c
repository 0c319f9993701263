/*
 * test_vcache.c: lc_vcache against a live Redis (LINTEL_TEST_REDIS_HOST
 * and LINTEL_TEST_REDIS_PORT, as LINTEL_TEST_REDIS_USER with
 * LINTEL_TEST_REDIS_PASSWORD; run from tests/e2e/test_libcommon_live.py as
 * reporting's Redis user), and against a closed port. Each test has a
 * tenant of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lc_clock.h"
#include "lc_vcache.h"

#define PREFIX "lintel:vcache-test"

static lc_cache_options
live_options(void)
{
    const char *h = getenv("LINTEL_TEST_REDIS_HOST");
    const char *p = getenv("LINTEL_TEST_REDIS_PORT");
    lc_cache_options opts = {0};

    if (h == NULL || p == NULL || atoi(p) <= 0) {
        fail_msg("LINTEL_TEST_REDIS_HOST and LINTEL_TEST_REDIS_PORT must "
                 "name a Redis to test against");
    }
    opts.host = h;
    opts.port = atoi(p);
    opts.user = getenv("LINTEL_TEST_REDIS_USER");
    opts.password = getenv("LINTEL_TEST_REDIS_PASSWORD");
    return opts;
}

static lc_cache *
open_live(void)
{
    lc_cache_options opts = live_options();
    lc_cache *c = lc_cache_open(&opts);

    assert_non_null(c);
    return c;
}

static void
tenant(char *out, size_t len, const char *what)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, len, "%s-%ld-%ld-%ld", what, (long)getpid(), (long)ts.tv_sec,
             ts.tv_nsec);
}

/* The lookup's result, its body freed. */
static lc_vcache_result
look(lc_cache *c, const char *t, const char *what, lc_vcache_seen *seen)
{
    char *body;
    size_t len;
    lc_vcache_result r =
        lc_vcache_lookup(c, PREFIX, t, what, seen, &body, &len);

    free(body);
    return r;
}

/* No version: the reader fills it; then an answer put under it is a hit,
 * body and length as stored. */
static void
test_fill_then_put_then_hit(void **state)
{
    lc_cache *c = open_live();
    lc_vcache_seen seen;
    char t[96], *body;
    size_t len;
    bool filled;

    (void)state;
    tenant(t, sizeof(t), "fill");
    assert_int_equal(look(c, t, "dash", &seen), LC_VCACHE_UNKNOWN);
    assert_int_equal(seen.version, -1);
    assert_int_equal(lc_vcache_fill(c, PREFIX, t, &seen, 5, &filled),
                     LC_CACHE_OK);
    assert_true(filled);
    assert_int_equal(look(c, t, "dash", &seen), LC_VCACHE_MISS);
    assert_int_equal(seen.version, 5);
    assert_int_equal(
        lc_vcache_put(c, PREFIX, t, 5, "dash", "{\"a\":\0}", 7, 60),
        LC_CACHE_OK);
    /* an answer of another version is no answer of this one */
    assert_int_equal(lc_vcache_put(c, PREFIX, t, 4, "work", "old", 3, 60),
                     LC_CACHE_OK);
    assert_int_equal(look(c, t, "work", &seen), LC_VCACHE_MISS);
    assert_int_equal(lc_vcache_lookup(c, PREFIX, t, "dash", &seen, &body, &len),
                     LC_VCACHE_HIT);
    assert_int_equal(len, 7);
    assert_memory_equal(body, "{\"a\":\0}", 7);
    free(body);
    /* a lower version never replaces a higher one */
    assert_int_equal(lc_vcache_fill(c, PREFIX, t, &seen, 3, &filled),
                     LC_CACHE_OK);
    assert_false(filled);
    assert_int_equal(look(c, t, "dash", &seen), LC_VCACHE_HIT);
    assert_int_equal(seen.version, 5);
    lc_cache_close(c);
}

/* A fence sends readers to the database until its stamp, which records
 * the new version: the old version's answers are never served again. */
static void
test_a_fence_hides_the_version_until_its_stamp(void **state)
{
    lc_cache *c = open_live();
    lc_vcache_seen seen, before;
    char t[96];
    bool filled;

    (void)state;
    tenant(t, sizeof(t), "fence");
    assert_int_equal(look(c, t, "dash", &before), LC_VCACHE_UNKNOWN);
    assert_int_equal(lc_vcache_fill(c, PREFIX, t, &before, 1, &filled),
                     LC_CACHE_OK);
    lc_vcache_put(c, PREFIX, t, 1, "dash", "v1", 2, 60);
    assert_int_equal(look(c, t, "dash", &before), LC_VCACHE_HIT);
    assert_int_equal(lc_vcache_fence(c, PREFIX, t, "w1", 60000), LC_CACHE_OK);
    assert_int_equal(look(c, t, "dash", &seen), LC_VCACHE_FENCED);
    /* a reader's fill during the write is refused */
    assert_int_equal(lc_vcache_fill(c, PREFIX, t, &seen, 1, &filled),
                     LC_CACHE_OK);
    assert_false(filled);
    assert_int_equal(lc_vcache_stamp(c, PREFIX, t, "w1", 2), LC_CACHE_OK);
    assert_int_equal(look(c, t, "dash", &seen), LC_VCACHE_MISS);
    assert_int_equal(seen.version, 2);
    lc_cache_close(c);
}

/* Two writers at once: the version shows only when both have stamped, and
 * the higher one stays whatever the order of the stamps. */
static void
test_two_writers(void **state)
{
    lc_cache *c = open_live();
    lc_vcache_seen seen;
    char t[96];

    (void)state;
    tenant(t, sizeof(t), "two");
    lc_vcache_fence(c, PREFIX, t, "w1", 60000);
    lc_vcache_fence(c, PREFIX, t, "w2", 60000);
    /* w1 committed 7, then w2 committed 8 and stamped first */
    lc_vcache_stamp(c, PREFIX, t, "w2", 8);
    assert_int_equal(look(c, t, "dash", &seen), LC_VCACHE_FENCED);
    lc_vcache_stamp(c, PREFIX, t, "w1", 7);
    assert_int_equal(look(c, t, "dash", &seen), LC_VCACHE_MISS);
    assert_int_equal(seen.version, 8);
    /* in commit order */
    lc_vcache_fence(c, PREFIX, t, "w1", 60000);
    lc_vcache_fence(c, PREFIX, t, "w2", 60000);
    lc_vcache_stamp(c, PREFIX, t, "w1", 9);
    assert_int_equal(look(c, t, "dash", &seen), LC_VCACHE_FENCED);
    lc_vcache_stamp(c, PREFIX, t, "w2", 10);
    assert_int_equal(look(c, t, "dash", &seen), LC_VCACHE_MISS);
    assert_int_equal(seen.version, 10);
    /* a rollback after a fence: the version is unknown (fill it), even
     * with the highest stamped at hand */
    lc_vcache_fence(c, PREFIX, t, "w1", 60000);
    lc_vcache_stamp(c, PREFIX, t, "w1", -1);
    assert_int_equal(look(c, t, "dash", &seen), LC_VCACHE_UNKNOWN);
    lc_cache_close(c);
}

/* A fill is refused when a fence came and went since the reader's lookup,
 * even when the write rolled back: the epoch moved. */
static void
test_a_fill_after_a_fence_came_and_went_is_refused(void **state)
{
    lc_cache *c = open_live();
    lc_vcache_seen seen, again;
    char t[96];
    bool filled;

    (void)state;
    tenant(t, sizeof(t), "epoch");
    assert_int_equal(look(c, t, "dash", &seen), LC_VCACHE_UNKNOWN);
    lc_vcache_fence(c, PREFIX, t, "w1", 60000);
    assert_int_equal(lc_vcache_stamp(c, PREFIX, t, "w1", -1), LC_CACHE_OK);
    assert_int_equal(lc_vcache_fill(c, PREFIX, t, &seen, 3, &filled),
                     LC_CACHE_OK);
    assert_false(filled);
    assert_int_equal(look(c, t, "dash", &again), LC_VCACHE_UNKNOWN);
    assert_string_not_equal(again.epoch, seen.epoch);
    assert_int_equal(lc_vcache_fill(c, PREFIX, t, &again, 3, &filled),
                     LC_CACHE_OK);
    assert_true(filled);
    assert_int_equal(look(c, t, "dash", &again), LC_VCACHE_MISS);
    lc_cache_close(c);
}

/* A writer that dies between commit and stamp: its fence expires and the
 * version is unknown (read again from the database), never the old one. */
static void
test_an_expired_fence_leaves_the_version_unknown(void **state)
{
    lc_cache *c = open_live();
    lc_vcache_seen seen;
    char t[96];
    bool filled;
    int64_t deadline = lc_clock_mono_ms() + 10000;
    lc_vcache_result r;

    (void)state;
    tenant(t, sizeof(t), "expire");
    look(c, t, "dash", &seen);
    lc_vcache_fill(c, PREFIX, t, &seen, 4, &filled);
    assert_true(filled);
    lc_vcache_fence(c, PREFIX, t, "dead", 50);
    while ((r = look(c, t, "dash", &seen)) == LC_VCACHE_FENCED &&
           lc_clock_mono_ms() < deadline) {
        usleep(10000);
    }
    assert_int_equal(r, LC_VCACHE_UNKNOWN);
    lc_cache_close(c);
}

/* The writer: fences per tenant inside a transaction, stamps what
 * committed, only lifts the fences of what rolled back. */
static void
test_the_writer(void **state)
{
    lc_cache_options opts = live_options();
    lc_vcache_writer *w = lc_vcache_writer_new(&opts, PREFIX, 60000);
    lc_cache *c = open_live();
    lc_vcache_seen seen;
    char a[96], b[96];

    (void)state;
    assert_non_null(w);
    tenant(a, sizeof(a), "wa");
    tenant(b, sizeof(b), "wb");
    assert_int_equal(lc_vcache_writer_fence(w, a), 0);
    assert_int_equal(lc_vcache_writer_fence(w, b), 0);
    assert_int_equal(look(c, a, "dash", &seen), LC_VCACHE_FENCED);
    assert_int_equal(look(c, b, "dash", &seen), LC_VCACHE_FENCED);
    lc_vcache_writer_version(w, a, 11);
    lc_vcache_writer_version(w, b, 12);
    lc_vcache_writer_done(w, true);
    assert_int_equal(look(c, a, "dash", &seen), LC_VCACHE_MISS);
    assert_int_equal(seen.version, 11);
    assert_int_equal(look(c, b, "dash", &seen), LC_VCACHE_MISS);
    assert_int_equal(seen.version, 12);
    /* a retried transaction fences again; a rollback stamps nothing */
    lc_vcache_writer_fence(w, a);
    lc_vcache_writer_version(w, a, 13);
    lc_vcache_writer_fence(w, a);
    lc_vcache_writer_done(w, false);
    assert_int_equal(look(c, a, "dash", &seen), LC_VCACHE_UNKNOWN);
    lc_vcache_writer_free(w);
    lc_cache_close(c);
}

/* Redis down: every call says so, quickly, and the writer goes on. */
static void
test_redis_down(void **state)
{
    lc_cache_options opts = {.host = "127.0.0.1", .port = 1};
    lc_cache *c = lc_cache_open(&opts);
    lc_vcache_writer *w = lc_vcache_writer_new(&opts, PREFIX, 60000);
    lc_vcache_seen seen;
    char *body;
    size_t len;
    bool filled = true;

    (void)state;
    assert_int_equal(
        lc_vcache_lookup(c, PREFIX, "t", "dash", &seen, &body, &len),
        LC_VCACHE_DOWN);
    assert_null(body);
    assert_int_equal(lc_vcache_fill(c, PREFIX, "t", &seen, 1, &filled),
                     LC_CACHE_DOWN);
    assert_false(filled);
    assert_int_equal(lc_vcache_writer_fence(w, "t"), 0);
    lc_vcache_writer_version(w, "t", 1);
    lc_vcache_writer_done(w, true);
    lc_vcache_writer_free(w);
    lc_cache_close(c);
}

/* --- answers in memory -----------------------------------------------------
 */

/* Longer than any wait below: what drops a copy here is Redis's word. */
#define LONG_TTL_MS 600000

/* The tenant with version 1 recorded and the answer `what` stored. */
static void
recorded(lc_cache *c, const char *t, const char *what, const char *body)
{
    lc_vcache_seen seen;
    bool filled = false;

    assert_int_equal(look(c, t, what, &seen), LC_VCACHE_UNKNOWN);
    assert_int_equal(lc_vcache_fill(c, PREFIX, t, &seen, 1, &filled),
                     LC_CACHE_OK);
    assert_true(filled);
    assert_int_equal(
        lc_vcache_put(c, PREFIX, t, 1, what, body, strlen(body), 60),
        LC_CACHE_OK);
}

/* A reader's steps: a ticket, a lookup, its HIT kept. Returns the
 * lookup's result. */
static lc_vcache_result
read_through(lc_vcache_near *n, lc_cache *c, const char *t, const char *what)
{
    lc_vcache_ticket ticket = lc_vcache_near_ticket(n, t);
    lc_vcache_seen seen;
    char *body;
    size_t len;
    lc_vcache_result r =
        lc_vcache_lookup(c, PREFIX, t, what, &seen, &body, &len);

    if (r == LC_VCACHE_HIT) {
        lc_vcache_near_put(n, ticket, t, what, body, len);
    }
    free(body);
    return r;
}

/* Whether memory holds `what` of `t`, as `expect` when it does. */
static bool
in_memory(lc_vcache_near *n, const char *t, const char *what,
          const char *expect)
{
    char *body;
    size_t len;
    bool hit = lc_vcache_near_get(n, t, what, &body, &len);

    if (hit) {
        assert_int_equal(len, strlen(expect));
        assert_string_equal(body, expect);
        free(body);
    }
    return hit;
}

/* Reads through until memory holds the answer: the tracker is live
 * within a few of its pings. */
static void
kept(lc_vcache_near *n, lc_cache *c, const char *t, const char *what,
     const char *expect)
{
    int64_t until = lc_clock_mono_ms() + 5000;

    while (!in_memory(n, t, what, expect)) {
        assert_true(lc_clock_mono_ms() < until);
        assert_int_equal(read_through(n, c, t, what), LC_VCACHE_HIT);
        usleep(10000);
    }
}

/* Waits until memory no longer holds the answer; false after 3 s. */
static bool
dropped(lc_vcache_near *n, const char *t, const char *what, const char *expect)
{
    int64_t until = lc_clock_mono_ms() + 3000;

    while (in_memory(n, t, what, expect)) {
        if (lc_clock_mono_ms() >= until) {
            return false;
        }
        usleep(1000);
    }
    return true;
}

/* A hit is kept in memory; a writer's fence of the tenant drops it, and
 * the next lookup says FENCED; the stamp's new version, with its answer,
 * is kept again. */
static void
test_memory_keeps_a_hit_until_the_tenant_changes(void **state)
{
    lc_cache_options opts = live_options();
    lc_vcache_near *n = lc_vcache_near_start(&opts, PREFIX, LONG_TTL_MS);
    lc_cache *c = open_live();
    lc_vcache_seen seen;
    char t[96];

    (void)state;
    assert_non_null(n);
    tenant(t, sizeof(t), "near");
    recorded(c, t, "dash", "{\"v\":1}");
    kept(n, c, t, "dash", "{\"v\":1}");
    assert_true(in_memory(n, t, "dash", "{\"v\":1}"));
    assert_false(in_memory(n, t, "other", ""));

    assert_int_equal(lc_vcache_fence(c, PREFIX, t, "w1", 60000), LC_CACHE_OK);
    assert_true(dropped(n, t, "dash", "{\"v\":1}"));
    assert_int_equal(look(c, t, "dash", &seen), LC_VCACHE_FENCED);
    assert_int_equal(read_through(n, c, t, "dash"), LC_VCACHE_FENCED);
    assert_false(in_memory(n, t, "dash", "{\"v\":1}"));

    assert_int_equal(lc_vcache_stamp(c, PREFIX, t, "w1", 2), LC_CACHE_OK);
    assert_int_equal(read_through(n, c, t, "dash"), LC_VCACHE_MISS);
    assert_int_equal(lc_vcache_put(c, PREFIX, t, 2, "dash", "{\"v\":2}", 7, 60),
                     LC_CACHE_OK);
    kept(n, c, t, "dash", "{\"v\":2}");
    lc_cache_close(c);
    lc_vcache_near_stop(n);
}

/* A HIT whose lookup came before a change that is told before it is kept
 * is refused: the ticket taken before the lookup says so. */
static void
test_memory_refuses_a_hit_older_than_a_change(void **state)
{
    lc_cache_options opts = live_options();
    lc_vcache_near *n = lc_vcache_near_start(&opts, PREFIX, LONG_TTL_MS);
    lc_cache *c = open_live();
    lc_vcache_ticket ticket, now;
    lc_vcache_seen seen;
    char t[96], *body;
    size_t len;
    int64_t until;

    (void)state;
    assert_non_null(n);
    tenant(t, sizeof(t), "ticket");
    recorded(c, t, "dash", "{\"v\":1}");
    kept(n, c, t, "dash", "{\"v\":1}"); /* the tracker is live */

    ticket = lc_vcache_near_ticket(n, t);
    assert_int_equal(lc_vcache_lookup(c, PREFIX, t, "dash", &seen, &body, &len),
                     LC_VCACHE_HIT);
    assert_int_equal(lc_vcache_fence(c, PREFIX, t, "w1", 60000), LC_CACHE_OK);
    until = lc_clock_mono_ms() + 3000;
    do { /* the fence is told */
        assert_true(lc_clock_mono_ms() < until);
        usleep(1000);
        now = lc_vcache_near_ticket(n, t);
    } while (now.changes == ticket.changes);
    lc_vcache_near_put(n, ticket, t, "dash", body, len);
    assert_false(in_memory(n, t, "dash", "{\"v\":1}"));
    free(body);
    lc_cache_close(c);
    lc_vcache_near_stop(n);
}

/* Without Redis nothing is kept, and nothing blocks. */
static void
test_memory_without_redis(void **state)
{
    lc_cache_options opts = {.host = "127.0.0.1", .port = 1};
    lc_vcache_near *n = lc_vcache_near_start(&opts, PREFIX, LONG_TTL_MS);
    lc_vcache_ticket ticket;

    (void)state;
    assert_non_null(n);
    ticket = lc_vcache_near_ticket(n, "t");
    lc_vcache_near_put(n, ticket, "t", "dash", "{}", 2);
    assert_false(in_memory(n, "t", "dash", "{}"));
    lc_vcache_near_stop(n);
    assert_false(in_memory(NULL, "t", "dash", "{}"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_then_put_then_hit),
        cmocka_unit_test(test_a_fence_hides_the_version_until_its_stamp),
        cmocka_unit_test(test_two_writers),
        cmocka_unit_test(test_a_fill_after_a_fence_came_and_went_is_refused),
        cmocka_unit_test(test_an_expired_fence_leaves_the_version_unknown),
        cmocka_unit_test(test_the_writer),
        cmocka_unit_test(test_redis_down),
        cmocka_unit_test(test_memory_keeps_a_hit_until_the_tenant_changes),
        cmocka_unit_test(test_memory_refuses_a_hit_older_than_a_change),
        cmocka_unit_test(test_memory_without_redis),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
