/*
 * ngx_http_lintel_auth: bearer tokens at the edge.
 *
 * The signing keys come from users.GetJwks: fetched when the worker starts,
 * refreshed periodically, and refetched on an unknown kid at most once per
 * lintel_jwks_min_refetch.  Each PEM is parsed once into an EVP_PKEY (a PEM
 * parse costs ~20 times an RS256 verify).  The last good key set is kept
 * when a fetch fails; with no key set at all requests get 503, never a pass.
 *
 * Verified tokens are kept in a shared memory zone (lintel_token_cache_zone)
 * for all workers, an LRU keyed by the whole token; a hit re-checks the time
 * claims and the tenant scope, which depend on the request, and that the
 * key which verified it (its kid and a fingerprint of its PEM) is still in
 * this worker's key set, and skips the signature and the JSON.
 */

#include <openssl/pem.h>

#include "ngx_http_lintel_module.h"


#define NGX_HTTP_LINTEL_MAX_KEYS      16
#define NGX_HTTP_LINTEL_NO_KEYS_RETRY 1000


typedef struct {
    char                        kid[LINTEL_JWT_KID_MAX + 1];
    uint32_t                    fingerprint;   /* of the PEM */
    EVP_PKEY                   *pkey;
} ngx_http_lintel_key_t;


/* in the shared zone */
typedef struct {
    ngx_http_lintel_cache_node_t cn;           /* keyed by the token below */
    lintel_jwt_claims_t         claims;
    uint32_t                    fingerprint;
    char                        kid[LINTEL_JWT_KID_MAX + 1];
    u_char                      token[1];
} ngx_http_lintel_token_t;


