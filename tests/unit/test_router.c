/* lc_router: patterns, parameters, precedence, 404 versus 405. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lc_router.h"

static lc_router *r;
static int h_list, h_get, h_me, h_tasks, h_post, h_rpc;

static int
setup(void **state)
{
    (void)state;
    r = lc_router_new();
    assert_int_equal(lc_router_add(r, "GET", "/api/projects", &h_list), 0);
    assert_int_equal(lc_router_add(r, "POST", "/api/projects", &h_post), 0);
    assert_int_equal(lc_router_add(r, "GET", "/api/projects/:id", &h_get), 0);
    assert_int_equal(lc_router_add(r, "PATCH", "/api/projects/:id", &h_get), 0);
    assert_int_equal(lc_router_add(r, "GET", "/api/users/me", &h_me), 0);
    assert_int_equal(lc_router_add(r, "GET", "/api/users/:id", &h_get), 0);
    assert_int_equal(
        lc_router_add(r, "GET", "/api/projects/:pid/tasks/:tid", &h_tasks), 0);
    assert_int_equal(
        lc_router_add(r, "RPC", "/rpc/users.ResolveTenant", &h_rpc), 0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    lc_router_free(r);
    return 0;
}

static void
test_exact_path_matches(void **state)
{
    lc_route_match m;
    char allow[64];

    (void)state;
    assert_int_equal(
        lc_router_match(r, "GET", "/api/projects", &m, allow, sizeof(allow)),
        200);
    assert_ptr_equal(m.route->data, &h_list);
    assert_string_equal(m.route->name, "GET /api/projects");
    assert_int_equal(m.nparams, 0);
}

static void
test_parameters_are_captured(void **state)
{
    lc_route_match m;
    char allow[64];

    (void)state;
    assert_int_equal(lc_router_match(r, "GET", "/api/projects/p1/tasks/t9", &m,
                                     allow, sizeof(allow)),
                     200);
    assert_ptr_equal(m.route->data, &h_tasks);
    assert_string_equal(lc_route_param(&m, "pid"), "p1");
    assert_string_equal(lc_route_param(&m, "tid"), "t9");
    assert_null(lc_route_param(&m, "id"));
}

static void
test_literal_beats_parameter(void **state)
{
    lc_route_match m;
    char allow[64];

    (void)state;
    assert_int_equal(
        lc_router_match(r, "GET", "/api/users/me", &m, allow, sizeof(allow)),
        200);
    assert_ptr_equal(m.route->data, &h_me);
    assert_int_equal(
        lc_router_match(r, "GET", "/api/users/42", &m, allow, sizeof(allow)),
        200);
    assert_string_equal(lc_route_param(&m, "id"), "42");
}

static void
test_known_path_wrong_method_is_405_with_allow(void **state)
{
    lc_route_match m;
    char allow[64];

    (void)state;
    assert_int_equal(lc_router_match(r, "DELETE", "/api/projects/1", &m, allow,
                                     sizeof(allow)),
                     405);
    assert_string_equal(allow, "GET, PATCH");
    assert_int_equal(
        lc_router_match(r, "PUT", "/api/projects", &m, allow, sizeof(allow)),
        405);
    assert_string_equal(allow, "GET, POST");
}

static void
test_unknown_paths_are_404(void **state)
{
    static const char *const paths[] = {
        "/api/projects/1/tasks",
        "/api/projects/",
        "/api//projects",
        "api/projects",
        "",
        "/api/projects/1/2/3/4",
        "/rpc/users.resolvetenant",
        "/",
    };
    lc_route_match m;
    char allow[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        assert_int_equal(
            lc_router_match(r, "GET", paths[i], &m, allow, sizeof(allow)), 404);
    }
}

static void
test_overlong_path_is_404(void **state)
{
    static char path[LC_ROUTER_MAX_PATH + 10];
    lc_route_match m;
    char allow[64];

    (void)state;
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    assert_int_equal(lc_router_match(r, "GET", path, &m, allow, sizeof(allow)),
                     404);
}

static void
test_invalid_and_duplicate_patterns_are_refused(void **state)
{
    (void)state;
    assert_int_equal(lc_router_add(r, "GET", "/api/projects", &h_list), -1);
    assert_int_equal(lc_router_add(r, "GET", "relative", &h_list), -1);
    assert_int_equal(lc_router_add(r, "GET", "/a//b", &h_list), -1);
    assert_int_equal(lc_router_add(r, "GET", "/a/:", &h_list), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_path_matches),
        cmocka_unit_test(test_parameters_are_captured),
        cmocka_unit_test(test_literal_beats_parameter),
        cmocka_unit_test(test_known_path_wrong_method_is_405_with_allow),
        cmocka_unit_test(test_unknown_paths_are_404),
        cmocka_unit_test(test_overlong_path_is_404),
        cmocka_unit_test(test_invalid_and_duplicate_patterns_are_refused),
    };

    return cmocka_run_group_tests_name("router", tests, setup, teardown);
}
