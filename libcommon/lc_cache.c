/*
 * lc_cache.c: a lazily connected hiredis context with timeouts and a
 * back-off after failures.
 *
 * State machine: no context (never connected, or dropped after a failure)
 * -> a call connects, unless the last failure is younger than
 * retry_after_ms, in which case it answers LC_CACHE_DOWN without any I/O.
 * An I/O error or a timeout leaves a hiredis context unusable, so it is
 * freed at once and the next call after the back-off reconnects.
 *
 * An error reply (-WRONGTYPE, -OOM, -LOADING...) is different: Redis
 * answered, quickly, on a healthy connection. The call reports
 * LC_CACHE_DOWN and the error is counted, but the connection is kept and no
 * back-off starts, because the back-off exists to save the latency of a
 * dead server and there is none to save.
 */
#include "lc_cache.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "lc_clock.h"
#include "lc_log.h"

#define LC_CACHE_DEFAULT_HOST "127.0.0.1"
#define LC_CACHE_DEFAULT_PORT 6379
#define LC_CACHE_DEFAULT_CONNECT_MS 200
#define LC_CACHE_DEFAULT_COMMAND_MS 200
#define LC_CACHE_DEFAULT_RETRY_MS 1000

/*
 * INCR and its first EXPIRE in one atomic step: sent as two commands, a
 * crash or a timeout between them would leave a counter that never expires
 * (a rate limit that never resets).
 */