typedef struct {
    ngx_http_lintel_key_t       keys[NGX_HTTP_LINTEL_MAX_KEYS];
    ngx_uint_t                  nkeys;
    ngx_uint_t                  fetching;
    ngx_queue_t                 waiters;
    ngx_msec_t                  fetched;     /* when the last fetch began */
    ngx_event_t                 refresh;
    ngx_http_lintel_cache_t     tokens;      /* .sh NULL: no token cache */
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
static void ngx_http_lintel_auth_answer(void *data,
    Lintel__V1__Response *res);
static void ngx_http_lintel_auth_refresh(ngx_event_t *ev);
static ngx_http_lintel_key_t *ngx_http_lintel_auth_key(const char *kid);
static ngx_int_t ngx_http_lintel_token_get(ngx_str_t *token, uint32_t hash,
    lintel_jwt_claims_t *claims);
static void ngx_http_lintel_token_insert(ngx_str_t *token, uint32_t hash,
    lintel_jwt_claims_t *claims, ngx_http_lintel_key_t *key);
static void ngx_http_lintel_token_remove(ngx_str_t *token, uint32_t hash);
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

    if (lmcf->token_zone) {
        ngx_http_lintel_cache_attach(&a->tokens, lmcf->token_zone);
    }

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

            if (a->fetching || ngx_http_lintel_auth_fetch() == NGX_OK) {
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
    lintel_jwt_rc_e           rc;
    lintel_jwt_parts_t        parts;
    lintel_jwt_policy_t       policy;
    ngx_http_lintel_key_t    *key;
    ngx_http_lintel_auth_t   *a;
    char                      kid[LINTEL_JWT_KID_MAX + 1];

    a = &ngx_http_lintel_auth;

    if (token->len > LINTEL_JWT_MAX_TOKEN) {
        return ngx_http_lintel_auth_reject(r, LINTEL_JWT_MALFORMED);
    }

    hash = ngx_murmur_hash2(token->data, token->len);

    if (ngx_http_lintel_token_get(token, hash, claims) == NGX_OK) {
        rc = lintel_jwt_check_times(claims, (int) a->lmcf->leeway,
                                    ngx_time());
        if (rc != LINTEL_JWT_OK) {
            ngx_http_lintel_token_remove(token, hash);
            return ngx_http_lintel_auth_reject(r, rc);
        }

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

    key = ngx_http_lintel_auth_key(kid);

    if (key == NULL) {
        /* maybe a key rotated in since the last fetch: refetch, rarely */

        if (!ctx->jwks_waited) {
            ctx->jwks_waited = 1;

            if (a->fetching
                || (ngx_current_msec - a->fetched >= a->lmcf->jwks_min_refetch
                    && ngx_http_lintel_auth_fetch() == NGX_OK))
            {
                return ngx_http_lintel_auth_wait(ctx);
            }
        }

        return ngx_http_lintel_auth_reject(r, LINTEL_JWT_BAD_KID);
    }

    rc = lintel_jwt_verify_rs256(&parts, key->pkey);
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

    ngx_http_lintel_token_insert(token, hash, claims, key);

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

    /* RFC 6750 §3.1: no error code for a request that had no token */

    if (ngx_strcmp(code, "missing_token") == 0) {
        ngx_str_set(&h->value, "Bearer");

    } else {
        ngx_str_set(&h->value, "Bearer error=\"invalid_token\"");
    }
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
    ngx_http_lintel_auth_t            *a;
    Lintel__V1__Users__GetJwksRequest  req =
                                    LINTEL__V1__USERS__GET_JWKS_REQUEST__INIT;

    a = &ngx_http_lintel_auth;

    if (a->fetching) {
        return NGX_OK;
    }

    a->fetched = ngx_current_msec;

    if (ngx_http_lintel_lookup("/rpc/users.GetJwks", &req.base,
                               ngx_http_lintel_auth_answer, a)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    a->fetching = 1;

    return NGX_OK;
}


static void
ngx_http_lintel_auth_answer(void *data, Lintel__V1__Response *res)
{
    BIO                                 *bio;
    size_t                               i, n;
    EVP_PKEY                            *pkey;
    ngx_queue_t                         *q;
    ngx_http_lintel_ctx_t               *ctx;
    ngx_http_lintel_key_t                keys[NGX_HTTP_LINTEL_MAX_KEYS];
    ngx_http_lintel_auth_t              *a;
    Lintel__V1__Users__Jwk              *k;
    Lintel__V1__Users__GetJwksResponse  *jwks;

    a = data;
    a->fetching = 0;

    n = 0;
    jwks = res ? lintel_envelope_unpack_jwks(res->body.data, res->body.len)
               : NULL;

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
        keys[n].fingerprint = ngx_murmur_hash2((u_char *) k->pem,
                                               ngx_strlen(k->pem));
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

    if (!a->fetching) {
        (void) ngx_http_lintel_auth_fetch();
    }

    ngx_add_timer(&a->refresh, a->nkeys ? a->lmcf->jwks_refresh
                               : ngx_min(a->lmcf->jwks_refresh,
                                         NGX_HTTP_LINTEL_NO_KEYS_RETRY));
}


static ngx_http_lintel_key_t *
ngx_http_lintel_auth_key(const char *kid)
{
    ngx_uint_t               i;
    ngx_http_lintel_auth_t  *a;

    a = &ngx_http_lintel_auth;

    for (i = 0; i < a->nkeys; i++) {
        if (ngx_strcmp(a->keys[i].kid, kid) == 0) {
            return &a->keys[i];
        }
    }

    return NULL;
}


/*
 * A cached token counts only while the key that verified it is still in
 * this worker's key set, the same PEM under the same kid: a key that left
 * the set, or a kid reused for another key, must not keep tokens alive.
 */

static ngx_int_t
ngx_http_lintel_token_get(ngx_str_t *token, uint32_t hash,
    lintel_jwt_claims_t *claims)
{
    uint32_t                  fingerprint;
    ngx_http_lintel_key_t    *key;
    ngx_http_lintel_auth_t   *a;
    ngx_http_lintel_token_t  *t;
    char                      kid[LINTEL_JWT_KID_MAX + 1];

    a = &ngx_http_lintel_auth;

    if (a->tokens.sh == NULL) {
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&a->tokens.shpool->mutex);

    t = ngx_http_lintel_cache_find(&a->tokens, token, hash);
    if (t == NULL) {
        ngx_shmtx_unlock(&a->tokens.shpool->mutex);
        return NGX_DECLINED;
    }

    *claims = t->claims;
    fingerprint = t->fingerprint;
    ngx_memcpy(kid, t->kid, sizeof(kid));

    ngx_shmtx_unlock(&a->tokens.shpool->mutex);

    key = ngx_http_lintel_auth_key(kid);

    if (key == NULL || key->fingerprint != fingerprint) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_lintel_token_insert(ngx_str_t *token, uint32_t hash,
    lintel_jwt_claims_t *claims, ngx_http_lintel_key_t *key)
{
    ngx_http_lintel_auth_t   *a;
    ngx_http_lintel_token_t  *t;

    a = &ngx_http_lintel_auth;

    if (a->tokens.sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&a->tokens.shpool->mutex);

    /* a token verified again (its key changed): the new verdict wins */

    t = ngx_http_lintel_cache_find(&a->tokens, token, hash);
    if (t) {
        ngx_http_lintel_cache_delete(&a->tokens, t);
    }

    t = ngx_http_lintel_cache_add(&a->tokens,
                                  offsetof(ngx_http_lintel_token_t, token)
                                  + token->len,
                                  offsetof(ngx_http_lintel_token_t, token),
                                  token, hash);
    if (t) {
        t->claims = *claims;
        t->fingerprint = key->fingerprint;
        ngx_memcpy(t->kid, key->kid, sizeof(t->kid));
    }

    ngx_shmtx_unlock(&a->tokens.shpool->mutex);
}


static void
ngx_http_lintel_token_remove(ngx_str_t *token, uint32_t hash)
{
    ngx_http_lintel_auth_t   *a;
    ngx_http_lintel_token_t  *t;

    a = &ngx_http_lintel_auth;

    ngx_shmtx_lock(&a->tokens.shpool->mutex);

    t = ngx_http_lintel_cache_find(&a->tokens, token, hash);
    if (t) {
        ngx_http_lintel_cache_delete(&a->tokens, t);
    }

    ngx_shmtx_unlock(&a->tokens.shpool->mutex);
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
