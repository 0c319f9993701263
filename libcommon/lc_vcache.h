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

#endif
