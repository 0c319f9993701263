/*
 * test_cache.c: lc_cache against a live Redis, and against servers that are
 * closed or never answer.
 *
 * The live tests need LINTEL_TEST_REDIS_HOST and LINTEL_TEST_REDIS_PORT and
 * fail without them: a cache test that silently skips proves nothing; with
 * LINTEL_TEST_REDIS_USER and LINTEL_TEST_REDIS_PASSWORD (a user that may do
 * anything: the raw connection kills clients) every connection AUTHs. They
 * use keys under "lc-test:<pid>:" and delete them. A second, plain hiredis
 * connection checks what lc_cache cannot show (TTLs, client ids).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lc_cache.h"

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

static void
redis_address(const char **host, int *port)
{
    const char *h = getenv("LINTEL_TEST_REDIS_HOST");
    const char *p = getenv("LINTEL_TEST_REDIS_PORT");

    if (h == NULL || p == NULL || h[0] == '\0' || atoi(p) <= 0)
        fail_msg("LINTEL_TEST_REDIS_HOST and LINTEL_TEST_REDIS_PORT must "
                 "name a Redis to test against");
    *host = h;
    *port = atoi(p);
}

/* The live Redis's address and credentials. */
static void
live_options(lc_cache_options *opts)
{
    redis_address(&opts->host, &opts->port);
    opts->user = getenv("LINTEL_TEST_REDIS_USER");
    opts->password = getenv("LINTEL_TEST_REDIS_PASSWORD");
}

static lc_cache *
open_live(int retry_after_ms)
{
    lc_cache_options opts = {0};
    lc_cache *c;

    live_options(&opts);
    opts.retry_after_ms = retry_after_ms;
    c = lc_cache_open(&opts);
    assert_non_null(c);
    return c;
}

static redisContext *
open_raw(void)
{
    struct timeval tv = {2, 0};
    const char *host;
    int port;
    redisContext *r;

    lc_cache_options creds = {0};
    redisReply *reply;

    redis_address(&host, &port);
    r = redisConnectWithTimeout(host, port, tv);
    assert_non_null(r);
    assert_int_equal(r->err, 0);
    live_options(&creds);
    if (creds.password != NULL && creds.password[0] != '\0') {
        reply = redisCommand(r, "AUTH %s %s",
                             creds.user != NULL ? creds.user : "default",
                             creds.password);
        assert_non_null(reply);
        assert_int_equal(reply->type, REDIS_REPLY_STATUS);
        freeReplyObject(reply);
    }
    return r;
}

/* Runs a command on the raw connection and returns its integer reply. */
static long long
raw_integer(redisContext *r, const char *fmt, ...)
{
    redisReply *reply;
    long long v;
    va_list ap;

    va_start(ap, fmt);
    reply = redisvCommand(r, fmt, ap);
    va_end(ap);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    v = reply->integer;
    freeReplyObject(reply);
    return v;
}

static void
key_for(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "lc-test:%d:%s", (int)getpid(), name);
}

static void
test_set_then_get_returns_value(void **state)
{
    lc_cache *c = open_live(0);
    char key[64], *val = NULL;
    size_t len = 0;

    (void)state;
    key_for(key, sizeof(key), "plain");
    assert_int_equal(lc_cache_set(c, key, "hello", 5, 60), LC_CACHE_OK);
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_OK);
    assert_int_equal(len, 5);
    assert_string_equal(val, "hello");
    free(val);
    /* Overwrite with a shorter value. */
    assert_int_equal(lc_cache_set(c, key, "hi", 2, 60), LC_CACHE_OK);
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_OK);
    assert_string_equal(val, "hi");
    free(val);
    assert_int_equal(lc_cache_del(c, key), LC_CACHE_OK);
    lc_cache_close(c);
}

static void
test_get_missing_key_is_miss(void **state)
{
    lc_cache *c = open_live(0);
    char key[64], *val = (char *)"untouched";
    size_t len = 99;

    (void)state;
    key_for(key, sizeof(key), "never-set");
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_MISS);
    assert_null(val);
    assert_int_equal(len, 0);
    lc_cache_close(c);
}

static void
test_del_removes_key(void **state)
{
    lc_cache *c = open_live(0);
    char key[64], *val = NULL;
    size_t len;

    (void)state;
    key_for(key, sizeof(key), "del");
    assert_int_equal(lc_cache_set(c, key, "x", 1, 0), LC_CACHE_OK);
    assert_int_equal(lc_cache_del(c, key), LC_CACHE_OK);
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_MISS);
    /* Deleting what is not there is not an error. */
    assert_int_equal(lc_cache_del(c, key), LC_CACHE_OK);
    lc_cache_close(c);
}

