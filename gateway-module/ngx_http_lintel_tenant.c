/*
 * ngx_http_lintel_tenant: Host → tenant, with a per-worker cache.
 *
 * An entry is fresh for lintel_tenant_cache_ttl (negative answers for
 * lintel_tenant_cache_negative_ttl).  A stale entry is still served while
 * its refresh is in flight or has failed, so a users service outage does
 * not take known tenants down.  Requests for a slug with no answer yet wait
 * on the entry's single lookup: a burst for one cold tenant costs one
 * ResolveTenant per worker, not one per request.
 */

#include "ngx_http_lintel_module.h"
#include "lintel_host.h"


#define NGX_HTTP_LINTEL_TENANT_ID_MAX   64
#define NGX_HTTP_LINTEL_RETRY_AFTER     1
#define NGX_HTTP_LINTEL_SUSPENDED                                             \
    LINTEL__V1__USERS__TENANT_STATUS__TENANT_STATUS_SUSPENDED


typedef struct {
    ngx_str_node_t              sn;
    ngx_queue_t                 lru;
    ngx_queue_t                 waiters;
    ngx_http_lintel_call_t     *call;
    time_t                      expires;
    size_t                      id_len;
    unsigned                    known:1;
    unsigned                    found:1;
    unsigned                    suspended:1;
    unsigned                    unavailable:1;
    u_char                      id[NGX_HTTP_LINTEL_TENANT_ID_MAX];
    u_char                      slug[1];
} ngx_http_lintel_tenant_t;


typedef struct {
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;
    ngx_uint_t                  count;
    ngx_http_lintel_main_conf_t *lmcf;
    ngx_log_t                  *log;
} ngx_http_lintel_tenants_t;


static ngx_http_lintel_tenant_t *ngx_http_lintel_tenant_create(
    ngx_str_t *slug, uint32_t hash);
static void ngx_http_lintel_tenant_delete(ngx_http_lintel_tenant_t *t);
static ngx_int_t ngx_http_lintel_tenant_lookup(ngx_http_lintel_tenant_t *t);
static void ngx_http_lintel_tenant_answer(ngx_http_lintel_call_t *call);
static void ngx_http_lintel_tenant_wake(ngx_http_lintel_tenant_t *t);


static ngx_http_lintel_tenants_t  ngx_http_lintel_tenants;


ngx_int_t
ngx_http_lintel_tenant_init(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf)
{
    ngx_http_lintel_tenants_t  *ts;

    ts = &ngx_http_lintel_tenants;

    ngx_rbtree_init(&ts->tree, &ts->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&ts->lru);
    ts->count = 0;
    ts->lmcf = lmcf;
    ts->log = cycle->log;

    return NGX_OK;
}


void
ngx_http_lintel_tenant_exit(ngx_cycle_t *cycle)
{
    ngx_queue_t                *q;
    ngx_http_lintel_tenants_t  *ts;

    ts = &ngx_http_lintel_tenants;

    if (ts->lmcf == NULL) {
        return;
    }

    while (!ngx_queue_empty(&ts->lru)) {
        q = ngx_queue_head(&ts->lru);
        ngx_http_lintel_tenant_delete(
            ngx_queue_data(q, ngx_http_lintel_tenant_t, lru));
    }
}


ngx_int_t
ngx_http_lintel_tenant_resolve(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx, ngx_str_t *slug)
{
    time_t                      now;
    uint32_t                    hash;
    ngx_http_lintel_tenant_t   *t;
    ngx_http_lintel_tenants_t  *ts;

    ts = &ngx_http_lintel_tenants;
    now = ngx_time();

    hash = ngx_crc32_short(slug->data, slug->len);
    t = (ngx_http_lintel_tenant_t *) ngx_str_rbtree_lookup(&ts->tree, slug,
                                                           hash);
    if (t == NULL) {
        t = ngx_http_lintel_tenant_create(slug, hash);
        if (t == NULL) {
            return ngx_http_lintel_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                              "internal", "internal error");
        }
    }

    if (t->unavailable) {
        return ngx_http_lintel_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "service_unavailable",
                                          "tenant directory unavailable");
    }

    ngx_queue_remove(&t->lru);
    ngx_queue_insert_head(&ts->lru, &t->lru);

    if (t->call == NULL && (!t->known || t->expires <= now)) {
        if (ngx_http_lintel_tenant_lookup(t) != NGX_OK && !t->known) {
            ngx_http_lintel_tenant_delete(t);
            return ngx_http_lintel_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                              "service_unavailable",
                                              "tenant directory unavailable");
        }
    }

    if (!t->known) {
        ngx_queue_insert_tail(&t->waiters, &ctx->wait);
        ctx->waiting = 1;
        return NGX_HTTP_LINTEL_WAIT;
    }

    if (!t->found) {
        return ngx_http_lintel_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "unknown_tenant", "unknown tenant");
    }

    if (t->suspended) {
        return ngx_http_lintel_send_error(r, NGX_HTTP_FORBIDDEN,
                                          "tenant_suspended",
                                          "the tenant is suspended");
    }

    ctx->tenant_id.data = ngx_pstrdup(r->pool,
                                      &(ngx_str_t) { t->id_len, t->id });
    if (ctx->tenant_id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->tenant_id.len = t->id_len;

    return NGX_HTTP_LINTEL_NEXT;
}


