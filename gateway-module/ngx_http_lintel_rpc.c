/*
 * ngx_http_lintel_rpc: a worker's NNG client.
 *
 * One REQ socket per configured service, opened in init_process (NNG's
 * threads do not survive fork, so the master never calls nng_*).  A call
 * is an nng_ctx + nng_aio state machine: send, then receive.  Its callback
 * runs on an NNG thread and only pushes the call on a done list and writes
 * an eventfd; the eventfd is a connection in the worker's event loop, whose
 * handler runs the call's handler on the worker.  So the worker never
 * blocks, and nothing of nginx is touched from an NNG thread.
 *
 * Each call in flight also holds a (non-cancelable) nginx timer, so that a
 * graceful shutdown waits for it.  A request that goes away detaches its
 * call and cancels the aio; the call is freed when its callback comes back.
 */

#include <sys/eventfd.h>
#include <pthread.h>
#include <signal.h>

#include "ngx_http_lintel_module.h"

#include <nng/protocol/reqrep0/req.h>
#include <openssl/rand.h>


#define NGX_HTTP_LINTEL_TIMER_SLACK  1000


typedef struct {
    int                         efd;
    ngx_connection_t           *conn;
    pthread_mutex_t             lock;
    ngx_http_lintel_call_t     *done;     /* under lock */
    ngx_queue_t                 live;     /* worker only */
    ngx_http_lintel_call_t    **free;     /* per service, worker only */
    nng_socket                 *sockets;
    ngx_uint_t                  nsockets;
    ngx_log_t                  *log;
} ngx_http_lintel_rpc_t;


static ngx_int_t ngx_http_lintel_rpc_open(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf);
static void ngx_http_lintel_call_done(void *arg);
static void ngx_http_lintel_rpc_event(ngx_event_t *ev);
static void ngx_http_lintel_call_timeout(ngx_event_t *ev);
static void ngx_http_lintel_call_release(ngx_http_lintel_call_t *call);


static ngx_http_lintel_rpc_t  ngx_http_lintel_rpc = { .efd = -1 };


ngx_int_t
ngx_http_lintel_rpc_init(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf)
{
    ngx_int_t               rc;
    sigset_t                all, old;
    ngx_connection_t       *c;
    ngx_http_lintel_rpc_t  *rpc;

    rpc = &ngx_http_lintel_rpc;
    rpc->log = cycle->log;
    ngx_queue_init(&rpc->live);

    if (pthread_mutex_init(&rpc->lock, NULL) != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "lintel: pthread_mutex_init() failed");
        return NGX_ERROR;
    }

    rpc->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (rpc->efd == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "lintel: eventfd() failed");
        return NGX_ERROR;
    }

    c = ngx_get_connection(rpc->efd, cycle->log);
    if (c == NULL) {
        close(rpc->efd);
        rpc->efd = -1;
        return NGX_ERROR;
    }

    c->read->handler = ngx_http_lintel_rpc_event;
    c->read->log = cycle->log;
    c->write->log = cycle->log;
    c->data = rpc;
    rpc->conn = c;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_close_connection(c);
        rpc->conn = NULL;
        rpc->efd = -1;
        return NGX_ERROR;
    }

    /*
     * NNG starts its threads on the first nng_* call and they inherit our
     * signal mask: block every signal meanwhile, so that nginx's signals
     * (SIGQUIT, SIGHUP, ...) keep reaching the worker's own thread.
     */

    sigfillset(&all);

    if (pthread_sigmask(SIG_BLOCK, &all, &old) != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "lintel: pthread_sigmask() failed");
        return NGX_ERROR;
    }

    rc = ngx_http_lintel_rpc_open(cycle, lmcf);

    (void) pthread_sigmask(SIG_SETMASK, &old, NULL);

    return rc;
}


