/*
 * ngx_http_lintel_cache: the shared memory zones of the tenant and token
 * caches, one shape for both: a slab pool holding an rbtree of entries
 * keyed by a string (a slug, a whole token) and an LRU queue.  An entry
 * begins with an ngx_http_lintel_cache_node_t; the string it is keyed by
 * lies in the entry itself.  Every function but the zone's init expects
 * the zone's mutex held.
 */

#include "ngx_http_lintel_module.h"


/* entries evicted, at most, to make room for one */
#define NGX_HTTP_LINTEL_CACHE_EVICT  8


ngx_int_t
ngx_http_lintel_cache_zone_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t             *shpool;
    ngx_http_lintel_cache_sh_t  *sh;

    if (data) {
        /* a reload with the same zone: keep what the old workers knew */
        zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_lintel_cache_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->tree, &sh->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->lru);

    shpool->data = sh;
    zone->data = sh;

    shpool->log_ctx = ngx_slab_alloc(shpool, zone->shm.name.len + 2);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " %V%Z", &zone->shm.name);
    shpool->log_nomem = 0;

    return NGX_OK;
}


void
ngx_http_lintel_cache_attach(ngx_http_lintel_cache_t *cache,
    ngx_shm_zone_t *zone)
{
    cache->sh = zone->data;
    cache->shpool = (ngx_slab_pool_t *) zone->shm.addr;
}


/* found entries move to the head of the LRU */

void *
ngx_http_lintel_cache_find(ngx_http_lintel_cache_t *cache, ngx_str_t *key,
    uint32_t hash)
{
    ngx_http_lintel_cache_node_t  *n;

    n = (ngx_http_lintel_cache_node_t *)
            ngx_str_rbtree_lookup(&cache->sh->tree, key, hash);

    if (n) {
        ngx_queue_remove(&n->lru);
        ngx_queue_insert_head(&cache->sh->lru, &n->lru);
    }

    return n;
}


/*
 * A zeroed entry of "size" bytes, keyed by "key" (copied to "key_copy",
 * inside the entry), in the tree and at the head of the LRU; the least
 * recently used entries make room when the zone is full.  NULL when even
 * that does not free enough.
 */

void *
ngx_http_lintel_cache_add(ngx_http_lintel_cache_t *cache, size_t size,
    size_t key_offset, ngx_str_t *key, uint32_t hash)
{
    u_char                        *p;
    ngx_uint_t                     evicted;
    ngx_queue_t                   *q;
    ngx_http_lintel_cache_node_t  *n;

    for (evicted = 0; /* void */ ; evicted++) {
        n = ngx_slab_alloc_locked(cache->shpool, size);

        if (n || evicted == NGX_HTTP_LINTEL_CACHE_EVICT
            || ngx_queue_empty(&cache->sh->lru))
        {
            break;
        }

        q = ngx_queue_last(&cache->sh->lru);
        ngx_http_lintel_cache_delete(cache,
            ngx_queue_data(q, ngx_http_lintel_cache_node_t, lru));
    }

    if (n == NULL) {
        return NULL;
    }

    ngx_memzero(n, size);

    p = (u_char *) n + key_offset;
    ngx_memcpy(p, key->data, key->len);

    n->sn.str.data = p;
    n->sn.str.len = key->len;
    n->sn.node.key = hash;

    ngx_rbtree_insert(&cache->sh->tree, &n->sn.node);
    ngx_queue_insert_head(&cache->sh->lru, &n->lru);

    return n;
}


void
ngx_http_lintel_cache_delete(ngx_http_lintel_cache_t *cache, void *entry)
{
    ngx_http_lintel_cache_node_t  *n = entry;

    ngx_queue_remove(&n->lru);
    ngx_rbtree_delete(&cache->sh->tree, &n->sn.node);
    ngx_slab_free_locked(cache->shpool, n);
}