static void
test_set_ttl_applies_and_expires(void **state)
{
    lc_cache *c = open_live(0);
    redisContext *raw = open_raw();
    char key[64], forever[64], *val = NULL;
    size_t len;
    long long pttl;

    (void)state;
    key_for(key, sizeof(key), "ttl");
    key_for(forever, sizeof(forever), "no-ttl");
    assert_int_equal(lc_cache_set(c, key, "v", 1, 30), LC_CACHE_OK);
    pttl = raw_integer(raw, "PTTL %s", key);
    assert_true(pttl > 25000 && pttl <= 30000);
    assert_int_equal(lc_cache_set(c, forever, "v", 1, 0), LC_CACHE_OK);
    assert_int_equal(raw_integer(raw, "PTTL %s", forever), -1);
    assert_int_equal(lc_cache_set(c, forever, "v", 1, -5), LC_CACHE_OK);
    assert_int_equal(raw_integer(raw, "PTTL %s", forever), -1);

    assert_int_equal(lc_cache_set(c, key, "v", 1, 1), LC_CACHE_OK);
    sleep_ms(1100);
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_MISS);
    raw_integer(raw, "DEL %s", forever);
    redisFree(raw);
    lc_cache_close(c);
}

static void
test_binary_values_round_trip(void **state)
{
    static const char value[] = "a\0b\r\n$3\r\nxyz\xFF\x00";
    lc_cache *c = open_live(0);
    char key[64], *val = NULL;
    size_t len = 0;

    (void)state;
    /* A key with a space, CRLF and a protocol-looking suffix. */
    key_for(key, sizeof(key), "bin key\r\n*1\r\n");
    assert_int_equal(lc_cache_set(c, key, value, sizeof(value), 60),
                     LC_CACHE_OK);
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_OK);
    assert_int_equal(len, sizeof(value));
    assert_memory_equal(val, value, sizeof(value));
    assert_int_equal(val[len], '\0');
    free(val);
    /* The empty value is a value, not a miss. */
    assert_int_equal(lc_cache_set(c, key, "", 0, 60), LC_CACHE_OK);
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_OK);
    assert_int_equal(len, 0);
    assert_string_equal(val, "");
    free(val);
    assert_int_equal(lc_cache_del(c, key), LC_CACHE_OK);
    lc_cache_close(c);
}

/* Wrong credentials are a Redis that is down, never a crash or a hang. */
static void
test_refused_auth_is_down(void **state)
{
    lc_cache_options opts = {0};
    lc_cache *c;
    char *val = NULL;
    size_t len;

    (void)state;
    live_options(&opts);
    if (opts.password == NULL || opts.password[0] == '\0')
        fail_msg("LINTEL_TEST_REDIS_PASSWORD must name a password to test "
                 "a refused one against");
    opts.password = "not-the-password";
    c = lc_cache_open(&opts);
    assert_non_null(c);
    assert_int_equal(lc_cache_get(c, "k", &val, &len), LC_CACHE_DOWN);
    assert_int_equal(lc_cache_ping(c), LC_CACHE_DOWN);
    lc_cache_close(c);

    live_options(&opts);
    c = lc_cache_open(&opts);
    assert_non_null(c);
    assert_int_equal(lc_cache_ping(c), LC_CACHE_OK);
    lc_cache_close(c);
}

static void
test_large_value_round_trip(void **state)
{
    size_t big = 4 << 20, len = 0, k;
    char *value = malloc(big), *val = NULL;
    lc_cache_options opts = {0};
    lc_cache *c;
    char key[64];

    (void)state;
    assert_non_null(value);
    for (k = 0; k < big; k++)
        value[k] = (char)(k * 31);
    live_options(&opts);
    opts.command_timeout_ms = 2000;
    c = lc_cache_open(&opts);
    assert_non_null(c);
    key_for(key, sizeof(key), "large");
    assert_int_equal(lc_cache_set(c, key, value, big, 60), LC_CACHE_OK);
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_OK);
    assert_int_equal(len, big);
    assert_memory_equal(val, value, big);
    free(val);
    free(value);
    assert_int_equal(lc_cache_del(c, key), LC_CACHE_OK);
    lc_cache_close(c);
}