static ngx_http_lintel_tenant_t *
ngx_http_lintel_tenant_create(ngx_str_t *slug, uint32_t hash)
{
    ngx_queue_t                *q, *prev;
    ngx_http_lintel_tenant_t   *t;
    ngx_http_lintel_tenants_t  *ts;

    ts = &ngx_http_lintel_tenants;

    /* bounded: evict the least recently used entries nobody waits on */

    for (q = ngx_queue_last(&ts->lru);
         ts->count >= ts->lmcf->tenant_cache_size
         && q != ngx_queue_sentinel(&ts->lru);
         q = prev)
    {
        prev = ngx_queue_prev(q);
        t = ngx_queue_data(q, ngx_http_lintel_tenant_t, lru);

        if (t->call == NULL && ngx_queue_empty(&t->waiters)) {
            ngx_http_lintel_tenant_delete(t);
        }
    }

    t = ngx_calloc(sizeof(ngx_http_lintel_tenant_t) + slug->len, ts->log);
    if (t == NULL) {
        return NULL;
    }

    ngx_memcpy(t->slug, slug->data, slug->len);
    t->sn.str.data = t->slug;
    t->sn.str.len = slug->len;
    t->sn.node.key = hash;
    ngx_queue_init(&t->waiters);

    ngx_rbtree_insert(&ts->tree, &t->sn.node);
    ngx_queue_insert_head(&ts->lru, &t->lru);
    ts->count++;

    return t;
}


static void
ngx_http_lintel_tenant_delete(ngx_http_lintel_tenant_t *t)
{
    ngx_http_lintel_tenants_t  *ts;

    ts = &ngx_http_lintel_tenants;

    ngx_rbtree_delete(&ts->tree, &t->sn.node);
    ngx_queue_remove(&t->lru);
    ts->count--;

    ngx_free(t);
}


static ngx_int_t
ngx_http_lintel_tenant_lookup(ngx_http_lintel_tenant_t *t)
{
    nng_msg                                 *msg;
    u_char                                   slug[LINTEL_SLUG_MAX + 1];
    ngx_http_lintel_tenants_t               *ts;
    Lintel__V1__Users__ResolveTenantRequest  req =
                               LINTEL__V1__USERS__RESOLVE_TENANT_REQUEST__INIT;

    ts = &ngx_http_lintel_tenants;

    ngx_memcpy(slug, t->sn.str.data, t->sn.str.len);
    slug[t->sn.str.len] = '\0';
    req.slug = (char *) slug;

    msg = ngx_http_lintel_rpc_message("/rpc/users.ResolveTenant", &req.base,
                                      ts->lmcf->lookup_timeout);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    t->call = ngx_http_lintel_call(ts->lmcf->users, msg,
                                   ts->lmcf->lookup_timeout,
                                   ngx_http_lintel_tenant_answer, t, ts->log);

    return t->call ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_lintel_tenant_answer(ngx_http_lintel_call_t *call)
{
    ngx_http_lintel_tenant_t                  *t;
    ngx_http_lintel_tenants_t                 *ts;
    Lintel__V1__Response                      *res;
    Lintel__V1__Users__ResolveTenantResponse  *ans;

    ts = &ngx_http_lintel_tenants;
    t = call->data;
    t->call = NULL;

    ans = NULL;
    res = ngx_http_lintel_rpc_reply(call, ts->log, "users.ResolveTenant");

    if (res) {
        ans = lintel_envelope_unpack_tenant(res->body.data, res->body.len);
        lintel_envelope_free_response(res);
    }

    if (ans && ans->found
        && (ans->tenant_id == NULL || ans->tenant_id[0] == '\0'
            || ngx_strlen(ans->tenant_id) > NGX_HTTP_LINTEL_TENANT_ID_MAX))
    {
        ngx_log_error(NGX_LOG_WARN, ts->log, 0,
                      "lintel: users.ResolveTenant: bad tenant id");
        lintel_envelope_free_tenant(ans);
        ans = NULL;
    }

    if (ans == NULL) {
        if (t->known) {
            /* stale-on-error, and no new lookup for a second */
            t->expires = ngx_time() + NGX_HTTP_LINTEL_RETRY_AFTER;

        } else {
            t->unavailable = 1;
        }

        ngx_http_lintel_tenant_wake(t);

        if (t->unavailable) {
            ngx_http_lintel_tenant_delete(t);
        }

        return;
    }

    t->known = 1;
    t->found = ans->found;
    t->suspended = (ans->status == NGX_HTTP_LINTEL_SUSPENDED);
    t->id_len = ans->found ? ngx_strlen(ans->tenant_id) : 0;
    ngx_memcpy(t->id, ans->tenant_id, t->id_len);
    t->expires = ngx_time() + (ans->found ? ts->lmcf->tenant_ttl
                                          : ts->lmcf->tenant_negative_ttl);

    lintel_envelope_free_tenant(ans);

    ngx_http_lintel_tenant_wake(t);
}


static void
ngx_http_lintel_tenant_wake(ngx_http_lintel_tenant_t *t)
{
    ngx_queue_t            *q;
    ngx_http_lintel_ctx_t  *ctx;

    while (!ngx_queue_empty(&t->waiters)) {
        q = ngx_queue_head(&t->waiters);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_http_lintel_ctx_t, wait);
        ctx->waiting = 0;

        ngx_http_lintel_resume(ctx->request);
    }
}
