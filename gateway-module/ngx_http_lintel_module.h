/*
 * ngx_http_lintel_module: what the module's files share.
 *
 * The module is the edge of DESIGN §4.  Per request, in the rewrite phase
 * (so that limit_req and the access log see the variables): tenant from
 * Host (ngx_http_lintel_tenant.c), then the bearer token
 * (ngx_http_lintel_auth.c); in the content phase, the forward through
 * ngx_http_upstream (ngx_http_lintel_upstream.c), speaking NNG's SP wire
 * protocol as a REQ0 peer (lintel_sp.c).  The tenant and key lookups use
 * the module's own SP connections to the users upstream
 * (ngx_http_lintel_peer.c).  Everything runs in the worker's event loop:
 * no threads, no libnng.
 */

#ifndef _NGX_HTTP_LINTEL_MODULE_H_INCLUDED_
#define _NGX_HTTP_LINTEL_MODULE_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "lintel_envelope.h"
#include "lintel_jwt.h"
#include "lintel_sp.h"


/*
 * What a step of the rewrite phase returns besides a finalization code
 * (which means "a response was sent"): go on, or wait to be resumed.
 * Neither value is ever returned by nginx's output filters.
 */
#define NGX_HTTP_LINTEL_NEXT  NGX_DECLINED
#define NGX_HTTP_LINTEL_WAIT  NGX_BUSY


/* the start of every entry of a cache zone (ngx_http_lintel_cache.c) */
typedef struct {
    ngx_str_node_t                  sn;        /* sn.str → the entry's key */
    ngx_queue_t                     lru;
} ngx_http_lintel_cache_node_t;


typedef struct {
    ngx_rbtree_t                    tree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     lru;
} ngx_http_lintel_cache_sh_t;


/* a worker's handle on a cache zone */
typedef struct {
    ngx_http_lintel_cache_sh_t     *sh;
    ngx_slab_pool_t                *shpool;
} ngx_http_lintel_cache_t;

/* "res" is NULL when the lookup failed (logged already). */
typedef void (*ngx_http_lintel_lookup_pt)(void *data,
    Lintel__V1__Response *res);


typedef struct {
    ngx_str_t                       base_domain;
    ngx_http_upstream_srv_conf_t   *users;      /* ResolveTenant, GetJwks */
    ngx_flag_t                      users_set;
    ngx_msec_t                      lookup_timeout;
    ngx_str_t                       issuer;     /* NUL-terminated */
    ngx_str_t                       audience;   /* NUL-terminated */
    time_t                          leeway;
    time_t                          tenant_ttl;
    time_t                          tenant_negative_ttl;
    ngx_shm_zone_t                 *tenant_zone;
    ngx_shm_zone_t                 *token_zone; /* NULL: no token cache */
    ssize_t                         tenant_zone_size;
    ssize_t                         token_zone_size;
    ngx_msec_t                      jwks_refresh;
    ngx_msec_t                      jwks_min_refetch;
    size_t                          max_reply_size;
    ngx_array_t                    *cors_origins;   /* ngx_str_t */
    ngx_flag_t                      enabled;    /* some location forwards */
} ngx_http_lintel_main_conf_t;


typedef struct {
    /* GET, HEAD, OPTIONS: may move to the next server */
    ngx_http_upstream_conf_t        upstream;
    /* every other method: one server, whatever happens */
    ngx_http_upstream_conf_t        upstream_once;
    ngx_flag_t                      auth;
    ngx_msec_t                      timeout;
    ngx_flag_t                      pass;
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
    ngx_uint_t                      generation;   /* of the tenant entry */

    /* the forward (ngx_http_lintel_upstream.c) */
    uint32_t                        sp_id;     /* this request's SP id */
    uint64_t                        body_rest; /* reply body still to come */
    /* a continued reply (Response.continuation): its parts, one a request */
    uint64_t                        total_rest; /* body of all parts to come */
    Lintel__V1__Request            *req;       /* asked again for each part */
    ngx_buf_t                      *part;      /* a part's head, as it comes */
    ngx_buf_t                      *part_req;  /* the request for a part */
    ngx_chain_t                    *part_out;
    ngx_str_t                       cursor;    /* of the next part */
    ngx_uint_t                      part_status;   /* every part's status */
    ngx_uint_t                      error_status; /* for lintel_error */

    unsigned                        waiting:1;
    unsigned                        polling:1; /* on another worker's lookup */
    unsigned                        tenant_waited:1;
    unsigned                        platform:1;
    unsigned                        authenticated:1;
    unsigned                        jwks_waited:1;  /* once per request */
    unsigned                        headers_added:1;
    unsigned                        sent:1;        /* first write done */
    unsigned                        trailing:1;    /* bytes after the body */
    unsigned                        continued:1;   /* parts follow */
    unsigned                        more:1;        /* a cursor is pending */
} ngx_http_lintel_ctx_t;


extern ngx_module_t  ngx_http_lintel_module;


/* ngx_http_lintel_module.c */
ngx_http_lintel_ctx_t *ngx_http_lintel_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_lintel_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
void ngx_http_lintel_resume(ngx_http_request_t *r);

/* ngx_http_lintel_cache.c: the zone's mutex held, but for zone_init */
ngx_int_t ngx_http_lintel_cache_zone_init(ngx_shm_zone_t *zone, void *data);
void ngx_http_lintel_cache_attach(ngx_http_lintel_cache_t *cache,
    ngx_shm_zone_t *zone);
void *ngx_http_lintel_cache_find(ngx_http_lintel_cache_t *cache,
    ngx_str_t *key, uint32_t hash);
void *ngx_http_lintel_cache_add(ngx_http_lintel_cache_t *cache, size_t size,
    size_t key_offset, ngx_str_t *key, uint32_t hash);
void ngx_http_lintel_cache_delete(ngx_http_lintel_cache_t *cache,
    void *entry);

/* ngx_http_lintel_peer.c */
ngx_int_t ngx_http_lintel_peer_init(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf);
ngx_int_t ngx_http_lintel_lookup(const char *path,
    const ProtobufCMessage *body, ngx_http_lintel_lookup_pt handler,
    void *data);

/* ngx_http_lintel_tenant.c */
ngx_int_t ngx_http_lintel_tenant_init(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf);
ngx_int_t ngx_http_lintel_tenant_resolve(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx, ngx_str_t *slug);

/* ngx_http_lintel_auth.c */
ngx_int_t ngx_http_lintel_auth_init(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf);
void ngx_http_lintel_auth_exit(ngx_cycle_t *cycle);
ngx_int_t ngx_http_lintel_auth_check(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx);

/* ngx_http_lintel_upstream.c */
ngx_int_t ngx_http_lintel_upstream_handler(ngx_http_request_t *r);
char *ngx_http_lintel_upstream_merge(ngx_conf_t *cf,
    ngx_http_lintel_loc_conf_t *prev, ngx_http_lintel_loc_conf_t *conf);
void ngx_http_lintel_upstream_create_conf(ngx_http_lintel_loc_conf_t *conf);
extern ngx_conf_bitmask_t  ngx_http_lintel_next_upstream_masks[];


#endif /* _NGX_HTTP_LINTEL_MODULE_H_INCLUDED_ */