static const char lc_cache_incr_script[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "if n == 1 and tonumber(ARGV[1]) > 0 then "
    "redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "return n";

struct lc_cache {
    char *host;
    int port;
    char *user;     /* NULL: the default user */
    char *password; /* NULL: no AUTH */
    struct timeval connect_timeout;
    struct timeval command_timeout;
    int64_t retry_after_ms;
    redisContext *ctx;    /* NULL: not connected */
    bool has_failed;      /* failed_at_ms is meaningful */
    int64_t failed_at_ms; /* monotonic time of the last failure */
    int64_t used_at_ms;   /* of the last command */
};

static atomic_uint_fast64_t lc_cache_errors;

static struct timeval
lc_cache_timeval(int ms, int def_ms)
{
    struct timeval tv;

    if (ms <= 0)
        ms = def_ms;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

lc_cache *
lc_cache_open(const lc_cache_options *opts)
{
    lc_cache_options none = {0};
    lc_cache *c;

    if (opts == NULL)
        opts = &none;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->host = strdup(opts->host != NULL ? opts->host : LC_CACHE_DEFAULT_HOST);
    if (c->host == NULL) {
        free(c);
        return NULL;
    }
    c->port = opts->port > 0 ? opts->port : LC_CACHE_DEFAULT_PORT;
    if (opts->password != NULL && opts->password[0] != '\0') {
        c->password = strdup(opts->password);
        if (opts->user != NULL && opts->user[0] != '\0')
            c->user = strdup(opts->user);
        if (c->password == NULL ||
            (opts->user != NULL && opts->user[0] != '\0' && c->user == NULL)) {
            lc_cache_close(c);
            return NULL;
        }
    }
    c->connect_timeout =
        lc_cache_timeval(opts->connect_timeout_ms, LC_CACHE_DEFAULT_CONNECT_MS);
    c->command_timeout =
        lc_cache_timeval(opts->command_timeout_ms, LC_CACHE_DEFAULT_COMMAND_MS);
    c->retry_after_ms = opts->retry_after_ms > 0 ? opts->retry_after_ms
                                                 : LC_CACHE_DEFAULT_RETRY_MS;
    return c;
}

void
lc_cache_close(lc_cache *c)
{
    if (c == NULL)
        return;
    if (c->ctx != NULL)
        redisFree(c->ctx);
    free(c->host);
    free(c->user);
    free(c->password);
    free(c);
}

uint64_t
lc_cache_error_count(void)
{
    return (uint64_t)atomic_load(&lc_cache_errors);
}

static void
lc_cache_count_error(void)
{
    atomic_fetch_add(&lc_cache_errors, 1);
}

/* Drops the connection and starts the back-off. */
static void
lc_cache_fail(lc_cache *c)
{
    if (c->ctx != NULL) {
        redisFree(c->ctx);
        c->ctx = NULL;
    }
    c->has_failed = true;
    c->failed_at_ms = lc_clock_mono_ms();
    lc_cache_count_error();
}

static redisReply *lc_cache_run(redisContext *ctx, const char *fmt,
                                va_list ap);

/* AUTH [user] password on a new connection: 0, or -1 when refused. */
static int
lc_cache_vauth(redisContext *ctx, const char *fmt, ...)
{
    redisReply *reply;
    va_list ap;
    int ok;

    va_start(ap, fmt);
    reply = lc_cache_run(ctx, fmt, ap);
    va_end(ap);
    ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
    if (reply != NULL)
        freeReplyObject(reply);
    return ok ? 0 : -1;
}

static int
lc_cache_auth(lc_cache *c, redisContext *ctx)
{
    if (c->password == NULL)
        return 0;
    if (c->user == NULL)
        return lc_cache_vauth(ctx, "AUTH %s", c->password);
    return lc_cache_vauth(ctx, "AUTH %s %s", c->user, c->password);
}

static int
lc_cache_connect(lc_cache *c)
{
    redisContext *ctx;

    if (c == NULL) /* a service without Redis: always down */
        return -1;
    if (c->ctx != NULL)
        return 0;
    ctx = redisConnectWithTimeout(c->host, c->port, c->connect_timeout);
    if (ctx == NULL || ctx->err != 0 ||
        redisSetTimeout(ctx, c->command_timeout) != REDIS_OK ||
        lc_cache_auth(c, ctx) != 0) {
        if (ctx != NULL)
            redisFree(ctx);
        lc_cache_fail(c);
        return -1;
    }
    c->ctx = ctx;
    c->used_at_ms = lc_clock_mono_ms();
    return 0;
}

/*
 * Whether a connection left idle has been closed by Redis (a restart, a
 * CLIENT KILL, its idle timeout): Redis sends nothing unasked on a
 * connection like this one, so anything to read, or its end, says so.
 * Checked (one poll without waiting) before a command on a connection
 * idle for LC_CACHE_IDLE_CHECK_MS: the command would fail, and be
 * reported as Redis down, on a server that is up.
 */
#define LC_CACHE_IDLE_CHECK_MS 1000

static bool
lc_cache_closed_by_peer(lc_cache *c, int64_t now)
{
    struct pollfd pfd = {.fd = c->ctx->fd, .events = POLLIN};

    return now - c->used_at_ms >= LC_CACHE_IDLE_CHECK_MS &&
           poll(&pfd, 1, 0) != 0;
}

/* Connected, or -1 without any I/O while the back-off runs (or when there
 * is no Redis at all: c NULL). */
static int
lc_cache_ready(lc_cache *c)
{
    int64_t now = lc_clock_mono_ms();

    if (c != NULL && c->ctx == NULL && c->has_failed &&
        now - c->failed_at_ms < c->retry_after_ms)
        return -1;
    if (c != NULL && c->ctx != NULL && lc_cache_closed_by_peer(c, now)) {
        redisFree(c->ctx);
        c->ctx = NULL;
    }
    if (c != NULL)
        c->used_at_ms = now;
    return lc_cache_connect(c);
}

/*
 * hiredis writes with write(2), not send(MSG_NOSIGNAL): a write to a
 * connection Redis has closed raises SIGPIPE, which kills a process that
 * has not ignored it (seen here with a 4 MiB SET after CLIENT KILL). As
 * libpq does, SIGPIPE is blocked in this thread during the command and one
 * raised by it is consumed before unblocking, so lc_cache is safe whatever
 * the process's signal disposition.
 */
typedef struct {
    sigset_t sigpipe, old;
    bool was_pending;
} lc_cache_sigpipe;

static void
lc_cache_sigpipe_block(lc_cache_sigpipe *s)
{
    sigset_t pending;

    sigemptyset(&s->sigpipe);
    sigaddset(&s->sigpipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s->sigpipe, &s->old);
    sigpending(&pending);
    s->was_pending = sigismember(&pending, SIGPIPE);
}

static void
lc_cache_sigpipe_restore(lc_cache_sigpipe *s, const redisReply *reply)
{
    static const struct timespec no_wait = {0, 0};
    sigset_t pending;

    if (reply == NULL && !s->was_pending) {
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE))
            sigtimedwait(&s->sigpipe, NULL, &no_wait);
    }
    pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}

