/*
 * ngx_http_lintel_auth: bearer tokens at the edge.
 *
 * The signing keys come from users.GetJwks: fetched when the worker starts,
 * refreshed periodically, and refetched on an unknown kid at most once per
 * lintel_jwks_min_refetch.  Each PEM is parsed once into an EVP_PKEY (a PEM
 * parse costs ~20 times an RS256 verify).  The last good key set is kept
 * when a fetch fails; with no key set at all requests get 503, never a pass.
 *
 * Verified tokens are kept in a bounded per-worker LRU keyed by the whole
 * token; a hit re-checks the time claims and the tenant scope, which depend
 * on the request, and skips the signature and the JSON.
 */

#include <openssl/pem.h>

#include "ngx_http_lintel_module.h"


#define NGX_HTTP_LINTEL_MAX_KEYS      16
#define NGX_HTTP_LINTEL_NO_KEYS_RETRY 1000


typedef struct {
    char                        kid[LINTEL_JWT_KID_MAX + 1];
    EVP_PKEY                   *pkey;
} ngx_http_lintel_key_t;


typedef struct {
    ngx_str_node_t              sn;
    ngx_queue_t                 lru;
    lintel_jwt_claims_t         claims;
    u_char                      token[1];
} ngx_http_lintel_token_t;


typedef struct {
    ngx_http_lintel_key_t       keys[NGX_HTTP_LINTEL_MAX_KEYS];
    ngx_uint_t                  nkeys;
    ngx_http_lintel_call_t     *call;
    ngx_queue_t                 waiters;
    ngx_msec_t                  fetched;     /* when the last fetch began */
    ngx_event_t                 refresh;
    ngx_rbtree_t                tokens;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;
    ngx_uint_t                  ntokens;
    ngx_http_lintel_main_conf_t *lmcf;
    ngx_log_t                  *log;
} ngx_http_lintel_auth_t;


static ngx_int_t ngx_http_lintel_auth_bearer(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_lintel_auth_verify(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx, ngx_str_t *token,
    lintel_jwt_claims_t *claims);
static ngx_int_t ngx_http_lintel_auth_reject(ngx_http_request_t *r,
    lintel_jwt_rc_e rc);
static ngx_int_t ngx_http_lintel_auth_unauthorized(ngx_http_request_t *r,
    const char *code, const char *message);
static ngx_int_t ngx_http_lintel_auth_wait(ngx_http_lintel_ctx_t *ctx);
static ngx_int_t ngx_http_lintel_auth_fetch(void);
static void ngx_http_lintel_auth_answer(ngx_http_lintel_call_t *call);
static void ngx_http_lintel_auth_refresh(ngx_event_t *ev);
static void ngx_http_lintel_auth_flush(void);
static ngx_http_lintel_token_t *ngx_http_lintel_token_lookup(
    ngx_str_t *token, uint32_t hash);
static void ngx_http_lintel_token_insert(ngx_str_t *token, uint32_t hash,
    lintel_jwt_claims_t *claims);
static void ngx_http_lintel_token_delete(ngx_http_lintel_token_t *t);
static ngx_int_t ngx_http_lintel_auth_copy(ngx_pool_t *pool, ngx_str_t *dst,
    const char *src);


static ngx_http_lintel_auth_t  ngx_http_lintel_auth;


ngx_int_t
ngx_http_lintel_auth_init(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf)
{
    ngx_http_lintel_auth_t  *a;

    a = &ngx_http_lintel_auth;

    a->lmcf = lmcf;
    a->log = cycle->log;
    ngx_queue_init(&a->waiters);
    ngx_queue_init(&a->lru);
    ngx_rbtree_init(&a->tokens, &a->sentinel, ngx_str_rbtree_insert_value);

    /* the first fetch runs from the event loop, right after start */

    a->refresh.handler = ngx_http_lintel_auth_refresh;
    a->refresh.log = cycle->log;
    a->refresh.data = a;
    a->refresh.cancelable = 1;
    ngx_add_timer(&a->refresh, 1);

    return NGX_OK;
}


void
ngx_http_lintel_auth_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t               i;
    ngx_http_lintel_auth_t  *a;

    a = &ngx_http_lintel_auth;

    if (a->refresh.timer_set) {
        ngx_del_timer(&a->refresh);
    }

    ngx_http_lintel_auth_flush();

    for (i = 0; i < a->nkeys; i++) {
        EVP_PKEY_free(a->keys[i].pkey);
    }

    a->nkeys = 0;
}


