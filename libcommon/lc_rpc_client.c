/*
 * lc_rpc_client.c: REQ socket, pipe accounting for "no peer", one context
 * per call.
 */
#include "lc_rpc_client.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_clock.h"
#include "lc_log.h"
#include "lc_nng.h"

/* How long a call waits for a first connection before calling the peer
 * absent: long enough for a dial on loopback, short against any deadline;
 * a TLS handshake (ECDHE and two ECDSA checks in mbedtls) takes longer,
 * and much longer on a loaded machine. */
#define LC_RPC_CONNECT_WAIT_MS 200
#define LC_RPC_TLS_CONNECT_WAIT_MS 2000

/* The process's identity for tls+tcp:// (lc_rpc_client_tls): PEM text,
 * read once; each client builds its own configuration from it, because the
 * callee's name to check differs per URL. */
static struct {
    char *cert, *key, *ca;
} lc_rpc_tls;

struct lc_rpc_client {
    nng_socket sock;
    nng_dialer dialer;
    int64_t connect_wait_ms;
    atomic_int pipes;
    pthread_mutex_t lock;
    pthread_cond_t connected;
};

static void
lc_rpc_client_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    lc_rpc_client *c = arg;

    (void)p;
    if (ev == NNG_PIPE_EV_ADD_POST) {
        pthread_mutex_lock(&c->lock);
        atomic_fetch_add(&c->pipes, 1);
        pthread_cond_broadcast(&c->connected);
        pthread_mutex_unlock(&c->lock);
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        atomic_fetch_sub(&c->pipes, 1);
    }
}

/* A whole file as a NUL-terminated string (PEM is text); NULL on error. */
static char *
lc_rpc_read_pem(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)len + 1)) == NULL ||
        fread(buf, 1, (size_t)len, f) != (size_t)len) {
        snprintf(err, errlen, "cannot read %s", path);
        free(buf);
        buf = NULL;
    } else {
        buf[len] = '\0';
    }
    if (f != NULL) {
        fclose(f);
    }
    return buf;
}

int
lc_rpc_client_tls(const char *cert_file, const char *key_file,
                  const char *ca_file, char *err, size_t errlen)
{
    free(lc_rpc_tls.cert);
    free(lc_rpc_tls.key);
    free(lc_rpc_tls.ca);
    lc_rpc_tls.cert = lc_rpc_tls.key = NULL;
    if ((lc_rpc_tls.ca = lc_rpc_read_pem(ca_file, err, errlen)) == NULL) {
        return -1;
    }
    if (cert_file == NULL) {
        return 0;
    }
    if ((lc_rpc_tls.cert = lc_rpc_read_pem(cert_file, err, errlen)) == NULL ||
        (lc_rpc_tls.key = lc_rpc_read_pem(key_file ? key_file : cert_file, err,
                                          errlen)) == NULL) {
        return -1;
    }
    return 0;
}

/* The host of "tls+tcp://host:port" into `host`; -1 when there is none. */
static int
lc_rpc_url_host(const char *url, char *host, size_t len)
{
    const char *start = strstr(url, "://"), *end;

    if (start == NULL) {
        return -1;
    }
    start += 3;
    if (*start == '[') { /* [::1]:7101 */
        start++;
        end = strchr(start, ']');
    } else {
        end = strrchr(start, ':');
    }
    if (end == NULL || end == start || (size_t)(end - start) >= len) {
        return -1;
    }
    memcpy(host, start, (size_t)(end - start));
    host[end - start] = '\0';
    return 0;
}

/* Mutual TLS for a tls+tcp:// dialer: the process's certificate, the
 * callee's CAs, and the callee's certificate must name the URL's host. */
static int
lc_rpc_client_dial_tls(nng_dialer d, const char *url, char *err, size_t errlen)
{
    nng_tls_config *cfg;
    char host[256];
    int rv;

    if (lc_rpc_tls.ca == NULL) {
        snprintf(err, errlen, "%s: no TLS identity configured", url);
        return -1;
    }
    if (lc_rpc_url_host(url, host, sizeof(host)) != 0) {
        snprintf(err, errlen, "%s: no host in the URL", url);
        return -1;
    }
    if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0) {
        snprintf(err, errlen, "tls: %s", nng_strerror(rv));
        return -1;
    }
    if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0 ||
        (rv = nng_tls_config_server_name(cfg, host)) != 0 ||
        (rv = nng_tls_config_ca_chain(cfg, lc_rpc_tls.ca, NULL)) != 0 ||
        (lc_rpc_tls.cert != NULL &&
         (rv = nng_tls_config_own_cert(cfg, lc_rpc_tls.cert, lc_rpc_tls.key,
                                       NULL)) != 0) ||
        (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0) {
        snprintf(err, errlen, "tls: %s", nng_strerror(rv));
        nng_tls_config_free(cfg);
        return -1;
    }
    nng_tls_config_free(cfg); /* the dialer holds it */
    return 0;
}

