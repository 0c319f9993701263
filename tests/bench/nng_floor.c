/*
 * nng_floor: NNG's own cost for one request/reply, with nothing around it.
 *
 *   nng_floor <url> <contexts> <seconds>
 *
 * Keeps <contexts> requests in flight on one REQ socket (bench_client.h):
 * the same envelope the edge sends for make bench's case (c), to the same
 * lintel-test-service.  Prints
 * "<round trips> <seconds>" on stdout; exits 1 if any reply is not a 200
 * envelope.  tests/bench/run.sh runs it as case (e) and reads its CPU time
 * per round trip: the least that forwarding over NNG costs on this machine;
 * tests/bench/entitlement.sh runs it as the floor of billing's checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_client.h"
#include "lintel/v1/envelope.pb-c.h"

/* A 200 envelope. */
static int
reply_ok(const uint8_t *reply, size_t len)
{
    Lintel__V1__Response *res = lintel__v1__response__unpack(NULL, len, reply);
    int ok = res != NULL && res->status == 200;

    if (res != NULL) {
        lintel__v1__response__free_unpacked(res, NULL);
    }
    return ok;
}

int
main(int argc, char **argv)
{
    Lintel__V1__Request req = LINTEL__V1__REQUEST__INIT;
    Lintel__V1__Tenant tenant = LINTEL__V1__TENANT__INIT;
    Lintel__V1__Principal principal = LINTEL__V1__PRINCIPAL__INIT;
    bench_result r;
    uint8_t *buf;
    size_t len;
    long n, seconds;

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
    len = lintel__v1__request__get_packed_size(&req);
    buf = malloc(len);
    if (buf == NULL) {
        fprintf(stderr, "nng_floor: out of memory\n");
        return 1;
    }
    lintel__v1__request__pack(&req, buf);
    if (bench_client_run(argv[1], buf, len, n, seconds, reply_ok, &r) != 0) {
        return 1;
    }
    printf("%ld %.3f\n", r.done, r.seconds);
    fflush(stdout);
    if (r.failed != 0) {
        fprintf(stderr, "nng_floor: %ld failed round trips\n", r.failed);
    }
    _exit(r.failed != 0 ? 1 : 0);
}