static void
test_incr_counts_and_sets_ttl_once(void **state)
{
    lc_cache *c = open_live(0);
    redisContext *raw = open_raw();
    char key[64];
    int64_t n = 0;
    long long pttl;

    (void)state;
    key_for(key, sizeof(key), "counter");
    assert_int_equal(lc_cache_incr(c, key, 60, &n), LC_CACHE_OK);
    assert_int_equal(n, 1);
    pttl = raw_integer(raw, "PTTL %s", key);
    assert_true(pttl > 55000 && pttl <= 60000);
    /* Only the creating INCR sets the expiry: a window does not slide. */
    raw_integer(raw, "PEXPIRE %s 500000", key);
    assert_int_equal(lc_cache_incr(c, key, 60, &n), LC_CACHE_OK);
    assert_int_equal(n, 2);
    pttl = raw_integer(raw, "PTTL %s", key);
    assert_true(pttl > 400000);
    assert_int_equal(lc_cache_incr(c, key, 60, &n), LC_CACHE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(lc_cache_del(c, key), LC_CACHE_OK);
    redisFree(raw);
    lc_cache_close(c);
}

static void
test_incr_without_ttl_never_expires(void **state)
{
    lc_cache *c = open_live(0);
    redisContext *raw = open_raw();
    char key[64];
    int64_t n = 0;

    (void)state;
    key_for(key, sizeof(key), "counter-forever");
    assert_int_equal(lc_cache_incr(c, key, 0, &n), LC_CACHE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(raw_integer(raw, "PTTL %s", key), -1);
    assert_int_equal(lc_cache_del(c, key), LC_CACHE_OK);
    redisFree(raw);
    lc_cache_close(c);
}

static void
test_error_reply_is_down_and_counted(void **state)
{
    lc_cache *c = open_live(60000);
    redisContext *raw = open_raw();
    char list[64], text[64], ok[64], *val = NULL;
    size_t len;
    int64_t n = 0;
    uint64_t errors;

    (void)state;
    key_for(list, sizeof(list), "a-list");
    key_for(text, sizeof(text), "not-a-number");
    key_for(ok, sizeof(ok), "fine");
    raw_integer(raw, "RPUSH %s x", list);
    assert_int_equal(lc_cache_set(c, text, "abc", 3, 60), LC_CACHE_OK);

    errors = lc_cache_error_count();
    assert_int_equal(lc_cache_get(c, list, &val, &len), LC_CACHE_DOWN);
    assert_null(val);
    assert_int_equal(lc_cache_error_count(), errors + 1);
    assert_int_equal(lc_cache_incr(c, text, 60, &n), LC_CACHE_DOWN);
    assert_int_equal(lc_cache_error_count(), errors + 2);
    /* Redis answered: no back-off (it is 60 s here), the next call works. */
    assert_int_equal(lc_cache_set(c, ok, "y", 1, 60), LC_CACHE_OK);
    assert_int_equal(lc_cache_del(c, ok), LC_CACHE_OK);

    raw_integer(raw, "DEL %s %s", list, text);
    redisFree(raw);
    lc_cache_close(c);
}

static void
test_ping_ok(void **state)
{
    lc_cache *c = open_live(0);

    (void)state;
    assert_int_equal(lc_cache_ping(c), LC_CACHE_OK);
    assert_int_equal(lc_cache_ping(c), LC_CACHE_OK);
    lc_cache_close(c);
}

/*
 * Kills lc_cache's connection from the server side. lc_cache is opaque, so
 * its socket is found among this process's descriptors (the one talking to
 * the Redis port that is not `raw`) and killed by the address Redis sees.
 */
static void
kill_cache_connection(redisContext *raw)
{
    struct sockaddr_storage peer, local;
    socklen_t plen, llen;
    char ip[INET6_ADDRSTRLEN], addr[INET6_ADDRSTRLEN + 16];
    const char *host;
    int fd, port, killed = 0;

    redis_address(&host, &port);
    for (fd = 3; fd < 1024; fd++) {
        plen = sizeof(peer);
        llen = sizeof(local);
        if (fd == raw->fd ||
            getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
            getsockname(fd, (struct sockaddr *)&local, &llen) != 0)
            continue;
        if (peer.ss_family == AF_INET &&
            ntohs(((struct sockaddr_in *)&peer)->sin_port) == port) {
            struct sockaddr_in *l = (struct sockaddr_in *)&local;
            inet_ntop(AF_INET, &l->sin_addr, ip, sizeof(ip));
            snprintf(addr, sizeof(addr), "%s:%d", ip, ntohs(l->sin_port));
        } else if (peer.ss_family == AF_INET6 &&
                   ntohs(((struct sockaddr_in6 *)&peer)->sin6_port) == port) {
            struct sockaddr_in6 *l = (struct sockaddr_in6 *)&local;
            inet_ntop(AF_INET6, &l->sin6_addr, ip, sizeof(ip));
            snprintf(addr, sizeof(addr), "[%s]:%d", ip, ntohs(l->sin6_port));
        } else {
            continue;
        }
        killed += (int)raw_integer(raw, "CLIENT KILL ADDR %s SKIPME yes", addr);
    }
    assert_int_equal(killed, 1);
}

static void
test_reconnects_after_connection_killed(void **state)
{
    lc_cache *c = open_live(200);
    redisContext *raw = open_raw();
    char key[64], *val = NULL;
    size_t len;
    uint64_t errors;

    (void)state;
    key_for(key, sizeof(key), "reconnect");
    assert_int_equal(lc_cache_set(c, key, "v", 1, 60), LC_CACHE_OK);
    kill_cache_connection(raw);

    errors = lc_cache_error_count();
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_DOWN);
    assert_int_equal(lc_cache_error_count(), errors + 1);
    /* In the back-off: refused without trying. */
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_DOWN);
    assert_int_equal(lc_cache_error_count(), errors + 1);
    sleep_ms(300);
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_OK);
    assert_string_equal(val, "v");
    free(val);
    assert_int_equal(lc_cache_del(c, key), LC_CACHE_OK);
    redisFree(raw);
    lc_cache_close(c);
}

