/*
 * lc_vcache.c: the scripts of the versioned cache (see lc_vcache.h for the
 * protocol), a writer's list of fenced tenants, and the answers a process
 * keeps in memory.
 *
 * Every script reads the time from Redis (TIME), so that fences expire on
 * one clock whatever the writers' and readers' clocks say.
 */
#include "lc_vcache.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lc_clock.h"

#define VCACHE_NOW                                                             \
    "local t = redis.call('TIME') "                                            \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "

/* The latest expiry of the live fences (KEYS[1]), after dropping the
 * dead ones; nil when none is left. */
#define VCACHE_LIVE                                                            \
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "                    \
    "local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES') "        \
    "local until_ms = last[2] and tonumber(last[2]) "

/* KEYS: fences, ver, epoch, m. ARGV: token, ttl ms, state ttl ms. `ver`
 * says "f" until the last live fence expires; the epoch moves. */
static const char vcache_fence_script[] =
    VCACHE_NOW
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) "
    VCACHE_LIVE
    "redis.call('PEXPIRE', KEYS[1], until_ms - now) "
    "redis.call('SET', KEYS[2], 'f', 'PX', until_ms - now) "
    "redis.call('INCR', KEYS[3]) "
    "redis.call('PEXPIRE', KEYS[3], ARGV[3]) "
    "return 1";

/* KEYS: fences, ver, epoch, m. ARGV: token, version ("" none), the
 * version's ttl ms, m's ttl ms. `m` is the highest version ever stamped:
 * a stamp that finds another fence still up records nothing but m, and
 * the last stamp records m, so stamps may come in any order. A stamp of
 * nothing (a rollback) leaves the version unknown: a writer that died
 * after its commit may have left a higher version than m, which only the
 * database knows. Returns 1 when the version was recorded. */
static const char vcache_stamp_script[] =
    VCACHE_NOW
    "redis.call('ZREM', KEYS[1], ARGV[1]) "
    "local m = tonumber(redis.call('GET', KEYS[4]) or '-1') "
    "if ARGV[2] ~= '' and tonumber(ARGV[2]) > m then "
    "  m = tonumber(ARGV[2]) "
    "  redis.call('SET', KEYS[4], ARGV[2], 'PX', ARGV[4]) end "
    VCACHE_LIVE
    "if until_ms then "
    "  redis.call('SET', KEYS[2], 'f', 'PX', until_ms - now) return 0 end "
    "local cur = redis.call('GET', KEYS[2]) "
    "if ARGV[2] == '' then "
    "  if cur == 'f' then redis.call('DEL', KEYS[2]) end return 0 end "
    "if cur and cur ~= 'f' and tonumber(cur) >= m then return 0 end "
    "redis.call('SET', KEYS[2], string.format('%d', m), 'PX', ARGV[3]) "
    "return 1";

/* KEYS: fences, ver, epoch. ARGV: the lookup's epoch, version, the
 * version's ttl ms. Returns 1 when the version was recorded. */
static const char vcache_fill_script[] =
    VCACHE_NOW
    VCACHE_LIVE
    "if until_ms then return 0 end "
    "if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return 0 end "
    "local cur = redis.call('GET', KEYS[2]) "
    "if cur and (cur == 'f' or tonumber(cur) >= tonumber(ARGV[2])) then "
    "  return 0 end "
    "redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) "
    "return 1";

#define VCACHE_KEY_MAX 512

/* The tenant's keys: its fences, version, epoch and highest stamped. -1
 * when they do not fit. */
static int
vcache_keys(const char *prefix, const char *tenant_id,
            char keys[4][VCACHE_KEY_MAX])
{
    static const char *const names[4] = {"fences", "ver", "epoch", "m"};
    int i, n;

    for (i = 0; i < 4; i++) {
        n = snprintf(keys[i], VCACHE_KEY_MAX, "%s:{%s}:%s", prefix, tenant_id,
                     names[i]);
        if (n < 0 || n >= VCACHE_KEY_MAX) {
            return -1;
        }
    }
    return 0;
}

