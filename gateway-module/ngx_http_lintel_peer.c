/*
 * ngx_http_lintel_peer: the module's own SP connections to the users
 * service, for users.ResolveTenant and users.GetJwks.
 *
 * These lookups belong to no client request (a key refresh runs on a
 * timer, a tenant refresh ahead of expiry answers nobody), so they cannot
 * be upstream subrequests.  Each lookup is a small state machine on an
 * ngx_peer_connection_t driven by the worker's event loop: connect to a
 * server of the users upstream (round robin over its primary servers, then
 * its backups, the next one on a connect error), write the handshake and
 * one message, read the handshake and the reply whole (replies are small:
 * at most NGX_HTTP_LINTEL_LOOKUP_MAX bytes), close; with lintel_ssl, the
 * TLS handshake comes first and the users service's certificate must
 * chain to lintel_ssl_trusted_certificate and name the upstream.  The
 * connection's
 * timers are not cancelable, so a graceful shutdown waits for lookups in
 * flight, never longer than lintel_lookup_timeout.
 */

#include <openssl/rand.h>

#include "ngx_http_lintel_module.h"


#define NGX_HTTP_LINTEL_LOOKUP_MAX  (256 * 1024)


typedef struct {
    ngx_peer_connection_t           peer;
    ngx_pool_t                     *pool;
    ngx_buf_t                      *out;
    ngx_buf_t                      *in;
    uint32_t                        id;
    ngx_uint_t                      next;      /* next address to try */
    ngx_uint_t                      left;      /* addresses left to try */
    ngx_msec_t                      deadline;
    ngx_http_lintel_lookup_pt       handler;
    void                           *data;
    const char                     *path;
} ngx_http_lintel_lookup_t;


typedef struct {
    ngx_addr_t                     *addrs;
    ngx_uint_t                      naddrs;    /* primary ones first */
    ngx_uint_t                      nprimary;
    ngx_uint_t                      rr;
    uint32_t                        next_id;
    ngx_http_lintel_main_conf_t    *lmcf;
    ngx_log_t                      *log;
} ngx_http_lintel_peers_t;


static ngx_int_t ngx_http_lintel_lookup_connect(ngx_http_lintel_lookup_t *lk);
static void ngx_http_lintel_lookup_ssl_connected(ngx_event_t *ev);
static void ngx_http_lintel_lookup_ssl_handshaked(ngx_connection_t *c);
static void ngx_http_lintel_lookup_write(ngx_event_t *wev);
static void ngx_http_lintel_lookup_read(ngx_event_t *rev);
static void ngx_http_lintel_lookup_retry(ngx_http_lintel_lookup_t *lk);
static void ngx_http_lintel_lookup_done(ngx_http_lintel_lookup_t *lk,
    Lintel__V1__Response *res);
static void ngx_http_lintel_lookup_close(ngx_http_lintel_lookup_t *lk);
static ngx_int_t ngx_http_lintel_lookup_get_peer(ngx_peer_connection_t *pc,
    void *data);


static ngx_http_lintel_peers_t  ngx_http_lintel_peers;


