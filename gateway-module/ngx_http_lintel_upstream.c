/*
 * ngx_http_lintel_upstream: the content phase of a lintel_pass location,
 * an ngx_http_upstream module like memcached_pass and grpc_pass.
 *
 * The request becomes one SP message (lintel_sp.h): the frame, the head of
 * a lintel.v1.Request packed by protobuf-c (origin EDGE, the tenant and
 * principal of the rewrite phase, the allow-listed headers), then the key
 * of field 12 and the client's body, linked from nginx's request body chain
 * (memory or temporary file) without a copy.  A new connection starts with
 * the REQ0 handshake; a cached keepalive one does not.
 *
 * The reply's head (status, content type, headers) is parsed once it is in
 * the buffer; its body, the last field, is streamed to the client as it
 * arrives (non-buffered upstream), so a large reply never sits whole in a
 * worker.  The connection goes back to the keepalive cache only when the
 * whole message was read.
 *
 * A continued reply (a Response with a continuation: a body too large for
 * one message, an export's CSV say) comes in parts.  The first part's head
 * is the reply's, with the whole body's length as Content-Length; when a
 * part's body has been read, the same request goes again on the same
 * connection with the part's cursor and a new id, and the next part's
 * head is read into a small buffer of its own (never passed on) while its
 * body streams on.  REQ/REP answers one request at a time, so there is
 * one part in flight and a worker holds lintel_buffer_size of it.  A part
 * that fails (another status, a bad head, lengths that do not add up)
 * cuts the client's connection: its headers are gone already.
 *
 * Only GET, HEAD and OPTIONS may move to the next server of the upstream
 * (lintel_next_upstream): every other method runs on a copy of the
 * upstream configuration whose next_upstream is off, so a POST is never
 * sent twice.
 */

#include "ngx_http_lintel_module.h"


#define NGX_HTTP_LINTEL_MAX_HEADERS  32
#define NGX_HTTP_LINTEL_MAX_CURSOR   512
#define NGX_HTTP_LINTEL_RETRYABLE    (NGX_HTTP_GET|NGX_HTTP_HEAD            \
                                      |NGX_HTTP_OPTIONS)


static ngx_int_t ngx_http_lintel_create_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_lintel_pack_head(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx, Lintel__V1__Request *req);
static ngx_int_t ngx_http_lintel_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_lintel_output(void *data, ngx_chain_t *in);
static ngx_int_t ngx_http_lintel_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_lintel_reply_head(ngx_http_request_t *r,
    Lintel__V1__Response *res);
static ngx_int_t ngx_http_lintel_filter_init(void *data);
static ngx_int_t ngx_http_lintel_filter(void *data, ssize_t bytes);
static ngx_int_t ngx_http_lintel_pass_body(ngx_http_request_t *r,
    u_char *pos, size_t n);
static ngx_int_t ngx_http_lintel_set_cursor(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx, Lintel__V1__Continuation *cont);
static ngx_int_t ngx_http_lintel_part_done(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx);
static ngx_int_t ngx_http_lintel_ask_part(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx);
static void ngx_http_lintel_ask_part_handler(ngx_http_request_t *r,
    ngx_http_upstream_t *u);
static ngx_int_t ngx_http_lintel_part_head(ngx_http_request_t *r,
    ngx_http_lintel_ctx_t *ctx, u_char *pos, size_t n, size_t *used);
static void ngx_http_lintel_abort_request(ngx_http_request_t *r);
static void ngx_http_lintel_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_uint_t ngx_http_lintel_new_connection(ngx_http_upstream_t *u);
static char *ngx_http_lintel_cstr(ngx_pool_t *pool, ngx_str_t *s);


ngx_conf_bitmask_t  ngx_http_lintel_next_upstream_masks[] = {
    { ngx_string("error"), NGX_HTTP_UPSTREAM_FT_ERROR },
    { ngx_string("timeout"), NGX_HTTP_UPSTREAM_FT_TIMEOUT },
    { ngx_string("invalid_header"), NGX_HTTP_UPSTREAM_FT_INVALID_HEADER },
    { ngx_string("http_502"), NGX_HTTP_UPSTREAM_FT_HTTP_502 },
    { ngx_string("http_503"), NGX_HTTP_UPSTREAM_FT_HTTP_503 },
    { ngx_string("http_504"), NGX_HTTP_UPSTREAM_FT_HTTP_504 },
    { ngx_string("off"), NGX_HTTP_UPSTREAM_FT_OFF },
    { ngx_null_string, 0 }
};


