/*
 * ngx_http_lintel_module: directives, the per-request state machine of the
 * rewrite phase, JSON errors, variables, CORS and the worker lifecycle.
 *
 * The rewrite phase handler resolves the tenant and verifies the token
 * before limit_req (preaccess) and the access log look at $lintel_* ; it
 * may have to wait for the users service, in which case it returns
 * NGX_DONE and ngx_http_lintel_resume() runs the phases again later.  The
 * content handler (ngx_http_lintel_upstream.c) reads the body and forwards
 * it through ngx_http_upstream.
 */

#include <openssl/rand.h>

#include "ngx_http_lintel_module.h"
#include "lintel_host.h"


#define NGX_HTTP_LINTEL_ERROR_MAX  512

/* RFC 6585; nginx says 494 inside and 400 outside, and sends 431 without
 * a reason phrase (it has none for it), which HTTP allows */
#define NGX_HTTP_LINTEL_HEADER_FIELDS_TOO_LARGE  431


typedef struct {
    ngx_uint_t                  status;
    const char                 *code;
    const char                 *message;
} ngx_http_lintel_error_t;


static ngx_int_t ngx_http_lintel_rewrite_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_lintel_identify(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx, ngx_http_lintel_loc_conf_t *llcf);
static ngx_int_t ngx_http_lintel_classify(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx, ngx_http_lintel_main_conf_t *lmcf);
static ngx_int_t ngx_http_lintel_preflight(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx);
static ngx_table_elt_t *ngx_http_lintel_find_header(ngx_http_request_t *r,
    const char *name, size_t len);
static ngx_int_t ngx_http_lintel_add_header(ngx_http_request_t *r,
    const char *key, ngx_str_t *value);
static ngx_http_lintel_ctx_t *ngx_http_lintel_create_ctx(
    ngx_http_request_t *r);
static void ngx_http_lintel_cleanup(void *data);
static ngx_int_t ngx_http_lintel_error_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_lintel_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_lintel_add_safety_headers(ngx_http_request_t *r);
static ngx_uint_t ngx_http_lintel_has_out_header(ngx_http_request_t *r,
    const char *name, size_t len);
static ngx_int_t ngx_http_lintel_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_int_t ngx_http_lintel_add_variables(ngx_conf_t *cf);
static void *ngx_http_lintel_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_lintel_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_lintel_set_ssl(ngx_conf_t *cf,
    ngx_http_lintel_main_conf_t *lmcf);
