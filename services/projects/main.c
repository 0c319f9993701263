/*
 * lintel-projects: construction projects and tasks, per tenant, with an
 * outbox of domain events. main.c wires configuration to the shared service
 * skeleton (lc_service): at start the client of the users service (for the
 * caller policy and assignees) and the events pub socket are opened; then
 * each resource file registers its routes.
 */
#include <stdio.h>

#include "lc_service.h"
#include "projects.h"

static projects_app app;
static long users_max_message;

static const lc_config_var projects_vars[] = {
    {"LINTEL_USERS_RPC_URL", "tcp://127.0.0.1:7101", LC_CFG_URL, 0, 0,
     "NNG URL of the users service (users.GetUser checks assignees; "
     "users.GetCaller when a caller snapshot is missing)",
     &app.users_rpc_url},
    {"LINTEL_USERS_TIMEOUT_MS", "1000", LC_CFG_INT, 1, 60000,
     "deadline of a call to the users service", &app.users_timeout_ms},
    {"LINTEL_EVENTS_URL", "tcp://127.0.0.1:7202", LC_CFG_URL, 0, 0,
     "NNG pub URL announcing the highest committed event seq", &app.events_url},
    {"LINTEL_USERS_RPC_MAX_MESSAGE", "1048576", LC_CFG_INT, 1024, 67108864,
     "largest reply accepted from the users service, in bytes",
     &users_max_message},
};

static int
projects_all_routes(lc_rpc_server *s)
{
    return projects_routes(s) != 0 || tasks_routes(s) != 0 ||
                   events_routes(s) != 0
               ? -1
               : 0;
}

static int
projects_start(const lc_db_options *db, const lc_cache_options *cache,
               void *arg)
{
    projects_app *a = arg;
    char err[256];

    (void)db;
    (void)cache;
    a->users = lc_rpc_client_open(a->users_rpc_url, (size_t)users_max_message,
                                  err, sizeof(err));
    if (a->users == NULL) {
        fprintf(stderr, "lintel-projects: LINTEL_USERS_RPC_URL: %s\n", err);
        return -1;
    }
    a->caller.client = a->users;
    a->caller.timeout_ms = (int)a->users_timeout_ms;
    lc_caller_configure(lc_caller_fetch_rpc, &a->caller);
    if (projects_events_start(a) != 0) {
        lc_rpc_client_close(a->users);
        a->users = NULL;
        return -1;
    }
    return 0;
}

static void
projects_stop(void *arg)
{
    projects_app *a = arg;

    projects_events_stop(a);
    lc_rpc_client_close(a->users);
    a->users = NULL;
}

int
main(int argc, char **argv)
{
    static const lc_service_def def = {
        .name = "projects",
        .rpc_port = 7102,
        .ops_port = 9102,
        .vars = projects_vars,
        .nvars = sizeof(projects_vars) / sizeof(projects_vars[0]),
        .routes = projects_all_routes,
        .app = &app,
        .start = projects_start,
        .stop = projects_stop,
    };

    return lc_service_main(argc, argv, &def);
}
