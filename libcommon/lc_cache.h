/*
 * lc_cache: a Redis connection (hiredis, synchronous) for one thread.
 *
 * Redis holds copies and hints, never facts (DESIGN §7), so an outage must
 * cost speed, not correctness: every call has a connect and a command
 * timeout, a failure returns LC_CACHE_DOWN instead of crashing, and after a
 * failure the connection is not retried before a back-off delay has passed,
 * so a dead Redis adds no latency to each request. The next call after the
 * delay reconnects by itself.
 */
#ifndef LC_CACHE_H
#define LC_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lc_cache lc_cache;

typedef enum {
    LC_CACHE_OK = 0,
    LC_CACHE_MISS, /* get: no such key */
    LC_CACHE_DOWN, /* Redis unreachable, timed out or answered an error */
} lc_cache_status;

typedef struct {
    const char *host;       /* "127.0.0.1" */
    int port;               /* 6379 */
    int connect_timeout_ms; /* 0: 200 */
    int command_timeout_ms; /* 0: 200 */
    int retry_after_ms;     /* back-off after a failure; 0: 1000 */
    /* ACL credentials, sent with AUTH on every new connection; a refused
     * AUTH counts as Redis down. password NULL or "": no AUTH; user NULL
     * or "": Redis's "default" user. */
    const char *user;
    const char *password;
} lc_cache_options;

/* Never fails for an unreachable server (it connects lazily); NULL = OOM.
 * Every call below also takes NULL, a service without Redis: it answers as
 * if Redis were down. */
lc_cache *lc_cache_open(const lc_cache_options *opts);
void lc_cache_close(lc_cache *c);

/* *out is malloc'd (NUL-terminated for convenience), *len its length. */
lc_cache_status lc_cache_get(lc_cache *c, const char *key, char **out,
                             size_t *len);
/* ttl_s > 0: SET key value EX ttl_s; ttl_s == 0: no expiry. */
lc_cache_status lc_cache_set(lc_cache *c, const char *key, const char *val,
                             size_t len, int ttl_s);
lc_cache_status lc_cache_del(lc_cache *c, const char *key);
/* INCR key, and EXPIRE key ttl_s when the counter was just created. */
lc_cache_status lc_cache_incr(lc_cache *c, const char *key, int ttl_s,
                              int64_t *out);
/* MGET: vals[i] is malloc'd (NUL-terminated) or NULL for a missing key. */
lc_cache_status lc_cache_mget(lc_cache *c, const char *const *keys, size_t n,
                              char **vals);
/* The same, and each value's length into lens[i] (0 for a missing key). */
lc_cache_status lc_cache_mget_lens(lc_cache *c, const char *const *keys,
                                   size_t n, char **vals, size_t *lens);
/* EVAL script nkeys args…: `args` are the keys then the arguments; an
 * integer reply goes to *out. */
lc_cache_status lc_cache_eval(lc_cache *c, const char *script, size_t nkeys,
                              const char *const *args, size_t nargs,
                              int64_t *out);
/* EVAL whose reply is an array: its first n elements into vals (malloc'd,
 * NUL-terminated; NULL for a nil or a missing element) and their lengths
 * into lens (may be NULL). A reply that is not an array is LC_CACHE_DOWN,
 * every vals[i] NULL. */
lc_cache_status lc_cache_eval_strings(lc_cache *c, const char *script,
                                      size_t nkeys, const char *const *args,
                                      size_t nargs, char **vals, size_t *lens,
                                      size_t n);
/* PING, bypassing the back-off: for readiness checks. */
lc_cache_status lc_cache_ping(lc_cache *c);

/*
 * Being told of changes (Redis's client-side caching, broadcast mode):
 * a thread with its own connection is told of every key under `prefix`
 * that changes (written, deleted, expired, evicted) and calls
 * changed(arg, key, len) for it, from that thread; key NULL means "any
 * key may have changed": a flush, or the connection lost or just
 * (re)made, when what changed meanwhile is unknown. It reconnects by
 * itself. A memory cache of keys under the prefix stays true when it
 * forgets what changed() names and trusts itself only while
 * lc_cache_tracker_live() holds: then every change Redis made more than
 * `within_ms` ago has been told (a ping on the same connection, sent
 * every 100 ms, came back after them). The connection's Redis user needs
 * CLIENT ID, CLIENT TRACKING, SUBSCRIBE, PING and the channel
 * __redis__:invalidate.
 */
typedef struct lc_cache_tracker lc_cache_tracker;
typedef void (*lc_cache_changed_fn)(void *arg, const char *key, size_t len);

/* NULL when out of memory or without a thread. */
lc_cache_tracker *lc_cache_tracker_start(const lc_cache_options *opts,
                                         const char *prefix,
                                         lc_cache_changed_fn changed,
                                         void *arg);
bool lc_cache_tracker_live(lc_cache_tracker *t, int64_t within_ms);
/* Stops the thread (within 100 ms) and frees. */
void lc_cache_tracker_stop(lc_cache_tracker *t);

/* Failures since start, for /metrics; safe from any thread. */
uint64_t lc_cache_error_count(void);

#endif