/* A connection Redis closed while it was idle (a restart, CLIENT KILL)
 * is seen closed before the next command, which then goes on a new one:
 * no failure, no back-off. */
static void
test_an_idle_connection_closed_by_redis_is_replaced(void **state)
{
    lc_cache *c = open_live(60000);
    redisContext *raw = open_raw();
    char key[64], *val = NULL;
    size_t len;
    uint64_t errors;

    (void)state;
    key_for(key, sizeof(key), "idle-closed");
    assert_int_equal(lc_cache_set(c, key, "v", 1, 60), LC_CACHE_OK);
    kill_cache_connection(raw);
    sleep_ms(1100); /* idle past LC_CACHE_IDLE_CHECK_MS */
    errors = lc_cache_error_count();
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_OK);
    assert_string_equal(val, "v");
    free(val);
    assert_int_equal(lc_cache_error_count(), errors);
    assert_int_equal(lc_cache_del(c, key), LC_CACHE_OK);
    redisFree(raw);
    lc_cache_close(c);
}

static void
test_ping_ignores_back_off(void **state)
{
    lc_cache *c = open_live(60000);
    redisContext *raw = open_raw();
    char key[64], *val = NULL;
    size_t len;

    (void)state;
    key_for(key, sizeof(key), "ping-back-off");
    assert_int_equal(lc_cache_ping(c), LC_CACHE_OK);
    kill_cache_connection(raw);
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_DOWN);
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_DOWN);
    /* The readiness probe reconnects at once, and the others follow. */
    assert_int_equal(lc_cache_ping(c), LC_CACHE_OK);
    assert_int_equal(lc_cache_get(c, key, &val, &len), LC_CACHE_MISS);
    redisFree(raw);
    lc_cache_close(c);
}

static void
test_write_to_closed_connection_does_not_raise_sigpipe(void **state)
{
    size_t big = 4 << 20;
    char *value = calloc(1, big);
    lc_cache *c = open_live(0);
    redisContext *raw = open_raw();
    char key[64];

    (void)state;
    assert_non_null(value);
    assert_int_equal(signal(SIGPIPE, SIG_DFL) != SIG_ERR, 1);
    key_for(key, sizeof(key), "sigpipe");
    assert_int_equal(lc_cache_ping(c), LC_CACHE_OK);
    kill_cache_connection(raw);
    sleep_ms(50);
    /* More than the socket buffers hold: the second write(2) meets the
     * reset, which would kill this process with SIGPIPE. */
    assert_int_equal(lc_cache_set(c, key, value, big, 60), LC_CACHE_DOWN);
    free(value);
    redisFree(raw);
    lc_cache_close(c);
}

