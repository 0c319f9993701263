/*
 * lc_vcache.c: the scripts of the versioned cache (see lc_vcache.h for the
 * protocol) and a writer's list of fenced tenants.
 *
 * Every script reads the time from Redis (TIME), so that fences expire on
 * one clock whatever the writers' and readers' clocks say.
 */
#include "lc_vcache.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VCACHE_NOW                                                             \
    "local t = redis.call('TIME') "                                            \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "

/* KEYS: fences, state. ARGV: the answer's key before and after the
 * version. Returns {kind, epoch[, version[, body]]}. */
static const char vcache_lookup_script[] =
    VCACHE_NOW
    "local s = redis.call('HMGET', KEYS[2], 'v', 'e') "
    "local e = s[2] or '0' "
    "if redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') > 0 then "
    "  return {'fenced', e} end "
    "if not s[1] then return {'unknown', e} end "
    "local body = redis.call('GET', ARGV[1] .. s[1] .. ARGV[2]) "
    "if not body then return {'miss', e, s[1]} end "
    "return {'hit', e, s[1], body}";

/* KEYS: fences, state. ARGV: token, ttl ms, state ttl ms. The version is
 * forgotten and the epoch moves. */
static const char vcache_fence_script[] =
    VCACHE_NOW
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) "
    "if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then "
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
    "redis.call('HDEL', KEYS[2], 'v') "
    "redis.call('HINCRBY', KEYS[2], 'e', 1) "
    "redis.call('PEXPIRE', KEYS[2], ARGV[3]) "
    "return 1";

/* KEYS: fences, state. ARGV: token, version ("" none), state ttl ms.
 * `m` is the highest version ever stamped: a stamp that finds another
 * fence still up records nothing but m, and the last stamp records m, so
 * stamps may come in any order. A stamp of nothing (a rollback) records
 * nothing: a writer that died after its commit may have left a higher
 * version than m, which only the database knows. Returns 1 when the
 * version was recorded. */
static const char vcache_stamp_script[] =
    VCACHE_NOW
    "redis.call('ZREM', KEYS[1], ARGV[1]) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
    "if ARGV[2] == '' then return 0 end "
    "local v = tonumber(ARGV[2]) "
    "local m = tonumber(redis.call('HGET', KEYS[2], 'm') or '-1') "
    "if v > m then redis.call('HSET', KEYS[2], 'm', ARGV[2]) else v = m end "
    "redis.call('PEXPIRE', KEYS[2], ARGV[3]) "
    "if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end "
    "local cur = redis.call('HGET', KEYS[2], 'v') "
    "if cur and tonumber(cur) >= v then return 0 end "
    "redis.call('HSET', KEYS[2], 'v', string.format('%d', v)) "
    "return 1";

/* KEYS: fences, state. ARGV: the lookup's epoch, version, state ttl ms.
 * Returns 1 when the version was recorded. */
static const char vcache_fill_script[] =
    VCACHE_NOW
    "if redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') > 0 then "
    "  return 0 end "
    "local s = redis.call('HMGET', KEYS[2], 'v', 'e') "
    "if (s[2] or '0') ~= ARGV[1] then return 0 end "
    "if s[1] and tonumber(s[1]) >= tonumber(ARGV[2]) then return 0 end "
    "redis.call('HSET', KEYS[2], 'v', ARGV[2]) "
    "redis.call('PEXPIRE', KEYS[2], ARGV[3]) "
    "return 1";

#define VCACHE_KEY_MAX 512

/* The tenant's keys: its fences and its state. -1 when they do not fit. */
static int
vcache_keys(const char *prefix, const char *tenant_id, char *fences,
            char *state)
{
    int a = snprintf(fences, VCACHE_KEY_MAX, "%s:{%s}:fences", prefix,
                     tenant_id);
    int b = snprintf(state, VCACHE_KEY_MAX, "%s:{%s}:state", prefix,
                     tenant_id);

    return a < 0 || a >= VCACHE_KEY_MAX || b < 0 || b >= VCACHE_KEY_MAX ? -1
                                                                        : 0;
}

