/*
 * lintel-billing: plans, subscriptions and entitlements, per tenant.
 * main.c declares the service to lc_service: its settings, its peers
 * (users: the caller policy's fallback, seat counts and the events it
 * follows; projects: project counts), no Redis of its own but the caller
 * snapshots, and its routes; at start the caller policy is pointed at
 * users, the job runner (the monthly invoice.run) and the consumer of
 * users' events started. `lintel-billing invoice --as-of YYYY-MM-DD` runs
 * the invoicing by hand (invoices.c).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "billing.h"
#include "lc_service.h"

static billing_app app;

static const lc_config_var billing_vars[] = {
    {"LINTEL_USERS_EVENTS_URL", "tcp://127.0.0.1:7201", LC_CFG_STRING, 0, 0,
     "users' NNG pub socket announcing new events; off: poll only",
     &app.users_events_url},
    {"LINTEL_USERS_EVENTS_POLL_MS", "1000", LC_CFG_INT, 10, 600000,
     "longest wait for users' events without a hint", &app.consumer_poll_ms},
    {"LINTEL_PAYMENT_PROVIDER", "local", LC_CFG_STRING, 0, 0,
     "the payment provider's name in /api/billing/webhooks/{provider}",
     &app.webhook_provider},
    {"LINTEL_PAYMENT_WEBHOOK_SECRET", "off", LC_CFG_STRING, 0, 0,
     "the secret the provider signs its webhooks with; off: webhooks refused",
     &app.webhook_secret},
    {"LINTEL_PAYMENT_PROVIDER_URL", "off", LC_CFG_STRING, 0, 0,
     "the payment provider's charge API (POST <url>/v1/charges), asked to"
     " charge again at each dunning retry; off: the retries only wait for"
     " a payment", &app.payment_provider_url},
    {"LINTEL_PAYMENT_PROVIDER_TIMEOUT_MS", "10000", LC_CFG_INT, 100, 120000,
     "longest wait for the payment provider's answer to a charge (a retry"
     " that gets none runs again with the job back-off)",
     &app.payment_provider_timeout_ms},
    {"LINTEL_ENTITLEMENT_CACHE_MS", "2000", LC_CFG_INT, 0, 60000,
     "longest time a plan change made elsewhere (another replica, a hand-made"
     " UPDATE) may go unseen by the entitlement checks; 0: no cache",
     &app.entitlement_cache_ms},
    LC_JOBS_CONFIG_VARS(app.jobs_options),
};

static const lc_service_peer billing_peers[] = {
    {.name = "users",
     .what = "users.EventsSince (new tenants), users.CountSeats, "
             "users.GetCaller when a caller snapshot is missing",
     .port = 7101,
     .client = &app.users,
     .timeout_ms = &app.users_timeout_ms,
     .url = &app.users_rpc_url},
    {.name = "projects",
     .what = "projects.CountProjects",
     .port = 7102,
     .client = &app.projects,
     .timeout_ms = &app.projects_timeout_ms},
};

/* Who may call its internal RPCs, and which (lc_service_caller). */
static const char *const billing_entitlement_rpcs[] = {
    "billing.CheckEntitlement", NULL};
/* users also asks for billing's readiness, for GET /api/health */
static const char *const billing_users_rpcs[] = {"billing.CheckEntitlement",
                                                 "billing.Ready", NULL};

static const lc_service_caller billing_callers[] = {
    {.name = "users", .rpcs = billing_users_rpcs},
    {.name = "projects", .rpcs = billing_entitlement_rpcs},
};

static int
billing_all_routes(lc_rpc_server *s)
{
    return plans_routes(s) != 0 || subscriptions_routes(s) != 0 ||
                   entitlements_routes(s) != 0 || invoices_routes(s) != 0 ||
                   webhooks_routes(s) != 0 || credit_notes_routes(s) != 0 ||
                   subscriptions_admin_routes(s) != 0 || usage_routes(s) != 0
               ? -1
               : 0;
}

/* The job runner (invoice.run), and the next monthly run enqueued unless
 * one waits already. */
static int
billing_jobs_start(billing_app *a, const lc_db_options *db)
{
    lc_db *conn;
    int rc;

    a->jobs_options.schema = "billing";
    a->jobs_options.db = *db;
    a->jobs_options.db.application = "lintel-billing-jobs";
    a->jobs = lc_jobs_new(&a->jobs_options);
    if (a->jobs == NULL || invoice_jobs_register(a) != 0 ||
        webhooks_jobs_register(a) != 0 || dunning_jobs_register(a) != 0 ||
        usage_jobs_register(a) != 0) {
        lc_jobs_free(a->jobs);
        a->jobs = NULL;
        fprintf(stderr, "lintel-billing: cannot make the job runner\n");
        return -1;
    }
    conn = lc_db_open(&a->jobs_options.db);
    rc = conn == NULL || invoice_schedule_next(a, conn) != 0 ||
                 usage_schedule_next(a, conn) != 0
             ? -1
             : 0;
    lc_db_close(conn);
    if (rc != 0 || lc_jobs_start(a->jobs) != 0) {
        lc_jobs_free(a->jobs);
        a->jobs = NULL;
        fprintf(stderr, "lintel-billing: cannot start the job runner "
                        "(is the database up and migrated?)\n");
        return -1;
    }
    return 0;
}

static void
billing_jobs_stop(billing_app *a)
{
    if (a->jobs != NULL) {
        lc_jobs_stop(a->jobs);
        lc_jobs_free(a->jobs);
        a->jobs = NULL;
    }
}

static void
billing_cache_free(billing_app *a)
{
    entitlement_cache_free(a->limits);
    a->limits = NULL;
}

static int
billing_start(const lc_db_options *db, const lc_cache_options *cache,
              void *arg)
{
    billing_app *a = arg;

    (void)cache;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "lintel-billing: cannot initialise libcurl\n");
        return -1;
    }
    a->caller.client = a->users;
    a->caller.timeout_ms = (int)a->users_timeout_ms;
    lc_caller_configure(lc_caller_fetch_rpc, &a->caller);
    if (a->entitlement_cache_ms > 0 &&
        (a->limits = entitlement_cache_new(
             ENTITLEMENT_CACHE_TENANTS, a->entitlement_cache_ms)) == NULL) {
        fprintf(stderr, "lintel-billing: out of memory\n");
        return -1;
    }
    if (billing_jobs_start(a, db) != 0) {
        billing_cache_free(a);
        return -1;
    }
    if (tenant_events_start(a, db) != 0) {
        billing_jobs_stop(a);
        billing_cache_free(a);
        return -1;
    }
    return 0;
}

static void
billing_stop(void *arg)
{
    tenant_events_stop(arg);
    billing_jobs_stop(arg);
    /* the RPC server has stopped: no check reads the cache any more */
    billing_cache_free(arg);
    curl_global_cleanup();
}

int
main(int argc, char **argv)
{
    static const lc_service_def def = {
        .name = "billing",
        .rpc_port = 7104,
        .ops_port = 9104,
        .vars = billing_vars,
        .nvars = sizeof(billing_vars) / sizeof(billing_vars[0]),
        .uses_redis = true,
        .peers = billing_peers,
        .npeers = sizeof(billing_peers) / sizeof(billing_peers[0]),
        .callers = billing_callers,
        .ncallers = sizeof(billing_callers) / sizeof(billing_callers[0]),
        .routes = billing_all_routes,
        .app = &app,
        .start = billing_start,
        .stop = billing_stop,
    };

    if (argc > 1 && strcmp(argv[1], "invoice") == 0) {
        return invoice_command(argc, argv);
    }
    return lc_service_main(argc, argv, &def);
}
