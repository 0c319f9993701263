/*
 * bench_client.c: the request loop described in bench_client.h.
 */
#include "bench_client.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    nng_aio *aio;
    nng_ctx ctx;
    int receiving;
} bench_call;

static atomic_long done, failed;
static atomic_int stopping;
static const uint8_t *request;
static size_t request_len;
static bench_reply_ok check_reply;

static void
send_next(bench_call *c)
{
    nng_msg *msg;

    if (atomic_load(&stopping) || nng_msg_alloc(&msg, request_len) != 0) {
        return;
    }
    memcpy(nng_msg_body(msg), request, request_len);
    c->receiving = 0;
    nng_aio_set_msg(c->aio, msg);
    nng_ctx_send(c->ctx, c->aio);
}

static void
callback(void *arg)
{
    bench_call *c = arg;
    nng_msg *msg;

    if (nng_aio_result(c->aio) != 0) {
        if (!c->receiving) {
            nng_msg_free(nng_aio_get_msg(c->aio));
        }
        if (!atomic_load(&stopping)) {
            atomic_fetch_add(&failed, 1);
        }
        return;
    }
    if (!c->receiving) {
        c->receiving = 1;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    msg = nng_aio_get_msg(c->aio);
    atomic_fetch_add(check_reply(nng_msg_body(msg), nng_msg_len(msg))
                         ? &done
                         : &failed,
                     1);
    nng_msg_free(msg);
    send_next(c);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* nng_dial; for a tls+tcp:// URL with the certificate and CA that
 * LINTEL_CALL_CERT and LINTEL_CALL_CA name (a service's identity: the
 * check as that service makes it, README "Internal calls"). */
static int
bench_dial(nng_socket sock, const char *url)
{
    const char *cert = getenv("LINTEL_CALL_CERT"), *ca = getenv("LINTEL_CALL_CA");
    nng_tls_config *cfg;
    nng_dialer d;
    int rv;

    if (strncmp(url, "tls+", 4) != 0) {
        return nng_dial(sock, url, NULL, 0);
    }
    if (cert == NULL || ca == NULL) {
        return NNG_EINVAL;
    }
    if ((rv = nng_dialer_create(&d, sock, url)) != 0 ||
        (rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0) {
        return rv;
    }
    if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) == 0 &&
        (rv = nng_tls_config_server_name(cfg, "127.0.0.1")) == 0 &&
        (rv = nng_tls_config_ca_file(cfg, ca)) == 0 &&
        (rv = nng_tls_config_cert_key_file(cfg, cert, NULL)) == 0) {
        rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
    }
    nng_tls_config_free(cfg);
    return rv != 0 ? rv : nng_dialer_start(d, 0);
}

int
bench_client_run(const char *url, const uint8_t *req, size_t len,
                 long in_flight, long seconds, bench_reply_ok reply_ok,
                 bench_result *out)
{
    bench_call *calls = calloc((size_t)in_flight, sizeof(*calls));
    nng_socket sock;
    double start;
    long i;
    int rv;

    if (calls == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        return -1;
    }
    request = req;
    request_len = len;
    check_reply = reply_ok;
    if ((rv = nng_req0_open(&sock)) != 0 ||
        (rv = nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME,
                                NNG_DURATION_INFINITE)) != 0 ||
        (rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 1 << 20)) != 0 ||
        (rv = bench_dial(sock, url)) != 0) {
        fprintf(stderr, "bench: %s: %s\n", url, nng_strerror(rv));
        return -1;
    }
    for (i = 0; i < in_flight; i++) {
        if ((rv = nng_aio_alloc(&calls[i].aio, callback, &calls[i])) != 0 ||
            (rv = nng_ctx_open(&calls[i].ctx, sock)) != 0) {
            fprintf(stderr, "bench: %s\n", nng_strerror(rv));
            return -1;
        }
        nng_aio_set_timeout(calls[i].aio, 5000);
    }
    start = now_s();
    for (i = 0; i < in_flight; i++) {
        send_next(&calls[i]);
    }
    while (now_s() - start < (double)seconds) {
        struct timespec tick = {0, 50 * 1000 * 1000};

        nanosleep(&tick, NULL);
    }
    atomic_store(&stopping, 1);
    out->seconds = now_s() - start;
    out->done = atomic_load(&done);
    out->failed = atomic_load(&failed);
    /*
     * No teardown: nng_aio_stop() on NNG 1.5.2 can wait forever for a
     * callback that re-arms its aio at the same moment, and a benchmark
     * that hangs measures nothing. The kernel closes the socket.
     */
    return 0;
}