static ngx_int_t
ngx_http_lintel_rpc_open(ngx_cycle_t *cycle,
    ngx_http_lintel_main_conf_t *lmcf)
{
    int                         rv;
    ngx_uint_t                  i;
    ngx_http_lintel_rpc_t      *rpc;
    ngx_http_lintel_service_t  *svc;

    rpc = &ngx_http_lintel_rpc;
    svc = lmcf->services.elts;
    rpc->nsockets = lmcf->services.nelts;
    rpc->sockets = ngx_pcalloc(cycle->pool,
                               rpc->nsockets * sizeof(nng_socket));
    rpc->free = ngx_pcalloc(cycle->pool,
                            rpc->nsockets * sizeof(ngx_http_lintel_call_t *));
    if (rpc->sockets == NULL || rpc->free == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < rpc->nsockets; i++) {
        rv = nng_req0_open(&rpc->sockets[i]);
        if (rv != 0) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "lintel: nng_req0_open() failed: %s",
                          nng_strerror(rv));
            return NGX_ERROR;
        }

        /* a resend would run a POST twice, possibly on another replica */

        nng_socket_set_ms(rpc->sockets[i], NNG_OPT_REQ_RESENDTIME,
                          NNG_DURATION_INFINITE);
        nng_socket_set_size(rpc->sockets[i], NNG_OPT_RECVMAXSZ,
                            lmcf->max_reply_size);
        nng_socket_set_ms(rpc->sockets[i], NNG_OPT_RECONNMINT, 50);
        nng_socket_set_ms(rpc->sockets[i], NNG_OPT_RECONNMAXT, 1000);

        /* non-blocking: a service that is down now may come up later */

        rv = nng_dial(rpc->sockets[i], (char *) svc[i].url.data, NULL,
                      NNG_FLAG_NONBLOCK);
        if (rv != 0) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "lintel: nng_dial(\"%V\") failed: %s",
                          &svc[i].url, nng_strerror(rv));
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_http_lintel_rpc_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t               i;
    ngx_queue_t             *q;
    ngx_http_lintel_rpc_t   *rpc;
    ngx_http_lintel_call_t  *call, *next;

    rpc = &ngx_http_lintel_rpc;

    /* stop every aio first: afterwards no NNG thread touches a call */

    for (q = ngx_queue_head(&rpc->live);
         q != ngx_queue_sentinel(&rpc->live);
         q = ngx_queue_next(q))
    {
        call = ngx_queue_data(q, ngx_http_lintel_call_t, live);
        nng_aio_stop(call->aio);
    }

    while (!ngx_queue_empty(&rpc->live)) {
        q = ngx_queue_head(&rpc->live);
        call = ngx_queue_data(q, ngx_http_lintel_call_t, live);
        call->handler = NULL;
        ngx_http_lintel_call_release(call);
    }

    for (i = 0; i < rpc->nsockets; i++) {
        for (call = rpc->free[i]; call; call = next) {
            next = call->next_done;
            nng_ctx_close(call->nctx);
            nng_aio_free(call->aio);
            ngx_free(call);
        }

        rpc->free[i] = NULL;
        nng_close(rpc->sockets[i]);
    }

    rpc->nsockets = 0;

    /*
     * nginx unloads the module (and with it libnng) when the worker's
     * cycle pool goes: NNG's threads must be gone before that.
     */

    nng_fini();

    if (rpc->conn) {
        ngx_close_connection(rpc->conn);
        rpc->conn = NULL;
        rpc->efd = -1;
    }
}


