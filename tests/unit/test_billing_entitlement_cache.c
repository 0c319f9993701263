/* The billing service's entitlement cache (services/billing/
 * entitlement_cache.c): an entry is served until its TTL or the next
 * invalidation, a read begun before an invalidation is not kept, and the
 * table stays bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* A unit of the service, not of libcommon: compiled in. */
#include "../../services/billing/entitlement_cache.c"

static const char *const tenant = "6f0c4c43-9a8e-4a5e-9d7e-2b1b6b0b3c01";

static entitlement_limits
plan(const char *code, int64_t projects)
{
    entitlement_limits l = {.max_seats = 3, .max_projects = projects};

    snprintf(l.plan, sizeof(l.plan), "%s", code);
    return l;
}

static void
test_an_entry_is_served_until_its_ttl(void **state)
{
    entitlement_cache *c = entitlement_cache_new(64, 2000);
    entitlement_limits team = plan("team", 50), got;

    (void)state;
    assert_false(entitlement_cache_get(c, tenant, 1000, &got));
    entitlement_cache_put(c, tenant, entitlement_cache_generation(c), 1000,
                          &team);
    assert_true(entitlement_cache_get(c, tenant, 2999, &got));
    assert_string_equal(got.plan, "team");
    assert_int_equal(got.max_projects, 50);
    assert_false(entitlement_cache_get(c, tenant, 3000, &got));
    entitlement_cache_free(c);
}

static void
test_an_invalidation_makes_every_entry_stale(void **state)
{
    entitlement_cache *c = entitlement_cache_new(64, 60000);
    entitlement_limits team = plan("team", 50), got;

    (void)state;
    entitlement_cache_put(c, tenant, entitlement_cache_generation(c), 0, &team);
    entitlement_cache_put(c, "other", entitlement_cache_generation(c), 0,
                          &team);
    entitlement_cache_invalidate(c);
    assert_false(entitlement_cache_get(c, tenant, 1, &got));
    assert_false(entitlement_cache_get(c, "other", 1, &got));
    entitlement_cache_free(c);
}

static void
test_a_read_begun_before_an_invalidation_is_not_kept(void **state)
{
    entitlement_cache *c = entitlement_cache_new(64, 60000);
    entitlement_limits team = plan("team", 50), free_ = plan("free", 2), got;
    uint64_t before;

    (void)state;
    before = entitlement_cache_generation(c); /* the read starts */
    entitlement_cache_invalidate(c);          /* a plan change commits */
    entitlement_cache_put(c, tenant, before, 0, &team);
    assert_false(entitlement_cache_get(c, tenant, 1, &got));
    /* the next read sees the new plan and is kept */
    entitlement_cache_put(c, tenant, entitlement_cache_generation(c), 1,
                          &free_);
    assert_true(entitlement_cache_get(c, tenant, 2, &got));
    assert_string_equal(got.plan, "free");
    entitlement_cache_free(c);
}

static void
test_a_tenant_has_one_entry_and_the_table_is_bounded(void **state)
{
    entitlement_cache *c = entitlement_cache_new(16, 60000);
    entitlement_limits team = plan("team", 50), free_ = plan("free", 2), got;
    char id[37];
    int i, cached = 0;

    (void)state;
    entitlement_cache_put(c, tenant, 0, 0, &team);
    entitlement_cache_put(c, tenant, 0, 1, &free_);
    assert_true(entitlement_cache_get(c, tenant, 2, &got));
    assert_string_equal(got.plan, "free");
    for (i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "tenant-%d", i);
        entitlement_cache_put(c, id, 0, 10 + i, &team);
    }
    for (i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "tenant-%d", i);
        cached += entitlement_cache_get(c, id, 2000, &got);
    }
    assert_true(cached <= 16);
    /* the newest stays: the oldest give way */
    assert_true(entitlement_cache_get(c, "tenant-999", 2000, &got));
    entitlement_cache_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_entry_is_served_until_its_ttl),
        cmocka_unit_test(test_an_invalidation_makes_every_entry_stale),
        cmocka_unit_test(test_a_read_begun_before_an_invalidation_is_not_kept),
        cmocka_unit_test(test_a_tenant_has_one_entry_and_the_table_is_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
