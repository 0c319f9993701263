/*
 * ngx_http_lintel_forward: the content phase of a lintel_pass location.
 *
 * The body is read in memory (up to client_max_body_size: nginx answers
 * 413 beyond), the request becomes a lintel.v1.Request with origin EDGE,
 * the tenant and principal established in the rewrite phase, and only the
 * allow-listed headers; the reply's lintel.v1.Response becomes the HTTP
 * response.  While the call is in flight the request watches its client:
 * a client that goes away finalizes the request, whose pool cleanup
 * detaches the call (ngx_http_lintel_module.c).
 */

#include "ngx_http_lintel_module.h"


#define NGX_HTTP_LINTEL_MAX_HEADERS  32


static void ngx_http_lintel_forward_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_lintel_forward_send(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx);
static ngx_int_t ngx_http_lintel_forward_read_body(ngx_http_request_t *r,
    ProtobufCBinaryData *body);
static char *ngx_http_lintel_forward_cstr(ngx_pool_t *pool, ngx_str_t *s);
static void ngx_http_lintel_forward_done(ngx_http_lintel_call_t *call);
static ngx_int_t ngx_http_lintel_forward_reply(ngx_http_request_t *r,
    Lintel__V1__Response *res);


ngx_int_t
ngx_http_lintel_forward_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_lintel_ctx_t   *ctx;

    ctx = ngx_http_lintel_get_ctx(r);

    /* the rewrite phase did not run (a subrequest, say): nothing to trust */

    if (ctx == NULL || ctx->state != NGX_HTTP_LINTEL_STATE_DONE) {
        return NGX_HTTP_NOT_FOUND;
    }

    /* checked again here: a rewrite may have changed the URI since */

    if (lintel_envelope_path_is_internal((const char *) r->uri.data,
                                         r->uri.len))
    {
        return ngx_http_lintel_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                          "not found");
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_lintel_forward_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_lintel_forward_body(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_http_lintel_ctx_t  *ctx;

    ctx = ngx_http_lintel_get_ctx(r);

    rc = ngx_http_lintel_forward_send(r, ctx);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* notice a client that closes while the service works */

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
}