/* per worker: ids only need to differ between requests of a connection */
static uint32_t  ngx_http_lintel_next_id;


ngx_int_t
ngx_http_lintel_upstream_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_upstream_t         *u;
    ngx_http_lintel_ctx_t       *ctx;
    ngx_http_lintel_loc_conf_t  *llcf;

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

    if (ngx_http_upstream_create(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_lintel_module);

    u = r->upstream;

    ngx_str_set(&u->schema, "sp://");
    u->output.tag = (ngx_buf_tag_t) &ngx_http_lintel_module;

    u->conf = (r->method & NGX_HTTP_LINTEL_RETRYABLE) ? &llcf->upstream
                                                      : &llcf->upstream_once;

    u->create_request = ngx_http_lintel_create_request;
    u->reinit_request = ngx_http_lintel_reinit_request;
    u->process_header = ngx_http_lintel_process_header;
    u->abort_request = ngx_http_lintel_abort_request;
    u->finalize_request = ngx_http_lintel_finalize_request;

    u->input_filter_init = ngx_http_lintel_filter_init;
    u->input_filter = ngx_http_lintel_filter;
    u->input_filter_ctx = r;

    u->output.output_filter = ngx_http_lintel_output;
    u->output.filter_ctx = r;

    rc = ngx_http_read_client_request_body(r, ngx_http_upstream_init);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_lintel_create_request(ngx_http_request_t *r)
{
    off_t                   body_len;
    size_t                  head_len, key_len;
    ngx_buf_t              *b, *bb;
    ngx_chain_t            *cl, *body, **ll;
    ngx_time_t             *tp;
    ngx_http_lintel_ctx_t  *ctx;
    Lintel__V1__Request    *req;
    uint8_t                 key[LINTEL_SP_BODY_KEY_MAX];

    ctx = ngx_http_lintel_get_ctx(r);

    /* kept: the parts of a continued reply are asked for with it again */

    req = ngx_palloc(r->pool, sizeof(Lintel__V1__Request));
    if (req == NULL) {
        return NGX_ERROR;
    }

    lintel__v1__request__init(req);
    ctx->req = req;

    if (ngx_http_lintel_pack_head(r, ctx, req) != NGX_OK) {
        return NGX_ERROR;
    }

    tp = ngx_timeofday();
    req->sent_at_unix_ms = (int64_t) tp->sec * 1000 + tp->msec;

    body_len = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            body_len += ngx_buf_size(cl->buf);
        }
    }

    head_len = lintel__v1__request__get_packed_size(req);
    key_len = body_len ? lintel_sp_body_key(key, (uint64_t) body_len) : 0;

    b = ngx_create_temp_buf(r->pool, LINTEL_SP_FRAME_LEN + head_len
                                     + key_len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    ctx->sp_id = ngx_http_lintel_next_id++ & ~LINTEL_SP_ID_BIT;

    lintel_sp_frame(b->last, head_len + key_len + (uint64_t) body_len,
                    ctx->sp_id);
    b->last += LINTEL_SP_FRAME_LEN;
    b->last += lintel__v1__request__pack(req, b->last);
    b->last = ngx_cpymem(b->last, key, key_len);

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    r->upstream->request_bufs = cl;
    ll = &cl->next;

    /*
     * The body follows as it is: copies of the buffer headers (the
     * upstream resets their positions for a retry), the same memory or
     * the same file underneath.
     */

    if (body_len) {
        for (body = r->request_body->bufs; body; body = body->next) {
            if (ngx_buf_size(body->buf) == 0) {
                continue;
            }

            bb = ngx_alloc_buf(r->pool);
            if (bb == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(bb, body->buf, sizeof(ngx_buf_t));

            cl = ngx_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf = bb;
            *ll = cl;
            ll = &cl->next;
        }
    }

    *ll = NULL;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lintel_pack_head(ngx_http_request_t *r, ngx_http_lintel_ctx_t *ctx,
    Lintel__V1__Request *req)
{
    ngx_uint_t                    i, n;
    ngx_list_part_t              *part;
    ngx_table_elt_t              *h;
    Lintel__V1__Header           *hdrs, **hp;
    Lintel__V1__Tenant           *tenant;
    Lintel__V1__Principal        *principal;
    ngx_http_lintel_loc_conf_t   *llcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_lintel_module);

    req->request_id = ngx_http_lintel_cstr(r->pool, &ctx->request_id);
    req->timeout_ms = (uint32_t) llcf->timeout;
    req->origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
    req->method = ngx_http_lintel_cstr(r->pool, &r->method_name);
    req->path = ngx_http_lintel_cstr(r->pool, &r->uri);
    req->query = ngx_http_lintel_cstr(r->pool, &r->args);
    req->client_ip = ngx_http_lintel_cstr(r->pool, &r->connection->addr_text);

    if (req->request_id == NULL || req->method == NULL || req->path == NULL
        || req->query == NULL || req->client_ip == NULL)
    {
        return NGX_ERROR;
    }

    if (!ctx->platform) {
        tenant = ngx_palloc(r->pool, sizeof(Lintel__V1__Tenant));
        if (tenant == NULL) {
            return NGX_ERROR;
        }

        lintel__v1__tenant__init(tenant);
        tenant->id = ngx_http_lintel_cstr(r->pool, &ctx->tenant_id);
        tenant->slug = ngx_http_lintel_cstr(r->pool, &ctx->slug);

        if (tenant->id == NULL || tenant->slug == NULL) {
            return NGX_ERROR;
        }

        req->tenant = tenant;
    }

    if (ctx->user_id.len) {
        principal = ngx_palloc(r->pool, sizeof(Lintel__V1__Principal));
        if (principal == NULL) {
            return NGX_ERROR;
        }

        lintel__v1__principal__init(principal);
        principal->user_id = ngx_http_lintel_cstr(r->pool, &ctx->user_id);
        principal->role = ngx_http_lintel_cstr(r->pool, &ctx->role);
        principal->session_id = ngx_http_lintel_cstr(r->pool,
                                                     &ctx->session_id);
        principal->token_id = ngx_http_lintel_cstr(r->pool, &ctx->token_id);

        if (principal->user_id == NULL || principal->role == NULL
            || principal->session_id == NULL || principal->token_id == NULL)
        {
            return NGX_ERROR;
        }

        req->principal = principal;
    }

    hdrs = ngx_palloc(r->pool,
                      NGX_HTTP_LINTEL_MAX_HEADERS * sizeof(Lintel__V1__Header));
    hp = ngx_palloc(r->pool,
                    NGX_HTTP_LINTEL_MAX_HEADERS * sizeof(Lintel__V1__Header *));
    if (hdrs == NULL || hp == NULL) {
        return NGX_ERROR;
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
                req->traceparent = ngx_http_lintel_cstr(r->pool,
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
        hdrs[n].value = ngx_http_lintel_cstr(r->pool, &h[i].value);

        if (hdrs[n].name == NULL || hdrs[n].value == NULL) {
            return NGX_ERROR;
        }

        ngx_strlow((u_char *) hdrs[n].name, h[i].key.data, h[i].key.len);
        hdrs[n].name[h[i].key.len] = '\0';

        hp[n] = &hdrs[n];
        n++;
    }

    req->n_headers = n;
    req->headers = hp;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lintel_reinit_request(ngx_http_request_t *r)
{
    ngx_http_lintel_ctx_t  *ctx;

    ctx = ngx_http_lintel_get_ctx(r);

    if (ctx == NULL) {
        return NGX_OK;
    }

    ctx->sent = 0;
    ctx->trailing = 0;
    ctx->body_rest = 0;
    ctx->total_rest = 0;
    ctx->continued = 0;
    ctx->more = 0;

    return NGX_OK;
}


/*
 * A cached keepalive connection has served requests before and has done
 * its handshake both ways; a new one starts with it, and so does its
 * reply.  The upstream counts requests per connection (c->requests).
 */

static ngx_uint_t
ngx_http_lintel_new_connection(ngx_http_upstream_t *u)
{
    return u->peer.connection->requests == 1;
}


static ngx_int_t
ngx_http_lintel_output(void *data, ngx_chain_t *in)
{
    ngx_http_request_t *r = data;

    ngx_buf_t              *b;
    ngx_chain_t            *cl;
    ngx_http_upstream_t    *u;
    ngx_http_lintel_ctx_t  *ctx;

    u = r->upstream;
    ctx = ngx_http_lintel_get_ctx(r);

    if (!ctx->sent) {
        ctx->sent = 1;

        if (ngx_http_lintel_new_connection(u)) {
            b = ngx_create_temp_buf(r->pool, LINTEL_SP_HANDSHAKE_LEN);
            cl = ngx_alloc_chain_link(r->pool);
            if (b == NULL || cl == NULL) {
                return NGX_ERROR;
            }

            lintel_sp_handshake(b->last);
            b->last += LINTEL_SP_HANDSHAKE_LEN;

            cl->buf = b;
            cl->next = in;
            in = cl;
        }
    }

    return ngx_chain_writer(&u->writer, in);
}


static ngx_int_t
ngx_http_lintel_process_header(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_buf_t                    *b;
    lintel_sp_rc_e                sprc;
    lintel_sp_reply_t             reply;
    ngx_http_upstream_t          *u;
    ngx_http_lintel_ctx_t        *ctx;
    Lintel__V1__Response         *res;
    ngx_http_lintel_main_conf_t  *lmcf;

    u = r->upstream;
    b = &u->buffer;
    ctx = ngx_http_lintel_get_ctx(r);
    lmcf = ngx_http_get_module_main_conf(r, ngx_http_lintel_module);

    /* (a REP peer sends its handshake as soon as it accepts: on a new
     * connection this may run before the first write) */

    sprc = lintel_sp_parse_reply(b->pos, b->last - b->pos, b->last == b->end,
                                 ngx_http_lintel_new_connection(u),
                                 ctx->sp_id, lmcf->max_reply_size, &reply);

    if (sprc == LINTEL_SP_AGAIN) {
        return NGX_AGAIN;
    }

    if (sprc != LINTEL_SP_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "lintel: bad reply from the service: %s, "
                      "request id %V", lintel_sp_strerror(sprc),
                      &ctx->request_id);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    res = lintel_envelope_unpack_response(b->pos + reply.head_start,
                                          reply.head_len);

    if (res == NULL || res->status < 100 || res->status > 599) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "lintel: undecodable reply head from the service, "
                      "request id %V", &ctx->request_id);
        lintel_envelope_free_response(res);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    /* checked before any header is set: a 502 or a retry follows */

    if (res->continuation
        && (reply.body_len == 0
            || res->continuation->total_length <= reply.body_len
            || res->continuation->total_length > NGX_MAX_OFF_T_VALUE
            || ngx_http_lintel_set_cursor(r, ctx, res->continuation)
               != NGX_OK))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "lintel: bad continued reply from the service, "
                      "request id %V", &ctx->request_id);
        lintel_envelope_free_response(res);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (res->continuation) {
        ctx->continued = 1;
        ctx->total_rest = res->continuation->total_length;
        ctx->part_status = res->status;
    }

    rc = ngx_http_lintel_reply_head(r, res);

    lintel_envelope_free_response(res);

    if (rc != NGX_OK) {
        return rc;
    }

    u->headers_in.content_length_n = (off_t) reply.body_len;
    b->pos += reply.body_start;
    ctx->body_rest = reply.body_len;

    if (ctx->continued) {
        u->headers_in.content_length_n = (off_t) ctx->total_rest;
        return NGX_OK;
    }

    if (reply.body_len == 0) {
        /* the whole message is read: the connection may be reused */
        ctx->trailing = (b->pos != b->last);
        u->keepalive = !ctx->trailing;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_lintel_reply_head(ngx_http_request_t *r, Lintel__V1__Response *res)
{
    size_t                i, len;
    ngx_str_t             s;
    ngx_table_elt_t      *h;
    ngx_http_upstream_t  *u;
    Lintel__V1__Header   *rh;

    u = r->upstream;

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
            return NGX_ERROR;
        }

        h->hash = 1;

        s.len = ngx_strlen(rh->name);
        s.data = (u_char *) rh->name;
        h->key.len = s.len;
        h->key.data = ngx_pstrdup(r->pool, &s);

        s.len = ngx_strlen(rh->value);
        s.data = (u_char *) rh->value;
        h->value.len = s.len;
        h->value.data = ngx_pstrdup(r->pool, &s);

        if (h->key.data == NULL || h->value.data == NULL) {
            return NGX_ERROR;
        }
    }

    if (res->content_type && res->content_type[0]
        && lintel_envelope_response_header_allowed("x", 1, res->content_type,
                                         ngx_strlen(res->content_type)))
    {
        len = ngx_strlen(res->content_type);
        s.len = len;
        s.data = (u_char *) res->content_type;

        r->headers_out.content_type.data = ngx_pstrdup(r->pool, &s);
        if (r->headers_out.content_type.data == NULL) {
            return NGX_ERROR;
        }

        r->headers_out.content_type.len = len;
        r->headers_out.content_type_len = len;
        r->headers_out.content_type_lowcase = NULL;
    }

    u->headers_in.status_n = res->status;
    u->state->status = res->status;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lintel_filter_init(void *data)
{
    ngx_http_request_t *r = data;

    ngx_http_lintel_ctx_t  *ctx;

    ctx = ngx_http_lintel_get_ctx(r);

    r->upstream->length = ctx->continued ? (off_t) ctx->total_rest
                                         : (off_t) ctx->body_rest;

    return NGX_OK;
}


/*
 * Non-buffered: each read is passed on as it comes, up to the end of the
 * body, which is the end of the message.  Bytes past it are a broken
 * peer: they are dropped and the connection is not reused.  In a continued
 * reply, a read may also hold the head of the next part (taken out, never
 * passed on) and the start of its body.  A part that fails sets u->error:
 * the upstream passes on what came before it, then cuts the client's
 * connection, and drops the rest.
 */

static ngx_int_t
ngx_http_lintel_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t *r = data;

    size_t                  n;
    u_char                 *p, *end;
    ngx_buf_t              *b;
    ngx_http_upstream_t    *u;
    ngx_http_lintel_ctx_t  *ctx;

    u = r->upstream;
    b = &u->buffer;
    ctx = ngx_http_lintel_get_ctx(r);

    if (u->error) {
        return NGX_OK;
    }

    p = b->last;
    end = b->last + bytes;

    while (p < end) {

        if (ctx->body_rest) {
            n = ngx_min((uint64_t) (end - p), ctx->body_rest);

            if (ngx_http_lintel_pass_body(r, p, n) != NGX_OK) {
                return NGX_ERROR;
            }

            p += n;
            ctx->body_rest -= n;

            if (!ctx->continued) {
                continue;
            }

            ctx->total_rest -= n;

            if (ctx->body_rest == 0
                && ngx_http_lintel_part_done(r, ctx) != NGX_OK)
            {
                u->error = 1;
                break;
            }

            continue;
        }

        if (ctx->continued && ctx->more) {
            if (ngx_http_lintel_part_head(r, ctx, p, end - p, &n) != NGX_OK) {
                u->error = 1;
                break;
            }

            p += n;
            continue;
        }

        break;
    }

    b->last = p;

    if (u->error) {
        /* u->length stays above 0: this is no end of the reply */
        u->keepalive = 0;
        return NGX_OK;
    }

    if (p < end) {
        if (!ctx->trailing) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "lintel: the service sent bytes after its reply, "
                          "request id %V", &ctx->request_id);
        }

        ctx->trailing = 1;
        u->keepalive = 0;
        u->length = 0;

        return NGX_OK;
    }

    u->length = ctx->continued ? (off_t) ctx->total_rest
                               : (off_t) ctx->body_rest;

    if (u->length == 0) {
        u->keepalive = !ctx->trailing;
    }

    return NGX_OK;
}


