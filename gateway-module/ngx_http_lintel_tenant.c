/*
 * ngx_http_lintel_tenant: Host → tenant, through a cache in a shared
 * memory zone (lintel_tenant_cache_zone), one copy for all workers.
 *
 * An entry is fresh for lintel_tenant_cache_ttl (negative answers for
 * lintel_tenant_cache_negative_ttl).  In the last quarter of that time a
 * request that uses it starts a refresh in the background and is answered
 * at once, so a tenant in use never waits on a refresh; past expiry a
 * request waits for the refresh.  When a refresh fails the stale entry is
 * served for another second (then tried again), so a users service outage
 * does not take known tenants down.
 *
 * One lookup per cold slug for the whole nginx: the entry records that a
 * lookup is in flight (and until when).  Requests of the worker that runs
 * it wait on a local queue and are resumed when it answers; requests of
 * other workers poll the entry every few milliseconds.  A lookup whose
 * worker went away is taken over once its deadline passes.
 */

#include "ngx_http_lintel_module.h"
#include "lintel_host.h"


#define NGX_HTTP_LINTEL_TENANT_ID_MAX   64
#define NGX_HTTP_LINTEL_STALE_RETRY     1       /* s: after a failed refresh */
#define NGX_HTTP_LINTEL_POLL            5       /* ms: a lookup elsewhere */
#define NGX_HTTP_LINTEL_SUSPENDED                                             \
    LINTEL__V1__USERS__TENANT_STATUS__TENANT_STATUS_SUSPENDED


typedef struct {
    ngx_http_lintel_cache_node_t cn;       /* keyed by the slug below */
    ngx_msec_t                  lookup_until;   /* 0: none in flight */
    time_t                      refresh_at;
    time_t                      expires;
    ngx_uint_t                  generation;     /* answers so far */
    u_char                      known;
    u_char                      found;
    u_char                      suspended;
    u_char                      id_len;
    u_char                      id[NGX_HTTP_LINTEL_TENANT_ID_MAX];
    u_char                      slug[1];
} ngx_http_lintel_tenant_t;


/* a lookup this worker runs */
typedef struct {
    ngx_queue_t                 queue;
    size_t                      len;
    u_char                      slug[LINTEL_SLUG_MAX];
} ngx_http_lintel_tenant_lookup_t;


typedef struct {
    ngx_http_lintel_cache_t      cache;
    ngx_queue_t                  waiters;   /* ngx_http_lintel_ctx_t */
    ngx_queue_t                  lookups;   /* this worker's, in flight */
    ngx_event_t                  poll;
    ngx_http_lintel_main_conf_t *lmcf;
    ngx_log_t                   *log;
} ngx_http_lintel_tenants_t;


/* what a request takes from an entry, read under the lock */
typedef struct {
    ngx_uint_t                  found;
    ngx_uint_t                  suspended;
    size_t                      id_len;
    u_char                      id[NGX_HTTP_LINTEL_TENANT_ID_MAX];
} ngx_http_lintel_tenant_answer_t;


static ngx_http_lintel_tenant_t *ngx_http_lintel_tenant_add(ngx_str_t *slug,
    uint32_t hash);
static ngx_int_t ngx_http_lintel_tenant_lookup(ngx_str_t *slug);
static ngx_uint_t ngx_http_lintel_tenant_mine(ngx_str_t *slug);
static void ngx_http_lintel_tenant_answer(void *data,
    Lintel__V1__Response *res);
static void ngx_http_lintel_tenant_store(ngx_str_t *slug,
    Lintel__V1__Users__ResolveTenantResponse *ans);
static void ngx_http_lintel_tenant_wake(ngx_str_t *slug);
static void ngx_http_lintel_tenant_poll(ngx_event_t *ev);
static ngx_int_t ngx_http_lintel_tenant_reply(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx, ngx_http_lintel_tenant_answer_t *a);


static ngx_http_lintel_tenants_t  ngx_http_lintel_tenants;


