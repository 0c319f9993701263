/*
 * test_log.c: lc_log's line format, level filter, escaping, truncation and
 * its one-write-per-line promise.
 *
 * Output is captured through lc_log_set_fd() on a pipe and every line is
 * parsed back with lc_json_parse(), which also refuses invalid UTF-8 and
 * duplicate keys, so "valid JSON" is checked strictly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lc_json.h"
#include "lc_log.h"

#define LINE_MAX_BYTES 8192

typedef struct {
    int fds[2];
} capture;

static int
capture_setup(void **state)
{
    capture *c = malloc(sizeof(*c));

    if (c == NULL || pipe(c->fds) != 0)
        return -1;
    /* Non-blocking reads: "no line" shows as EAGAIN instead of a hang. */
    fcntl(c->fds[0], F_SETFL, O_NONBLOCK);
    lc_log_set_fd(c->fds[1]);
    lc_log_init("users", LC_LOG_DEBUG);
    *state = c;
    return 0;
}

static int
capture_teardown(void **state)
{
    capture *c = *state;

    lc_log_set_fd(2);
    close(c->fds[0]);
    close(c->fds[1]);
    free(c);
    return 0;
}

/* Reads what was logged; "" when nothing was. */
static char *
read_output(capture *c)
{
    static char buf[4 * LINE_MAX_BYTES];
    ssize_t n = read(c->fds[0], buf, sizeof(buf) - 1);

    if (n < 0) {
        assert_int_equal(errno, EAGAIN);
        n = 0;
    }
    buf[n] = '\0';
    return buf;
}

/* Reads exactly one line, checks its framing and parses it. */
static cJSON *
read_line(capture *c, size_t *len)
{
    char *text = read_output(c);
    size_t n = strlen(text);
    cJSON *root = NULL;

    assert_true(n > 0);
    assert_true(n <= LINE_MAX_BYTES);
    assert_int_equal(text[n - 1], '\n');
    assert_ptr_equal(strchr(text, '\n'), text + n - 1);
    assert_int_equal(lc_json_parse(text, n, NULL, &root, NULL), LC_JSON_OK);
    assert_true(cJSON_IsObject(root));
    if (len != NULL)
        *len = n;
    return root;
}

static const char *
member(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    assert_true(cJSON_IsString(item));
    return item->valuestring;
}

static void
test_line_has_every_field(void **state)
{
    cJSON *line;
    const char *t;
    struct tm tm;
    time_t when;
    char *end;

    lc_log(LC_LOG_INFO, "req-1", "acme", "hello %d %s", 42, "world");
    line = read_line(*state, NULL);
    assert_int_equal(cJSON_GetArraySize(line), 6);
    assert_string_equal(member(line, "level"), "info");
    assert_string_equal(member(line, "service"), "users");
    assert_string_equal(member(line, "request_id"), "req-1");
    assert_string_equal(member(line, "tenant"), "acme");
    assert_string_equal(member(line, "message"), "hello 42 world");
    /* The first member is the level, as in the header's example. */
    assert_string_equal(line->child->string, "level");

    t = member(line, "time");
    assert_int_equal(strlen(t), 24);
    memset(&tm, 0, sizeof(tm));
    end = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(end);
    assert_true(end[0] == '.' && end[1] >= '0' && end[1] <= '9' &&
                end[2] >= '0' && end[2] <= '9' && end[3] >= '0' &&
                end[3] <= '9' && end[4] == 'Z');
    when = timegm(&tm);
    assert_true(labs((long)(when - time(NULL))) <= 5);
    cJSON_Delete(line);
}

static void
test_null_ids_are_omitted(void **state)
{
    cJSON *line;

    lc_log_warn("disk %s", "slow");
    line = read_line(*state, NULL);
    assert_int_equal(cJSON_GetArraySize(line), 4);
    assert_string_equal(member(line, "level"), "warn");
    assert_null(cJSON_GetObjectItemCaseSensitive(line, "request_id"));
    assert_null(cJSON_GetObjectItemCaseSensitive(line, "tenant"));
    cJSON_Delete(line);

    lc_log(LC_LOG_ERROR, NULL, "acme", "x");
    line = read_line(*state, NULL);
    assert_int_equal(cJSON_GetArraySize(line), 5);
    assert_string_equal(member(line, "tenant"), "acme");
    cJSON_Delete(line);
}

