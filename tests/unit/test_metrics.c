/* lc_metrics: Prometheus text for requests, latency and error counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lc_metrics.h"

static void
test_requests_are_counted_by_route_and_status(void **state)
{
    size_t len;
    char *text;

    (void)state;
    lc_metrics_observe("GET /api/projects/:id", 200, 0.002);
    lc_metrics_observe("GET /api/projects/:id", 200, 0.004);
    lc_metrics_observe("GET /api/projects/:id", 404, 0.0001);
    text = lc_metrics_render("test", &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "lintel_requests_total{route=\"GET "
                                 "/api/projects/:id\",status=\"200\"} 2\n"));
    assert_non_null(strstr(text, "lintel_requests_total{route=\"GET "
                                 "/api/projects/:id\",status=\"404\"} 1\n"));
    free(text);
}

static void
test_histogram_is_cumulative(void **state)
{
    size_t len;
    char *text;

    (void)state;
    lc_metrics_observe("RPC /rpc/x", 200, 0.0004);
    lc_metrics_observe("RPC /rpc/x", 200, 0.02);
    lc_metrics_observe("RPC /rpc/x", 200, 60.0);
    text = lc_metrics_render("test", &len);
    assert_non_null(strstr(
        text, "lintel_request_duration_seconds_bucket{route=\"RPC /rpc/x\","
              "le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(
        text, "lintel_request_duration_seconds_bucket{route=\"RPC /rpc/x\","
              "le=\"0.025\"} 2\n"));
    assert_non_null(strstr(
        text, "lintel_request_duration_seconds_bucket{route=\"RPC /rpc/x\","
              "le=\"5\"} 2\n"));
    assert_non_null(strstr(
        text, "lintel_request_duration_seconds_bucket{route=\"RPC /rpc/x\","
              "le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(
        text, "lintel_request_duration_seconds_count{route=\"RPC /rpc/x\"} "
              "3\n"));
    free(text);
}

static void
test_error_counters_are_exported(void **state)
{
    size_t len;
    char *text;

    (void)state;
    text = lc_metrics_render("test", &len);
    assert_non_null(strstr(text, "# TYPE lintel_db_errors_total counter\n"));
    assert_non_null(strstr(text, "\nlintel_db_errors_total 0\n"));
    assert_non_null(strstr(text, "\nlintel_redis_errors_total 0\n"));
    free(text);
}

static void
test_route_table_is_bounded(void **state)
{
    char route[32];
    size_t len;
    char *text;
    int i;

    (void)state;
    for (i = 0; i < 1000; i++) {
        snprintf(route, sizeof(route), "GET /r%d", i);
        lc_metrics_observe(route, 200, 0.001);
    }
    text = lc_metrics_render("test", &len);
    assert_non_null(strstr(text, "route=\"GET /r0\""));
    assert_null(strstr(text, "route=\"GET /r999\""));
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_are_counted_by_route_and_status),
        cmocka_unit_test(test_histogram_is_cumulative),
        cmocka_unit_test(test_error_counters_are_exported),
        cmocka_unit_test(test_route_table_is_bounded),
    };

    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
