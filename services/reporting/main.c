/*
 * lintel-reporting: dashboards and reports of a tenant's projects, and its
 * audit log. main.c declares the service to lc_service: its settings, its
 * peers (users: the caller policy's fallback and the source of member
 * events; projects: the source of project and task events), its Redis
 * (caller snapshots, cached reports) and its routes; at start the caller
 * policy is pointed at users, the answers kept in memory (with their
 * tracker of changes in Redis), the two consumers and the export runner
 * are started.
 */
#include <stdio.h>

#include "lc_service.h"
#include "reporting.h"

static reporting_app app;

static const lc_config_var reporting_vars[] = {
    {"LINTEL_PROJECTS_EVENTS_URL", "tcp://127.0.0.1:7202", LC_CFG_URL, 0, 0,
     "NNG pub URL of projects' event hints", &app.projects_events_url},
    {"LINTEL_USERS_EVENTS_URL", "tcp://127.0.0.1:7201", LC_CFG_URL, 0, 0,
     "NNG pub URL of users' event hints", &app.users_events_url},
    {"LINTEL_REPORTING_POLL_MS", "1000", LC_CFG_INT, 10, 60000,
     "longest wait for new events when no hint arrives", &app.poll_ms},
    {"LINTEL_REPORTING_BATCH", "1000", LC_CFG_INT, 1, 1000,
     "events applied per call and transaction", &app.batch},
    {"LINTEL_REPORTING_CACHE_TTL_S", "300", LC_CFG_INT, 0, 86400,
     "life of a cached report (any event of its tenant ends it sooner);"
     " 0: no cache, every answer computed",
     &app.cache_ttl_s},
    {"LINTEL_REPORTING_EXPORTS_PER_TENANT", "2", LC_CFG_INT, 1, 100,
     "exports of one tenant running at once, across replicas (more wait)",
     &app.exports_per_tenant},
    {"LINTEL_REPORTING_EXPORT_MAX_BYTES", "60000000", LC_CFG_INT, 1024,
     2000000000, "largest export file; a larger one fails",
     &app.export_max_bytes},
    /* The export runner's (lc_jobs); its tenant cap is the one above. */
    {"LINTEL_JOBS_WORKERS", "2", LC_CFG_INT, 1, 64,
     "threads running exports, each with its own database connection",
     &app.jobs_options.workers},
    {"LINTEL_JOBS_POLL_MS", "1000", LC_CFG_INT, 10, 60000,
     "how often the job runner looks for due jobs when not woken",
     &app.jobs_options.poll_ms},
    {"LINTEL_JOBS_LEASE_MS", "30000", LC_CFG_INT, 100, 3600000,
     "a running job whose lease is not renewed for this long runs again",
     &app.jobs_options.lease_ms},
    {"LINTEL_JOBS_MAX_ATTEMPTS", "5", LC_CFG_INT, 1, 1000,
     "attempts of an export before it fails", &app.jobs_options.max_attempts},
    {"LINTEL_JOBS_BACKOFF_MS", "1000", LC_CFG_INT, 1, 3600000,
     "delay after a first failed attempt; it doubles, with jitter",
     &app.jobs_options.backoff_ms},
    {"LINTEL_JOBS_BACKOFF_MAX_MS", "60000", LC_CFG_INT, 1, 86400000,
     "longest delay between attempts", &app.jobs_options.backoff_max_ms},
    {"LINTEL_JOBS_KEEP_DONE_S", "86400", LC_CFG_INT, 0, 31536000,
     "how long finished jobs stay listed", &app.jobs_options.keep_done_s},
    {"LINTEL_JOBS_DRAIN_MS", "10000", LC_CFG_INT, 0, 600000,
     "how long running exports may finish after SIGTERM",
     &app.jobs_options.drain_ms},
};

static const lc_service_peer reporting_peers[] = {
    {.name = "users",
     .what = "users.GetCaller when a caller snapshot is missing; "
             "users.EventsSince feeds the member names and the audit log",
     .port = 7101,
     .client = &app.users,
     .timeout_ms = &app.users_timeout_ms,
     .url = &app.users_url},
    {.name = "projects",
     .what = "projects.EventsSince feeds the read models",
     .port = 7102,
     .client = &app.projects,
     .timeout_ms = &app.projects_timeout_ms,
     .url = &app.projects_url},
};

static int
reporting_all_routes(lc_rpc_server *s)
{
    return reports_routes(s) != 0 || audit_routes(s) != 0 ||
                   exports_routes(s) != 0
               ? -1
               : 0;
}

static int
reporting_start(const lc_db_options *db, const lc_cache_options *cache,
                void *arg)
{
    reporting_app *a = arg;

    a->caller.client = a->users;
    a->caller.timeout_ms = (int)a->users_timeout_ms;
    lc_caller_configure(lc_caller_fetch_rpc, &a->caller);
    if (a->cache_ttl_s > 0) {
        a->near = lc_vcache_near_start(cache, REPORTING_CACHE_PREFIX,
                                       LC_VCACHE_NEAR_TTL_MS);
        if (a->near == NULL) {
            fprintf(stderr, "lintel-reporting: cannot start the answers"
                            " kept in memory\n");
            return -1;
        }
    }
    if (reporting_feed_start(a, db, cache) != 0) {
        lc_vcache_near_stop(a->near);
        return -1;
    }
    if (reporting_exports_start(a, db) != 0) {
        fprintf(stderr, "lintel-reporting: cannot start the export runner\n");
        reporting_feed_stop(a);
        lc_vcache_near_stop(a->near);
        return -1;
    }
    return 0;
}

/* Who may call its internal RPCs, and which (lc_service_caller). */
static const char *const reporting_users_rpcs[] = {"reporting.Ready", NULL};

static const lc_service_caller reporting_callers[] = {
    {.name = "users", .rpcs = reporting_users_rpcs}, /* GET /api/health */
};

static void
reporting_stop(void *arg)
{
    reporting_app *a = arg;

    reporting_exports_stop(a);
    reporting_feed_stop(a);
    lc_vcache_near_stop(a->near);
}

int
main(int argc, char **argv)
{
    static const lc_service_def def = {
        .name = "reporting",
        .rpc_port = 7103,
        .ops_port = 9103,
        .vars = reporting_vars,
        .nvars = sizeof(reporting_vars) / sizeof(reporting_vars[0]),
        .uses_redis = true,
        .read_replica = true,
        .peers = reporting_peers,
        .npeers = sizeof(reporting_peers) / sizeof(reporting_peers[0]),
        .routes = reporting_all_routes,
        .callers = reporting_callers,
        .ncallers = sizeof(reporting_callers) / sizeof(reporting_callers[0]),
        .app = &app,
        .start = reporting_start,
        .stop = reporting_stop,
    };

    return lc_service_main(argc, argv, &def);
}