/* n bytes of body at pos, in u->buffer, to the client */

static ngx_int_t
ngx_http_lintel_pass_body(ngx_http_request_t *r, u_char *pos, size_t n)
{
    ngx_chain_t          *cl, **ll;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    for (cl = u->out_bufs, ll = &u->out_bufs; cl; cl = cl->next) {
        ll = &cl->next;
    }

    cl = ngx_chain_get_free_buf(r->pool, &u->free_bufs);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    *ll = cl;

    cl->buf->flush = 1;
    cl->buf->memory = 1;
    cl->buf->pos = pos;
    cl->buf->last = pos + n;
    cl->buf->tag = u->output.tag;

    return NGX_OK;
}


/* the cursor of the next part, copied: the Response is freed */

static ngx_int_t
ngx_http_lintel_set_cursor(ngx_http_request_t *r, ngx_http_lintel_ctx_t *ctx,
    Lintel__V1__Continuation *cont)
{
    size_t  len;

    len = (cont->cursor == NULL) ? 0 : ngx_strlen(cont->cursor);

    if (len == 0 || len > NGX_HTTP_LINTEL_MAX_CURSOR) {
        return NGX_ERROR;
    }

    if (ctx->cursor.data == NULL) {
        ctx->cursor.data = ngx_pnalloc(r->pool,
                                       NGX_HTTP_LINTEL_MAX_CURSOR + 1);
        if (ctx->cursor.data == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_memcpy(ctx->cursor.data, cont->cursor, len + 1);
    ctx->cursor.len = len;
    ctx->more = 1;

    return NGX_OK;
}


/*
 * A part's body has been read: ask for the next one, or, after the last,
 * check that the parts added up to the length the client was promised.
 */

static ngx_int_t
ngx_http_lintel_part_done(ngx_http_request_t *r, ngx_http_lintel_ctx_t *ctx)
{
    if (!ctx->more) {
        if (ctx->total_rest == 0) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "lintel: the service's continued reply ended %uL "
                      "bytes short, request id %V", ctx->total_rest,
                      &ctx->request_id);
        return NGX_ERROR;
    }

    if (ctx->total_rest == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "lintel: the service's continued reply goes on past "
                      "its length, request id %V", &ctx->request_id);
        return NGX_ERROR;
    }

    if (ctx->part == NULL) {
        ctx->part = ngx_create_temp_buf(r->pool,
                                        r->upstream->conf->buffer_size);
        if (ctx->part == NULL) {
            return NGX_ERROR;
        }
    }

    ctx->part->pos = ctx->part->start;
    ctx->part->last = ctx->part->start;

    return ngx_http_lintel_ask_part(r, ctx);
}