static void *ngx_http_lintel_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_lintel_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_lintel_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_lintel_init_process(ngx_cycle_t *cycle);
static void ngx_http_lintel_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_lintel_base_domain(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_lintel_users_service(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_http_upstream_srv_conf_t *ngx_http_lintel_upstream(
    ngx_conf_t *cf, ngx_str_t *name);
static char *ngx_http_lintel_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_shm_zone_t *ngx_http_lintel_add_zone(ngx_conf_t *cf,
    const char *name, ssize_t size);
static ngx_int_t ngx_http_lintel_check_error_pages(ngx_conf_t *cf);
static char *ngx_http_lintel_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_lintel_error(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_lintel_cors_origins(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_lintel_check_leeway(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_lintel_check_positive(ngx_conf_t *cf, void *post,
    void *data);


static ngx_conf_post_handler_pt  ngx_http_lintel_leeway_post =
    ngx_http_lintel_check_leeway;
static ngx_conf_post_handler_pt  ngx_http_lintel_positive_post =
    ngx_http_lintel_check_positive;


static ngx_command_t  ngx_http_lintel_commands[] = {

    { ngx_string("lintel_base_domain"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_lintel_base_domain,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("lintel_users_service"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_lintel_users_service,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("lintel_ssl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, ssl),
      NULL },

    { ngx_string("lintel_ssl_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, ssl_certificate),
      NULL },

    { ngx_string("lintel_ssl_certificate_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, ssl_certificate_key),
      NULL },

    { ngx_string("lintel_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, ssl_trusted_certificate),
      NULL },

    { ngx_string("lintel_ssl_verify"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, ssl_verify),
      NULL },

    { ngx_string("lintel_ssl_ciphers"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, ssl_ciphers),
      NULL },

    { ngx_string("lintel_lookup_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, lookup_timeout),
      &ngx_http_lintel_positive_post },

    { ngx_string("lintel_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, issuer),
      NULL },

    { ngx_string("lintel_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, audience),
      NULL },

    { ngx_string("lintel_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, leeway),
      &ngx_http_lintel_leeway_post },

    { ngx_string("lintel_jwks_refresh"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, jwks_refresh),
      &ngx_http_lintel_positive_post },

    { ngx_string("lintel_jwks_min_refetch"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, jwks_min_refetch),
      NULL },

    { ngx_string("lintel_tenant_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, tenant_ttl),
      NULL },

    { ngx_string("lintel_tenant_cache_negative_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, tenant_negative_ttl),
      NULL },

    { ngx_string("lintel_tenant_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_lintel_cache_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, tenant_zone_size),
      NULL },

    { ngx_string("lintel_token_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_lintel_cache_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, token_zone_size),
      NULL },

    { ngx_string("lintel_max_reply_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lintel_main_conf_t, max_reply_size),
      &ngx_http_lintel_positive_post },

    { ngx_string("lintel_cors_origins"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_lintel_cors_origins,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("lintel_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_lintel_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("lintel_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_lintel_loc_conf_t, auth),
      NULL },

    { ngx_string("lintel_pass_cookie"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_lintel_loc_conf_t, pass_cookie),
      NULL },

    { ngx_string("lintel_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_lintel_loc_conf_t, timeout),
      &ngx_http_lintel_positive_post },

    { ngx_string("lintel_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_lintel_loc_conf_t, upstream.buffer_size),
      NULL },

    { ngx_string("lintel_next_upstream"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_lintel_loc_conf_t, upstream.next_upstream),
      &ngx_http_lintel_next_upstream_masks },

    { ngx_string("lintel_next_upstream_tries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_lintel_loc_conf_t, upstream.next_upstream_tries),
      NULL },

    { ngx_string("lintel_error"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_lintel_error,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_lintel_module_ctx = {
    ngx_http_lintel_add_variables,         /* preconfiguration */
    ngx_http_lintel_init,                  /* postconfiguration */

    ngx_http_lintel_create_main_conf,      /* create main configuration */
    ngx_http_lintel_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_lintel_create_loc_conf,       /* create location configuration */
    ngx_http_lintel_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_lintel_module = {
    NGX_MODULE_V1,
    &ngx_http_lintel_module_ctx,           /* module context */
    ngx_http_lintel_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_lintel_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_lintel_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_lintel_vars[] = {

    { ngx_string("lintel_tenant_id"), NULL, ngx_http_lintel_variable,
      offsetof(ngx_http_lintel_ctx_t, tenant_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lintel_tenant_slug"), NULL, ngx_http_lintel_variable,
      offsetof(ngx_http_lintel_ctx_t, slug),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lintel_user_id"), NULL, ngx_http_lintel_variable,
      offsetof(ngx_http_lintel_ctx_t, user_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lintel_role"), NULL, ngx_http_lintel_variable,
      offsetof(ngx_http_lintel_ctx_t, role),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lintel_request_id"), NULL, ngx_http_lintel_variable,
      offsetof(ngx_http_lintel_ctx_t, request_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_lintel_error_t  ngx_http_lintel_errors[] = {
    { NGX_HTTP_BAD_REQUEST, "bad_request", "the request is malformed" },
    { NGX_HTTP_UNAUTHORIZED, "invalid_token", "the token is not valid" },
    { NGX_HTTP_FORBIDDEN, "forbidden", "forbidden" },
    { NGX_HTTP_NOT_FOUND, "not_found", "not found" },
    { NGX_HTTP_NOT_ALLOWED, "method_not_allowed", "method not allowed" },
    { NGX_HTTP_REQUEST_TIME_OUT, "request_timeout", "request timeout" },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "payload_too_large",
      "the request body is too large" },
    { NGX_HTTP_REQUEST_URI_TOO_LARGE, "uri_too_long", "the URI is too long" },
    { NGX_HTTP_TOO_MANY_REQUESTS, "rate_limited", "too many requests" },
    { NGX_HTTP_LINTEL_HEADER_FIELDS_TOO_LARGE, "request_header_too_large",
      "a request header is too large" },
    { NGX_HTTP_BAD_GATEWAY, "bad_gateway", "bad gateway" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "service_unavailable",
      "service unavailable" },
    { NGX_HTTP_GATEWAY_TIME_OUT, "gateway_timeout", "gateway timeout" },
    { 0, NULL, NULL }
};


static ngx_str_t  ngx_http_lintel_json_type = ngx_string("application/json");
static ngx_str_t  ngx_http_lintel_retry_after = ngx_string("1");
static ngx_str_t  ngx_http_lintel_allow_methods =
    ngx_string("GET, POST, PATCH, DELETE, OPTIONS");
static ngx_str_t  ngx_http_lintel_allow_headers =
    ngx_string("Authorization, Content-Type, If-Match, If-None-Match, "
               "Idempotency-Key, Traceparent");
static ngx_str_t  ngx_http_lintel_expose_headers =
    ngx_string("X-Request-Id, ETag, Retry-After, Location, "
               "Idempotent-Replayed, WWW-Authenticate, Allow");
static ngx_str_t  ngx_http_lintel_max_age = ngx_string("600");
static ngx_str_t  ngx_http_lintel_vary_origin = ngx_string("Origin");
static ngx_str_t  ngx_http_lintel_no_store = ngx_string("no-store");
static ngx_str_t  ngx_http_lintel_nosniff = ngx_string("nosniff");


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


/* per request */

static ngx_int_t
ngx_http_lintel_rewrite_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_lintel_ctx_t       *ctx;
    ngx_http_lintel_loc_conf_t  *llcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_lintel_module);

    if (!llcf->pass || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_lintel_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_http_lintel_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /*
     * After an internal redirect the ctx comes back: the tenant stays
     * resolved, but a location that wants a token still gets it checked.
     */

    if (ctx->state == NGX_HTTP_LINTEL_STATE_DONE
        && (!llcf->auth || ctx->authenticated))
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_lintel_identify(r, ctx, llcf);

    if (rc == NGX_HTTP_LINTEL_WAIT) {
        /* ngx_http_lintel_resume() gives the reference back */
        r->main->count++;
        return NGX_DONE;
    }

    if (rc == NGX_HTTP_LINTEL_NEXT) {
        ctx->state = NGX_HTTP_LINTEL_STATE_DONE;
        return NGX_DECLINED;
    }

    /* a response was sent (or is an error): rc finalizes the request */

    return rc;
}


static ngx_int_t
ngx_http_lintel_identify(ngx_http_request_t *r, ngx_http_lintel_ctx_t *ctx,
    ngx_http_lintel_loc_conf_t *llcf)
{
    ngx_int_t                     rc;
    ngx_http_lintel_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_lintel_module);

    if (ctx->state == NGX_HTTP_LINTEL_STATE_NEW) {
        rc = ngx_http_lintel_classify(r, ctx, lmcf);
        if (rc != NGX_HTTP_LINTEL_NEXT) {
            return rc;
        }

        ctx->state = NGX_HTTP_LINTEL_STATE_TENANT;
    }

    if (ctx->state == NGX_HTTP_LINTEL_STATE_TENANT) {
        if (!ctx->platform) {
            rc = ngx_http_lintel_tenant_resolve(r, ctx, &ctx->slug);
            if (rc != NGX_HTTP_LINTEL_NEXT) {
                return rc;
            }
        }

        ctx->state = NGX_HTTP_LINTEL_STATE_AUTH;
    }

    if (llcf->auth && !ctx->authenticated) {
        rc = ngx_http_lintel_auth_check(r, ctx);
        if (rc != NGX_HTTP_LINTEL_NEXT) {
            return rc;
        }

        ctx->authenticated = 1;
    }

    return NGX_HTTP_LINTEL_NEXT;
}


static ngx_int_t
ngx_http_lintel_classify(ngx_http_request_t *r, ngx_http_lintel_ctx_t *ctx,
    ngx_http_lintel_main_conf_t *lmcf)
{
    size_t                slug_len;
    ngx_str_t            *o;
    ngx_uint_t            i;
    const char           *slug;
    ngx_table_elt_t      *origin;
    lintel_host_scope_e   scope;

    /* internal RPCs share the envelope: never let the edge name one */

    if (lintel_envelope_path_is_internal((const char *) r->uri.data,
                                         r->uri.len))
    {
        return ngx_http_lintel_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                          "not found");
    }

    scope = lintel_host_classify((const char *) r->headers_in.server.data,
                                 r->headers_in.server.len,
                                 (const char *) lmcf->base_domain.data,
                                 lmcf->base_domain.len, &slug, &slug_len);

    if (scope == LINTEL_HOST_OUTSIDE) {
        return ngx_http_lintel_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "unknown_tenant", "unknown host");
    }

    ctx->platform = (scope == LINTEL_HOST_APEX);
    ctx->slug.data = (u_char *) slug;
    ctx->slug.len = slug_len;

    origin = ngx_http_lintel_find_header(r, "origin", 6);

    if (origin && lmcf->cors_origins) {
        o = lmcf->cors_origins->elts;

        for (i = 0; i < lmcf->cors_origins->nelts; i++) {
            if (o[i].len == origin->value.len
                && ngx_strncmp(o[i].data, origin->value.data, o[i].len) == 0)
            {
                ctx->cors_origin = o[i];
                break;
            }
        }
    }

    if (ctx->cors_origin.len && r->method == NGX_HTTP_OPTIONS
        && ngx_http_lintel_find_header(r, "access-control-request-method",
                                       29))
    {
        return ngx_http_lintel_preflight(r, ctx);
    }

    return NGX_HTTP_LINTEL_NEXT;
}


static ngx_int_t
ngx_http_lintel_preflight(ngx_http_request_t *r, ngx_http_lintel_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_lintel_add_header(r, "Access-Control-Allow-Methods",
                                   &ngx_http_lintel_allow_methods) != NGX_OK
        || ngx_http_lintel_add_header(r, "Access-Control-Allow-Headers",
                                      &ngx_http_lintel_allow_headers)
           != NGX_OK
        || ngx_http_lintel_add_header(r, "Access-Control-Max-Age",
                                      &ngx_http_lintel_max_age) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    return (rc == NGX_ERROR || rc > NGX_OK) ? rc : NGX_OK;
}


void
ngx_http_lintel_resume(ngx_http_request_t *r)
{
    ngx_connection_t  *c;

    c = r->connection;

    r->main->count--;
    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


ngx_int_t
ngx_http_lintel_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    size_t                  len;
    ngx_int_t               rc;
    ngx_buf_t              *b;
    ngx_chain_t             out;
    ngx_http_lintel_ctx_t  *ctx;

    ctx = ngx_http_lintel_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_http_lintel_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_LINTEL_ERROR_MAX);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = lintel_envelope_error_body((char *) b->pos,
                                     NGX_HTTP_LINTEL_ERROR_MAX, code, message,
                                     (const char *) ctx->request_id.data,
                                     ctx->request_id.len);
    if (len == 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = b->pos + len;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    if ((status == NGX_HTTP_SERVICE_UNAVAILABLE
         || status == NGX_HTTP_TOO_MANY_REQUESTS)
        && ngx_http_lintel_add_header(r, "Retry-After",
                                      &ngx_http_lintel_retry_after) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_type = ngx_http_lintel_json_type;
    r->headers_out.content_type_len = ngx_http_lintel_json_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_table_elt_t *
ngx_http_lintel_find_header(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


static ngx_int_t
ngx_http_lintel_add_header(ngx_http_request_t *r, const char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

    return NGX_OK;
}


ngx_http_lintel_ctx_t *
ngx_http_lintel_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_lintel_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_lintel_module);

    /* an internal redirect (error_page) zeroes r->ctx: find ours again */

    if (ctx == NULL && (r->internal || r->filter_finalize)) {
        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_lintel_cleanup) {
                ctx = cln->data;
                ngx_http_set_ctx(r, ctx, ngx_http_lintel_module);
                break;
            }
        }
    }

    return ctx;
}


static ngx_http_lintel_ctx_t *
ngx_http_lintel_create_ctx(ngx_http_request_t *r)
{
    unsigned char           rnd[16];
    ngx_pool_cleanup_t     *cln;
    ngx_http_lintel_ctx_t  *ctx;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_lintel_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_lintel_ctx_t));

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NULL;
    }

    lintel_envelope_request_id(rnd, (char *) ctx->request_id_data);
    ctx->request_id.data = ctx->request_id_data;
    ctx->request_id.len = LINTEL_REQUEST_ID_LEN;
    ctx->request = r->main;

    cln->handler = ngx_http_lintel_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_lintel_module);

    return ctx;
}


static void
ngx_http_lintel_cleanup(void *data)
{
    ngx_http_lintel_ctx_t  *ctx;

    ctx = data;

    if (ctx->waiting) {
        ngx_queue_remove(&ctx->wait);
        ctx->waiting = 0;
    }
}


static ngx_int_t
ngx_http_lintel_error_handler(ngx_http_request_t *r)
{
    ngx_uint_t                status;
    const char               *code, *message;
    ngx_http_lintel_ctx_t    *ctx;
    ngx_http_lintel_error_t  *e;

    status = r->err_status ? r->err_status : r->headers_out.status;

    /* the forward knows better than nginx's upstream why it failed */

    ctx = ngx_http_lintel_get_ctx(r);

    if (ctx && ctx->error_status && status >= NGX_HTTP_BAD_GATEWAY) {
        status = ctx->error_status;
    }

    /* error_page turns nginx's 494 into 400 unless told "=431" */

    if (status == NGX_HTTP_REQUEST_HEADER_TOO_LARGE
        || status == NGX_HTTP_LINTEL_HEADER_FIELDS_TOO_LARGE)
    {
        status = NGX_HTTP_LINTEL_HEADER_FIELDS_TOO_LARGE;
    }

    code = NULL;
    message = NULL;

    for (e = ngx_http_lintel_errors; e->status; e++) {
        if (e->status == status) {
            code = e->code;
            message = e->message;
            break;
        }
    }

    if (code == NULL && status >= 400 && status < 500) {
        code = "bad_request";
        message = "the request is not valid";

    } else if (code == NULL) {
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        code = "internal";
        message = "internal error";
    }

    /* ngx_http_send_header() sends err_status when it is set */
    r->err_status = status;

    return ngx_http_lintel_send_error(r, status, code, message);
}


static ngx_int_t
ngx_http_lintel_header_filter(ngx_http_request_t *r)
{
    ngx_http_lintel_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_lintel_get_ctx(r);

    if (ctx == NULL || ctx->headers_added) {
        return ngx_http_next_header_filter(r);
    }

    ctx->headers_added = 1;

    if (ngx_http_lintel_add_header(r, "X-Request-Id", &ctx->request_id)
        != NGX_OK
        || ngx_http_lintel_add_safety_headers(r) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->cors_origin.len) {
        if (ngx_http_lintel_add_header(r, "Access-Control-Allow-Origin",
                                       &ctx->cors_origin) != NGX_OK
            || ngx_http_lintel_add_header(r, "Vary",
                                          &ngx_http_lintel_vary_origin)
               != NGX_OK
            || ngx_http_lintel_add_header(r, "Access-Control-Expose-Headers",
                                          &ngx_http_lintel_expose_headers)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


/*
 * Every answer of the edge carries personal or tenant data or an error
 * about them: no cache may keep it (a shared proxy, the browser's back
 * button), unless the service said otherwise (the public JWKS); and no
 * browser may guess a type other than the one sent (a JSON string that
 * looks like HTML must never render).
 */

static ngx_int_t
ngx_http_lintel_add_safety_headers(ngx_http_request_t *r)
{
    if (ngx_http_lintel_add_header(r, "X-Content-Type-Options",
                                   &ngx_http_lintel_nosniff) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (r->headers_out.cache_control.nelts == 0
        && !ngx_http_lintel_has_out_header(r, "cache-control", 13))
    {
        return ngx_http_lintel_add_header(r, "Cache-Control",
                                          &ngx_http_lintel_no_store);
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_lintel_has_out_header(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0 && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return 1;
        }
    }
}


static ngx_int_t
ngx_http_lintel_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t              *s;
    ngx_http_lintel_ctx_t  *ctx;

    ctx = ngx_http_lintel_get_ctx(r->main);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) ctx + data);

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


/* configuration */

static ngx_int_t
ngx_http_lintel_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_lintel_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_lintel_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_lintel_main_conf_t  *lmcf;

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_lintel_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    lmcf->lookup_timeout = NGX_CONF_UNSET_MSEC;
    lmcf->leeway = NGX_CONF_UNSET;
    lmcf->tenant_ttl = NGX_CONF_UNSET;
    lmcf->tenant_negative_ttl = NGX_CONF_UNSET;
    lmcf->tenant_zone_size = NGX_CONF_UNSET;
    lmcf->token_zone_size = NGX_CONF_UNSET;
    lmcf->jwks_refresh = NGX_CONF_UNSET_MSEC;
    lmcf->jwks_min_refetch = NGX_CONF_UNSET_MSEC;
    lmcf->max_reply_size = NGX_CONF_UNSET_SIZE;
    lmcf->ssl = NGX_CONF_UNSET;
    lmcf->ssl_verify = NGX_CONF_UNSET;

    return lmcf;
}


static char *
ngx_http_lintel_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_lintel_main_conf_t *lmcf = conf;

    ngx_conf_init_msec_value(lmcf->lookup_timeout, 1000);
    ngx_conf_init_value(lmcf->leeway, 30);
    ngx_conf_init_value(lmcf->tenant_ttl, 60);
    ngx_conf_init_value(lmcf->tenant_negative_ttl, 10);
    ngx_conf_init_value(lmcf->tenant_zone_size, 1024 * 1024);
    ngx_conf_init_value(lmcf->token_zone_size, 8 * 1024 * 1024);
    ngx_conf_init_msec_value(lmcf->jwks_refresh, 300000);
    ngx_conf_init_msec_value(lmcf->jwks_min_refetch, 30000);
    ngx_conf_init_size_value(lmcf->max_reply_size, 8 * 1024 * 1024);
    ngx_conf_init_value(lmcf->ssl, 0);
    ngx_conf_init_value(lmcf->ssl_verify, 1);

    if (lmcf->ssl_ciphers.len == 0) {
        ngx_str_set(&lmcf->ssl_ciphers, "DEFAULT");
    }

    if (!lmcf->enabled) {
        return NGX_CONF_OK;
    }

    if (lmcf->ssl && ngx_http_lintel_set_ssl(cf, lmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (lmcf->base_domain.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"lintel_pass\" requires \"lintel_base_domain\"");
        return NGX_CONF_ERROR;
    }

    lmcf->tenant_zone = ngx_http_lintel_add_zone(cf, "lintel_tenants",
                                                 lmcf->tenant_zone_size);
    if (lmcf->tenant_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (lmcf->token_zone_size) {
        lmcf->token_zone = ngx_http_lintel_add_zone(cf, "lintel_tokens",
                                                    lmcf->token_zone_size);
        if (lmcf->token_zone == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * The client side of mutual TLS to every service, like grpc_ssl_*: the
 * edge's certificate, and the CAs a service's certificate must chain to,
 * whose name must be the upstream's (lintel_users_service, lintel_pass).
 * The services speak TLS 1.2 (NNG's mbedtls 2.28); 1.3 is allowed for the
 * day they do more.
 */

static ngx_str_t  ngx_http_lintel_ssl_curve = ngx_string("prime256v1");


static ngx_int_t
ngx_http_lintel_set_ssl(ngx_conf_t *cf, ngx_http_lintel_main_conf_t *lmcf)
{
    ngx_pool_cleanup_t  *cln;

    if (lmcf->ssl_certificate.len == 0
        || lmcf->ssl_certificate_key.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"lintel_ssl\" requires "
                           "\"lintel_ssl_certificate\" and "
                           "\"lintel_ssl_certificate_key\": "
                           "the services accept no call without one");
        return NGX_ERROR;
    }

    if (lmcf->ssl_verify && lmcf->ssl_trusted_certificate.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no \"lintel_ssl_trusted_certificate\" for "
                           "\"lintel_ssl_verify\"");
        return NGX_ERROR;
    }

    lmcf->ssl_ctx = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (lmcf->ssl_ctx == NULL) {
        return NGX_ERROR;
    }

    lmcf->ssl_ctx->log = cf->log;

    if (ngx_ssl_create(lmcf->ssl_ctx, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(lmcf->ssl_ctx);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = lmcf->ssl_ctx;

    if (ngx_ssl_ciphers(cf, lmcf->ssl_ctx, &lmcf->ssl_ciphers, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * The services' mbedtls picks the largest curve a client offers
     * (P-521 of OpenSSL's list: 17 ms of a service's CPU per handshake,
     * measured here) and has no X25519 in TLS 1.2: offering P-256 only
     * makes a handshake 10 ms, which matters when every worker reconnects
     * at once (a reload, a service restart).
     */

    if (ngx_ssl_ecdh_curve(cf, lmcf->ssl_ctx, &ngx_http_lintel_ssl_curve)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_ssl_certificate(cf, lmcf->ssl_ctx, &lmcf->ssl_certificate,
                            &lmcf->ssl_certificate_key, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (lmcf->ssl_verify
        && ngx_ssl_trusted_certificate(cf, lmcf->ssl_ctx,
                                       &lmcf->ssl_trusted_certificate, 2)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_shm_zone_t *
ngx_http_lintel_add_zone(ngx_conf_t *cf, const char *name, ssize_t size)
{
    ngx_str_t        zname;
    ngx_shm_zone_t  *zone;

    zname.data = (u_char *) name;
    zname.len = ngx_strlen(name);

    zone = ngx_shared_memory_add(cf, &zname, size, &ngx_http_lintel_module);
    if (zone == NULL) {
        return NULL;
    }

    zone->init = ngx_http_lintel_cache_zone_init;

    return zone;
}


static void *
ngx_http_lintel_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_lintel_loc_conf_t  *llcf;

    llcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_lintel_loc_conf_t));
    if (llcf == NULL) {
        return NULL;
    }

    llcf->auth = NGX_CONF_UNSET;
    llcf->pass_cookie = NGX_CONF_UNSET;
    llcf->timeout = NGX_CONF_UNSET_MSEC;

    ngx_http_lintel_upstream_create_conf(llcf);

    return llcf;
}


static char *
ngx_http_lintel_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_lintel_loc_conf_t *prev = parent;
    ngx_http_lintel_loc_conf_t *conf = child;

    ngx_http_lintel_main_conf_t  *lmcf;

    ngx_conf_merge_value(conf->auth, prev->auth, 1);
    ngx_conf_merge_value(conf->pass_cookie, prev->pass_cookie, 0);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 5000);

    if (ngx_http_lintel_upstream_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (!conf->pass) {
        return NGX_CONF_OK;
    }

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_lintel_module);

    if (conf->auth && (lmcf->issuer.len == 0 || lmcf->audience.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"lintel_auth on\" requires \"lintel_jwt_issuer\" "
                           "and \"lintel_jwt_audience\"");
        return NGX_CONF_ERROR;
    }

    /* core is merged before us: its error pages are final here */

    if (ngx_http_lintel_check_error_pages(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The upstream's own failures (no server reachable, timeout, a reply that
 * is not SP) reach the client through error_page: a lintel_pass location
 * without one for them would answer nginx's HTML pages.
 */

static ngx_int_t
ngx_http_lintel_check_error_pages(ngx_conf_t *cf)
{
    ngx_uint_t                 i, j, found;
    ngx_http_err_page_t       *err;
    ngx_http_core_loc_conf_t  *clcf;

    static ngx_int_t  needed[] = { NGX_HTTP_BAD_GATEWAY,
                                   NGX_HTTP_SERVICE_UNAVAILABLE,
                                   NGX_HTTP_GATEWAY_TIME_OUT };

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    for (j = 0; j < sizeof(needed) / sizeof(needed[0]); j++) {
        found = 0;

        if (clcf->error_pages) {
            err = clcf->error_pages->elts;

            for (i = 0; i < clcf->error_pages->nelts; i++) {
                if (err[i].status == needed[j]) {
                    found = 1;
                    break;
                }
            }
        }

        if (!found) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"lintel_pass\" requires \"error_page 502 "
                               "503 504\" to a location with \"lintel_error\""
                               ", so that upstream failures are JSON");
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_lintel_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_lintel_rewrite_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_lintel_header_filter;

    return NGX_OK;
}


static char *
ngx_http_lintel_base_domain(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_lintel_main_conf_t *lmcf = conf;

    u_char     *p;
    ngx_str_t  *value;

    if (lmcf->base_domain.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 253 || value[1].data[0] == '.') {
        goto invalid;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
            || *p == '-' || *p == '.')
        {
            continue;
        }

        goto invalid;
    }

    lmcf->base_domain = value[1];

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid domain \"%V\" in \"%V\" directive "
                       "(lower-case host name expected)",
                       &value[1], &cmd->name);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_lintel_users_service(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_lintel_main_conf_t *lmcf = conf;

    ngx_str_t  *value;

    if (lmcf->users_set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    lmcf->users = ngx_http_lintel_upstream(cf, &value[1]);
    if (lmcf->users == NULL) {
        return NGX_CONF_ERROR;
    }

    lmcf->users_set = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_lintel_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_lintel_loc_conf_t *llcf = conf;

    ngx_str_t                     users = ngx_string("users");
    ngx_str_t                    *value;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_lintel_main_conf_t  *lmcf;

    if (llcf->upstream.upstream) {
        return "is duplicate";
    }

    value = cf->args->elts;

    llcf->upstream.upstream = ngx_http_lintel_upstream(cf, &value[1]);
    if (llcf->upstream.upstream == NULL) {
        return NGX_CONF_ERROR;
    }

    llcf->pass = 1;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_lintel_module);
    lmcf->enabled = 1;

    /*
     * The default users upstream, added while the http block is read:
     * upstreams added later would miss the upstream module's own init.
     */

    if (lmcf->users == NULL) {
        lmcf->users = ngx_http_lintel_upstream(cf, &users);
        if (lmcf->users == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_lintel_upstream_handler;

    return NGX_CONF_OK;
}


/* an upstream {} block by name, or an implicit one for host:port */

static ngx_http_upstream_srv_conf_t *
ngx_http_lintel_upstream(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_url_t  u;

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = *name;
    u.no_resolve = 1;

    return ngx_http_upstream_add(cf, &u, 0);
}


static char *
ngx_http_lintel_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ssize_t    *sp;
    ngx_str_t  *value;

    sp = (ssize_t *) (p + cmd->offset);

    if (*sp != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* only the token cache may be off: tenants are always cached */

    if (ngx_strcmp(value[1].data, "off") == 0
        && cmd->offset == offsetof(ngx_http_lintel_main_conf_t,
                                   token_zone_size))
    {
        *sp = 0;
        return NGX_CONF_OK;
    }

    *sp = ngx_parse_size(&value[1]);

    if (*sp == NGX_ERROR || *sp < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\" in \"%V\" directive "
                           "(at least 8 pages)", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_lintel_error(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_lintel_error_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_lintel_cors_origins(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_lintel_main_conf_t *lmcf = conf;

    u_char      *p;
    ngx_str_t   *value, *o;
    ngx_uint_t   i;

    if (lmcf->cors_origins) {
        return "is duplicate";
    }

    lmcf->cors_origins = ngx_array_create(cf->pool, cf->args->nelts,
                                          sizeof(ngx_str_t));
    if (lmcf->cors_origins == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        p = (u_char *) ngx_strstr(value[i].data, "://");

        /* an origin is scheme://host[:port]: no path, no wildcard */

        if (p == NULL || p[3] == '\0'
            || ngx_strlchr(p + 3, value[i].data + value[i].len, '/')
            || ngx_strlchr(value[i].data, value[i].data + value[i].len, '*'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid origin \"%V\" in \"%V\" directive",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        o = ngx_array_push(lmcf->cors_origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        *o = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_lintel_check_leeway(ngx_conf_t *cf, void *post, void *data)
{
    time_t  *sp = data;

    if (*sp < 0 || *sp > LINTEL_JWT_MAX_LEEWAY) {
        return "must be between 0 and 60 seconds";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_lintel_check_positive(ngx_conf_t *cf, void *post, void *data)
{
    ngx_uint_t  *np = data;

    if (*np == 0) {
        return "must not be zero";
    }

    return NGX_CONF_OK;
}


/* lifecycle */

static ngx_int_t
ngx_http_lintel_init_process(ngx_cycle_t *cycle)
{
    ngx_http_lintel_main_conf_t  *lmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_lintel_module);

    if (lmcf == NULL || !lmcf->enabled) {
        return NGX_OK;
    }

    if (ngx_http_lintel_peer_init(cycle, lmcf) != NGX_OK
        || ngx_http_lintel_tenant_init(cycle, lmcf) != NGX_OK
        || ngx_http_lintel_auth_init(cycle, lmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_lintel_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_lintel_main_conf_t  *lmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return;
    }

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_lintel_module);

    if (lmcf == NULL || !lmcf->enabled) {
        return;
    }

    ngx_http_lintel_auth_exit(cycle);
}