nng_msg *
ngx_http_lintel_rpc_message(const char *path, const ProtobufCMessage *body,
    ngx_msec_t timeout)
{
    size_t               blen, len;
    nng_msg             *msg;
    uint8_t             *buf;
    unsigned char        rnd[16];
    char                 rid[LINTEL_REQUEST_ID_LEN + 1];
    Lintel__V1__Request  req = LINTEL__V1__REQUEST__INIT;

    blen = protobuf_c_message_get_packed_size(body);

    buf = ngx_alloc(blen + 1, ngx_http_lintel_rpc.log);
    if (buf == NULL) {
        return NULL;
    }

    protobuf_c_message_pack(body, buf);

    ngx_memzero(rnd, sizeof(rnd));
    (void) RAND_bytes(rnd, sizeof(rnd));
    lintel_envelope_request_id(rnd, rid);
    rid[LINTEL_REQUEST_ID_LEN] = '\0';

    req.request_id = rid;
    req.timeout_ms = (uint32_t) timeout;
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_INTERNAL;
    req.method = "RPC";
    req.path = (char *) path;
    req.body.data = buf;
    req.body.len = blen;

    len = lintel__v1__request__get_packed_size(&req);

    if (nng_msg_alloc(&msg, len) != 0) {
        ngx_free(buf);
        return NULL;
    }

    lintel__v1__request__pack(&req, nng_msg_body(msg));
    ngx_free(buf);

    return msg;
}


Lintel__V1__Response *
ngx_http_lintel_rpc_reply(ngx_http_lintel_call_t *call, ngx_log_t *log,
    const char *what)
{
    Lintel__V1__Response  *res;

    if (call->err != 0) {
        ngx_log_error(NGX_LOG_WARN, log, 0, "lintel: %s failed: %s",
                      what, nng_strerror(call->err));
        return NULL;
    }

    res = lintel_envelope_unpack_response(nng_msg_body(call->reply),
                                          nng_msg_len(call->reply));
    if (res == NULL) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "lintel: %s: undecodable reply", what);
        return NULL;
    }

    if (res->status != 200) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "lintel: %s: status %uD", what, res->status);
        lintel_envelope_free_response(res);
        return NULL;
    }

    return res;
}


ngx_http_lintel_call_t *
ngx_http_lintel_call(ngx_http_lintel_service_t *svc, nng_msg *msg,
    ngx_msec_t timeout, ngx_http_lintel_call_handler_pt handler, void *data,
    ngx_log_t *log)
{
    int                      rv;
    ngx_http_lintel_rpc_t   *rpc;
    ngx_http_lintel_call_t  *call;

    rpc = &ngx_http_lintel_rpc;

    if (rpc->conn == NULL || svc->index >= rpc->nsockets) {
        nng_msg_free(msg);
        return NULL;
    }

    /* a call keeps its aio and its context (bound to one socket) */

    call = rpc->free[svc->index];

    if (call) {
        rpc->free[svc->index] = call->next_done;

    } else {
        call = ngx_calloc(sizeof(ngx_http_lintel_call_t), log);
        if (call == NULL) {
            nng_msg_free(msg);
            return NULL;
        }

        rv = nng_aio_alloc(&call->aio, ngx_http_lintel_call_done, call);
        if (rv != 0) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "lintel: nng_aio_alloc() failed: %s",
                          nng_strerror(rv));
            ngx_free(call);
            nng_msg_free(msg);
            return NULL;
        }

        rv = nng_ctx_open(&call->nctx, rpc->sockets[svc->index]);
        if (rv != 0) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "lintel: nng_ctx_open() failed: %s",
                          nng_strerror(rv));
            nng_aio_free(call->aio);
            ngx_free(call);
            nng_msg_free(msg);
            return NULL;
        }

        call->service = svc->index;
    }

    call->reply = NULL;
    call->err = 0;
    call->sending = 1;
    call->deadline = nng_clock() + timeout;
    call->handler = handler;
    call->data = data;
    call->next_done = NULL;

    ngx_memzero(&call->timer, sizeof(ngx_event_t));
    call->timer.handler = ngx_http_lintel_call_timeout;
    call->timer.data = call;
    call->timer.log = rpc->log;
    ngx_add_timer(&call->timer, timeout + NGX_HTTP_LINTEL_TIMER_SLACK);

    ngx_queue_insert_tail(&rpc->live, &call->live);

    /*
     * The send completes when a peer has taken the request: with no peer it
     * times out (→ 503); the receive then has the same budget (→ 504).
     */

    nng_aio_set_timeout(call->aio, (nng_duration) timeout);
    nng_aio_set_msg(call->aio, msg);
    nng_ctx_send(call->nctx, call->aio);

    return call;
}


