/*
 * nng_floor: NNG's own cost for one request/reply, with nothing around it.
 *
 *   nng_floor <url> <contexts> <seconds>
 *
 * Keeps <contexts> requests in flight on one REQ socket, each an nng_ctx +
 * nng_aio whose callback checks the reply and sends the next request at
 * once (no HTTP, no nginx, no eventfd hop): the same envelope the edge
 * sends for make bench's case (c), to the same lintel-test-service.  Prints
 * "<round trips> <seconds>" on stdout; exits 1 if any reply is not a 200
 * envelope.  tests/bench/run.sh runs it as case (e) and reads its CPU time
 * per round trip: the least that forwarding over NNG costs on this machine.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lintel/v1/envelope.pb-c.h"

typedef struct {
    nng_aio *aio;
    nng_ctx ctx;
    int receiving;
} floor_call;

static atomic_long done, failed;
static atomic_int stopping;
static const uint8_t *request;
static size_t request_len;

static void
send_next(floor_call *c)
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
    floor_call *c = arg;
    Lintel__V1__Response *res;
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
    res = lintel__v1__response__unpack(NULL, nng_msg_len(msg),
                                       nng_msg_body(msg));
    if (res == NULL || res->status != 200) {
        atomic_fetch_add(&failed, 1);
    } else {
        atomic_fetch_add(&done, 1);
    }
    if (res != NULL) {
        lintel__v1__response__free_unpacked(res, NULL);
    }
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

int
main(int argc, char **argv)
{
    Lintel__V1__Request req = LINTEL__V1__REQUEST__INIT;
    Lintel__V1__Tenant tenant = LINTEL__V1__TENANT__INIT;
    Lintel__V1__Principal principal = LINTEL__V1__PRINCIPAL__INIT;
    floor_call *calls;
    nng_socket sock;
    uint8_t *buf;
    double start, elapsed;
    long n, seconds, i;
    int rv;

    if (argc != 4 || (n = atol(argv[2])) < 1 || (seconds = atol(argv[3])) < 1) {
        fprintf(stderr, "usage: nng_floor <url> <contexts> <seconds>\n");
        return 2;
    }

    /* what the edge sends for GET /api/projects/bench with a valid token */
    tenant.id = "8a0e5c1e-4a56-4d0e-9a53-6f1f3b1f7a10";
    tenant.slug = "acme";
    principal.user_id = "0c7f3a52-2d4e-4c1b-8f0a-5b9e2d6c4f11";
    principal.role = "owner";
    principal.session_id = "5d1e9b0a-7c3f-4e2a-9b6d-8f0c1a2e3d44";
    principal.token_id = "e2b4c6d8-0a1c-4e3f-8a5b-7c9d1e3f5a77";
    req.request_id = "00000000000000000000000000000000";
    req.traceparent =
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    req.timeout_ms = 5000;
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
    req.tenant = &tenant;
    req.principal = &principal;
    req.method = "GET";
    req.path = "/api/projects/bench";
    req.query = "";
    req.client_ip = "127.0.0.1";
    request_len = lintel__v1__request__get_packed_size(&req);
    buf = malloc(request_len);
    calls = calloc((size_t)n, sizeof(*calls));
    if (buf == NULL || calls == NULL) {
        fprintf(stderr, "nng_floor: out of memory\n");
        return 1;
    }
    lintel__v1__request__pack(&req, buf);
    request = buf;

    if ((rv = nng_req0_open(&sock)) != 0 ||
        (rv = nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME,
                                NNG_DURATION_INFINITE)) != 0 ||
        (rv = nng_dial(sock, argv[1], NULL, 0)) != 0) {
        fprintf(stderr, "nng_floor: %s: %s\n", argv[1], nng_strerror(rv));
        return 1;
    }
    for (i = 0; i < n; i++) {
        if ((rv = nng_aio_alloc(&calls[i].aio, callback, &calls[i])) != 0 ||
            (rv = nng_ctx_open(&calls[i].ctx, sock)) != 0) {
            fprintf(stderr, "nng_floor: %s\n", nng_strerror(rv));
            return 1;
        }
        nng_aio_set_timeout(calls[i].aio, 5000);
    }

    start = now_s();
    for (i = 0; i < n; i++) {
        send_next(&calls[i]);
    }
    while (now_s() - start < (double)seconds) {
        struct timespec tick = {0, 50 * 1000 * 1000};

        nanosleep(&tick, NULL);
    }
    atomic_store(&stopping, 1);
    elapsed = now_s() - start;
    printf("%ld %.3f\n", atomic_load(&done), elapsed);
    fflush(stdout);
    if (atomic_load(&failed) != 0) {
        fprintf(stderr, "nng_floor: %ld failed round trips\n",
                atomic_load(&failed));
    }
    /*
     * No teardown: nng_aio_stop() on NNG 1.5.2 can wait forever for a
     * callback that re-arms its aio at the same moment, and a benchmark
     * that hangs measures nothing.  The kernel closes the socket.
     */
    _exit(atomic_load(&failed) != 0 ? 1 : 0);
}