static ngx_int_t
ngx_http_lintel_forward_send(ngx_http_request_t *r, ngx_http_lintel_ctx_t *ctx)
{
    size_t                        len;
    nng_msg                      *msg;
    ngx_uint_t                    i, n;
    ngx_list_part_t              *part;
    ngx_table_elt_t              *h;
    Lintel__V1__Header           *hdrs, *hp[NGX_HTTP_LINTEL_MAX_HEADERS];
    Lintel__V1__Tenant            tenant = LINTEL__V1__TENANT__INIT;
    Lintel__V1__Request           req = LINTEL__V1__REQUEST__INIT;
    Lintel__V1__Principal         principal = LINTEL__V1__PRINCIPAL__INIT;
    ngx_http_lintel_loc_conf_t   *llcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_lintel_module);

    req.request_id = ngx_http_lintel_forward_cstr(r->pool, &ctx->request_id);
    req.timeout_ms = (uint32_t) llcf->timeout;
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
    req.method = ngx_http_lintel_forward_cstr(r->pool, &r->method_name);
    req.path = ngx_http_lintel_forward_cstr(r->pool, &r->uri);
    req.query = ngx_http_lintel_forward_cstr(r->pool, &r->args);
    req.client_ip = ngx_http_lintel_forward_cstr(r->pool,
                                                 &r->connection->addr_text);

    if (req.request_id == NULL || req.method == NULL || req.path == NULL
        || req.query == NULL || req.client_ip == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ctx->platform) {
        tenant.id = ngx_http_lintel_forward_cstr(r->pool, &ctx->tenant_id);
        tenant.slug = ngx_http_lintel_forward_cstr(r->pool, &ctx->slug);

        if (tenant.id == NULL || tenant.slug == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        req.tenant = &tenant;
    }

    if (ctx->user_id.len) {
        principal.user_id = ngx_http_lintel_forward_cstr(r->pool,
                                                         &ctx->user_id);
        principal.role = ngx_http_lintel_forward_cstr(r->pool, &ctx->role);
        principal.session_id = ngx_http_lintel_forward_cstr(r->pool,
                                                          &ctx->session_id);
        principal.token_id = ngx_http_lintel_forward_cstr(r->pool,
                                                          &ctx->token_id);

        if (principal.user_id == NULL || principal.role == NULL
            || principal.session_id == NULL || principal.token_id == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        req.principal = &principal;
    }

    hdrs = ngx_palloc(r->pool,
                      NGX_HTTP_LINTEL_MAX_HEADERS * sizeof(Lintel__V1__Header));
    if (hdrs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == 11
            && ngx_strncasecmp(h[i].key.data, (u_char *) "traceparent", 11)
               == 0)
        {
            if (lintel_envelope_traceparent_valid(
                    (const char *) h[i].value.data, h[i].value.len))
            {
                req.traceparent = ngx_http_lintel_forward_cstr(r->pool,
                                                               &h[i].value);
            }

            continue;
        }

        if (n == NGX_HTTP_LINTEL_MAX_HEADERS
            || !lintel_envelope_request_header_allowed(
                   (const char *) h[i].key.data, h[i].key.len))
        {
            continue;
        }

        lintel__v1__header__init(&hdrs[n]);

        /* lower-case names, as the envelope says */

        hdrs[n].name = ngx_pnalloc(r->pool, h[i].key.len + 1);
        hdrs[n].value = ngx_http_lintel_forward_cstr(r->pool, &h[i].value);

        if (hdrs[n].name == NULL || hdrs[n].value == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_strlow((u_char *) hdrs[n].name, h[i].key.data, h[i].key.len);
        hdrs[n].name[h[i].key.len] = '\0';

        hp[n] = &hdrs[n];
        n++;
    }

    req.n_headers = n;
    req.headers = hp;

    if (ngx_http_lintel_forward_read_body(r, &req.body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = lintel__v1__request__get_packed_size(&req);

    if (nng_msg_alloc(&msg, len) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lintel__v1__request__pack(&req, nng_msg_body(msg));

    ctx->call = ngx_http_lintel_call(llcf->service, msg, llcf->timeout,
                                     ngx_http_lintel_forward_done, r,
                                     r->connection->log);
    if (ctx->call == NULL) {
        return ngx_http_lintel_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "service_unavailable",
                                          "the service is unavailable");
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_lintel_forward_read_body(ngx_http_request_t *r,
    ProtobufCBinaryData *body)
{
    u_char       *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->data = NULL;
    body->len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    /*
     * More than client_body_buffer_size went to a temporary file; the
     * example configuration sizes the buffer so that this does not happen.
     */

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    p = ngx_pnalloc(r->pool, len ? len : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    return NGX_OK;
}


static char *
ngx_http_lintel_forward_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return (char *) p;
}


static void
ngx_http_lintel_forward_done(ngx_http_lintel_call_t *call)
{
    ngx_int_t               rc;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_lintel_ctx_t  *ctx;
    Lintel__V1__Response   *res;

    r = call->data;
    c = r->connection;
    ctx = ngx_http_lintel_get_ctx(r);
    ctx->call = NULL;

    r->read_event_handler = ngx_http_block_reading;

    if (call->err == NNG_ETIMEDOUT || call->err == NNG_ECANCELED) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "lintel: service timed out");
        rc = ngx_http_lintel_send_error(r, NGX_HTTP_GATEWAY_TIME_OUT,
                                        "gateway_timeout",
                                        "the service did not answer in time");

    } else if (call->err == NNG_ECONNREFUSED || call->err == NNG_ECLOSED) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "lintel: service unavailable: %s",
                      nng_strerror(call->err));
        rc = ngx_http_lintel_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "service_unavailable",
                                        "the service is unavailable");

    } else if (call->err != 0) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "lintel: service failed: %s", nng_strerror(call->err));
        rc = ngx_http_lintel_send_error(r, NGX_HTTP_BAD_GATEWAY,
                                        "bad_gateway",
                                        "the service failed");

    } else {
        res = lintel_envelope_unpack_response(nng_msg_body(call->reply),
                                              nng_msg_len(call->reply));

        if (res == NULL || res->status < 100 || res->status > 599) {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "lintel: undecodable reply from the service");
            rc = ngx_http_lintel_send_error(r, NGX_HTTP_BAD_GATEWAY,
                                            "bad_gateway",
                                            "the service answered nonsense");
        } else {
            rc = ngx_http_lintel_forward_reply(r, res);
        }

        lintel_envelope_free_response(res);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_lintel_forward_reply(ngx_http_request_t *r, Lintel__V1__Response *res)
{
    size_t               i, len;
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_chain_t          out;
    ngx_table_elt_t     *h;
    Lintel__V1__Header  *rh;

    for (i = 0; i < res->n_headers; i++) {
        rh = res->headers[i];

        if (rh->name == NULL || rh->value == NULL
            || !lintel_envelope_response_header_allowed(rh->name,
                   ngx_strlen(rh->name), rh->value, ngx_strlen(rh->value)))
        {
            continue;
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        h->key.len = ngx_strlen(rh->name);
        h->key.data = ngx_pstrdup(r->pool,
                                  &(ngx_str_t) { h->key.len,
                                                 (u_char *) rh->name });
        h->value.len = ngx_strlen(rh->value);
        h->value.data = ngx_pstrdup(r->pool,
                                    &(ngx_str_t) { h->value.len,
                                                   (u_char *) rh->value });

        if (h->key.data == NULL || h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    r->headers_out.status = res->status;
    r->headers_out.content_length_n = res->body.len;

    /*
     * The service is the authority on If-Match: nginx's not_modified
     * filter would answer 412 to every 200 whose request carried If-Match
     * (it compares with the *new* ETag of a PATCH, or finds none).
     */
    r->disable_not_modified = 1;

    if (res->content_type && res->content_type[0]
        && lintel_envelope_response_header_allowed("x", 1, res->content_type,
                                         ngx_strlen(res->content_type)))
    {
        len = ngx_strlen(res->content_type);
        r->headers_out.content_type.len = len;
        r->headers_out.content_type.data =
            ngx_pstrdup(r->pool, &(ngx_str_t) { len,
                                                (u_char *) res->content_type });
        r->headers_out.content_type_len = len;

        if (r->headers_out.content_type.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (res->body.len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, res->body.len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->pos, res->body.data, res->body.len);
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
