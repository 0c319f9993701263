/*
 * entitlement_cache.h: each tenant's plan limits, kept in memory so that
 * billing.CheckEntitlement answers without a database read.
 *
 * What an entry may be. The limits of a tenant change only when its
 * subscription changes plan (subscriptions.c) or is canceled; both are
 * billing's own writes. After such a write commits, the writer calls
 * entitlement_cache_invalidate, which moves the cache's generation on: every
 * entry loaded before is stale from then on. A reader takes the generation
 * before its database read and stores its result under it, so a read that
 * raced with a commit is never served after that commit's invalidation.
 * Writes this process does not see (another replica of billing, the
 * `lintel-billing invoice` command, a hand-made UPDATE) are seen at the
 * latest `ttl_ms` later: an entry older than that is read again. That is
 * the bound on staleness; the callers already tolerate more (they fail
 * open when billing is down, and the usage snapshot reconciles).
 *
 * A tenant without a subscription is not cached, so a subscription made
 * from users' tenant.created event needs no invalidation.
 *
 * The table is a fixed array (bounded memory); a tenant lands in one of a
 * few slots near its hash, and when they are all taken the oldest entry
 * gives way. One mutex guards it: a lookup is a few hundred nanoseconds.
 */
#ifndef BILLING_ENTITLEMENT_CACHE_H
#define BILLING_ENTITLEMENT_CACHE_H

#include <stdbool.h>
#include <stdint.h>

/* A subscribed tenant's plan and its limits; -1: unlimited. */
typedef struct {
    char plan[32];
    int64_t max_seats;
    int64_t max_projects;
} entitlement_limits;

typedef struct entitlement_cache entitlement_cache;

/* A cache of `capacity` entries (rounded up to a power of two) that live
 * `ttl_ms` at most; NULL when out of memory. */
entitlement_cache *entitlement_cache_new(unsigned capacity, int64_t ttl_ms);
void entitlement_cache_free(entitlement_cache *c);

/* The generation to store a read under: take it before the read. */
uint64_t entitlement_cache_generation(entitlement_cache *c);

/* The tenant's limits into `out` when an entry of the current generation
 * younger than the TTL exists at `now_ms` (monotonic). */
bool entitlement_cache_get(entitlement_cache *c, const char *tenant_id,
                           int64_t now_ms, entitlement_limits *out);

/* Stores what a read begun at generation `gen` found; ignored when the
 * generation has moved on since. */
void entitlement_cache_put(entitlement_cache *c, const char *tenant_id,
                           uint64_t gen, int64_t now_ms,
                           const entitlement_limits *l);

/* After a committed change of a plan or a cancellation: every entry is
 * stale from now on. */
void entitlement_cache_invalidate(entitlement_cache *c);

#endif