/*
 * The request again, with the cursor, a new id and the time it is sent
 * (its budget is counted from there), on the connection of the reply.
 * The upstream sent the request already and sends nothing more itself.
 */

static ngx_int_t
ngx_http_lintel_ask_part(ngx_http_request_t *r, ngx_http_lintel_ctx_t *ctx)
{
    size_t                len;
    ngx_int_t             rc;
    ngx_buf_t            *b;
    ngx_time_t           *tp;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    tp = ngx_timeofday();
    ctx->req->sent_at_unix_ms = (int64_t) tp->sec * 1000 + tp->msec;
    ctx->req->continuation = (char *) ctx->cursor.data;
    ctx->sp_id = ngx_http_lintel_next_id++ & ~LINTEL_SP_ID_BIT;

    len = lintel__v1__request__get_packed_size(ctx->req);

    /* one buffer for all parts: the request differs only by its cursor */

    b = ctx->part_req;

    if (b == NULL || (size_t) (b->end - b->start) < LINTEL_SP_FRAME_LEN + len)
    {
        b = ngx_create_temp_buf(r->pool, LINTEL_SP_FRAME_LEN + len
                                         + NGX_HTTP_LINTEL_MAX_CURSOR);
        if (b == NULL) {
            return NGX_ERROR;
        }

        ctx->part_req = b;
    }

    if (ctx->part_out == NULL) {
        ctx->part_out = ngx_alloc_chain_link(r->pool);
        if (ctx->part_out == NULL) {
            return NGX_ERROR;
        }
    }

    b->pos = b->start;
    lintel_sp_frame(b->pos, len, ctx->sp_id);
    b->last = b->pos + LINTEL_SP_FRAME_LEN;
    b->last += lintel__v1__request__pack(ctx->req, b->last);

    ctx->part_out->buf = b;
    ctx->part_out->next = NULL;

    rc = ngx_chain_writer(&u->writer, ctx->part_out);

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "lintel: could not ask the service for the next part, "
                      "request id %V", &ctx->request_id);
        return NGX_ERROR;
    }

    if (rc == NGX_AGAIN) {
        u->write_event_handler = ngx_http_lintel_ask_part_handler;

        if (ngx_handle_write_event(u->peer.connection->write, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The rest of a part's request, when the socket took only some of it.  A
 * failure shows on the read side as well (a closed connection, or no
 * reply within lintel_timeout), which ends the request there.
 */

static void
ngx_http_lintel_ask_part_handler(ngx_http_request_t *r,
    ngx_http_upstream_t *u)
{
    if (ngx_chain_writer(&u->writer, NULL) == NGX_AGAIN) {
        (void) ngx_handle_write_event(u->peer.connection->write, 0);
    }
}


/*
 * The start of a part: its frame and head are collected in ctx->part
 * (n bytes at pos are offered; *used says how many were head), checked
 * like a first reply's, and must repeat the first part's status: a
 * service that fails in the middle answers with an error instead.
 */

static ngx_int_t
ngx_http_lintel_part_head(ngx_http_request_t *r, ngx_http_lintel_ctx_t *ctx,
    u_char *pos, size_t n, size_t *used)
{
    size_t                        had;
    ngx_buf_t                    *part;
    ngx_int_t                     rc;
    lintel_sp_rc_e                sprc;
    lintel_sp_reply_t             reply;
    Lintel__V1__Response         *res;
    ngx_http_lintel_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_lintel_module);
    part = ctx->part;

    had = part->last - part->pos;
    n = ngx_min(n, (size_t) (part->end - part->last));
    part->last = ngx_cpymem(part->last, pos, n);

    sprc = lintel_sp_parse_reply(part->pos, part->last - part->pos,
                                 part->last == part->end, 0, ctx->sp_id,
                                 lmcf->max_reply_size, &reply);

    if (sprc == LINTEL_SP_AGAIN) {
        *used = n;
        return NGX_OK;
    }

    if (sprc != LINTEL_SP_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "lintel: bad part of a continued reply from the "
                      "service: %s, request id %V", lintel_sp_strerror(sprc),
                      &ctx->request_id);
        return NGX_ERROR;
    }

    /* the rest of what was offered is body, where it lies */

    *used = reply.body_start - had;

    res = lintel_envelope_unpack_response(part->pos + reply.head_start,
                                          reply.head_len);

    if (res == NULL || res->status != ctx->part_status) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "lintel: the service failed in the middle of a "
                      "continued reply (status %ui), request id %V",
                      res ? (ngx_uint_t) res->status : 0, &ctx->request_id);
        lintel_envelope_free_response(res);
        return NGX_ERROR;
    }

    rc = NGX_OK;
    ctx->more = 0;

    if (res->continuation) {
        rc = ngx_http_lintel_set_cursor(r, ctx, res->continuation);
    }

    lintel_envelope_free_response(res);

    if (rc != NGX_OK || reply.body_len == 0
        || reply.body_len > ctx->total_rest)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "lintel: bad part of a continued reply from the "
                      "service, request id %V", &ctx->request_id);
        return NGX_ERROR;
    }

    ctx->body_rest = reply.body_len;

    return NGX_OK;
}