ngx_int_t
ngx_http_lintel_peer_init(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf)
{
    ngx_uint_t                     n, pass;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers, *list;
    ngx_http_lintel_peers_t       *p;

    p = &ngx_http_lintel_peers;
    p->lmcf = lmcf;
    p->log = cycle->log;

    if (RAND_bytes((u_char *) &p->next_id, sizeof(p->next_id)) != 1) {
        p->next_id = (uint32_t) ngx_pid;
    }

    /*
     * The users upstream's peers as its balancer set them up (round robin
     * underneath every stock balancer): primary peers, then backups.
     */

    peers = lmcf->users->peer.data;
    n = 0;

    for (list = peers; list; list = list->next) {
        n += list->number;
    }

    p->addrs = ngx_palloc(cycle->pool, (n ? n : 1) * sizeof(ngx_addr_t));
    if (p->addrs == NULL) {
        return NGX_ERROR;
    }

    p->naddrs = 0;

    for (pass = 0, list = peers; list && pass < 2; pass++, list = list->next)
    {
        for (peer = list->peer; peer; peer = peer->next) {
            if (peer->down) {
                continue;
            }

            p->addrs[p->naddrs].sockaddr = peer->sockaddr;
            p->addrs[p->naddrs].socklen = peer->socklen;
            p->addrs[p->naddrs].name = peer->name;
            p->naddrs++;
        }

        if (pass == 0) {
            p->nprimary = p->naddrs;
        }
    }

    if (p->naddrs == 0) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "lintel: the users upstream has no usable server");
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_lintel_lookup(const char *path, const ProtobufCMessage *body,
    ngx_http_lintel_lookup_pt handler, void *data)
{
    size_t                     blen, len;
    ngx_pool_t                *pool;
    unsigned char              rnd[16];
    ngx_http_lintel_peers_t   *p;
    ngx_http_lintel_lookup_t  *lk;
    Lintel__V1__Request        req = LINTEL__V1__REQUEST__INIT;
    char                       rid[LINTEL_REQUEST_ID_LEN + 1];

    p = &ngx_http_lintel_peers;

    if (p->naddrs == 0) {
        return NGX_ERROR;
    }

    pool = ngx_create_pool(1024, p->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    lk = ngx_pcalloc(pool, sizeof(ngx_http_lintel_lookup_t));
    if (lk == NULL) {
        goto failed;
    }

    lk->pool = pool;
    lk->handler = handler;
    lk->data = data;
    lk->path = path;
    lk->id = p->next_id++ & ~LINTEL_SP_ID_BIT;
    lk->deadline = ngx_current_msec + p->lmcf->lookup_timeout;

    blen = protobuf_c_message_get_packed_size(body);

    req.body.data = ngx_palloc(pool, blen ? blen : 1);
    if (req.body.data == NULL) {
        goto failed;
    }

    req.body.len = protobuf_c_message_pack(body, req.body.data);

    ngx_memzero(rnd, sizeof(rnd));
    (void) RAND_bytes(rnd, sizeof(rnd));
    lintel_envelope_request_id(rnd, rid);
    rid[LINTEL_REQUEST_ID_LEN] = '\0';

    req.request_id = rid;
    req.timeout_ms = (uint32_t) p->lmcf->lookup_timeout;
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_INTERNAL;
    req.method = "RPC";
    req.path = (char *) path;

    len = lintel__v1__request__get_packed_size(&req);

    lk->out = ngx_create_temp_buf(pool, LINTEL_SP_HANDSHAKE_LEN
                                        + LINTEL_SP_FRAME_LEN + len);
    lk->in = ngx_create_temp_buf(pool, 4096);
    if (lk->out == NULL || lk->in == NULL) {
        goto failed;
    }

    lintel_sp_handshake(lk->out->last);
    lk->out->last += LINTEL_SP_HANDSHAKE_LEN;
    lintel_sp_frame(lk->out->last, len, lk->id);
    lk->out->last += LINTEL_SP_FRAME_LEN;
    lk->out->last += lintel__v1__request__pack(&req, lk->out->last);

    lk->next = p->nprimary ? p->rr++ % p->nprimary : 0;
    lk->left = p->naddrs;

    if (ngx_http_lintel_lookup_connect(lk) != NGX_OK) {
        goto failed;
    }

    return NGX_OK;

failed:

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


/* tries the addresses in turn; NGX_ERROR when none is left */

static ngx_int_t
ngx_http_lintel_lookup_connect(ngx_http_lintel_lookup_t *lk)
{
    ngx_int_t                 rc;
    ngx_msec_t                left;
    ngx_addr_t               *addr;
    ngx_connection_t         *c;
    ngx_http_lintel_peers_t  *p;

    p = &ngx_http_lintel_peers;

    while (lk->left) {
        lk->left--;

        if ((ngx_msec_int_t) (lk->deadline - ngx_current_msec) <= 0) {
            return NGX_ERROR;
        }

        addr = &p->addrs[lk->next];

        /* past the primaries' turn: the rest in order, backups last */
        lk->next = (lk->next + 1) % p->naddrs;

        ngx_memzero(&lk->peer, sizeof(ngx_peer_connection_t));
        lk->peer.sockaddr = addr->sockaddr;
        lk->peer.socklen = addr->socklen;
        lk->peer.name = &addr->name;
        lk->peer.get = ngx_http_lintel_lookup_get_peer;
        lk->peer.log = p->log;
        lk->peer.log_error = NGX_ERROR_ERR;

        rc = ngx_event_connect_peer(&lk->peer);

        if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
            ngx_http_lintel_lookup_close(lk);

            ngx_log_error(NGX_LOG_WARN, p->log, 0,
                          "lintel: %s: cannot connect to %V",
                          lk->path, &addr->name);
            continue;
        }

        c = lk->peer.connection;
        c->data = lk;
        c->pool = lk->pool;
        c->read->handler = ngx_http_lintel_lookup_read;
        c->write->handler = ngx_http_lintel_lookup_write;

        left = lk->deadline - ngx_current_msec;

        ngx_add_timer(c->read, left);

        if (p->lmcf->ssl_ctx) {
            if (ngx_ssl_create_connection(p->lmcf->ssl_ctx, c,
                                          NGX_SSL_BUFFER|NGX_SSL_CLIENT)
                != NGX_OK)
            {
                ngx_http_lintel_lookup_close(lk);
                return NGX_ERROR;
            }

            c->read->handler = ngx_http_lintel_lookup_ssl_connected;
            c->write->handler = ngx_http_lintel_lookup_ssl_connected;

            if (rc == NGX_OK) {
                ngx_http_lintel_lookup_ssl_connected(c->write);
            }

            return NGX_OK;
        }

        if (rc == NGX_OK) {
            ngx_http_lintel_lookup_write(c->write);
        }

        return NGX_OK;
    }

    return NGX_ERROR;
}


/* connected (or timed out): the TLS handshake */

static void
ngx_http_lintel_lookup_ssl_connected(ngx_event_t *ev)
{
    ngx_int_t                  rc;
    ngx_connection_t          *c;
    ngx_http_lintel_lookup_t  *lk;

    c = ev->data;
    lk = c->data;

    if (c->read->timedout) {
        ngx_http_lintel_lookup_done(lk, NULL);
        return;
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_http_lintel_lookup_ssl_handshaked;
        return;
    }

    ngx_http_lintel_lookup_ssl_handshaked(c);
}


static void
ngx_http_lintel_lookup_ssl_handshaked(ngx_connection_t *c)
{
    long                       rc;
    ngx_http_lintel_peers_t   *p;
    ngx_http_lintel_lookup_t  *lk;

    p = &ngx_http_lintel_peers;
    lk = c->data;

    if (c->read->timedout) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "lintel: %s timed out in the TLS handshake", lk->path);
        ngx_http_lintel_lookup_done(lk, NULL);
        return;
    }

    if (!c->ssl->handshaked) {
        ngx_http_lintel_lookup_retry(lk);
        return;
    }

    if (p->lmcf->ssl_verify) {
        rc = SSL_get_verify_result(c->ssl->connection);

        if (rc != X509_V_OK) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "lintel: %s: the users service's certificate "
                          "does not verify: (%l:%s)", lk->path, rc,
                          X509_verify_cert_error_string(rc));
            ngx_http_lintel_lookup_done(lk, NULL);
            return;
        }

        if (ngx_ssl_check_host(c, &p->lmcf->users->host) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "lintel: %s: the users service's certificate "
                          "does not name \"%V\"", lk->path,
                          &p->lmcf->users->host);
            ngx_http_lintel_lookup_done(lk, NULL);
            return;
        }
    }

    c->read->handler = ngx_http_lintel_lookup_read;
    c->write->handler = ngx_http_lintel_lookup_write;

    ngx_http_lintel_lookup_write(c->write);
}