static redisReply *
lc_cache_run(redisContext *ctx, const char *fmt, va_list ap)
{
    lc_cache_sigpipe s;
    redisReply *reply;

    lc_cache_sigpipe_block(&s);
    reply = redisvCommand(ctx, fmt, ap);
    lc_cache_sigpipe_restore(&s, reply);
    return reply;
}

/* lc_cache_command's checks, for a reply already received (NULL: failed). */
static redisReply *
lc_cache_checked(lc_cache *c, redisReply *reply)
{
    if (reply == NULL) {
        lc_cache_fail(c);
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        freeReplyObject(reply);
        lc_cache_count_error();
        return NULL;
    }
    return reply;
}

/* A command given as words (any bytes), checked like lc_cache_command. */
static redisReply *
lc_cache_command_argv(lc_cache *c, int argc, const char **argv,
                      const size_t *argvlen)
{
    lc_cache_sigpipe s;
    redisReply *reply;

    lc_cache_sigpipe_block(&s);
    reply = redisCommandArgv(c->ctx, argc, argv, argvlen);
    lc_cache_sigpipe_restore(&s, reply);
    return lc_cache_checked(c, reply);
}

/*
 * Runs a command on the connection. Returns the reply, or NULL after an
 * I/O failure (connection dropped) or an error reply (counted, connection
 * kept).
 */
static redisReply *
lc_cache_command(lc_cache *c, const char *fmt, ...)
{
    redisReply *reply;
    va_list ap;

    va_start(ap, fmt);
    reply = lc_cache_run(c->ctx, fmt, ap);
    va_end(ap);
    return lc_cache_checked(c, reply);
}

/* A reply of a type the command never returns: counted as an error. */
static lc_cache_status
lc_cache_unexpected(redisReply *reply)
{
    freeReplyObject(reply);
    lc_cache_count_error();
    return LC_CACHE_DOWN;
}

lc_cache_status
lc_cache_get(lc_cache *c, const char *key, char **out, size_t *len)
{
    redisReply *reply;
    lc_cache_status st = LC_CACHE_OK;

    *out = NULL;
    *len = 0;
    if (lc_cache_ready(c) != 0)
        return LC_CACHE_DOWN;
    reply = lc_cache_command(c, "GET %b", key, strlen(key));
    if (reply == NULL)
        return LC_CACHE_DOWN;
    if (reply->type == REDIS_REPLY_NIL) {
        st = LC_CACHE_MISS;
    } else if (reply->type != REDIS_REPLY_STRING) {
        return lc_cache_unexpected(reply);
    } else {
        *out = malloc(reply->len + 1);
        if (*out == NULL) {
            st = LC_CACHE_DOWN;
        } else {
            memcpy(*out, reply->str, reply->len);
            (*out)[reply->len] = '\0';
            *len = reply->len;
        }
    }
    freeReplyObject(reply);
    return st;
}

lc_cache_status
lc_cache_set(lc_cache *c, const char *key, const char *val, size_t len,
             int ttl_s)
{
    redisReply *reply;

    if (lc_cache_ready(c) != 0)
        return LC_CACHE_DOWN;
    /* A negative ttl is treated as 0: Redis would refuse "EX -1". */
    if (ttl_s > 0)
        reply = lc_cache_command(c, "SET %b %b EX %d", key, strlen(key), val,
                                 len, ttl_s);
    else
        reply = lc_cache_command(c, "SET %b %b", key, strlen(key), val, len);
    if (reply == NULL)
        return LC_CACHE_DOWN;
    if (reply->type != REDIS_REPLY_STATUS)
        return lc_cache_unexpected(reply);
    freeReplyObject(reply);
    return LC_CACHE_OK;
}

lc_cache_status
lc_cache_del(lc_cache *c, const char *key)
{
    redisReply *reply;

    if (lc_cache_ready(c) != 0)
        return LC_CACHE_DOWN;
    reply = lc_cache_command(c, "DEL %b", key, strlen(key));
    if (reply == NULL)
        return LC_CACHE_DOWN;
    if (reply->type != REDIS_REPLY_INTEGER)
        return lc_cache_unexpected(reply);
    freeReplyObject(reply);
    return LC_CACHE_OK;
}