ngx_int_t
ngx_http_lintel_auth_check(ngx_http_request_t *r, ngx_http_lintel_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_str_t                     token;
    lintel_jwt_rc_e               jrc;
    lintel_jwt_claims_t           claims;
    ngx_http_lintel_auth_t       *a;

    a = &ngx_http_lintel_auth;

    if (ngx_http_lintel_auth_bearer(r, &token) != NGX_OK) {
        return ngx_http_lintel_auth_unauthorized(r, "missing_token",
                                                 "a bearer token is required");
    }

    if (a->nkeys == 0) {
        if (!ctx->jwks_waited) {
            ctx->jwks_waited = 1;

            if (a->call || ngx_http_lintel_auth_fetch() == NGX_OK) {
                return ngx_http_lintel_auth_wait(ctx);
            }
        }

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "lintel: no signing keys: refusing the token");

        return ngx_http_lintel_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "auth_unavailable",
                                          "authentication is unavailable");
    }

    rc = ngx_http_lintel_auth_verify(r, ctx, &token, &claims);
    if (rc != NGX_HTTP_LINTEL_NEXT) {
        return rc;
    }

    jrc = lintel_jwt_check_scope(&claims,
                                 ctx->platform ? NULL
                                     : (const char *) ctx->tenant_id.data,
                                 ctx->tenant_id.len);
    if (jrc != LINTEL_JWT_OK) {
        return ngx_http_lintel_send_error(r, NGX_HTTP_FORBIDDEN,
                                          "tenant_mismatch",
                                          "the token is for another tenant");
    }

    if (ngx_http_lintel_auth_copy(r->pool, &ctx->user_id, claims.sub)
        != NGX_OK
        || ngx_http_lintel_auth_copy(r->pool, &ctx->role, claims.role)
           != NGX_OK
        || ngx_http_lintel_auth_copy(r->pool, &ctx->session_id, claims.sid)
           != NGX_OK
        || ngx_http_lintel_auth_copy(r->pool, &ctx->token_id, claims.jti)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_LINTEL_NEXT;
}


static ngx_int_t
ngx_http_lintel_auth_bearer(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char  *p, *end;

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.authorization->value.data;
    end = p + r->headers_in.authorization->value.len;

    if (end - p < 7 || ngx_strncasecmp(p, (u_char *) "Bearer ", 7) != 0) {
        return NGX_DECLINED;
    }

    for (p += 7; p < end && *p == ' '; p++) { /* void */ }
    while (end > p && end[-1] == ' ') { end--; }

    if (p == end) {
        return NGX_DECLINED;
    }

    token->data = p;
    token->len = end - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lintel_auth_verify(ngx_http_request_t *r, ngx_http_lintel_ctx_t *ctx,
    ngx_str_t *token, lintel_jwt_claims_t *claims)
{
    uint32_t                  hash;
    ngx_uint_t                i;
    EVP_PKEY                 *pkey;
    lintel_jwt_rc_e           rc;
    lintel_jwt_parts_t        parts;
    lintel_jwt_policy_t       policy;
    ngx_http_lintel_auth_t   *a;
    ngx_http_lintel_token_t  *t;
    char                      kid[LINTEL_JWT_KID_MAX + 1];

    a = &ngx_http_lintel_auth;

    if (token->len > LINTEL_JWT_MAX_TOKEN) {
        return ngx_http_lintel_auth_reject(r, LINTEL_JWT_MALFORMED);
    }

    hash = ngx_murmur_hash2(token->data, token->len);
    t = ngx_http_lintel_token_lookup(token, hash);

    if (t) {
        rc = lintel_jwt_check_times(&t->claims, (int) a->lmcf->leeway,
                                    ngx_time());
        if (rc != LINTEL_JWT_OK) {
            ngx_http_lintel_token_delete(t);
            return ngx_http_lintel_auth_reject(r, rc);
        }

        ngx_queue_remove(&t->lru);
        ngx_queue_insert_head(&a->lru, &t->lru);
        *claims = t->claims;

        return NGX_HTTP_LINTEL_NEXT;
    }

    rc = lintel_jwt_split((const char *) token->data, token->len, &parts);
    if (rc != LINTEL_JWT_OK) {
        return ngx_http_lintel_auth_reject(r, rc);
    }

    rc = lintel_jwt_check_header(&parts, kid);
    if (rc != LINTEL_JWT_OK) {
        return ngx_http_lintel_auth_reject(r, rc);
    }

    pkey = NULL;

    for (i = 0; i < a->nkeys; i++) {
        if (ngx_strcmp(a->keys[i].kid, kid) == 0) {
            pkey = a->keys[i].pkey;
            break;
        }
    }

    if (pkey == NULL) {
        /* maybe a key rotated in since the last fetch: refetch, rarely */

        if (!ctx->jwks_waited) {
            ctx->jwks_waited = 1;

            if (a->call
                || (ngx_current_msec - a->fetched >= a->lmcf->jwks_min_refetch
                    && ngx_http_lintel_auth_fetch() == NGX_OK))
            {
                return ngx_http_lintel_auth_wait(ctx);
            }
        }

        return ngx_http_lintel_auth_reject(r, LINTEL_JWT_BAD_KID);
    }

    rc = lintel_jwt_verify_rs256(&parts, pkey);
    if (rc != LINTEL_JWT_OK) {
        return ngx_http_lintel_auth_reject(r, rc);
    }

    policy.issuer = (const char *) a->lmcf->issuer.data;
    policy.audience = (const char *) a->lmcf->audience.data;
    policy.leeway = (int) a->lmcf->leeway;

    rc = lintel_jwt_check_claims(&parts, &policy, ngx_time(), claims);
    if (rc != LINTEL_JWT_OK) {
        return ngx_http_lintel_auth_reject(r, rc);
    }

    ngx_http_lintel_token_insert(token, hash, claims);

    return NGX_HTTP_LINTEL_NEXT;
}


static ngx_int_t
ngx_http_lintel_auth_reject(ngx_http_request_t *r, lintel_jwt_rc_e rc)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "lintel: token refused: %s", lintel_jwt_strerror(rc));

    return ngx_http_lintel_auth_unauthorized(r, "invalid_token",
                                             "the token is not valid");
}