ngx_int_t
ngx_http_lintel_tenant_init(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf)
{
    ngx_http_lintel_tenants_t  *ts;

    ts = &ngx_http_lintel_tenants;

    ngx_http_lintel_cache_attach(&ts->cache, lmcf->tenant_zone);
    ts->lmcf = lmcf;
    ts->log = cycle->log;
    ngx_queue_init(&ts->waiters);
    ngx_queue_init(&ts->lookups);

    ts->poll.handler = ngx_http_lintel_tenant_poll;
    ts->poll.log = cycle->log;
    ts->poll.data = ts;

    return NGX_OK;
}


ngx_int_t
ngx_http_lintel_tenant_resolve(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx, ngx_str_t *slug)
{
    time_t                            now;
    uint32_t                          hash;
    ngx_msec_t                        msec;
    ngx_uint_t                        in_flight, start, fresh, failed, known;
    ngx_uint_t                        generation;
    ngx_http_lintel_tenant_t         *t;
    ngx_http_lintel_tenants_t        *ts;
    ngx_http_lintel_tenant_answer_t   a;

    ts = &ngx_http_lintel_tenants;
    now = ngx_time();
    msec = ngx_current_msec;

    hash = ngx_crc32_short(slug->data, slug->len);

    ngx_shmtx_lock(&ts->cache.shpool->mutex);

    t = ngx_http_lintel_cache_find(&ts->cache, slug, hash);

    if (t == NULL) {
        t = ngx_http_lintel_tenant_add(slug, hash);
        if (t == NULL) {
            ngx_shmtx_unlock(&ts->cache.shpool->mutex);

            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "lintel: the tenant cache zone is full");
            goto unavailable;
        }
    }

    in_flight = (t->lookup_until != 0
                 && (ngx_msec_int_t) (t->lookup_until - msec) > 0);
    known = t->known;
    fresh = (known && now < t->expires);

    /* the lookup this request waited on came back without an answer */
    failed = (ctx->tenant_waited && t->generation != ctx->generation
              && !fresh);

    start = 0;

    if (!in_flight && !failed && (!fresh || now >= t->refresh_at)) {
        t->lookup_until = msec + ts->lmcf->lookup_timeout + 1000;
        start = 1;
    }

    generation = t->generation;
    a.found = t->found;
    a.suspended = t->suspended;
    a.id_len = t->id_len;
    ngx_memcpy(a.id, t->id, t->id_len);

    ngx_shmtx_unlock(&ts->cache.shpool->mutex);

    if (start && ngx_http_lintel_tenant_lookup(slug) != NGX_OK) {
        ngx_http_lintel_tenant_store(slug, NULL);
        failed = 1;
    }

    if (fresh || (failed && known)) {
        /* a stale entry is better than no answer while users is down */
        ctx->tenant_waited = 0;
        return ngx_http_lintel_tenant_reply(r, ctx, &a);
    }

    if (failed) {
        goto unavailable;
    }

    /* wait for the lookup: ours (resumed at once) or another worker's */

    ctx->tenant_waited = 1;
    ctx->generation = generation;
    ctx->polling = !ngx_http_lintel_tenant_mine(slug);

    ngx_queue_insert_tail(&ts->waiters, &ctx->wait);
    ctx->waiting = 1;

    if (ctx->polling && !ts->poll.timer_set) {
        ngx_add_timer(&ts->poll, NGX_HTTP_LINTEL_POLL);
    }

    return NGX_HTTP_LINTEL_WAIT;

unavailable:

    ctx->tenant_waited = 0;

    return ngx_http_lintel_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "service_unavailable",
                                      "tenant directory unavailable");
}


