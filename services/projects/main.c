/*
 * lintel-projects: construction projects and tasks, per tenant, with an
 * outbox of domain events. main.c declares the service to lc_service: its
 * settings, its peers (users: the caller policy's fallback and assignees;
 * billing: plan limits),
 * its Redis (caller snapshots), its constraints and its routes; at start
 * the caller policy is pointed at users and the events pub socket opened.
 */
#include <stdio.h>

#include "lc_service.h"
#include "projects.h"

static projects_app app;

/* Its events: a project's, or a task's (with its project). */
static const lc_service_outbox projects_events = {
    .keys = {"project_id", "task_id"},
    .nkeys = 2,
    .pub_port = 7202,
    .outbox = &projects_outbox,
};

static const lc_service_peer projects_peers[] = {
    {.name = "users",
     .what = "users.GetCaller when a caller snapshot is missing; "
             "users.GetUser checks assignees",
     .port = 7101,
     .client = &app.users,
     .timeout_ms = &app.users_timeout_ms},
    {.name = "billing",
     .what = "billing.CheckEntitlement before a project is created; when it "
             "cannot answer within the timeout, the project is created",
     .port = 7104,
     .client = &app.billing.client,
     .timeout_ms = &app.billing.timeout_ms,
     .default_timeout_ms = 200},
};

/* Who may call its internal RPCs, and which (lc_service_caller). */
static const char *const projects_reporting_rpcs[] = {"projects.EventsSince",
                                                      NULL};
static const char *const projects_billing_rpcs[] = {"projects.CountProjects",
                                                    NULL};
static const char *const projects_users_rpcs[] = {"projects.Ready", NULL};

static const lc_service_caller projects_callers[] = {
    {.name = "reporting", .rpcs = projects_reporting_rpcs},
    {.name = "billing", .rpcs = projects_billing_rpcs},
    {.name = "users", .rpcs = projects_users_rpcs}, /* GET /api/health */
};

/* Constraints whose violation is the client's mistake, not a bug. */
static const lc_req_constraint projects_constraints[] = {
    {.constraint = "projects_tenant_code_key",
     .status = 409,
     .code = "conflict",
     .field = "code",
     .field_code = "taken",
     .message = "another project already has this code"},
    {.constraint = "projects_dates_ordered",
     .status = 400,
     .code = "validation_failed",
     .field = "end_date",
     .field_code = "before_start",
     .message = "end_date is before start_date"},
    {.constraint = "projects_budget_currency",
     .status = 400,
     .code = "validation_failed",
     .field = "currency",
     .field_code = "required_with_budget",
     .message = "budget_cents and currency go together"},
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

    (void)db;
    (void)cache;
    a->caller.client = a->users;
    a->caller.timeout_ms = (int)a->users_timeout_ms;
    lc_caller_configure(lc_caller_fetch_rpc, &a->caller);
    return 0;
}

int
main(int argc, char **argv)
{
    static const lc_service_def def = {
        .name = "projects",
        .rpc_port = 7102,
        .ops_port = 9102,
        .outbox = &projects_events,
        .uses_redis = true,
        .peers = projects_peers,
        .npeers = sizeof(projects_peers) / sizeof(projects_peers[0]),
        .callers = projects_callers,
        .ncallers = sizeof(projects_callers) / sizeof(projects_callers[0]),
        .routes = projects_all_routes,
        .app = &app,
        .constraints = projects_constraints,
        .nconstraints =
            sizeof(projects_constraints) / sizeof(projects_constraints[0]),
        .start = projects_start,
    };

    return lc_service_main(argc, argv, &def);
}
