/*
 * entitlement_cache.c: the in-memory table of tenants' plan limits that
 * billing.CheckEntitlement answers from (the rules are in the header).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "entitlement_cache.h"

/* How many slots from its hash on a tenant may land in. */
#define ENTITLEMENT_CACHE_PROBES 8

typedef struct {
    char tenant_id[37]; /* "": free */
    uint64_t gen;
    int64_t loaded_ms;
    entitlement_limits limits;
} cache_entry;

struct entitlement_cache {
    pthread_mutex_t lock;
    uint64_t gen;
    int64_t ttl_ms;
    unsigned mask; /* capacity - 1 */
    cache_entry *entries;
};

entitlement_cache *
entitlement_cache_new(unsigned capacity, int64_t ttl_ms)
{
    entitlement_cache *c;
    unsigned n = ENTITLEMENT_CACHE_PROBES;

    while (n < capacity && n < (1u << 30)) {
        n <<= 1;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->entries = calloc(n, sizeof(cache_entry))) == NULL) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->ttl_ms = ttl_ms;
    c->mask = n - 1;
    return c;
}

void
entitlement_cache_free(entitlement_cache *c)
{
    if (c != NULL) {
        pthread_mutex_destroy(&c->lock);
        free(c->entries);
        free(c);
    }
}

/* FNV-1a over the tenant's id. */
static unsigned
cache_hash(const char *tenant_id)
{
    uint32_t h = 2166136261u;

    for (; *tenant_id != '\0'; tenant_id++) {
        h = (h ^ (unsigned char)*tenant_id) * 16777619u;
    }
    return h;
}

uint64_t
entitlement_cache_generation(entitlement_cache *c)
{
    uint64_t gen;

    pthread_mutex_lock(&c->lock);
    gen = c->gen;
    pthread_mutex_unlock(&c->lock);
    return gen;
}

static bool
cache_entry_fresh(const entitlement_cache *c, const cache_entry *e,
                  int64_t now_ms)
{
    return e->gen == c->gen && now_ms - e->loaded_ms < c->ttl_ms;
}

bool
entitlement_cache_get(entitlement_cache *c, const char *tenant_id,
                      int64_t now_ms, entitlement_limits *out)
{
    unsigned h = cache_hash(tenant_id), i;
    const cache_entry *e;
    bool found = false;

    pthread_mutex_lock(&c->lock);
    for (i = 0; i < ENTITLEMENT_CACHE_PROBES; i++) {
        e = &c->entries[(h + i) & c->mask];
        if (strcmp(e->tenant_id, tenant_id) == 0) {
            found = cache_entry_fresh(c, e, now_ms);
            if (found) {
                *out = e->limits;
            }
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* Where a tenant's entry goes: its own slot, else the first free or stale
 * one near its hash, else the oldest there. */
static cache_entry *
cache_slot_for(entitlement_cache *c, const char *tenant_id, int64_t now_ms)
{
    unsigned h = cache_hash(tenant_id), i;
    cache_entry *e, *oldest = NULL, *reusable = NULL;

    for (i = 0; i < ENTITLEMENT_CACHE_PROBES; i++) {
        e = &c->entries[(h + i) & c->mask];
        if (strcmp(e->tenant_id, tenant_id) == 0) {
            return e;
        }
        if (reusable == NULL && !cache_entry_fresh(c, e, now_ms)) {
            reusable = e;
        }
        if (oldest == NULL || e->loaded_ms < oldest->loaded_ms) {
            oldest = e;
        }
    }
    return reusable != NULL ? reusable : oldest;
}

void
entitlement_cache_put(entitlement_cache *c, const char *tenant_id,
                      uint64_t gen, int64_t now_ms,
                      const entitlement_limits *l)
{
    cache_entry *slot;
    size_t len = strlen(tenant_id);

    if (len >= sizeof(slot->tenant_id)) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    /* a read begun before the last invalidation may have seen the old
     * plan: it is not kept */
    if (gen == c->gen) {
        slot = cache_slot_for(c, tenant_id, now_ms);
        memcpy(slot->tenant_id, tenant_id, len + 1);
        slot->gen = gen;
        slot->loaded_ms = now_ms;
        slot->limits = *l;
    }
    pthread_mutex_unlock(&c->lock);
}

void
entitlement_cache_invalidate(entitlement_cache *c)
{
    pthread_mutex_lock(&c->lock);
    c->gen++;
    pthread_mutex_unlock(&c->lock);
}