lc_vcache_result
lc_vcache_lookup(lc_cache *c, const char *prefix, const char *tenant_id,
                 const char *what, lc_vcache_seen *seen, char **body,
                 size_t *len)
{
    char fences[VCACHE_KEY_MAX], state[VCACHE_KEY_MAX];
    char before[VCACHE_KEY_MAX], after[VCACHE_KEY_MAX];
    const char *args[4] = {fences, state, before, after};
    char *v[4];
    size_t lens[4];
    lc_vcache_result r = LC_VCACHE_DOWN;
    int i;

    *body = NULL;
    *len = 0;
    seen->version = -1;
    seen->epoch[0] = '\0';
    if (vcache_keys(prefix, tenant_id, fences, state) != 0 ||
        (size_t)snprintf(before, sizeof(before), "%s:{%s}:a:", prefix,
                         tenant_id) >= sizeof(before) ||
        (size_t)snprintf(after, sizeof(after), ":%s", what) >= sizeof(after) ||
        lc_cache_eval_strings(c, vcache_lookup_script, 2, args, 4, v, lens,
                              4) != LC_CACHE_OK) {
        return LC_VCACHE_DOWN;
    }
    if (v[0] != NULL && v[1] != NULL && strlen(v[1]) < sizeof(seen->epoch)) {
        snprintf(seen->epoch, sizeof(seen->epoch), "%s", v[1]);
        if (v[2] != NULL) {
            seen->version = strtoll(v[2], NULL, 10);
        }
        if (strcmp(v[0], "fenced") == 0) {
            r = LC_VCACHE_FENCED;
        } else if (strcmp(v[0], "unknown") == 0) {
            r = LC_VCACHE_UNKNOWN;
        } else if (strcmp(v[0], "miss") == 0 && v[2] != NULL) {
            r = LC_VCACHE_MISS;
        } else if (strcmp(v[0], "hit") == 0 && v[2] != NULL && v[3] != NULL) {
            r = LC_VCACHE_HIT;
            *body = v[3];
            *len = lens[3];
            v[3] = NULL;
        }
    }
    for (i = 0; i < 4; i++) {
        free(v[i]);
    }
    return r;
}

lc_cache_status
lc_vcache_put(lc_cache *c, const char *prefix, const char *tenant_id,
              int64_t version, const char *what, const char *body, size_t len,
              int ttl_s)
{
    char key[VCACHE_KEY_MAX * 2];

    if ((size_t)snprintf(key, sizeof(key), "%s:{%s}:a:%" PRId64 ":%s",
                         prefix, tenant_id, version,
                         what) >= sizeof(key)) {
        return LC_CACHE_DOWN;
    }
    return lc_cache_set(c, key, body, len, ttl_s);
}

/* One of the writer's or the fill's scripts: fences, state, then three
 * arguments; *done whether it returned 1. */
static lc_cache_status
vcache_run(lc_cache *c, const char *script, const char *prefix,
           const char *tenant_id, const char *a1, const char *a2,
           const char *a3, bool *done)
{
    char fences[VCACHE_KEY_MAX], state[VCACHE_KEY_MAX];
    const char *args[5] = {fences, state, a1, a2, a3};
    int64_t out = 0;
    lc_cache_status st;

    if (vcache_keys(prefix, tenant_id, fences, state) != 0) {
        return LC_CACHE_DOWN;
    }
    st = lc_cache_eval(c, script, 2, args, 5, &out);
    if (done != NULL) {
        *done = st == LC_CACHE_OK && out == 1;
    }
    return st;
}

lc_cache_status
lc_vcache_fill(lc_cache *c, const char *prefix, const char *tenant_id,
               const lc_vcache_seen *seen, int64_t version, bool *filled)
{
    char v[24], ttl[24];

    snprintf(v, sizeof(v), "%" PRId64, version);
    snprintf(ttl, sizeof(ttl), "%d", LC_VCACHE_STATE_TTL_MS);
    return vcache_run(c, vcache_fill_script, prefix, tenant_id, seen->epoch, v,
                      ttl, filled);
}

lc_cache_status
lc_vcache_fence(lc_cache *c, const char *prefix, const char *tenant_id,
                const char *token, int64_t ttl_ms)
{
    char ttl[24], state_ttl[24];

    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms > 0 ? ttl_ms : 1);
    snprintf(state_ttl, sizeof(state_ttl), "%d", LC_VCACHE_STATE_TTL_MS);
    return vcache_run(c, vcache_fence_script, prefix, tenant_id, token, ttl,
                      state_ttl, NULL);
}