static ngx_int_t
ngx_http_lintel_tenant_reply(ngx_http_request_t *r, ngx_http_lintel_ctx_t *ctx,
    ngx_http_lintel_tenant_answer_t *a)
{
    if (!a->found) {
        return ngx_http_lintel_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "unknown_tenant", "unknown tenant");
    }

    if (a->suspended) {
        return ngx_http_lintel_send_error(r, NGX_HTTP_FORBIDDEN,
                                          "tenant_suspended",
                                          "the tenant is suspended");
    }

    ctx->tenant_id.data = ngx_pnalloc(r->pool, a->id_len);
    if (ctx->tenant_id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ctx->tenant_id.data, a->id, a->id_len);
    ctx->tenant_id.len = a->id_len;

    return NGX_HTTP_LINTEL_NEXT;
}


/* the zone's mutex is held */

static ngx_http_lintel_tenant_t *
ngx_http_lintel_tenant_add(ngx_str_t *slug, uint32_t hash)
{
    return ngx_http_lintel_cache_add(&ngx_http_lintel_tenants.cache,
                                     offsetof(ngx_http_lintel_tenant_t, slug)
                                     + slug->len,
                                     offsetof(ngx_http_lintel_tenant_t, slug),
                                     slug, hash);
}


static ngx_int_t
ngx_http_lintel_tenant_lookup(ngx_str_t *slug)
{
    ngx_http_lintel_tenants_t                *ts;
    ngx_http_lintel_tenant_lookup_t          *lk;
    Lintel__V1__Users__ResolveTenantRequest   req =
                               LINTEL__V1__USERS__RESOLVE_TENANT_REQUEST__INIT;
    u_char                                    s[LINTEL_SLUG_MAX + 1];

    ts = &ngx_http_lintel_tenants;

    lk = ngx_alloc(sizeof(ngx_http_lintel_tenant_lookup_t), ts->log);
    if (lk == NULL) {
        return NGX_ERROR;
    }

    lk->len = slug->len;
    ngx_memcpy(lk->slug, slug->data, slug->len);

    ngx_memcpy(s, slug->data, slug->len);
    s[slug->len] = '\0';
    req.slug = (char *) s;

    ngx_queue_insert_tail(&ts->lookups, &lk->queue);

    if (ngx_http_lintel_lookup("/rpc/users.ResolveTenant", &req.base,
                               ngx_http_lintel_tenant_answer, lk)
        != NGX_OK)
    {
        ngx_queue_remove(&lk->queue);
        ngx_free(lk);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_lintel_tenant_mine(ngx_str_t *slug)
{
    ngx_queue_t                      *q;
    ngx_http_lintel_tenants_t        *ts;
    ngx_http_lintel_tenant_lookup_t  *lk;

    ts = &ngx_http_lintel_tenants;

    for (q = ngx_queue_head(&ts->lookups);
         q != ngx_queue_sentinel(&ts->lookups);
         q = ngx_queue_next(q))
    {
        lk = ngx_queue_data(q, ngx_http_lintel_tenant_lookup_t, queue);

        if (lk->len == slug->len
            && ngx_memcmp(lk->slug, slug->data, slug->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static void
ngx_http_lintel_tenant_answer(void *data, Lintel__V1__Response *res)
{
    ngx_str_t                                  slug;
    ngx_http_lintel_tenants_t                 *ts;
    ngx_http_lintel_tenant_lookup_t           *lk;
    Lintel__V1__Users__ResolveTenantResponse  *ans;

    ts = &ngx_http_lintel_tenants;
    lk = data;

    ngx_queue_remove(&lk->queue);

    slug.data = lk->slug;
    slug.len = lk->len;

    ans = res ? lintel_envelope_unpack_tenant(res->body.data, res->body.len)
              : NULL;

    if (ans && ans->found
        && (ans->tenant_id == NULL || ans->tenant_id[0] == '\0'
            || ngx_strlen(ans->tenant_id) > NGX_HTTP_LINTEL_TENANT_ID_MAX))
    {
        ngx_log_error(NGX_LOG_WARN, ts->log, 0,
                      "lintel: users.ResolveTenant: bad tenant id");
        lintel_envelope_free_tenant(ans);
        ans = NULL;
    }

    ngx_http_lintel_tenant_store(&slug, ans);

    lintel_envelope_free_tenant(ans);

    ngx_http_lintel_tenant_wake(&slug);

    ngx_free(lk);
}


/* an answer, or NULL for a failed lookup */

static void
ngx_http_lintel_tenant_store(ngx_str_t *slug,
    Lintel__V1__Users__ResolveTenantResponse *ans)
{
    time_t                      now, ttl;
    uint32_t                    hash;
    ngx_http_lintel_tenant_t   *t;
    ngx_http_lintel_tenants_t  *ts;

    ts = &ngx_http_lintel_tenants;
    now = ngx_time();
    hash = ngx_crc32_short(slug->data, slug->len);

    ngx_shmtx_lock(&ts->cache.shpool->mutex);

    t = ngx_http_lintel_cache_find(&ts->cache, slug, hash);

    if (t == NULL && ans) {
        t = ngx_http_lintel_tenant_add(slug, hash);
    }

    if (t == NULL) {
        ngx_shmtx_unlock(&ts->cache.shpool->mutex);
        return;
    }

    t->lookup_until = 0;
    t->generation++;

    if (ans == NULL) {
        if (t->known) {
            t->expires = now + NGX_HTTP_LINTEL_STALE_RETRY;
            t->refresh_at = t->expires;
        }

        ngx_shmtx_unlock(&ts->cache.shpool->mutex);
        return;
    }

    ttl = ans->found ? ts->lmcf->tenant_ttl : ts->lmcf->tenant_negative_ttl;

    t->known = 1;
    t->found = ans->found ? 1 : 0;
    t->suspended = (ans->status == NGX_HTTP_LINTEL_SUSPENDED);
    t->id_len = ans->found ? ngx_strlen(ans->tenant_id) : 0;
    ngx_memcpy(t->id, ans->tenant_id, t->id_len);
    t->expires = now + ttl;
    t->refresh_at = now + ttl - ttl / 4;

    ngx_shmtx_unlock(&ts->cache.shpool->mutex);
}


/* resumes this worker's requests that wait for "slug" */

static void
ngx_http_lintel_tenant_wake(ngx_str_t *slug)
{
    ngx_queue_t                 woken, *q;
    ngx_http_lintel_ctx_t      *ctx;
    ngx_http_lintel_tenants_t  *ts;

    ts = &ngx_http_lintel_tenants;

    /* moved aside first: a resumed request may queue itself again */

    ngx_queue_init(&woken);

    q = ngx_queue_head(&ts->waiters);

    while (q != ngx_queue_sentinel(&ts->waiters)) {
        ctx = ngx_queue_data(q, ngx_http_lintel_ctx_t, wait);
        q = ngx_queue_next(q);

        if (slug == NULL
            || (ctx->slug.len == slug->len
                && ngx_memcmp(ctx->slug.data, slug->data, slug->len) == 0))
        {
            if (slug == NULL && !ctx->polling) {
                continue;
            }

            ngx_queue_remove(&ctx->wait);
            ngx_queue_insert_tail(&woken, &ctx->wait);
        }
    }

    while (!ngx_queue_empty(&woken)) {
        q = ngx_queue_head(&woken);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_http_lintel_ctx_t, wait);
        ctx->waiting = 0;

        ngx_http_lintel_resume(ctx->request);
    }
}


/* another worker's lookup: look again */

static void
ngx_http_lintel_tenant_poll(ngx_event_t *ev)
{
    ngx_queue_t                *q;
    ngx_http_lintel_ctx_t      *ctx;
    ngx_http_lintel_tenants_t  *ts;

    ts = ev->data;

    ngx_http_lintel_tenant_wake(NULL);

    for (q = ngx_queue_head(&ts->waiters);
         q != ngx_queue_sentinel(&ts->waiters);
         q = ngx_queue_next(q))
    {
        ctx = ngx_queue_data(q, ngx_http_lintel_ctx_t, wait);

        if (ctx->polling) {
            if (!ev->timer_set) {
                ngx_add_timer(ev, NGX_HTTP_LINTEL_POLL);
            }

            break;
        }
    }
}
