/*
 * lc_vcache: answers cached in Redis under a tenant's version, with the
 * version itself kept in Redis, so that a cached answer costs one round
 * trip to Redis and none to the database.
 *
 * The version is a number that a writer moves, in the same database
 * transaction, with every change of what the answers are computed from;
 * an answer is stored under the version its own statement read, so an
 * answer and its version always belong together. What must never happen
 * is a reader taking a version from Redis that is older than what the
 * database has committed. The writer protocol keeps that:
 *
 *   lc_vcache_fence  before the transaction can commit: the tenant's
 *                    version in Redis is forgotten and readers go to the
 *                    database until every fence is lifted (a fence dies by
 *                    itself after `ttl_ms`, longer than any transaction);
 *   lc_vcache_stamp  after it: the fence is lifted and, when it committed
 *                    and no other fence is left, the highest version any
 *                    stamp brought is recorded.
 *
 * A reader that finds no version and no fence reads the version from the
 * primary and records it with lc_vcache_fill, which is refused when a
 * fence came (or went) since its lookup: an epoch counts the fences. A
 * crash between commit and stamp leaves a fence that expires; the version
 * is then unknown, never wrong. Fences are leases: the guarantee holds as
 * long as no writer stalls longer than its fence's life between its fence
 * and its stamp (the consumer's transactions end within half of it).
 *
 * lc_vcache_writer keeps a writer's fences across one transaction (and its
 * retries) and stamps them after it. Keys, under `prefix` (e.g.
 * "lintel:reporting"), all of one tenant in one hash slot:
 *   <prefix>:{<tenant>}:ver       the version; "f" while a fence is up
 *   <prefix>:{<tenant>}:epoch     the fences so far
 *   <prefix>:{<tenant>}:m         the highest version stamped
 *   <prefix>:{<tenant>}:fences    sorted set: token -> expiry (ms, Redis's clock)
 *   <prefix>:{<tenant>}:a:<what>  an answer: "<its version> <body>"
 * A lookup is one MGET of ver, epoch and the answer; the writers' and the
 * fill's steps are scripts.
 */
#ifndef LC_VCACHE_H
#define LC_VCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lc_cache.h"

/* How long a recorded version is trusted without a stamp or a fill: so
 * that a Redis that takes reads but refuses writes (maxmemory, an ACL)
 * cannot keep an old version for long. An idle tenant then costs one
 * read of the primary per such period. */
#define LC_VCACHE_VERSION_TTL_MS 10000
/* How long the epoch and the highest stamped version live. */
#define LC_VCACHE_STATE_TTL_MS 86400000

typedef enum {
    LC_VCACHE_HIT,     /* the answer of the recorded version */
    LC_VCACHE_MISS,    /* a version is recorded, its answer is not */
    LC_VCACHE_UNKNOWN, /* no version recorded, no fence: fill it */
    LC_VCACHE_FENCED,  /* a write is under way: ask the database */
    LC_VCACHE_DOWN,    /* Redis down, or an unexpected reply */
} lc_vcache_result;

/* What a lookup saw, for lc_vcache_fill. */
typedef struct {
    int64_t version; /* HIT, MISS: the recorded version; else -1 */
    char epoch[24];
} lc_vcache_seen;

/* The answer `what` of the tenant's recorded version, in one round trip:
 * *body malloc'd (NUL-terminated) and *len on a HIT, else NULL. */
lc_vcache_result lc_vcache_lookup(lc_cache *c, const char *prefix,
                                  const char *tenant_id, const char *what,
                                  lc_vcache_seen *seen, char **body,
                                  size_t *len);

/* Stores the answer `what` computed at `version`, for ttl_s seconds. */
lc_cache_status lc_vcache_put(lc_cache *c, const char *prefix,
                              const char *tenant_id, int64_t version,
                              const char *what, const char *body, size_t len,
                              int ttl_s);

/* After an UNKNOWN lookup: records `version`, read from the primary after
 * the lookup, unless a fence came since or a higher version is recorded.
 * *filled says whether it was. */
lc_cache_status lc_vcache_fill(lc_cache *c, const char *prefix,
                               const char *tenant_id,
                               const lc_vcache_seen *seen, int64_t version,
                               bool *filled);

/* The writer's two steps (see above); `token` names the writer's fence
 * (unique among writers). version < 0: the transaction rolled back, the
 * fence is only lifted. */