lc_cache_status
lc_vcache_stamp(lc_cache *c, const char *prefix, const char *tenant_id,
                const char *token, int64_t version)
{
    char v[24] = "", ttl[24];

    if (version >= 0) {
        snprintf(v, sizeof(v), "%" PRId64, version);
    }
    snprintf(ttl, sizeof(ttl), "%d", LC_VCACHE_STATE_TTL_MS);
    return vcache_run(c, vcache_stamp_script, prefix, tenant_id, token, v, ttl,
                      NULL);
}

/* --- the writer ----------------------------------------------------------- */

/* A fenced tenant and the version its transaction moved to (-1: none
 * yet, or a fence whose stamp Redis did not take, to be lifted). */
typedef struct {
    char tenant_id[64];
    int64_t tx_version;
} vcache_fenced;

struct lc_vcache_writer {
    lc_cache *cache;
    char prefix[128];
    char token[64];
    int64_t ttl_ms;
    vcache_fenced *fenced;
    size_t n, cap;
};

lc_vcache_writer *
lc_vcache_writer_new(const lc_cache_options *cache, const char *prefix,
                     int64_t fence_ttl_ms)
{
    static atomic_uint writers;
    lc_vcache_writer *w = calloc(1, sizeof(*w));
    struct timespec ts;

    if (w == NULL) {
        return NULL;
    }
    w->cache = lc_cache_open(cache);
    if (w->cache == NULL) {
        free(w);
        return NULL;
    }
    snprintf(w->prefix, sizeof(w->prefix), "%s", prefix);
    clock_gettime(CLOCK_REALTIME, &ts);
    /* unique among writers: this process (pid, start) and this writer */
    snprintf(w->token, sizeof(w->token), "%ld.%lld.%ld.%u", (long)getpid(),
             (long long)ts.tv_sec, ts.tv_nsec, atomic_fetch_add(&writers, 1));
    w->ttl_ms = fence_ttl_ms;
    return w;
}

void
lc_vcache_writer_free(lc_vcache_writer *w)
{
    if (w == NULL) {
        return;
    }
    lc_cache_close(w->cache);
    free(w->fenced);
    free(w);
}

static vcache_fenced *
vcache_find(lc_vcache_writer *w, const char *tenant_id)
{
    size_t i;

    for (i = 0; i < w->n; i++) {
        if (strcmp(w->fenced[i].tenant_id, tenant_id) == 0) {
            return &w->fenced[i];
        }
    }
    return NULL;
}

int
lc_vcache_writer_fence(lc_vcache_writer *w, const char *tenant_id)
{
    vcache_fenced *f = vcache_find(w, tenant_id), *grown;

    if (f == NULL) {
        if (strlen(tenant_id) >= sizeof(f->tenant_id)) {
            return -1;
        }
        if (w->n == w->cap) {
            grown = realloc(w->fenced, (w->cap * 2 + 4) * sizeof(*grown));
            if (grown == NULL) {
                return -1;
            }
            w->fenced = grown;
            w->cap = w->cap * 2 + 4;
        }
        f = &w->fenced[w->n++];
        snprintf(f->tenant_id, sizeof(f->tenant_id), "%s", tenant_id);
    }
    f->tx_version = -1;
    (void)lc_vcache_fence(w->cache, w->prefix, tenant_id, w->token, w->ttl_ms);
    return 0;
}

void
lc_vcache_writer_version(lc_vcache_writer *w, const char *tenant_id,
                         int64_t version)
{
    vcache_fenced *f = vcache_find(w, tenant_id);

    if (f != NULL) {
        f->tx_version = version;
    }
}

void
lc_vcache_writer_done(lc_vcache_writer *w, bool committed)
{
    size_t i = 0;
    vcache_fenced *f;

    while (i < w->n) {
        f = &w->fenced[i];
        if (lc_vcache_stamp(w->cache, w->prefix, f->tenant_id, w->token,
                            committed ? f->tx_version : -1) == LC_CACHE_OK) {
            w->fenced[i] = w->fenced[--w->n];
        } else {
            /* Later, only lifted: by then a version stamped late could be
             * older than one another writer committed meanwhile. */
            f->tx_version = -1;
            i++;
        }
    }
}