static void
test_closed_port_is_down_fast(void **state)
{
    lc_cache_options opts = {.host = "127.0.0.1", .port = 1};
    lc_cache *c = lc_cache_open(&opts);
    char *val = NULL;
    size_t len;
    int64_t n;
    uint64_t errors = lc_cache_error_count();
    double t0;

    (void)state;
    assert_non_null(c);
    t0 = now_s();
    assert_int_equal(lc_cache_get(c, "k", &val, &len), LC_CACHE_DOWN);
    assert_true(now_s() - t0 < 1.0);
    assert_int_equal(lc_cache_error_count(), errors + 1);
    /* Within the back-off (1 s by default): no new attempt, no new error. */
    t0 = now_s();
    assert_int_equal(lc_cache_set(c, "k", "v", 1, 0), LC_CACHE_DOWN);
    assert_int_equal(lc_cache_del(c, "k"), LC_CACHE_DOWN);
    assert_int_equal(lc_cache_incr(c, "k", 1, &n), LC_CACHE_DOWN);
    assert_int_equal(lc_cache_get(c, "k", &val, &len), LC_CACHE_DOWN);
    assert_true(now_s() - t0 < 0.05);
    assert_int_equal(lc_cache_error_count(), errors + 1);
    /* The probe does try. */
    assert_int_equal(lc_cache_ping(c), LC_CACHE_DOWN);
    assert_int_equal(lc_cache_error_count(), errors + 2);
    lc_cache_close(c);
}

/* A listening socket that never accepts: connects succeed, GETs hang. */
static int
silent_server(int *port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t alen = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    *port = ntohs(addr.sin_port);
    return fd;
}

/* Connections made to the silent server since the last call. */
static int
accepted(int listener)
{
    int n = 0, fd;

    while ((fd = accept(listener, NULL, NULL)) >= 0) {
        close(fd);
        n++;
    }
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    return n;
}

static void
test_back_off_makes_no_io(void **state)
{
    lc_cache_options opts = {
        .host = "127.0.0.1", .command_timeout_ms = 100, .retry_after_ms = 400};
    int listener = silent_server(&opts.port);
    lc_cache *c = lc_cache_open(&opts);
    char *val = NULL;
    size_t len;
    double t0, took;
    int k;

    (void)state;
    assert_non_null(c);
    t0 = now_s();
    assert_int_equal(lc_cache_get(c, "k", &val, &len), LC_CACHE_DOWN);
    took = now_s() - t0;
    assert_true(took >= 0.09 && took < 1.0);
    assert_int_equal(accepted(listener), 1);

    for (k = 0; k < 20; k++)
        assert_int_equal(lc_cache_get(c, "k", &val, &len), LC_CACHE_DOWN);
    assert_int_equal(accepted(listener), 0);

    sleep_ms(450);
    assert_int_equal(lc_cache_get(c, "k", &val, &len), LC_CACHE_DOWN);
    assert_int_equal(accepted(listener), 1);
    lc_cache_close(c);
    close(listener);
}

static void
test_open_without_options_uses_defaults(void **state)
{
    lc_cache *c = lc_cache_open(NULL);

    (void)state;
    assert_non_null(c);
    lc_cache_close(c);
    lc_cache_close(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_then_get_returns_value),
        cmocka_unit_test(test_get_missing_key_is_miss),
        cmocka_unit_test(test_del_removes_key),
        cmocka_unit_test(test_set_ttl_applies_and_expires),
        cmocka_unit_test(test_binary_values_round_trip),
        cmocka_unit_test(test_large_value_round_trip),
        cmocka_unit_test(test_incr_counts_and_sets_ttl_once),
        cmocka_unit_test(test_incr_without_ttl_never_expires),
        cmocka_unit_test(test_error_reply_is_down_and_counted),
        cmocka_unit_test(test_ping_ok),
        cmocka_unit_test(test_refused_auth_is_down),
        cmocka_unit_test(test_reconnects_after_connection_killed),
        cmocka_unit_test(test_an_idle_connection_closed_by_redis_is_replaced),
        cmocka_unit_test(test_ping_ignores_back_off),
        cmocka_unit_test(
            test_write_to_closed_connection_does_not_raise_sigpipe),
        cmocka_unit_test(test_closed_port_is_down_fast),
        cmocka_unit_test(test_back_off_makes_no_io),
        cmocka_unit_test(test_open_without_options_uses_defaults),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