static void
test_request_line_has_typed_fields(void **state)
{
    lc_log_request_info info = {"req-9",
                                "acme",
                                "user-1",
                                "GET",
                                "/api/projects/7",
                                "GET /api/projects/:id",
                                404,
                                1.25};
    const cJSON *status, *duration;
    cJSON *line;

    lc_log_request(LC_LOG_INFO, &info);
    line = read_line(*state, NULL);
    assert_string_equal(member(line, "request_id"), "req-9");
    assert_string_equal(member(line, "tenant"), "acme");
    assert_string_equal(member(line, "user"), "user-1");
    assert_string_equal(member(line, "method"), "GET");
    assert_string_equal(member(line, "path"), "/api/projects/7");
    assert_string_equal(member(line, "route"), "GET /api/projects/:id");
    assert_string_equal(member(line, "message"), "GET /api/projects/7 -> 404");
    status = cJSON_GetObjectItemCaseSensitive(line, "status");
    duration = cJSON_GetObjectItemCaseSensitive(line, "duration_ms");
    assert_true(cJSON_IsNumber(status) && status->valueint == 404);
    assert_true(cJSON_IsNumber(duration) && duration->valuedouble == 1.25);
    cJSON_Delete(line);

    info.user = NULL; /* anonymous: no user member */
    lc_log_request(LC_LOG_INFO, &info);
    line = read_line(*state, NULL);
    assert_null(cJSON_GetObjectItemCaseSensitive(line, "user"));
    cJSON_Delete(line);
}

static void
test_level_filtering(void **state)
{
    cJSON *line;

    lc_log_init("users", LC_LOG_WARN);
    lc_log(LC_LOG_DEBUG, NULL, NULL, "debug");
    lc_log_info("info");
    assert_string_equal(read_output(*state), "");
    lc_log_warn("warn");
    line = read_line(*state, NULL);
    assert_string_equal(member(line, "level"), "warn");
    cJSON_Delete(line);
    lc_log_error("error");
    line = read_line(*state, NULL);
    assert_string_equal(member(line, "level"), "error");
    cJSON_Delete(line);

    lc_log_init("users", LC_LOG_DEBUG);
    lc_log(LC_LOG_DEBUG, NULL, NULL, "debug");
    line = read_line(*state, NULL);
    assert_string_equal(member(line, "level"), "debug");
    cJSON_Delete(line);
}

static void
test_level_parse(void **state)
{
    lc_log_level level = LC_LOG_ERROR;

    (void)state;
    assert_int_equal(lc_log_level_parse("debug", &level), 0);
    assert_int_equal(level, LC_LOG_DEBUG);
    assert_int_equal(lc_log_level_parse("info", &level), 0);
    assert_int_equal(level, LC_LOG_INFO);
    assert_int_equal(lc_log_level_parse("warn", &level), 0);
    assert_int_equal(level, LC_LOG_WARN);
    assert_int_equal(lc_log_level_parse("ERROR", &level), 0);
    assert_int_equal(level, LC_LOG_ERROR);
    assert_int_equal(lc_log_level_parse("warning", &level), -1);
    assert_int_equal(lc_log_level_parse("", &level), -1);
    assert_int_equal(lc_log_level_parse(NULL, &level), -1);
    assert_int_equal(level, LC_LOG_ERROR);
}

static void
test_escaping(void **state)
{
    const char *msg = "q\"uote \\slash\n\r\t\b\f\x01\x1f\x7f caf\xC3\xA9 "
                      "\xF0\x9F\x90\x9B </script>";
    const char *raw;
    cJSON *line;

    lc_log(LC_LOG_INFO, "r\"id", "t\\n", "%s", msg);
    raw = read_output(*state);
    assert_non_null(strstr(raw, "\\u0001"));
    assert_non_null(strstr(raw, "\\u007f"));
    assert_non_null(strstr(raw, "q\\\"uote \\\\slash\\n\\r\\t"));
    assert_int_equal(lc_json_parse(raw, strlen(raw), NULL, &line, NULL),
                     LC_JSON_OK);
    assert_string_equal(member(line, "message"), msg);
    assert_string_equal(member(line, "request_id"), "r\"id");
    assert_string_equal(member(line, "tenant"), "t\\n");
    cJSON_Delete(line);
}

