/*
 * lc_caller: the pure parts of the caller policy — the role ranking, the
 * snapshot text both ways, and the verdict from the facts. The path through
 * Redis and users.GetCaller is tested end to end
 * (tests/e2e/test_caller_policy.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lc_caller.h"

#define SID_A "0b7c5f3e-6a1d-4c4e-9d51-1f2a3b4c5d6e"
#define SID_B "1b7c5f3e-6a1d-4c4e-9d51-1f2a3b4c5d6e"

static lc_caller_tenant
active_tenant(void)
{
    lc_caller_tenant t = {.found = true, .active = true, .version = 3};
    return t;
}

static lc_caller_member
member(const char *role)
{
    lc_caller_member m = {.found = true, .active = true, .version = 7};

    snprintf(m.role, sizeof(m.role), "%s", role);
    return m;
}

static void
test_role_rank_orders_the_tenant_roles(void **state)
{
    (void)state;
    assert_int_equal(lc_caller_role_rank("owner"), 5);
    assert_int_equal(lc_caller_role_rank("admin"), 4);
    assert_int_equal(lc_caller_role_rank("manager"), 3);
    assert_int_equal(lc_caller_role_rank("member"), 2);
    assert_int_equal(lc_caller_role_rank("viewer"), 1);
    /* platform_admin is no tenant role; neither is a near miss */
    assert_int_equal(lc_caller_role_rank("platform_admin"), 0);
    assert_int_equal(lc_caller_role_rank("Owner"), 0);
    assert_int_equal(lc_caller_role_rank(""), 0);
    assert_int_equal(lc_caller_role_rank(NULL), 0);
}

static void
test_tenant_snapshot_round_trip(void **state)
{
    lc_caller_tenant t = active_tenant(), back;
    char buf[64];

    (void)state;
    assert_true(lc_caller_tenant_encode(&t, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "t1 3 active");
    assert_int_equal(lc_caller_tenant_decode(buf, &back), 0);
    assert_true(back.found && back.active);
    assert_int_equal(back.version, 3);
    t.active = false;
    lc_caller_tenant_encode(&t, buf, sizeof(buf));
    assert_string_equal(buf, "t1 3 suspended");
    assert_int_equal(lc_caller_tenant_decode(buf, &back), 0);
    assert_true(back.found && !back.active);
    assert_int_equal(lc_caller_tenant_encode(&t, buf, 5), -1);
}

static void
test_member_snapshot_round_trip(void **state)
{
    lc_caller_member m = member("admin"), back;
    char buf[LC_CALLER_SNAPSHOT_MAX];

    (void)state;
    lc_caller_member_encode(&m, buf, sizeof(buf));
    assert_string_equal(buf, "u1 7 active admin = -");
    snprintf(m.revoked[0], sizeof(m.revoked[0]), "%s", SID_A);
    snprintf(m.revoked[1], sizeof(m.revoked[1]), "%s", SID_B);
    m.nrevoked = 2;
    m.overflow = true;
    lc_caller_member_encode(&m, buf, sizeof(buf));
    assert_string_equal(buf, "u1 7 active admin + " SID_A "," SID_B);
    assert_int_equal(lc_caller_member_decode(buf, &back), 0);
    assert_true(back.found && back.active && back.overflow);
    assert_string_equal(back.role, "admin");
    assert_int_equal(back.nrevoked, 2);
    assert_string_equal(back.revoked[1], SID_B);
    m = member("viewer");
    m.active = false;
    lc_caller_member_encode(&m, buf, sizeof(buf));
    assert_int_equal(lc_caller_member_decode(buf, &back), 0);
    assert_true(back.found && !back.active);
    m.found = false;
    lc_caller_member_encode(&m, buf, sizeof(buf));
    assert_string_equal(buf, "u1 7 absent - = -");
    assert_int_equal(lc_caller_member_decode(buf, &back), 0);
    assert_false(back.found);
}

static void
test_malformed_snapshots_are_refused(void **state)
{
    static const char *const bad_members[] = {
        "fence",
        "",
        "u1",
        "u1 7 active admin =",
        "u1 x active admin = -",
        "u1 -1 active admin = -",
        "u1 7 active root = -",
        "u1 7 gone admin = -",
        "u1 7 active admin ? -",
        "u1 7 active admin = not-a-uuid",
        "u1 7 active admin = -  ",
        "u1 7 active admin = - extra",
        "u2 7 active admin = -",
        "t1 7 active",
    };
    static const char *const bad_tenants[] = {
        "fence", "t1 7", "t1 7 paused", "t1 7 active x", "u1 7 active",
    };
    lc_caller_member m;
    lc_caller_tenant t;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_members) / sizeof(bad_members[0]); i++) {
        assert_int_equal(lc_caller_member_decode(bad_members[i], &m), -1);
    }
    for (i = 0; i < sizeof(bad_tenants) / sizeof(bad_tenants[0]); i++) {
        assert_int_equal(lc_caller_tenant_decode(bad_tenants[i], &t), -1);
    }
}

static void
test_verdicts(void **state)
{
    lc_caller_tenant t = active_tenant();
    lc_caller_member m = member("manager");

    (void)state;
    assert_int_equal(lc_caller_decide(&t, &m, SID_A, "manager"),
                     LC_CALLER_ALLOW);
    assert_int_equal(lc_caller_decide(&t, &m, SID_A, "viewer"),
                     LC_CALLER_ALLOW);
    assert_int_equal(lc_caller_decide(&t, &m, SID_A, "admin"),
                     LC_CALLER_FORBIDDEN);
    /* an unknown minimum fails closed */
    assert_int_equal(lc_caller_decide(&t, &m, SID_A, "root"),
                     LC_CALLER_FORBIDDEN);
    snprintf(m.revoked[0], sizeof(m.revoked[0]), "%s", SID_B);
    m.nrevoked = 1;
    assert_int_equal(lc_caller_decide(&t, &m, SID_A, "viewer"),
                     LC_CALLER_ALLOW);
    assert_int_equal(lc_caller_decide(&t, &m, SID_B, "viewer"),
                     LC_CALLER_ENDED);
    /* past the list, an unlisted session cannot be told from the snapshot */
    m.overflow = true;
    assert_int_equal(lc_caller_decide(&t, &m, SID_A, "viewer"),
                     LC_CALLER_ASK);
    assert_int_equal(lc_caller_decide(&t, &m, SID_B, "viewer"),
                     LC_CALLER_ENDED);
    m = member("owner");
    m.active = false;
    assert_int_equal(lc_caller_decide(&t, &m, SID_A, "viewer"),
                     LC_CALLER_ENDED);
    m.found = false;
    assert_int_equal(lc_caller_decide(&t, &m, SID_A, "viewer"),
                     LC_CALLER_ENDED);
    m = member("owner");
    t.active = false;
    assert_int_equal(lc_caller_decide(&t, &m, SID_A, "viewer"),
                     LC_CALLER_SUSPENDED);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_rank_orders_the_tenant_roles),
        cmocka_unit_test(test_tenant_snapshot_round_trip),
        cmocka_unit_test(test_member_snapshot_round_trip),
        cmocka_unit_test(test_malformed_snapshots_are_refused),
        cmocka_unit_test(test_verdicts),
    };

    return cmocka_run_group_tests_name("caller", tests, NULL, NULL);
}