void
ngx_http_lintel_call_detach(ngx_http_lintel_call_t *call)
{
    call->handler = NULL;
    call->data = NULL;

    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
    }

    nng_aio_cancel(call->aio);
}


/* runs on an NNG thread: touch nothing but the call and the done list */

static void
ngx_http_lintel_call_done(void *arg)
{
    int                      rv, wake;
    uint64_t                 one;
    nng_msg                 *msg;
    nng_time                 now;
    ngx_http_lintel_rpc_t   *rpc;
    ngx_http_lintel_call_t  *call;

    call = arg;
    rpc = &ngx_http_lintel_rpc;

    rv = nng_aio_result(call->aio);

    if (call->sending) {
        call->sending = 0;

        if (rv == 0) {
            /* the receive gets what is left of the budget, not all of it */

            now = nng_clock();
            nng_aio_set_timeout(call->aio, call->deadline > now
                                ? (nng_duration) (call->deadline - now) : 1);
            nng_ctx_recv(call->nctx, call->aio);
            return;
        }

        msg = nng_aio_get_msg(call->aio);

        if (msg) {
            nng_msg_free(msg);
        }

        /* never delivered: tell "no peer" from "no answer" */

        call->err = (rv == NNG_ETIMEDOUT) ? NNG_ECONNREFUSED : rv;

    } else if (rv == 0) {
        call->reply = nng_aio_get_msg(call->aio);

    } else {
        call->err = rv;
    }

    pthread_mutex_lock(&rpc->lock);
    wake = (rpc->done == NULL);
    call->next_done = rpc->done;
    rpc->done = call;
    pthread_mutex_unlock(&rpc->lock);

    if (wake) {
        /* cannot fail short of a bug: the counter never nears 2^64 */
        one = 1;
        if (write(rpc->efd, &one, sizeof(uint64_t)) != sizeof(uint64_t)) {
            return;
        }
    }
}


static void
ngx_http_lintel_rpc_event(ngx_event_t *ev)
{
    uint64_t                 n;
    ngx_http_lintel_rpc_t   *rpc;
    ngx_http_lintel_call_t  *call, *next;

    rpc = &ngx_http_lintel_rpc;

    /* EAGAIN only means that an earlier round took this wake-up */
    if (read(rpc->efd, &n, sizeof(uint64_t)) == -1) {
        n = 0;
    }

    pthread_mutex_lock(&rpc->lock);
    call = rpc->done;
    rpc->done = NULL;
    pthread_mutex_unlock(&rpc->lock);

    for ( /* void */ ; call; call = next) {
        next = call->next_done;

        if (call->timer.timer_set) {
            ngx_del_timer(&call->timer);
        }

        if (call->handler) {
            call->handler(call);
        }

        ngx_http_lintel_call_release(call);
    }
}


static void
ngx_http_lintel_call_timeout(ngx_event_t *ev)
{
    ngx_http_lintel_call_t  *call;

    /* NNG's own timeout should have fired first; make sure it ends */

    call = ev->data;
    nng_aio_cancel(call->aio);
}


static void
ngx_http_lintel_call_release(ngx_http_lintel_call_t *call)
{
    ngx_http_lintel_rpc_t  *rpc;

    rpc = &ngx_http_lintel_rpc;

    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
    }

    if (call->reply) {
        nng_msg_free(call->reply);
        call->reply = NULL;
    }

    ngx_queue_remove(&call->live);

    call->handler = NULL;
    call->data = NULL;
    call->next_done = rpc->free[call->service];
    rpc->free[call->service] = call;
}
