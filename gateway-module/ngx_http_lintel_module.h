/*
 * ngx_http_lintel_module: what the module's files share.
 *
 * The module is the edge of DESIGN §4.  Per request, in the rewrite phase
 * (so that limit_req and the access log see the variables): tenant from
 * Host (ngx_http_lintel_tenant.c), then the bearer token
 * (ngx_http_lintel_auth.c); in the content phase, the request body and the
 * forward over NNG (ngx_http_lintel_forward.c).  All NNG traffic of a
 * worker goes through ngx_http_lintel_rpc.c, whose completions come back
 * to the worker's event loop through an eventfd.
 */

#ifndef _NGX_HTTP_LINTEL_MODULE_H_INCLUDED_
#define _NGX_HTTP_LINTEL_MODULE_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "lintel_envelope.h"
#include "lintel_jwt.h"


/*
 * What a step of the rewrite phase returns besides a finalization code
 * (which means "a response was sent"): go on, or wait to be resumed.
 * Neither value is ever returned by nginx's output filters.
 */
#define NGX_HTTP_LINTEL_NEXT  NGX_DECLINED
#define NGX_HTTP_LINTEL_WAIT  NGX_BUSY


typedef struct ngx_http_lintel_call_s  ngx_http_lintel_call_t;

typedef void (*ngx_http_lintel_call_handler_pt)(ngx_http_lintel_call_t *call);


typedef struct {
    ngx_str_t                       name;
    ngx_str_t                       url;     /* NUL-terminated */
    ngx_uint_t                      index;
} ngx_http_lintel_service_t;


typedef struct {
    ngx_str_t                       base_domain;
    ngx_array_t                     services;   /* ngx_http_lintel_service_t */
    ngx_str_t                       users_name;
    ngx_http_lintel_service_t      *users;
    ngx_msec_t                      lookup_timeout;
    ngx_str_t                       issuer;     /* NUL-terminated */
    ngx_str_t                       audience;   /* NUL-terminated */
    time_t                          leeway;
    time_t                          tenant_ttl;
    time_t                          tenant_negative_ttl;
    ngx_uint_t                      tenant_cache_size;
    ngx_uint_t                      token_cache_size;
    ngx_msec_t                      jwks_refresh;
    ngx_msec_t                      jwks_min_refetch;
    size_t                          max_reply_size;
    ngx_array_t                    *cors_origins;   /* ngx_str_t */
    ngx_flag_t                      enabled;    /* some location forwards */
} ngx_http_lintel_main_conf_t;


typedef struct {
    ngx_http_lintel_service_t      *service;
    ngx_str_t                       service_name;
    ngx_flag_t                      auth;
    ngx_msec_t                      timeout;
} ngx_http_lintel_loc_conf_t;


enum {
    NGX_HTTP_LINTEL_STATE_NEW = 0,
    NGX_HTTP_LINTEL_STATE_TENANT,      /* waiting for ResolveTenant */
    NGX_HTTP_LINTEL_STATE_AUTH,        /* waiting for GetJwks */
    NGX_HTTP_LINTEL_STATE_DONE         /* identity known, variables set */
};


typedef struct {
    ngx_http_request_t             *request;
    ngx_uint_t                      state;
    u_char                          request_id_data[LINTEL_REQUEST_ID_LEN];
    ngx_str_t                       request_id;
    ngx_str_t                       cors_origin;
    ngx_str_t                       slug;
    ngx_str_t                       tenant_id;
    ngx_str_t                       user_id;
    ngx_str_t                       role;
    ngx_str_t                       session_id;
    ngx_str_t                       token_id;
    ngx_queue_t                     wait;      /* in a tenant or jwks queue */
    ngx_http_lintel_call_t         *call;      /* the forward in flight */
    unsigned                        waiting:1;
    unsigned                        platform:1;
    unsigned                        authenticated:1;
    unsigned                        jwks_waited:1;  /* once per request */
    unsigned                        headers_added:1;
} ngx_http_lintel_ctx_t;


struct ngx_http_lintel_call_s {
    nng_ctx                         nctx;
    nng_aio                        *aio;
    nng_msg                        *reply;     /* set by the NNG thread */
    int                             err;       /* set by the NNG thread */
    ngx_uint_t                      sending;   /* NNG thread only */
    nng_time                        deadline;
    ngx_http_lintel_call_handler_pt handler;   /* NULL once detached */
    void                           *data;
    ngx_event_t                     timer;
    ngx_queue_t                     live;
    ngx_http_lintel_call_t         *next_done;
    ngx_uint_t                      service;   /* index of its socket */
};


extern ngx_module_t  ngx_http_lintel_module;


/* ngx_http_lintel_module.c */
ngx_http_lintel_ctx_t *ngx_http_lintel_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_lintel_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
void ngx_http_lintel_resume(ngx_http_request_t *r);

/* ngx_http_lintel_rpc.c */
ngx_int_t ngx_http_lintel_rpc_init(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf);
void ngx_http_lintel_rpc_exit(ngx_cycle_t *cycle);
ngx_http_lintel_call_t *ngx_http_lintel_call(ngx_http_lintel_service_t *svc,
    nng_msg *msg, ngx_msec_t timeout, ngx_http_lintel_call_handler_pt handler,
    void *data, ngx_log_t *log);
void ngx_http_lintel_call_detach(ngx_http_lintel_call_t *call);
nng_msg *ngx_http_lintel_rpc_message(const char *path,
    const ProtobufCMessage *body, ngx_msec_t timeout);
Lintel__V1__Response *ngx_http_lintel_rpc_reply(ngx_http_lintel_call_t *call,
    ngx_log_t *log, const char *what);

/* ngx_http_lintel_tenant.c */
ngx_int_t ngx_http_lintel_tenant_init(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf);
void ngx_http_lintel_tenant_exit(ngx_cycle_t *cycle);
ngx_int_t ngx_http_lintel_tenant_resolve(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx, ngx_str_t *slug);

/* ngx_http_lintel_auth.c */
ngx_int_t ngx_http_lintel_auth_init(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf);
void ngx_http_lintel_auth_exit(ngx_cycle_t *cycle);
ngx_int_t ngx_http_lintel_auth_check(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx);

/* ngx_http_lintel_forward.c */
ngx_int_t ngx_http_lintel_forward_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_LINTEL_MODULE_H_INCLUDED_ */