static void
test_invalid_utf8_replaced(void **state)
{
    cJSON *line;

    lc_log(LC_LOG_INFO, "\xC0\xAF", NULL,
           "a\xFF"
           "b\xED\xA0\x80"
           "c\xE2\x82");
    line = read_line(*state, NULL);
    assert_string_equal(member(line, "message"),
                        "a\xEF\xBF\xBD"
                        "b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                        "c\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(member(line, "request_id"), "\xEF\xBF\xBD\xEF\xBF\xBD");
    cJSON_Delete(line);
}

/* Logs `count` copies of `unit` and checks the line is cut cleanly. */
static void
check_truncated(capture *c, const char *unit, size_t count)
{
    size_t ulen = strlen(unit), k, len;
    char *msg = malloc(ulen * count + 1);
    const char *got;
    cJSON *line, *flag;

    assert_non_null(msg);
    for (k = 0; k < count; k++)
        memcpy(msg + k * ulen, unit, ulen);
    msg[ulen * count] = '\0';
    lc_log(LC_LOG_INFO, "req", NULL, "%s", msg);
    line = read_line(c, &len);
    /* Cut, but not by more than one escaped unit plus the marker. */
    assert_true(len > LINE_MAX_BYTES - 32);
    flag = cJSON_GetObjectItemCaseSensitive(line, "truncated");
    assert_true(cJSON_IsTrue(flag));
    got = member(line, "message");
    assert_true(strlen(got) % ulen == 0);
    assert_memory_equal(got, msg, strlen(got));
    assert_string_equal(member(line, "request_id"), "req");
    cJSON_Delete(line);
    free(msg);
}

static void
test_long_line_truncated_to_valid_json(void **state)
{
    check_truncated(*state, "x", 20000);
}

static void
test_truncation_keeps_escapes_and_utf8_whole(void **state)
{
    check_truncated(*state, "\x01", 3000);
    check_truncated(*state, "\"", 9000);
    check_truncated(*state, "\xE2\x82\xAC", 9000);
    check_truncated(*state, "\xF0\x9F\x90\x9B", 9000);
}

static void
test_line_just_under_limit_is_whole(void **state)
{
    char msg[LINE_MAX_BYTES];
    size_t len;
    cJSON *line;

    memset(msg, 'y', 7000);
    msg[7000] = '\0';
    lc_log(LC_LOG_INFO, NULL, NULL, "%s", msg);
    line = read_line(*state, &len);
    assert_null(cJSON_GetObjectItemCaseSensitive(line, "truncated"));
    assert_string_equal(member(line, "message"), msg);
    cJSON_Delete(line);
}

static void
test_long_ids_truncated(void **state)
{
    char id[2000];
    cJSON *line;

    memset(id, 'r', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    lc_log(LC_LOG_INFO, id, id, "short message");
    line = read_line(*state, NULL);
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(line, "truncated")));
    assert_true(strlen(member(line, "request_id")) < 200);
    assert_true(strlen(member(line, "tenant")) < 200);
    assert_string_equal(member(line, "message"), "short message");
    cJSON_Delete(line);
}

static void
test_errno_preserved(void **state)
{
    cJSON *line;

    errno = ENOENT;
    lc_log_info("after a failure");
    assert_int_equal(errno, ENOENT);
    line = read_line(*state, NULL);
    cJSON_Delete(line);
}

#define THREADS 8
#define LINES_PER_THREAD 200

static void *
log_many(void *arg)
{
    char msg[6001];
    int k;

    memset(msg, 'a' + (int)(intptr_t)arg, sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    for (k = 0; k < LINES_PER_THREAD; k++)
        lc_log(LC_LOG_INFO, NULL, NULL, "%d %s", k, msg);
    return NULL;
}

typedef struct {
    int fd;
    int lines;
    int bad;
} collector;

/* A SOCK_SEQPACKET socket keeps write boundaries: one packet per write. */
static void *
collect(void *arg)
{
    collector *col = arg;
    static char buf[2 * LINE_MAX_BYTES];
    ssize_t n;
    cJSON *root;

    while ((n = recv(col->fd, buf, sizeof(buf), 0)) > 0) {
        root = NULL;
        if (buf[n - 1] != '\n' || memchr(buf, '\n', (size_t)n - 1) != NULL ||
            lc_json_parse(buf, (size_t)n, NULL, &root, NULL) != LC_JSON_OK)
            col->bad++;
        cJSON_Delete(root);
        col->lines++;
    }
    return NULL;
}

static void
test_concurrent_lines_one_write_each(void **state)
{
    pthread_t writers[THREADS], reader;
    collector col = {0};
    int sv[2];
    intptr_t k;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    col.fd = sv[0];
    lc_log_set_fd(sv[1]);
    assert_int_equal(pthread_create(&reader, NULL, collect, &col), 0);
    for (k = 0; k < THREADS; k++)
        assert_int_equal(pthread_create(&writers[k], NULL, log_many, (void *)k),
                         0);
    for (k = 0; k < THREADS; k++)
        pthread_join(writers[k], NULL);
    shutdown(sv[1], SHUT_WR);
    pthread_join(reader, NULL);
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(col.bad, 0);
    assert_int_equal(col.lines, THREADS * LINES_PER_THREAD);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_has_every_field,
                                        capture_setup, capture_teardown),
        cmocka_unit_test_setup_teardown(test_null_ids_are_omitted,
                                        capture_setup, capture_teardown),
        cmocka_unit_test_setup_teardown(test_request_line_has_typed_fields,
                                        capture_setup, capture_teardown),
        cmocka_unit_test_setup_teardown(test_level_filtering, capture_setup,
                                        capture_teardown),
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test_setup_teardown(test_escaping, capture_setup,
                                        capture_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8_replaced,
                                        capture_setup, capture_teardown),
        cmocka_unit_test_setup_teardown(test_long_line_truncated_to_valid_json,
                                        capture_setup, capture_teardown),
        cmocka_unit_test_setup_teardown(
            test_truncation_keeps_escapes_and_utf8_whole, capture_setup,
            capture_teardown),
        cmocka_unit_test_setup_teardown(test_line_just_under_limit_is_whole,
                                        capture_setup, capture_teardown),
        cmocka_unit_test_setup_teardown(test_long_ids_truncated, capture_setup,
                                        capture_teardown),
        cmocka_unit_test_setup_teardown(test_errno_preserved, capture_setup,
                                        capture_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_lines_one_write_each,
                                        capture_setup, capture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