static void
ngx_http_lintel_abort_request(ngx_http_request_t *r)
{
    return;
}


/*
 * nginx's upstream answers 502 or 504 when no server could be reached; the
 * edge's contract says 503 for that (the service is unavailable) and keeps
 * 502/504 for a service that took the request and failed or was slow.
 * lintel_error reads the verdict from the ctx.
 */

static void
ngx_http_lintel_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_upstream_t    *u;
    ngx_http_lintel_ctx_t  *ctx;

    u = r->upstream;
    ctx = ngx_http_lintel_get_ctx(r);

    if (ctx == NULL || u->header_sent) {
        return;
    }

    if ((rc == NGX_HTTP_BAD_GATEWAY || rc == NGX_HTTP_GATEWAY_TIME_OUT)
        && (u->state == NULL || u->state->connect_time == (ngx_msec_t) -1))
    {
        ctx->error_status = NGX_HTTP_SERVICE_UNAVAILABLE;
    }
}


static char *
ngx_http_lintel_cstr(ngx_pool_t *pool, ngx_str_t *s)
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


/* configuration */

void
ngx_http_lintel_upstream_create_conf(ngx_http_lintel_loc_conf_t *conf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream.bufs.num = 0;
     *     conf->upstream.next_upstream = 0;
     *     conf->upstream.temp_path = NULL;
     */

    conf->upstream.local = NGX_CONF_UNSET_PTR;
    conf->upstream.socket_keepalive = NGX_CONF_UNSET;
    conf->upstream.next_upstream_tries = NGX_CONF_UNSET_UINT;
    conf->upstream.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.send_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.read_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.next_upstream_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.buffer_size = NGX_CONF_UNSET_SIZE;

    /* the hardcoded values: a streamed reply, nothing stored */
    conf->upstream.cyclic_temp_file = 0;
    conf->upstream.buffering = 0;
    conf->upstream.ignore_client_abort = 0;
    conf->upstream.send_lowat = 0;
    conf->upstream.bufs.num = 0;
    conf->upstream.busy_buffers_size = 0;
    conf->upstream.max_temp_file_size = 0;
    conf->upstream.temp_file_write_size = 0;
    conf->upstream.intercept_errors = 0;
    conf->upstream.pass_request_headers = 0;
    conf->upstream.pass_request_body = 1;
    conf->upstream.force_ranges = 0;
}