lc_cache_status
lc_cache_incr(lc_cache *c, const char *key, int ttl_s, int64_t *out)
{
    redisReply *reply;

    if (lc_cache_ready(c) != 0)
        return LC_CACHE_DOWN;
    reply = lc_cache_command(c, "EVAL %s 1 %b %d", lc_cache_incr_script, key,
                             strlen(key), ttl_s > 0 ? ttl_s : 0);
    if (reply == NULL)
        return LC_CACHE_DOWN;
    if (reply->type != REDIS_REPLY_INTEGER)
        return lc_cache_unexpected(reply);
    *out = (int64_t)reply->integer;
    freeReplyObject(reply);
    return LC_CACHE_OK;
}

/* The most words lc_cache_mget and lc_cache_eval send. */
#define LC_CACHE_MAX_ARGS 16

/*
 * The string elements of an array reply into vals[0..n-1] (malloc'd,
 * NUL-terminated; NULL for a nil, a non-string or a missing element) and
 * their lengths into lens (when not NULL). Frees the reply.
 */
static lc_cache_status
lc_cache_strings(redisReply *reply, char **vals, size_t *lens, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        vals[i] = NULL;
        if (lens != NULL)
            lens[i] = 0;
    }
    for (i = 0; i < n; i++) {
        redisReply *e = i < reply->elements ? reply->element[i] : NULL;

        if (e == NULL || e->type != REDIS_REPLY_STRING)
            continue; /* nil: a missing key */
        vals[i] = malloc(e->len + 1);
        if (vals[i] == NULL)
            break;
        memcpy(vals[i], e->str, e->len);
        vals[i][e->len] = '\0';
        if (lens != NULL)
            lens[i] = e->len;
    }
    freeReplyObject(reply);
    if (i < n) {
        while (i-- > 0) {
            free(vals[i]);
            vals[i] = NULL;
        }
        return LC_CACHE_DOWN;
    }
    return LC_CACHE_OK;
}

lc_cache_status
lc_cache_mget(lc_cache *c, const char *const *keys, size_t n, char **vals)
{
    return lc_cache_mget_lens(c, keys, n, vals, NULL);
}

lc_cache_status
lc_cache_mget_lens(lc_cache *c, const char *const *keys, size_t n, char **vals,
                   size_t *lens)
{
    const char *argv[LC_CACHE_MAX_ARGS];
    size_t argvlen[LC_CACHE_MAX_ARGS], i;
    redisReply *reply;

    for (i = 0; i < n; i++) {
        vals[i] = NULL;
        if (lens != NULL)
            lens[i] = 0;
    }
    if (n == 0 || n + 1 > LC_CACHE_MAX_ARGS)
        return LC_CACHE_DOWN;
    if (lc_cache_ready(c) != 0)
        return LC_CACHE_DOWN;
    argv[0] = "MGET";
    argvlen[0] = 4;
    for (i = 0; i < n; i++) {
        argv[i + 1] = keys[i];
        argvlen[i + 1] = strlen(keys[i]);
    }
    reply = lc_cache_command_argv(c, (int)n + 1, argv, argvlen);
    if (reply == NULL)
        return LC_CACHE_DOWN;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != n)
        return lc_cache_unexpected(reply);
    return lc_cache_strings(reply, vals, lens, n);
}

/* EVAL script nkeys args...: the reply, or NULL (Redis down, an error). */
static redisReply *
lc_cache_eval_reply(lc_cache *c, const char *script, size_t nkeys,
                    const char *const *args, size_t nargs)
{
    const char *argv[LC_CACHE_MAX_ARGS];
    size_t argvlen[LC_CACHE_MAX_ARGS], i;
    char numkeys[24];

    if (nkeys > nargs || nargs + 3 > LC_CACHE_MAX_ARGS)
        return NULL;
    if (lc_cache_ready(c) != 0)
        return NULL;
    snprintf(numkeys, sizeof(numkeys), "%zu", nkeys);
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = numkeys;
    for (i = 0; i < nargs; i++)
        argv[i + 3] = args[i];
    for (i = 0; i < nargs + 3; i++)
        argvlen[i] = strlen(argv[i]);
    return lc_cache_command_argv(c, (int)nargs + 3, argv, argvlen);
}