static ngx_int_t
ngx_http_lintel_auth_unauthorized(ngx_http_request_t *r, const char *code,
    const char *message)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Bearer error=\"invalid_token\"");
    r->headers_out.www_authenticate = h;

    return ngx_http_lintel_send_error(r, NGX_HTTP_UNAUTHORIZED, code, message);
}


static ngx_int_t
ngx_http_lintel_auth_wait(ngx_http_lintel_ctx_t *ctx)
{
    ngx_queue_insert_tail(&ngx_http_lintel_auth.waiters, &ctx->wait);
    ctx->waiting = 1;

    return NGX_HTTP_LINTEL_WAIT;
}


static ngx_int_t
ngx_http_lintel_auth_fetch(void)
{
    nng_msg                           *msg;
    ngx_http_lintel_auth_t            *a;
    Lintel__V1__Users__GetJwksRequest  req =
                                    LINTEL__V1__USERS__GET_JWKS_REQUEST__INIT;

    a = &ngx_http_lintel_auth;

    if (a->call) {
        return NGX_OK;
    }

    a->fetched = ngx_current_msec;

    msg = ngx_http_lintel_rpc_message("/rpc/users.GetJwks", &req.base,
                                      a->lmcf->lookup_timeout);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    a->call = ngx_http_lintel_call(a->lmcf->users, msg,
                                   a->lmcf->lookup_timeout,
                                   ngx_http_lintel_auth_answer, a, a->log);

    return a->call ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_lintel_auth_answer(ngx_http_lintel_call_t *call)
{
    BIO                                 *bio;
    size_t                               i, n;
    EVP_PKEY                            *pkey;
    ngx_queue_t                         *q;
    ngx_http_lintel_ctx_t               *ctx;
    ngx_http_lintel_key_t                keys[NGX_HTTP_LINTEL_MAX_KEYS];
    ngx_http_lintel_auth_t              *a;
    Lintel__V1__Response                *res;
    Lintel__V1__Users__Jwk              *k;
    Lintel__V1__Users__GetJwksResponse  *jwks;

    a = &ngx_http_lintel_auth;
    a->call = NULL;

    jwks = NULL;
    n = 0;

    res = ngx_http_lintel_rpc_reply(call, a->log, "users.GetJwks");

    if (res) {
        jwks = lintel_envelope_unpack_jwks(res->body.data, res->body.len);
        lintel_envelope_free_response(res);
    }

    for (i = 0; jwks && i < jwks->n_keys && n < NGX_HTTP_LINTEL_MAX_KEYS;
         i++)
    {
        k = jwks->keys[i];

        if (k->kid == NULL || k->pem == NULL || k->kid[0] == '\0'
            || ngx_strlen(k->kid) > LINTEL_JWT_KID_MAX
            || (k->kty && k->kty[0] && ngx_strcmp(k->kty, "RSA") != 0)
            || (k->alg && k->alg[0] && ngx_strcmp(k->alg, "RS256") != 0)
            || (k->use && k->use[0] && ngx_strcmp(k->use, "sig") != 0))
        {
            continue;
        }

        bio = BIO_new_mem_buf(k->pem, -1);
        if (bio == NULL) {
            continue;
        }

        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);

        if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA
            || EVP_PKEY_get_bits(pkey) < 2048)
        {
            ngx_log_error(NGX_LOG_WARN, a->log, 0,
                          "lintel: users.GetJwks: key \"%s\" refused",
                          k->kid);
            EVP_PKEY_free(pkey);
            continue;
        }

        ngx_cpystrn((u_char *) keys[n].kid, (u_char *) k->kid,
                    LINTEL_JWT_KID_MAX + 1);
        keys[n].pkey = pkey;
        n++;
    }

    lintel_envelope_free_jwks(jwks);

    if (n > 0) {
        for (i = 0; i < a->nkeys; i++) {
            EVP_PKEY_free(a->keys[i].pkey);
        }

        ngx_memcpy(a->keys, keys, n * sizeof(ngx_http_lintel_key_t));
        a->nkeys = n;

        /* a key that left the set must not keep its tokens alive */
        ngx_http_lintel_auth_flush();

    } else {
        ngx_log_error(NGX_LOG_WARN, a->log, 0,
                      "lintel: users.GetJwks gave no usable key, "
                      "keeping %ui key(s)", a->nkeys);
    }

    while (!ngx_queue_empty(&a->waiters)) {
        q = ngx_queue_head(&a->waiters);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_http_lintel_ctx_t, wait);
        ctx->waiting = 0;

        ngx_http_lintel_resume(ctx->request);
    }
}