static void
ngx_http_lintel_lookup_write(ngx_event_t *wev)
{
    ssize_t                    n;
    ngx_connection_t          *c;
    ngx_http_lintel_lookup_t  *lk;

    c = wev->data;
    lk = c->data;

    if (c->read->timedout) {
        ngx_http_lintel_lookup_done(lk, NULL);
        return;
    }

    while (lk->out->pos < lk->out->last) {
        n = c->send(c, lk->out->pos, lk->out->last - lk->out->pos);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_http_lintel_lookup_done(lk, NULL);
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_lintel_lookup_retry(lk);
            return;
        }

        lk->out->pos += n;
    }

    wev->handler = ngx_http_lintel_lookup_write;

    if (wev->active && ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
        ngx_http_lintel_lookup_done(lk, NULL);
        return;
    }

    if (c->read->ready) {
        ngx_http_lintel_lookup_read(c->read);
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_lintel_lookup_done(lk, NULL);
    }
}


static void
ngx_http_lintel_lookup_read(ngx_event_t *rev)
{
    size_t                     size;
    ssize_t                    n;
    ngx_buf_t                 *b, *nb;
    lintel_sp_rc_e             rc;
    lintel_sp_reply_t          reply;
    ngx_connection_t          *c;
    ngx_http_lintel_lookup_t  *lk;
    Lintel__V1__Response      *res;

    c = rev->data;
    lk = c->data;
    b = lk->in;

    if (rev->timedout) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "lintel: %s timed out", lk->path);
        ngx_http_lintel_lookup_done(lk, NULL);
        return;
    }

    for ( ;; ) {
        if (b->last == b->end) {
            size = 2 * (b->end - b->start);

            if (size > NGX_HTTP_LINTEL_LOOKUP_MAX) {
                goto bad;
            }

            nb = ngx_create_temp_buf(lk->pool, size);
            if (nb == NULL) {
                ngx_http_lintel_lookup_done(lk, NULL);
                return;
            }

            nb->last = ngx_cpymem(nb->pos, b->pos, b->last - b->pos);
            lk->in = nb;
            b = nb;
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_lintel_lookup_done(lk, NULL);
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            if (b->last == b->pos) {
                /* nothing came back: maybe another server answers */
                ngx_http_lintel_lookup_retry(lk);
                return;
            }

            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "lintel: %s: the connection closed mid-reply",
                          lk->path);
            ngx_http_lintel_lookup_done(lk, NULL);
            return;
        }

        b->last += n;

        rc = lintel_sp_parse_reply(b->pos, b->last - b->pos, 0, 1, lk->id,
                                   NGX_HTTP_LINTEL_LOOKUP_MAX, &reply);

        if (rc == LINTEL_SP_AGAIN) {
            continue;
        }

        if (rc != LINTEL_SP_OK) {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "lintel: %s: bad reply: %s",
                          lk->path, lintel_sp_strerror(rc));
            ngx_http_lintel_lookup_done(lk, NULL);
            return;
        }

        if ((uint64_t) (b->last - b->pos) < reply.body_start + reply.body_len)
        {
            continue;
        }

        /* the whole message: head and body unpack together */

        res = lintel_envelope_unpack_response(b->pos + reply.head_start,
                                              reply.body_start
                                              + reply.body_len
                                              - reply.head_start);
        if (res == NULL) {
            goto bad;
        }

        if (res->status != 200) {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "lintel: %s: status %uD", lk->path, res->status);
            lintel_envelope_free_response(res);
            ngx_http_lintel_lookup_done(lk, NULL);
            return;
        }

        ngx_http_lintel_lookup_done(lk, res);
        lintel_envelope_free_response(res);
        return;
    }

