/*
 * entitlement_bench: billing.CheckEntitlement over NNG from a C client.
 *
 *   entitlement_bench <billing url> <tenant uuid> <in flight> <seconds>
 *
 * Keeps <in flight> checks outstanding on one REQ socket with the client
 * loop of tests/bench/nng_floor.c, make bench's case (e) (bench_client.h):
 * the envelope is
 * the one lc_rpc_call_method sends for projects and users (origin internal,
 * RPC /rpc/billing.CheckEntitlement, the tenant, a CheckEntitlementRequest
 * for one more project), so the service does exactly a real check's work.
 * A tls+tcp:// URL is dialled with mutual TLS as users or projects dial it:
 * LINTEL_CALL_CERT (certificate and key, one PEM) and LINTEL_CALL_CA.
 * Prints "<checks> <seconds> <checks/s>"; exits 1 when any reply is not a
 * 200 carrying an answer with a plan. The billing issue's bar: 20,000
 * checks/s on this machine (tests/bench/entitlement.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_client.h"
#include "lintel/v1/billing.pb-c.h"
#include "lintel/v1/envelope.pb-c.h"

static uint8_t *request;
static size_t request_len;

/* A 200 whose body is a CheckEntitlementResponse naming the plan. */
static int
reply_ok(const uint8_t *reply, size_t len)
{
    Lintel__V1__Response *res;
    Lintel__V1__Billing__CheckEntitlementResponse *out = NULL;
    int ok;

    res = lintel__v1__response__unpack(NULL, len, reply);
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

int
main(int argc, char **argv)
{
    bench_result r;
    long n, secs;

    if (argc != 5 || (n = atol(argv[3])) < 1 || n > 4096 ||
        (secs = atol(argv[4])) < 1) {
        fprintf(stderr, "usage: entitlement_bench <url> <tenant> <in flight> "
                        "<seconds>\n");
        return 2;
    }
    if (pack_request(argv[2]) != 0) {
        fprintf(stderr, "entitlement_bench: out of memory\n");
        return 2;
    }
    if (bench_client_run(argv[1], request, request_len, n, secs, reply_ok,
                         &r) != 0) {
        return 2;
    }
    printf("%ld %.3f %.0f\n", r.done, r.seconds, r.done / r.seconds);
    fflush(stdout);
    if (r.failed != 0) {
        fprintf(stderr, "entitlement_bench: %ld failed checks\n", r.failed);
    }
    _exit(r.failed != 0 ? 1 : 0);
}