char *
ngx_http_lintel_upstream_merge(ngx_conf_t *cf, ngx_http_lintel_loc_conf_t *prev,
    ngx_http_lintel_loc_conf_t *conf)
{
    ngx_conf_merge_ptr_value(conf->upstream.local, prev->upstream.local,
                             NULL);
    ngx_conf_merge_value(conf->upstream.socket_keepalive,
                         prev->upstream.socket_keepalive, 0);
    ngx_conf_merge_uint_value(conf->upstream.next_upstream_tries,
                              prev->upstream.next_upstream_tries, 0);
    ngx_conf_merge_size_value(conf->upstream.buffer_size,
                              prev->upstream.buffer_size, 8192);
    ngx_conf_merge_bitmask_value(conf->upstream.next_upstream,
                                 prev->upstream.next_upstream,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_HTTP_UPSTREAM_FT_ERROR
                                  |NGX_HTTP_UPSTREAM_FT_TIMEOUT));

    if (conf->upstream.next_upstream & NGX_HTTP_UPSTREAM_FT_OFF) {
        conf->upstream.next_upstream = NGX_CONF_BITMASK_SET
                                       |NGX_HTTP_UPSTREAM_FT_OFF;
    }

    if (conf->upstream.upstream == NULL) {
        conf->upstream.upstream = prev->upstream.upstream;
    }

    /* the request's budget bounds every step and all tries together */

    conf->upstream.connect_timeout = conf->timeout;
    conf->upstream.send_timeout = conf->timeout;
    conf->upstream.read_timeout = conf->timeout;
    conf->upstream.next_upstream_timeout = conf->timeout;

    conf->upstream_once = conf->upstream;
    conf->upstream_once.next_upstream = NGX_CONF_BITMASK_SET
                                        |NGX_HTTP_UPSTREAM_FT_OFF;
    conf->upstream_once.next_upstream_tries = 1;

    return NGX_CONF_OK;
}
