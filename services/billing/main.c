/*
 * lintel-billing: plans, subscriptions and entitlements, per tenant.
 * main.c declares the service to lc_service: its settings, its peers
 * (users: the caller policy's fallback, seat counts and the events it
 * follows; projects: project counts), no Redis of its own but the caller
 * snapshots, and its routes; at start the caller policy is pointed at
 * users and the consumer of users' events started.
 */
#include "billing.h"
#include "lc_service.h"

static billing_app app;

static const lc_config_var billing_vars[] = {
    {"LINTEL_USERS_EVENTS_URL", "tcp://127.0.0.1:7201", LC_CFG_STRING, 0, 0,
     "users' NNG pub socket announcing new events; off: poll only",
     &app.users_events_url},
    {"LINTEL_USERS_EVENTS_POLL_MS", "1000", LC_CFG_INT, 10, 600000,
     "longest wait for users' events without a hint", &app.consumer_poll_ms},
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

static int
billing_all_routes(lc_rpc_server *s)
{
    return plans_routes(s) != 0 || subscriptions_routes(s) != 0 ||
                   entitlements_routes(s) != 0
               ? -1
               : 0;
}

static int
billing_start(const lc_db_options *db, const lc_cache_options *cache,
              void *arg)
{
    billing_app *a = arg;

    (void)cache;
    a->caller.client = a->users;
    a->caller.timeout_ms = (int)a->users_timeout_ms;
    lc_caller_configure(lc_caller_fetch_rpc, &a->caller);
    return tenant_events_start(a, db);
}

static void
billing_stop(void *arg)
{
    tenant_events_stop(arg);
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
        .routes = billing_all_routes,
        .app = &app,
        .start = billing_start,
        .stop = billing_stop,
    };

    return lc_service_main(argc, argv, &def);
}