/* The key of the answer `what` (any version: its value starts with it). */
static int
vcache_answer_key(const char *prefix, const char *tenant_id, const char *what,
                  char *key, size_t len)
{
    int n = snprintf(key, len, "%s:{%s}:a:%s", prefix, tenant_id, what);

    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * One MGET of the version, the epoch and the answer, whose value is
 * "<version> <body>": a hit is an answer of the recorded version. No
 * script, so Redis does the least work on the path every warm answer
 * takes.
 */
lc_vcache_result
lc_vcache_lookup(lc_cache *c, const char *prefix, const char *tenant_id,
                 const char *what, lc_vcache_seen *seen, char **body,
                 size_t *len)
{
    char keys[4][VCACHE_KEY_MAX], answer[VCACHE_KEY_MAX * 2];
    const char *k[3] = {keys[1], keys[2], answer};
    char *v[3], *sp, *end;
    size_t lens[3];
    lc_vcache_result r = LC_VCACHE_DOWN;
    long long version, at;
    int i;

    *body = NULL;
    *len = 0;
    seen->version = -1;
    snprintf(seen->epoch, sizeof(seen->epoch), "0");
    if (vcache_keys(prefix, tenant_id, keys) != 0 ||
        vcache_answer_key(prefix, tenant_id, what, answer, sizeof(answer)) !=
            0 ||
        lc_cache_mget_lens(c, k, 3, v, lens) != LC_CACHE_OK) {
        return LC_VCACHE_DOWN;
    }
    if (v[1] != NULL && strlen(v[1]) < sizeof(seen->epoch)) {
        snprintf(seen->epoch, sizeof(seen->epoch), "%s", v[1]);
    }
    if (v[0] == NULL) {
        r = LC_VCACHE_UNKNOWN;
    } else if (strcmp(v[0], "f") == 0) {
        r = LC_VCACHE_FENCED;
    } else if ((version = strtoll(v[0], &end, 10)) >= 0 && *end == '\0' &&
               end != v[0]) {
        seen->version = version;
        r = LC_VCACHE_MISS;
        sp = v[2] != NULL ? strchr(v[2], ' ') : NULL;
        if (sp != NULL && (at = strtoll(v[2], &end, 10)) == version &&
            end == sp) {
            *len = lens[2] - (size_t)(sp + 1 - v[2]);
            memmove(v[2], sp + 1, *len + 1);
            *body = v[2];
            v[2] = NULL;
            r = LC_VCACHE_HIT;
        }
    }
    for (i = 0; i < 3; i++) {
        free(v[i]);
    }
    return r;
}

lc_cache_status
lc_vcache_put(lc_cache *c, const char *prefix, const char *tenant_id,
              int64_t version, const char *what, const char *body, size_t len,
              int ttl_s)
{
    char key[VCACHE_KEY_MAX * 2], head[24];
    size_t hlen;
    char *value;
    lc_cache_status st;

    if (vcache_answer_key(prefix, tenant_id, what, key, sizeof(key)) != 0) {
        return LC_CACHE_DOWN;
    }
    hlen = (size_t)snprintf(head, sizeof(head), "%" PRId64 " ", version);
    value = malloc(hlen + len + 1);
    if (value == NULL) {
        return LC_CACHE_DOWN;
    }
    memcpy(value, head, hlen);
    memcpy(value + hlen, body, len);
    value[hlen + len] = '\0';
    st = lc_cache_set(c, key, value, hlen + len, ttl_s);
    free(value);
    return st;
}

/* One of the writer's or the fill's scripts: the tenant's four keys,
 * then three arguments and the state's ttl; *done whether it returned
 * 1. */
static lc_cache_status
vcache_run(lc_cache *c, const char *script, const char *prefix,
           const char *tenant_id, const char *a1, const char *a2,
           const char *a3, bool *done)
{
    char keys[4][VCACHE_KEY_MAX], state_ttl[24];
    const char *args[8] = {keys[0], keys[1], keys[2], keys[3],
                           a1,      a2,      a3,      state_ttl};
    int64_t out = 0;
    lc_cache_status st;

    if (done != NULL) {
        *done = false;
    }
    if (vcache_keys(prefix, tenant_id, keys) != 0) {
        return LC_CACHE_DOWN;
    }
    snprintf(state_ttl, sizeof(state_ttl), "%d", LC_VCACHE_STATE_TTL_MS);
    st = lc_cache_eval(c, script, 4, args, 8, &out);
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
    snprintf(ttl, sizeof(ttl), "%d", LC_VCACHE_VERSION_TTL_MS);
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
    snprintf(ttl, sizeof(ttl), "%d", LC_VCACHE_VERSION_TTL_MS);
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

/* --- answers in memory ---------------------------------------------------- */

#define NEAR_ENTRIES 1024 /* direct-mapped by tenant and name */
#define NEAR_LOCKS 64
#define NEAR_TENANT_SLOTS 4096 /* change counters, by tenant */

typedef struct {
    bool used;
    char tenant_id[40];
    char *what;
    char *body;
    size_t len;
    uint64_t changes, flushes; /* the counters when it was kept */
    int64_t until_ms;
} near_entry;

struct lc_vcache_near {
    char *prefix; /* "<prefix>:{" */
    int64_t ttl_ms;
    lc_cache_tracker *tracker;
    pthread_rwlock_t locks[NEAR_LOCKS];
    near_entry entries[NEAR_ENTRIES];
    atomic_uint_fast64_t flushes;
    atomic_uint_fast64_t changes[NEAR_TENANT_SLOTS];
};

static uint64_t
near_hash(uint64_t h, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    }
    return h;
}

#define NEAR_FNV 1469598103934665603ULL

static size_t
near_tenant_slot(const char *tenant_id, size_t len)
{
    return near_hash(NEAR_FNV, tenant_id, len) % NEAR_TENANT_SLOTS;
}

/* The tracker's report: a key of `<prefix>:{<tenant>}:…` changed, or any
 * key (NULL). */
static void
near_changed(void *arg, const char *key, size_t len)
{
    lc_vcache_near *n = arg;
    size_t plen = strlen(n->prefix);
    const char *close;

    if (key == NULL) {
        atomic_fetch_add(&n->flushes, 1);
        return;
    }
    if (len <= plen || memcmp(key, n->prefix, plen) != 0) {
        return;
    }
    close = memchr(key + plen, '}', len - plen);
    if (close != NULL) {
        atomic_fetch_add(&n->changes[near_tenant_slot(
                             key + plen, (size_t)(close - key) - plen)],
                         1);
    }
}

lc_vcache_near *
lc_vcache_near_start(const lc_cache_options *cache, const char *prefix,
                     int64_t ttl_ms)
{
    lc_vcache_near *n = calloc(1, sizeof(*n));
    size_t i, len = strlen(prefix) + 3;

    if (n == NULL) {
        return NULL;
    }
    n->prefix = malloc(len);
    if (n->prefix == NULL) {
        free(n);
        return NULL;
    }
    snprintf(n->prefix, len, "%s:{", prefix);
    n->ttl_ms = ttl_ms;
    for (i = 0; i < NEAR_LOCKS; i++) {
        pthread_rwlock_init(&n->locks[i], NULL);
    }
    n->tracker = lc_cache_tracker_start(cache, n->prefix, near_changed, n);
    if (n->tracker == NULL) {
        lc_vcache_near_stop(n);
        return NULL;
    }
    return n;
}

void
lc_vcache_near_stop(lc_vcache_near *n)
{
    size_t i;

    if (n == NULL) {
        return;
    }
    lc_cache_tracker_stop(n->tracker);
    for (i = 0; i < NEAR_ENTRIES; i++) {
        free(n->entries[i].what);
        free(n->entries[i].body);
    }
    for (i = 0; i < NEAR_LOCKS; i++) {
        pthread_rwlock_destroy(&n->locks[i]);
    }
    free(n->prefix);
    free(n);
}

lc_vcache_ticket
lc_vcache_near_ticket(lc_vcache_near *n, const char *tenant_id)
{
    lc_vcache_ticket t = {0, 0};

    if (n != NULL) {
        /* the flushes last: a flush between the two reads is seen */
        t.changes = atomic_load(
            &n->changes[near_tenant_slot(tenant_id, strlen(tenant_id))]);
        t.flushes = atomic_load(&n->flushes);
    }
    return t;
}

/* The entry of (tenant, what), its lock taken: to read, or to write. */
static near_entry *
near_entry_locked(lc_vcache_near *n, const char *tenant_id, const char *what,
                  bool write, pthread_rwlock_t **lock)
{
    uint64_t h = near_hash(NEAR_FNV, tenant_id, strlen(tenant_id));
    size_t i;

    h = near_hash(h, what, strlen(what));
    i = h % NEAR_ENTRIES;
    *lock = &n->locks[i % NEAR_LOCKS];
    if (write) {
        pthread_rwlock_wrlock(*lock);
    } else {
        pthread_rwlock_rdlock(*lock);
    }
    return &n->entries[i];
}

bool
lc_vcache_near_get(lc_vcache_near *n, const char *tenant_id, const char *what,
                   char **body, size_t *len)
{
    lc_vcache_ticket now = lc_vcache_near_ticket(n, tenant_id);
    pthread_rwlock_t *lock;
    near_entry *e;
    bool hit = false;

    *body = NULL;
    *len = 0;
    if (n == NULL ||
        !lc_cache_tracker_live(n->tracker, LC_VCACHE_NEAR_LIVE_MS)) {
        return false;
    }
    e = near_entry_locked(n, tenant_id, what, false, &lock);
    if (e->used && e->changes == now.changes && e->flushes == now.flushes &&
        lc_clock_mono_ms() < e->until_ms &&
        strcmp(e->tenant_id, tenant_id) == 0 && strcmp(e->what, what) == 0) {
        *body = malloc(e->len + 1);
        if (*body != NULL) {
            memcpy(*body, e->body, e->len + 1);
            *len = e->len;
            hit = true;
        }
    }
    pthread_rwlock_unlock(lock);
    return hit;
}

void
lc_vcache_near_put(lc_vcache_near *n, lc_vcache_ticket ticket,
                   const char *tenant_id, const char *what, const char *body,
                   size_t len)
{
    lc_vcache_ticket now = lc_vcache_near_ticket(n, tenant_id);
    pthread_rwlock_t *lock;
    char *w, *b;
    near_entry *e;

    if (n == NULL || len > LC_VCACHE_NEAR_MAX_BODY ||
        strlen(tenant_id) >= sizeof(e->tenant_id) ||
        now.changes != ticket.changes || now.flushes != ticket.flushes ||
        !lc_cache_tracker_live(n->tracker, LC_VCACHE_NEAR_LIVE_MS)) {
        return;
    }
    w = strdup(what);
    b = malloc(len + 1);
    if (w == NULL || b == NULL) {
        free(w);
        free(b);
        return;
    }
    memcpy(b, body, len);
    b[len] = '\0';
    e = near_entry_locked(n, tenant_id, what, true, &lock);
    free(e->what);
    free(e->body);
    e->used = true;
    snprintf(e->tenant_id, sizeof(e->tenant_id), "%s", tenant_id);
    e->what = w;
    e->body = b;
    e->len = len;
    e->changes = ticket.changes;
    e->flushes = ticket.flushes;
    e->until_ms = lc_clock_mono_ms() + n->ttl_ms;
    pthread_rwlock_unlock(lock);
}