static void
ngx_http_lintel_auth_refresh(ngx_event_t *ev)
{
    ngx_http_lintel_auth_t  *a;

    a = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (a->call == NULL) {
        (void) ngx_http_lintel_auth_fetch();
    }

    ngx_add_timer(&a->refresh, a->nkeys ? a->lmcf->jwks_refresh
                               : ngx_min(a->lmcf->jwks_refresh,
                                         NGX_HTTP_LINTEL_NO_KEYS_RETRY));
}


static void
ngx_http_lintel_auth_flush(void)
{
    ngx_queue_t              *q;
    ngx_http_lintel_auth_t   *a;

    a = &ngx_http_lintel_auth;

    while (!ngx_queue_empty(&a->lru)) {
        q = ngx_queue_head(&a->lru);
        ngx_http_lintel_token_delete(
            ngx_queue_data(q, ngx_http_lintel_token_t, lru));
    }
}


static ngx_http_lintel_token_t *
ngx_http_lintel_token_lookup(ngx_str_t *token, uint32_t hash)
{
    return (ngx_http_lintel_token_t *)
               ngx_str_rbtree_lookup(&ngx_http_lintel_auth.tokens, token,
                                     hash);
}


static void
ngx_http_lintel_token_insert(ngx_str_t *token, uint32_t hash,
    lintel_jwt_claims_t *claims)
{
    ngx_queue_t              *q;
    ngx_http_lintel_auth_t   *a;
    ngx_http_lintel_token_t  *t;

    a = &ngx_http_lintel_auth;

    if (a->lmcf->token_cache_size == 0) {
        return;
    }

    while (a->ntokens >= a->lmcf->token_cache_size) {
        q = ngx_queue_last(&a->lru);
        ngx_http_lintel_token_delete(
            ngx_queue_data(q, ngx_http_lintel_token_t, lru));
    }

    t = ngx_alloc(sizeof(ngx_http_lintel_token_t) + token->len, a->log);
    if (t == NULL) {
        return;
    }

    ngx_memcpy(t->token, token->data, token->len);
    t->sn.str.data = t->token;
    t->sn.str.len = token->len;
    t->sn.node.key = hash;
    t->claims = *claims;

    ngx_rbtree_insert(&a->tokens, &t->sn.node);
    ngx_queue_insert_head(&a->lru, &t->lru);
    a->ntokens++;
}


static void
ngx_http_lintel_token_delete(ngx_http_lintel_token_t *t)
{
    ngx_http_lintel_auth_t  *a;

    a = &ngx_http_lintel_auth;

    ngx_rbtree_delete(&a->tokens, &t->sn.node);
    ngx_queue_remove(&t->lru);
    a->ntokens--;

    ngx_free(t);
}


static ngx_int_t
ngx_http_lintel_auth_copy(ngx_pool_t *pool, ngx_str_t *dst, const char *src)
{
    dst->len = ngx_strlen(src);

    if (dst->len == 0) {
        dst->data = NULL;
        return NGX_OK;
    }

    dst->data = ngx_pnalloc(pool, dst->len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, dst->len);

    return NGX_OK;
}
