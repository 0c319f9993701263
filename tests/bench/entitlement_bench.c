/*
 * entitlement_bench: billing.CheckEntitlement over NNG from a C client, as
 * projects and users call it (lc_rpc_client, one nng_ctx per call).
 *
 *   entitlement_bench <billing url> <tenant uuid> <threads> <seconds>
 *
 * Each thread calls in a loop for <seconds>; prints "<calls> <seconds>
 * <calls/s>" and exits 1 when any call fails. The bar: 20,000
 * checks/s on this machine.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "lc_clock.h"
#include "lc_rpc_client.h"
#include "lintel/v1/billing.pb-c.h"

static lc_rpc_client *client;
static const char *tenant;
static int64_t until_ms;
static atomic_long calls, failures;

static void *
bench_thread(void *arg)
{
    Lintel__V1__Billing__CheckEntitlementRequest in =
        LINTEL__V1__BILLING__CHECK_ENTITLEMENT_REQUEST__INIT;
    ProtobufCMessage *out;
    int status;

    (void)arg;
    in.tenant_id = (char *)tenant;
    in.limit = "projects";
    in.wanted = 1;
    while (lc_clock_mono_ms() < until_ms) {
        out = NULL;
        if (lc_rpc_call_method(
                client, "billing.CheckEntitlement", "bench", tenant, &in.base,
                &lintel__v1__billing__check_entitlement_response__descriptor,
                lc_clock_mono_ms() + 2000, &out, &status) != LC_RPC_OK) {
            atomic_fetch_add(&failures, 1);
            continue;
        }
        lc_envelope_free_message(out);
        atomic_fetch_add(&calls, 1);
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    pthread_t th[256];
    char err[256];
    int n, secs, i;

    if (argc != 5 || (n = atoi(argv[3])) < 1 || n > 256 ||
        (secs = atoi(argv[4])) < 1) {
        fprintf(stderr, "usage: entitlement_bench <url> <tenant> <threads> "
                        "<seconds>\n");
        return 2;
    }
    tenant = argv[2];
    client = lc_rpc_client_open(argv[1], 1 << 20, err, sizeof(err));
    if (client == NULL) {
        fprintf(stderr, "entitlement_bench: %s\n", err);
        return 2;
    }
    until_ms = lc_clock_mono_ms() + secs * 1000LL;
    for (i = 0; i < n; i++) {
        pthread_create(&th[i], NULL, bench_thread, NULL);
    }
    for (i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
    }
    lc_rpc_client_close(client);
    printf("%ld %d %.0f\n", (long)calls, secs, (double)calls / secs);
    return failures > 0 ? 1 : 0;
}