lc_rpc_client *
lc_rpc_client_open(const char *url, size_t max_message, char *err,
                   size_t errlen)
{
    lc_rpc_client *c = calloc(1, sizeof(*c));
    int rv;

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->connected, NULL);
    if ((rv = nng_req0_open(&c->sock)) != 0) {
        snprintf(err, errlen, "nng_req0_open: %s", nng_strerror(rv));
        free(c);
        return NULL;
    }
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, max_message);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 20);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, lc_rpc_client_pipe_event, c);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, lc_rpc_client_pipe_event, c);
    if ((rv = nng_dialer_create(&c->dialer, c->sock, url)) != 0 ||
        (rv = nng_dialer_set_size(c->dialer, NNG_OPT_RECVMAXSZ, max_message)) !=
            0) {
        snprintf(err, errlen, "dial %s: %s", url, nng_strerror(rv));
        nng_close(c->sock);
        free(c);
        return NULL;
    }
    c->connect_wait_ms = LC_RPC_CONNECT_WAIT_MS;
    if (strncmp(url, "tls+", 4) == 0) {
        c->connect_wait_ms = LC_RPC_TLS_CONNECT_WAIT_MS;
    }
    if ((strncmp(url, "tls+", 4) == 0 &&
         lc_rpc_client_dial_tls(c->dialer, url, err, errlen) != 0)) {
        nng_close(c->sock);
        free(c);
        return NULL;
    }
    if ((rv = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK)) != 0) {
        snprintf(err, errlen, "dial %s: %s", url, nng_strerror(rv));
        nng_close(c->sock);
        free(c);
        return NULL;
    }
    return c;
}

void
lc_rpc_client_close(lc_rpc_client *c)
{
    if (c == NULL) {
        return;
    }
    if (!lc_nng_close(c->sock)) {
        return; /* its pipe notifications may still come: leave `c` */
    }
    pthread_cond_destroy(&c->connected);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const char *
lc_rpc_status_text(lc_rpc_status st)
{
    switch (st) {
    case LC_RPC_OK:
        return "ok";
    case LC_RPC_TIMEOUT:
        return "timeout";
    case LC_RPC_NO_PEER:
        return "no peer";
    case LC_RPC_BAD_REPLY:
        return "bad reply";
    case LC_RPC_ERROR:
        return "error status";
    case LC_RPC_INTERNAL:
        break;
    }
    return "internal error";
}

/* Waits until a pipe exists or `until` passes; true when connected. */
static bool
lc_rpc_client_wait_peer(lc_rpc_client *c, int64_t until)
{
    struct timespec ts;
    int64_t now;

    pthread_mutex_lock(&c->lock);
    while (atomic_load(&c->pipes) == 0 && (now = lc_clock_mono_ms()) < until) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)((until - now) % 1000) * 1000000L;
        ts.tv_sec += (time_t)((until - now) / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&c->connected, &c->lock, &ts);
    }
    pthread_mutex_unlock(&c->lock);
    return atomic_load(&c->pipes) > 0;
}

/* The time left until `deadline_ms`, as an aio timeout: at least 1 ms,
 * because NNG reads -1 as "forever" and -2 as "the default" (also forever
 * for an aio), so a deadline just passed must not become one of them. */
static nng_duration
lc_rpc_left(int64_t deadline_ms)
{
    int64_t left = deadline_ms - lc_clock_mono_ms();

    return (nng_duration)(left >= 1 ? left : 1);
}