lc_cache_status lc_vcache_fence(lc_cache *c, const char *prefix,
                                const char *tenant_id, const char *token,
                                int64_t ttl_ms);
lc_cache_status lc_vcache_stamp(lc_cache *c, const char *prefix,
                                const char *tenant_id, const char *token,
                                int64_t version);

/* --- a writer's fences across one transaction ------------------------------ */

typedef struct lc_vcache_writer lc_vcache_writer;

/* Its own Redis connection (`cache`: the service's options); fences live
 * fence_ttl_ms. NULL when out of memory. */
lc_vcache_writer *lc_vcache_writer_new(const lc_cache_options *cache,
                                       const char *prefix,
                                       int64_t fence_ttl_ms);
void lc_vcache_writer_free(lc_vcache_writer *w);

/* Inside the transaction, before the tenant's write: fences the tenant
 * (again, in a retry). 0; -1 when out of memory. Redis being down is no
 * failure: its stamp is tried after the commit all the same. */
int lc_vcache_writer_fence(lc_vcache_writer *w, const char *tenant_id);

/* Inside the transaction, after the write: the version it moved to. */
void lc_vcache_writer_version(lc_vcache_writer *w, const char *tenant_id,
                              int64_t version);

/* After the transaction: stamps each fenced tenant with its version when
 * it committed, or only lifts the fences. A fence whose stamp Redis did
 * not take is lifted at a next call (or expires). */
void lc_vcache_writer_done(lc_vcache_writer *w, bool committed);

/* --- answers in memory ---------------------------------------------------- */

/*
 * A process's copies of the answers its lookups found in Redis, so that a
 * warm answer costs no round trip at all and can be given inline, on
 * NNG's thread (lc_rpc_server_route_inline). They stay true because Redis
 * tells the process of every change of a tenant's keys (lc_cache_tracker):
 * a fence, a stamp, a fill, an expiry of its version drops every copy of
 * that tenant's. The order that keeps a copy from outliving a change:
 * take a ticket (the tenant's count of changes told) BEFORE the lookup,
 * and keep the HIT's answer with it: the copy is refused when a change
 * was told meanwhile, and forgotten when one is told after. A copy is
 * trusted only while the tracker is live (every change older than
 * LC_VCACHE_NEAR_LIVE_MS has been told), and for `ttl_ms` at most
 * (LC_VCACHE_NEAR_TTL_MS: a bound for a Redis that takes reads but
 * refuses the writers' writes). So an answer from memory is at most as old as
 * the time Redis took to tell of the change: microseconds, or
 * LC_VCACHE_NEAR_LIVE_MS when the tracker's connection stalls. Answers over
 * LC_VCACHE_NEAR_MAX_BODY bytes are not kept; 1024 are kept at most (one per
 * slot of name and tenant).
 */
#define LC_VCACHE_NEAR_LIVE_MS 300
#define LC_VCACHE_NEAR_TTL_MS 1000
#define LC_VCACHE_NEAR_MAX_BODY 16384

typedef struct lc_vcache_near lc_vcache_near;

typedef struct {
    uint64_t changes, flushes;
} lc_vcache_ticket;

/* Its tracker has its own Redis connection (`cache`: the service's
 * options; the user needs what lc_cache_tracker says); a copy lives
 * ttl_ms at most. NULL when out of memory. Every call below takes NULL
 * too: nothing kept. */
lc_vcache_near *lc_vcache_near_start(const lc_cache_options *cache,
                                     const char *prefix, int64_t ttl_ms);
void lc_vcache_near_stop(lc_vcache_near *n);

/* Before the lookup whose HIT may be kept. */
lc_vcache_ticket lc_vcache_near_ticket(lc_vcache_near *n,
                                       const char *tenant_id);
/* After a HIT: keeps `body` unless a change of the tenant was told since
 * `ticket`, or the tracker is not live. */
void lc_vcache_near_put(lc_vcache_near *n, lc_vcache_ticket ticket,
                        const char *tenant_id, const char *what,
                        const char *body, size_t len);
/* The kept answer `what` (a malloc'd copy, NUL-terminated), or false.
 * Never blocks (a short lock). */
bool lc_vcache_near_get(lc_vcache_near *n, const char *tenant_id,
                        const char *what, char **body, size_t *len);

#endif
