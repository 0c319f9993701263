/*
 * entitlement_bench: billing.CheckEntitlement over NNG from a C client.
 *
 *   entitlement_bench <billing url> <tenant uuid> <in flight> <seconds>
 *
 * Keeps <in flight> checks outstanding on one REQ socket, each an nng_ctx +
 * nng_aio whose callback checks the reply and sends the next check at once,
 * as tests/bench/nng_floor.c does for make bench's case (e): the envelope is
 * the one lc_rpc_call_method sends for projects and users (origin internal,
 * RPC /rpc/billing.CheckEntitlement, the tenant, a CheckEntitlementRequest
 * for one more project), so the service does exactly a real check's work.
 * A tls+tcp:// URL is dialled with mutual TLS as users or projects dial it:
 * LINTEL_CALL_CERT (certificate and key, one PEM) and LINTEL_CALL_CA.
 * Prints "<checks> <seconds> <checks/s>"; exits 1 when any reply is not a
 * 200 carrying an answer with a plan. The billing issue's bar: 20,000
 * checks/s on this machine (tests/bench/entitlement.sh).
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lc_clock.h"
#include "lintel/v1/billing.pb-c.h"
#include "lintel/v1/envelope.pb-c.h"

typedef struct {
    nng_aio *aio;
    nng_ctx ctx;
    int receiving;
} bench_call;

static atomic_long checks, failures;
static atomic_int stopping;
static uint8_t *request;
static size_t request_len;

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

/* A 200 whose body is a CheckEntitlementResponse naming the plan. */
static int
reply_ok(nng_msg *msg)
{
    Lintel__V1__Response *res;
    Lintel__V1__Billing__CheckEntitlementResponse *out = NULL;
    int ok;

    res = lintel__v1__response__unpack(NULL, nng_msg_len(msg),
                                       nng_msg_body(msg));
    if (res != NULL && res->status == 200) {
        out = lintel__v1__billing__check_entitlement_response__unpack(
            NULL, res->body.len, res->body.data);
    }
    ok = out != NULL && out->plan[0] != '\0';
    if (out != NULL) {
        lintel__v1__billing__check_entitlement_response__free_unpacked(out,
                                                                       NULL);
    }
    if (res != NULL) {
        lintel__v1__response__free_unpacked(res, NULL);
    }
    return ok;
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
            atomic_fetch_add(&failures, 1);
        }
        return;
    }
    if (!c->receiving) {
        c->receiving = 1;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    msg = nng_aio_get_msg(c->aio);
    atomic_fetch_add(reply_ok(msg) ? &checks : &failures, 1);
    nng_msg_free(msg);
    send_next(c);
}

/* The envelope of one check for `tenant_id`, packed into `request`. */
static int
pack_request(const char *tenant_id)
{
    Lintel__V1__Billing__CheckEntitlementRequest in =
        LINTEL__V1__BILLING__CHECK_ENTITLEMENT_REQUEST__INIT;
    Lintel__V1__Request req = LINTEL__V1__REQUEST__INIT;
    Lintel__V1__Tenant tenant = LINTEL__V1__TENANT__INIT;
    uint8_t body[256];

    in.tenant_id = (char *)tenant_id;
    in.limit = "projects";
    in.wanted = 1;
    if (lintel__v1__billing__check_entitlement_request__get_packed_size(&in) >
        sizeof(body)) {
        return -1;
    }
    req.body.len =
        lintel__v1__billing__check_entitlement_request__pack(&in, body);
    req.body.data = body;
    req.request_id = "bench";
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_INTERNAL;
    req.method = "RPC";
    req.path = "/rpc/billing.CheckEntitlement";
    req.timeout_ms = 2000;
    tenant.id = (char *)tenant_id;
    req.tenant = &tenant;
    request_len = lintel__v1__request__get_packed_size(&req);
    request = malloc(request_len);
    if (request == NULL) {
        return -1;
    }
    lintel__v1__request__pack(&req, request);
    return 0;
}

/* nng_dial, with the caller's certificate for a tls+tcp:// URL */
static int
dial(nng_socket sock, const char *url)
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
main(int argc, char **argv)
{
    bench_call *calls;
    nng_socket sock;
    int64_t start, took_ms;
    long n, secs, i;
    int rv;

    if (argc != 5 || (n = atol(argv[3])) < 1 || n > 4096 ||
        (secs = atol(argv[4])) < 1) {
        fprintf(stderr, "usage: entitlement_bench <url> <tenant> <in flight> "
                        "<seconds>\n");
        return 2;
    }
    calls = calloc((size_t)n, sizeof(*calls));
    if (calls == NULL || pack_request(argv[2]) != 0) {
        fprintf(stderr, "entitlement_bench: out of memory\n");
        return 2;
    }
    if ((rv = nng_req0_open(&sock)) != 0 ||
        (rv = nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME,
                                NNG_DURATION_INFINITE)) != 0 ||
        (rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 1 << 20)) != 0 ||
        (rv = dial(sock, argv[1])) != 0) {
        fprintf(stderr, "entitlement_bench: %s: %s\n", argv[1],
                nng_strerror(rv));
        return 2;
    }
    for (i = 0; i < n; i++) {
        if ((rv = nng_aio_alloc(&calls[i].aio, callback, &calls[i])) != 0 ||
            (rv = nng_ctx_open(&calls[i].ctx, sock)) != 0) {
            fprintf(stderr, "entitlement_bench: %s\n", nng_strerror(rv));
            return 2;
        }
        nng_aio_set_timeout(calls[i].aio, 5000);
    }
    start = lc_clock_mono_ms();
    for (i = 0; i < n; i++) {
        send_next(&calls[i]);
    }
    nng_msleep((nng_duration)(secs * 1000));
    atomic_store(&stopping, 1);
    took_ms = lc_clock_mono_ms() - start;
    printf("%ld %.3f %.0f\n", (long)atomic_load(&checks), took_ms / 1000.0,
           atomic_load(&checks) / (took_ms / 1000.0));
    fflush(stdout);
    if (atomic_load(&failures) != 0) {
        fprintf(stderr, "entitlement_bench: %ld failed checks\n",
                (long)atomic_load(&failures));
    }
    /* No teardown, as in nng_floor.c: nng_aio_stop() on NNG 1.5.2 can wait
     * forever for a callback that re-arms its aio at that moment. */
    _exit(atomic_load(&failures) != 0 ? 1 : 0);
}