lc_rpc_status
lc_rpc_call_raw(lc_rpc_client *c, const void *buf, size_t len,
                int64_t deadline_ms, lc_response **out)
{
    int64_t now = lc_clock_mono_ms(), wait_until;
    lc_rpc_status st = LC_RPC_INTERNAL;
    nng_aio *aio = NULL;
    nng_msg *msg = NULL;
    nng_ctx ctx;
    int rv;

    *out = NULL;
    if (deadline_ms <= now) {
        return LC_RPC_TIMEOUT;
    }
    wait_until = now + c->connect_wait_ms;
    if (!lc_rpc_client_wait_peer(c, wait_until < deadline_ms ? wait_until
                                                             : deadline_ms)) {
        return LC_RPC_NO_PEER;
    }
    if (nng_msg_alloc(&msg, 0) != 0 || nng_msg_append(msg, buf, len) != 0) {
        if (msg != NULL) {
            nng_msg_free(msg);
        }
        return LC_RPC_INTERNAL;
    }
    if (nng_ctx_open(&ctx, c->sock) != 0) {
        nng_msg_free(msg);
        return LC_RPC_INTERNAL;
    }
    nng_ctx_set_ms(ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    if (nng_aio_alloc(&aio, NULL, NULL) != 0) {
        nng_msg_free(msg);
        nng_ctx_close(ctx);
        return LC_RPC_INTERNAL;
    }
    nng_aio_set_timeout(aio, lc_rpc_left(deadline_ms));
    nng_aio_set_msg(aio, msg);
    nng_ctx_send(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        nng_msg_free(msg);
        goto done;
    }
    nng_aio_set_timeout(aio, lc_rpc_left(deadline_ms));
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        goto done;
    }
    msg = nng_aio_get_msg(aio);
    *out = lc_envelope_unpack_response(nng_msg_body(msg), nng_msg_len(msg));
    nng_msg_free(msg);
    st = *out ? LC_RPC_OK : LC_RPC_BAD_REPLY;

done:
    if (rv == NNG_ETIMEDOUT) {
        /* The request went out on a pipe that has since gone: the peer
         * died; otherwise it is alive but slow. */
        st = atomic_load(&c->pipes) == 0 ? LC_RPC_NO_PEER : LC_RPC_TIMEOUT;
    } else if (rv == NNG_ECONNSHUT || rv == NNG_ECONNRESET ||
               rv == NNG_ECONNREFUSED || rv == NNG_ECLOSED) {
        st = LC_RPC_NO_PEER;
    } else if (rv != 0) {
        lc_log(LC_LOG_WARN, NULL, NULL, "rpc call: %s", nng_strerror(rv));
        st = LC_RPC_INTERNAL;
    }
    nng_aio_free(aio);
    nng_ctx_close(ctx);
    return st;
}

lc_rpc_status
lc_rpc_call(lc_rpc_client *c, lc_request *req, int64_t deadline_ms,
            lc_response **out)
{
    int64_t remaining = deadline_ms - lc_clock_mono_ms();
    lc_rpc_status st;
    uint8_t *buf;
    size_t len;

    *out = NULL;
    if (remaining <= 0) {
        return LC_RPC_TIMEOUT;
    }
    /* The callee's budget: what is left now, stamped with the send time
     * so that the callee also counts the time spent in queues. */
    req->timeout_ms = (uint32_t)remaining;
    req->sent_at_unix_ms = lc_clock_wall_ms();
    len = protobuf_c_message_get_packed_size(&req->base);
    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        return LC_RPC_INTERNAL;
    }
    protobuf_c_message_pack(&req->base, buf);
    st = lc_rpc_call_raw(c, buf, len, deadline_ms, out);
    free(buf);
    return st;
}

lc_rpc_status
lc_rpc_call_method(lc_rpc_client *c, const char *method, const char *request_id,
                   const char *tenant_id, const ProtobufCMessage *in,
                   const ProtobufCMessageDescriptor *out_desc,
                   int64_t deadline_ms, ProtobufCMessage **out, int *status)
{
    lc_request req = LINTEL__V1__REQUEST__INIT;
    Lintel__V1__Tenant tenant = LINTEL__V1__TENANT__INIT;
    lc_response *res = NULL;
    lc_rpc_status st;
    char path[128];
    uint8_t *body;
    size_t len;

    *out = NULL;
    *status = 0;
    snprintf(path, sizeof(path), "/rpc/%s", method);
    len = protobuf_c_message_get_packed_size(in);
    body = malloc(len ? len : 1);
    if (body == NULL) {
        return LC_RPC_INTERNAL;
    }
    protobuf_c_message_pack(in, body);
    req.request_id = (char *)(request_id ? request_id : "");
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_INTERNAL;
    req.method = "RPC";
    req.path = path;
    req.body.data = body;
    req.body.len = len;
    if (tenant_id != NULL) {
        tenant.id = (char *)tenant_id;
        req.tenant = &tenant;
    }
    st = lc_rpc_call(c, &req, deadline_ms, &res);
    free(body);
    if (st != LC_RPC_OK) {
        return st;
    }
    *status = (int)res->status;
    if (res->status != 200) {
        st = LC_RPC_ERROR;
    } else {
        *out =
            lc_envelope_unpack_message(out_desc, res->body.data, res->body.len);
        st = *out ? LC_RPC_OK : LC_RPC_BAD_REPLY;
    }
    lc_envelope_free_response(res);
    return st;
}