bad:

    ngx_log_error(NGX_LOG_WARN, c->log, 0,
                  "lintel: %s: undecodable reply", lk->path);
    ngx_http_lintel_lookup_done(lk, NULL);
}


/* the connection failed before any byte of a reply: the next server */

static void
ngx_http_lintel_lookup_retry(ngx_http_lintel_lookup_t *lk)
{
    ngx_http_lintel_peers_t  *p;

    p = &ngx_http_lintel_peers;

    ngx_http_lintel_lookup_close(lk);

    /* the request is sent again whole, handshake included */

    lk->out->pos = lk->out->start;
    lk->in->pos = lk->in->start;
    lk->in->last = lk->in->start;

    ngx_log_error(NGX_LOG_WARN, p->log, 0,
                  "lintel: %s: no answer, trying the next server", lk->path);

    if (ngx_http_lintel_lookup_connect(lk) != NGX_OK) {
        ngx_http_lintel_lookup_done(lk, NULL);
    }
}


static void
ngx_http_lintel_lookup_done(ngx_http_lintel_lookup_t *lk,
    Lintel__V1__Response *res)
{
    ngx_http_lintel_peers_t  *p;

    p = &ngx_http_lintel_peers;

    ngx_http_lintel_lookup_close(lk);

    if (res == NULL) {
        ngx_log_error(NGX_LOG_WARN, p->log, 0, "lintel: %s failed", lk->path);
    }

    lk->handler(lk->data, res);

    ngx_destroy_pool(lk->pool);
}


/* the pool is the lookup's, destroyed by ngx_http_lintel_lookup_done() */

static void
ngx_http_lintel_lookup_close(ngx_http_lintel_lookup_t *lk)
{
    if (lk->peer.connection) {
        if (lk->peer.connection->ssl) {
            /* a lookup ends with its reply: no close_notify to wait for */
            lk->peer.connection->ssl->no_wait_shutdown = 1;
            (void) ngx_ssl_shutdown(lk->peer.connection);
        }

        lk->peer.connection->pool = NULL;
        ngx_close_connection(lk->peer.connection);
        lk->peer.connection = NULL;
    }
}


static ngx_int_t
ngx_http_lintel_lookup_get_peer(ngx_peer_connection_t *pc, void *data)
{
    return NGX_OK;
}