lc_cache_status
lc_cache_eval(lc_cache *c, const char *script, size_t nkeys,
              const char *const *args, size_t nargs, int64_t *out)
{
    redisReply *reply = lc_cache_eval_reply(c, script, nkeys, args, nargs);

    if (reply == NULL)
        return LC_CACHE_DOWN;
    if (reply->type != REDIS_REPLY_INTEGER)
        return lc_cache_unexpected(reply);
    *out = (int64_t)reply->integer;
    freeReplyObject(reply);
    return LC_CACHE_OK;
}

lc_cache_status
lc_cache_eval_strings(lc_cache *c, const char *script, size_t nkeys,
                      const char *const *args, size_t nargs, char **vals,
                      size_t *lens, size_t n)
{
    redisReply *reply = lc_cache_eval_reply(c, script, nkeys, args, nargs);
    size_t i;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        for (i = 0; i < n; i++)
            vals[i] = NULL;
        return reply == NULL ? LC_CACHE_DOWN : lc_cache_unexpected(reply);
    }
    return lc_cache_strings(reply, vals, lens, n);
}

lc_cache_status
lc_cache_ping(lc_cache *c)
{
    redisReply *reply;

    if (lc_cache_connect(c) != 0)
        return LC_CACHE_DOWN;
    reply = lc_cache_command(c, "PING");
    if (reply == NULL)
        return LC_CACHE_DOWN;
    if (reply->type != REDIS_REPLY_STATUS || strcmp(reply->str, "PONG") != 0)
        return lc_cache_unexpected(reply);
    freeReplyObject(reply);
    return LC_CACHE_OK;
}

/* --- being told of changes ------------------------------------------------ */

/* How often the tracker asks Redis whether it is still there, and how long
 * it waits for the answer before it takes the connection for dead. */
#define LC_CACHE_TRACK_PING_MS 100
#define LC_CACHE_TRACK_DEAD_MS 1000

struct lc_cache_tracker {
    lc_cache *conn; /* its options, and the connection while up */
    char *prefix;
    lc_cache_changed_fn changed;
    void *arg;
    pthread_t thread;
    atomic_bool stop;
    /* Monotonic ms before which every change Redis made has been told; 0
     * while that is unknown (not connected, not yet confirmed). */
    atomic_int_fast64_t confirmed_ms;
};

/* Tracking of the prefix with this connection as its own redirection,
 * then the subscription its invalidations come through. 0 or -1. */
static int
lc_cache_tracker_subscribe(lc_cache_tracker *t)
{
    redisReply *reply;
    long long id;
    bool ok;

    reply = lc_cache_command(t->conn, "CLIENT ID");
    if (reply == NULL)
        return -1;
    ok = reply->type == REDIS_REPLY_INTEGER;
    id = reply->integer;
    freeReplyObject(reply);
    if (!ok)
        return -1;
    reply = lc_cache_command(t->conn,
                             "CLIENT TRACKING on REDIRECT %lld BCAST PREFIX %s",
                             id, t->prefix);
    if (reply == NULL)
        return -1;
    ok = reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(reply);
    if (!ok)
        return -1;
    reply = lc_cache_command(t->conn, "SUBSCRIBE __redis__:invalidate");
    if (reply == NULL)
        return -1;
    ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == 3;
    freeReplyObject(reply);
    return ok ? 0 : -1;
}

/* One reply on the subscription: an invalidation (keys, or nil for a
 * flush) or the answer to a ping. */
static void
lc_cache_tracker_reply(lc_cache_tracker *t, const redisReply *r,
                       int64_t *ping_at)
{
    const redisReply *kind, *keys;
    size_t i;

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    kind = r->element[0];
    if (strcmp(kind->str, "pong") == 0 && *ping_at != 0) {
        atomic_store(&t->confirmed_ms, *ping_at);
        *ping_at = 0;
        return;
    }
    if (strcmp(kind->str, "message") != 0 || r->elements != 3)
        return;
    keys = r->element[2];
    if (keys->type != REDIS_REPLY_ARRAY) {
        t->changed(t->arg, NULL, 0); /* FLUSHALL, FLUSHDB */
        return;
    }
    for (i = 0; i < keys->elements; i++) {
        if (keys->element[i]->type == REDIS_REPLY_STRING)
            t->changed(t->arg, keys->element[i]->str, keys->element[i]->len);
    }
}

/* Sends a PING on the subscription (allowed there, answered in order
 * after every invalidation Redis sent before it). 0 or -1. */
