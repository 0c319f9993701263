/*
 * lc_page: limit, sort and cursor as a route sees them, through a real
 * envelope on loopback (the parser reads the request's query string).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lc_clock.h"
#include "lc_log.h"
#include "lc_page.h"
#include "lc_rpc_client.h"

#define ID "0b7c5f3e-6a1d-4c4e-9d51-1f2a3b4c5d6e"

static const char *const sorts[] = {"-created_at", "name", NULL};
static lc_rpc_server *server;
static lc_rpc_client *client;

/* Answers the parsed page, or the 400 lc_page_parse set. */
static void
list(lc_req *req)
{
    static const char *const allowed[] = {"limit", "cursor", "sort", "q", NULL};
    char q_buf[32];
    const char *q;
    lc_page p;
    cJSON *o;

    if (lc_page_parse(req, allowed, sorts, &p) != 0 ||
        lc_page_filter(req, "q", q_buf, sizeof(q_buf), &q) != 0) {
        return;
    }
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "limit", p.limit);
    cJSON_AddStringToObject(o, "sort", p.sort_name);
    cJSON_AddStringToObject(o, "after_key", p.has_cursor ? p.after_key : "-");
    cJSON_AddStringToObject(o, "q", q ? q : "-");
    lc_req_respond_json(req, 200, o);
}

static int
setup(void **state)
{
    lc_rpc_server_options o = {0};
    char url[64], err[128];

    (void)state;
    lc_log_init("test", LC_LOG_ERROR);
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", 20000 + getpid() % 20000);
    o.service = "test";
    o.url = url;
    o.workers = 1;
    o.max_message = 65536;
    o.default_timeout_ms = 2000;
    o.max_timeout_ms = 5000;
    o.db = (lc_db_options){"postgresql://127.0.0.1:1/none", "test", true, 1};
    o.cache = (lc_cache_options){"127.0.0.1", 1, 50, 50, 1000};
    server = lc_rpc_server_new(&o);
    assert_int_equal(lc_rpc_server_route(server, "GET", "/list", list), 0);
    assert_int_equal(lc_rpc_server_start(server, err, sizeof(err)), 0);
    client = lc_rpc_client_open(url, 65536, err, sizeof(err));
    assert_non_null(client);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    lc_rpc_client_close(client);
    lc_rpc_server_free(server);
    return 0;
}

/* GET /list?<query>: the status, and the body parsed into *out. */
static int
get(const char *query, cJSON **out)
{
    lc_request req = LINTEL__V1__REQUEST__INIT;
    lc_response *res = NULL;
    int status;

    req.method = "GET";
    req.path = "/list";
    req.query = (char *)query;
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
    assert_int_equal(lc_rpc_call(client, &req, lc_clock_mono_ms() + 2000, &res),
                     LC_RPC_OK);
    status = (int)res->status;
    assert_int_equal(lc_json_parse((const char *)res->body.data, res->body.len,
                                   NULL, out, NULL),
                     LC_JSON_OK);
    lc_envelope_free_response(res);
    return status;
}

static const char *
str(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key)->valuestring;
}

static const char *
field(const cJSON *o)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "fields");

    return str(cJSON_GetArrayItem(f, 0), "field");
}

static void
test_defaults(void **state)
{
    cJSON *o;

    (void)state;
    assert_int_equal(get("", &o), 200);
    assert_int_equal(cJSON_GetObjectItem(o, "limit")->valueint, 25);
    assert_string_equal(str(o, "sort"), "-created_at");
    assert_string_equal(str(o, "after_key"), "-");
    cJSON_Delete(o);
}

static void
test_limit_bounds(void **state)
{
    static const char *const bad[] = {"limit=0", "limit=101", "limit=1x",
                                      "limit=", "limit=5&limit=6"};
    cJSON *o;
    size_t i;

    (void)state;
    assert_int_equal(get("limit=100&sort=name", &o), 200);
    assert_int_equal(cJSON_GetObjectItem(o, "limit")->valueint, 100);
    assert_string_equal(str(o, "sort"), "name");
    cJSON_Delete(o);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(get(bad[i], &o), 400);
        assert_string_equal(field(o), "limit");
        cJSON_Delete(o);
    }
}

static void
test_unknown_parameter_and_sort(void **state)
{
    cJSON *o;

    (void)state;
    assert_int_equal(get("limit=5&colour=red", &o), 400);
    assert_string_equal(field(o), "colour");
    cJSON_Delete(o);
    assert_int_equal(get("sort=-name", &o), 400);
    assert_string_equal(field(o), "sort");
    cJSON_Delete(o);
}

static void
test_cursor_round_trip_keeps_keys_with_separators(void **state)
{
    lc_page p = {.limit = 5, .sort = 1, .sort_name = "name"};
    char cursor[256], query[300];
    cJSON *o;

    (void)state;
    assert_int_equal(lc_page_cursor(&p, "a|b c", ID, cursor, sizeof(cursor)),
                     0);
    snprintf(query, sizeof(query), "sort=name&cursor=%s", cursor);
    assert_int_equal(get(query, &o), 200);
    assert_string_equal(str(o, "after_key"), "a|b c");
    cJSON_Delete(o);
}

static void
test_cursor_of_another_order_is_refused(void **state)
{
    lc_page p = {.limit = 5, .sort = 1, .sort_name = "name"};
    char cursor[256], query[300];
    cJSON *o;

    (void)state;
    assert_int_equal(lc_page_cursor(&p, "k", ID, cursor, sizeof(cursor)), 0);
    snprintf(query, sizeof(query), "cursor=%s", cursor); /* default order */
    assert_int_equal(get(query, &o), 400);
    assert_string_equal(field(o), "cursor");
    cJSON_Delete(o);
}

static void
test_malformed_cursors_are_400(void **state)
{
    static const char *const bad[] = {
        "cursor=!!!", "cursor=bmFtZXxrZXk",  /* "name|key": no id */
        "cursor=bmFtZXxrZXl8bm90LWEtdXVpZA", /* "name|key|not-a-uuid" */
    };
    cJSON *o;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(get(bad[i], &o), 400);
        assert_string_equal(field(o), "cursor");
        cJSON_Delete(o);
    }
}

static void
test_filters(void **state)
{
    cJSON *o;

    (void)state;
    assert_int_equal(get("q=tower%20a", &o), 200);
    assert_string_equal(str(o, "q"), "tower a");
    cJSON_Delete(o);
    assert_int_equal(get("q=%zz", &o), 400);
    assert_string_equal(field(o), "q");
    cJSON_Delete(o);
}

static void
test_page_json(void **state)
{
    lc_page p = {.limit = 1, .sort_name = ""};
    cJSON *o = lc_page_json(&p, cJSON_CreateArray(), "k", ID, true);
    char *text;

    (void)state;
    assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "next_cursor")));
    cJSON_Delete(o);
    o = lc_page_json(&p, cJSON_CreateArray(), "k", ID, false);
    text = cJSON_PrintUnformatted(o);
    assert_string_equal(text, "{\"data\":[],\"next_cursor\":null}");
    free(text);
    cJSON_Delete(o);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_limit_bounds),
        cmocka_unit_test(test_unknown_parameter_and_sort),
        cmocka_unit_test(test_cursor_round_trip_keeps_keys_with_separators),
        cmocka_unit_test(test_cursor_of_another_order_is_refused),
        cmocka_unit_test(test_malformed_cursors_are_400),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_page_json),
    };

    return cmocka_run_group_tests_name("page", tests, setup, teardown);
}