static int
lc_cache_tracker_ping(lc_cache_tracker *t)
{
    int done = 0;

    if (redisAppendCommand(t->conn->ctx, "PING") != REDIS_OK)
        return -1;
    while (!done) {
        if (redisBufferWrite(t->conn->ctx, &done) != REDIS_OK)
            return -1;
    }
    return 0;
}

/* Reads the subscription until the connection fails or stop is asked. */
static void
lc_cache_tracker_listen(lc_cache_tracker *t)
{
    int64_t ping_at = 0, last_ping = 0, now;
    struct pollfd pfd;
    redisReply *r;
    void *reply;

    pfd.fd = t->conn->ctx->fd;
    pfd.events = POLLIN;
    while (!atomic_load(&t->stop)) {
        now = lc_clock_mono_ms();
        if (ping_at == 0 && now - last_ping >= LC_CACHE_TRACK_PING_MS) {
            if (lc_cache_tracker_ping(t) != 0)
                return;
            ping_at = last_ping = now;
        } else if (ping_at != 0 && now - ping_at > LC_CACHE_TRACK_DEAD_MS) {
            return;
        }
        if (poll(&pfd, 1, LC_CACHE_TRACK_PING_MS) < 0 && errno != EINTR)
            return;
        if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
            continue;
        if (redisBufferRead(t->conn->ctx) != REDIS_OK)
            return;
        for (;;) {
            reply = NULL;
            if (redisReaderGetReply(t->conn->ctx->reader, &reply) != REDIS_OK)
                return;
            if (reply == NULL)
                break;
            r = reply;
            lc_cache_tracker_reply(t, r, &ping_at);
            freeReplyObject(r);
        }
    }
}

static void *
lc_cache_tracker_main(void *arg)
{
    static const struct timespec pause = {0, LC_CACHE_TRACK_PING_MS * 1000000L};
    lc_cache_tracker *t = arg;
    bool refused = false;
    sigset_t sigpipe;

    /* a write to a closed connection must not kill the process; a
     * SIGPIPE left pending in this thread is harmless */
    sigemptyset(&sigpipe);
    sigaddset(&sigpipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigpipe, NULL);
    while (!atomic_load(&t->stop)) {
        if (lc_cache_ready(t->conn) != 0) {
            nanosleep(&pause, NULL);
            continue;
        }
        if (lc_cache_tracker_subscribe(t) == 0) {
            refused = false;
            /* what changed while nobody listened is unknown */
            t->changed(t->arg, NULL, 0);
            lc_cache_tracker_listen(t);
        } else if (!refused) {
            /* said once, not at each retry: a Redis user without the
             * right leaves memory unused, which costs speed only */
            refused = true;
            lc_log_warn("cache: Redis refused to tell of changes under %s"
                        " (CLIENT ID, CLIENT TRACKING, SUBSCRIBE): answers"
                        " are not kept in memory",
                        t->prefix);
        }
        atomic_store(&t->confirmed_ms, 0);
        t->changed(t->arg, NULL, 0);
        if (!atomic_load(&t->stop))
            lc_cache_fail(t->conn); /* a stop is no failure */
    }
    return NULL;
}

lc_cache_tracker *
lc_cache_tracker_start(const lc_cache_options *opts, const char *prefix,
                       lc_cache_changed_fn changed, void *arg)
{
    lc_cache_tracker *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->conn = lc_cache_open(opts);
    t->prefix = strdup(prefix);
    t->changed = changed;
    t->arg = arg;
    if (t->conn == NULL || t->prefix == NULL ||
        pthread_create(&t->thread, NULL, lc_cache_tracker_main, t) != 0) {
        lc_cache_close(t->conn);
        free(t->prefix);
        free(t);
        return NULL;
    }
    return t;
}

bool
lc_cache_tracker_live(lc_cache_tracker *t, int64_t within_ms)
{
    int64_t confirmed;

    if (t == NULL)
        return false;
    confirmed = atomic_load(&t->confirmed_ms);
    return confirmed != 0 && lc_clock_mono_ms() - confirmed < within_ms;
}

void
lc_cache_tracker_stop(lc_cache_tracker *t)
{
    if (t == NULL)
        return;
    atomic_store(&t->stop, true);
    pthread_join(t->thread, NULL);
    lc_cache_close(t->conn);
    free(t->prefix);
    free(t);
}
