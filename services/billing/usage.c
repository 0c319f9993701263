/*
 * usage.c: what a tenant uses. Seats (users.CountSeats: active members)
 * and active projects (projects.CountProjects) are counted by the services
 * that own them; the job usage.snapshot records them daily per tenant
 * (00:10 UTC), with whether they exceed the plan's limits then — so an
 * action allowed while billing was down is seen at the next snapshot, and
 * the next invoice bills the seats. GET /api/billing/usage (admin and
 * owner) answers the counts now, or the last snapshot when a counting
 * service does not answer, with the plan's limits and 30 days of history.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing.h"
#include "lc_clock.h"
#include "lintel/v1/projects.pb-c.h"
#include "lintel/v1/users.pb-c.h"
#include "proration.h"

#define USAGE_JOB_KIND "usage.snapshot"

int
usage_count(billing_app *app, const char *request_id, const char *tenant_id,
            billing_usage *u)
{
    Lintel__V1__Users__CountSeatsRequest sin =
        LINTEL__V1__USERS__COUNT_SEATS_REQUEST__INIT;
    Lintel__V1__Projects__CountProjectsRequest pin =
        LINTEL__V1__PROJECTS__COUNT_PROJECTS_REQUEST__INIT;
    Lintel__V1__Users__CountSeatsResponse *seats = NULL;
    Lintel__V1__Projects__CountProjectsResponse *projects = NULL;
    int status = 0;

    sin.tenant_id = (char *)tenant_id;
    if (lc_rpc_call_method(app->users, "users.CountSeats", request_id,
                           tenant_id, &sin.base,
                           &lintel__v1__users__count_seats_response__descriptor,
                           lc_clock_mono_ms() + app->users_timeout_ms,
                           (ProtobufCMessage **)&seats,
                           &status) != LC_RPC_OK) {
        return -1;
    }
    u->seats = seats->active;
    lc_envelope_free_message(&seats->base);
    pin.tenant_id = (char *)tenant_id;
    if (lc_rpc_call_method(
            app->projects, "projects.CountProjects", request_id, tenant_id,
            &pin.base, &lintel__v1__projects__count_projects_response__descriptor,
            lc_clock_mono_ms() + app->projects_timeout_ms,
            (ProtobufCMessage **)&projects, &status) != LC_RPC_OK) {
        return -1;
    }
    u->projects = projects->active;
    lc_envelope_free_message(&projects->base);
    return 0;
}

/* --- the daily snapshot ---------------------------------------------------*/

static const lc_db_stmt usage_tenants = {
    "SELECT tenant_id FROM billing.invoice_schedule"
    " WHERE $1::uuid IS NULL OR tenant_id > $1::uuid"
    " ORDER BY tenant_id LIMIT 500",
    1};

/* $1 day, $2 seats, $3 projects: against the plan the tenant is held to. */
static const lc_db_stmt usage_record = {
    "INSERT INTO billing.usage_snapshots AS u (tenant_id, day, seats,"
    " projects, plan_code, over_seats, over_projects)"
    " SELECT s.tenant_id, $1::date, $2::int, $3::int, p.code,"
    " $2::int > coalesce(p.max_seats, $2::int),"
    " $3::int > coalesce(p.max_projects, $3::int)"
    " FROM billing.subscriptions s"
    " JOIN billing.plans p ON (p.code, p.version) = (s.plan_code, s.plan_version)"
    " ON CONFLICT (tenant_id, day) DO UPDATE SET seats = EXCLUDED.seats,"
    " projects = EXCLUDED.projects, plan_code = EXCLUDED.plan_code,"
    " over_seats = EXCLUDED.over_seats,"
    " over_projects = EXCLUDED.over_projects, taken_at = now()",
    3};

typedef struct {
    const lc_db_stmt *st;
    const char *const *params;
    PGresult *res;
} usage_query_ctx;

static int
usage_query_tx(lc_db *db, void *arg, lc_db_error *err)
{
    usage_query_ctx *c = arg;

    PQclear(c->res);
    c->res = lc_db_exec(db, c->st, c->params, err);
    return c->res ? 0 : -1;
}

/* Snapshots every tenant with a subscription; the number that failed. */
static int
usage_snapshot_all(billing_app *app, lc_db *db, const char *day, char *why,
                   size_t whylen)
{
    char after[37] = "", seats[16], projects[16];
    int failed = 0, i, n;
    lc_db_error err;

    for (;;) {
        const char *p1[1] = {after[0] ? after : NULL};
        usage_query_ctx q = {.st = &usage_tenants, .params = p1};

        if (lc_db_tenant_tx(db, NULL, lc_clock_mono_ms() + 30000,
                            usage_query_tx, &q, &err) != 0) {
            PQclear(q.res);
            snprintf(why, whylen, "%s", err.message);
            return failed + 1;
        }
        n = PQntuples(q.res);
        for (i = 0; i < n; i++) {
            const char *tenant = PQgetvalue(q.res, i, 0);
            const char *p3[3] = {day, seats, projects};
            usage_query_ctx r = {.st = &usage_record, .params = p3};
            billing_usage u;

            if (usage_count(app, "", tenant, &u) != 0) {
                snprintf(why, whylen, "tenant %s: not counted", tenant);
                failed++;
                continue;
            }
            snprintf(seats, sizeof(seats), "%" PRIu32, u.seats);
            snprintf(projects, sizeof(projects), "%" PRIu32, u.projects);
            if (lc_db_tenant_tx(db, tenant, lc_clock_mono_ms() + 10000,
                                usage_query_tx, &r, &err) != 0) {
                snprintf(why, whylen, "tenant %s: %s", tenant, err.message);
                failed++;
            }
            PQclear(r.res);
        }
        if (n > 0) {
            snprintf(after, sizeof(after), "%s", PQgetvalue(q.res, n - 1, 0));
        }
        PQclear(q.res);
        if (n == 0) {
            return failed;
        }
    }
}

static const lc_db_stmt usage_next_pending = {
    "SELECT pg_advisory_xact_lock(hashtext('billing.usage.snapshot')),"
    " EXISTS (SELECT FROM billing.jobs WHERE kind = 'usage.snapshot'"
    "   AND status IN ('queued', 'failed'))",
    0};

typedef struct {
    billing_app *app;
} usage_next_ctx;

static int
usage_next_tx(lc_db *db, void *arg, lc_db_error *err)
{
    usage_next_ctx *c = arg;
    int64_t today = lc_clock_wall_ms() / 86400000;
    lc_job_new job = {.kind = USAGE_JOB_KIND,
                      .run_at_ms = ((today + 1) * 86400 + 600) * 1000};
    PGresult *r = lc_db_exec(db, &usage_next_pending, NULL, err);
    bool pending;

    if (r == NULL) {
        return -1;
    }
    pending = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);
    return pending ? 0 : lc_jobs_enqueue(c->app->jobs, db, &job, NULL, err);
}

int
usage_schedule_next(billing_app *app, lc_db *db)
{
    usage_next_ctx c = {.app = app};
    lc_db_error err;

    return lc_db_tenant_tx(db, NULL, lc_clock_mono_ms() + 10000, usage_next_tx,
                           &c, &err);
}

static lc_job_outcome
usage_job(lc_db *db, const lc_job *job, void *arg, char *why, size_t whylen)
{
    billing_app *app = arg;
    char day[11];
    int failed;

    (void)job;
    billing_date_format(billing_date_from_days(lc_clock_wall_ms() / 86400000),
                        day);
    failed = usage_snapshot_all(app, db, day, why, whylen);
    if (failed > 0) {
        return LC_JOB_RETRY; /* a rerun records the same day again */
    }
    if (usage_schedule_next(app, db) != 0) {
        snprintf(why, whylen, "cannot enqueue the next snapshot");
        return LC_JOB_RETRY;
    }
    return LC_JOB_DONE;
}

int
usage_jobs_register(billing_app *app)
{
    return lc_jobs_handle(app->jobs, USAGE_JOB_KIND, usage_job, app);
}

/* --- GET /api/billing/usage -------------------------------------------------*/

/* $1 seats now or NULL, $2 projects now or NULL: the answer, from the
 * counts given or else the last snapshot. */
static const lc_db_stmt usage_answer = {
    "WITH last AS (SELECT * FROM billing.usage_snapshots"
    "               ORDER BY day DESC LIMIT 1)"
    " SELECT json_build_object("
    " 'plan', p.code,"
    " 'source', CASE WHEN $1::int IS NOT NULL THEN 'live' ELSE 'snapshot' END,"
    " 'as_of', CASE WHEN $1::int IS NOT NULL THEN " BILLING_RFC3339("now()")
    "   ELSE " BILLING_RFC3339("(SELECT taken_at FROM last)") " END,"
    " 'seats', json_build_object('used',"
    "   coalesce($1::int, (SELECT seats FROM last)), 'limit', p.max_seats),"
    " 'projects', json_build_object('used',"
    "   coalesce($2::int, (SELECT projects FROM last)),"
    "   'limit', p.max_projects),"
    " 'history', (SELECT coalesce(json_agg(json_build_object("
    "   'day', " BILLING_DATE("h.day") ", 'seats', h.seats,"
    "   'projects', h.projects, 'over_seats', h.over_seats,"
    "   'over_projects', h.over_projects) ORDER BY h.day DESC), '[]')"
    "   FROM (SELECT * FROM billing.usage_snapshots ORDER BY day DESC"
    "         LIMIT 30) h))::text,"
    " $1::int IS NOT NULL OR EXISTS (SELECT FROM last)"
    " FROM billing.subscriptions s"
    " JOIN billing.plans p ON (p.code, p.version) = (s.plan_code, s.plan_version)",
    2};

static void
usage_show(lc_req *req)
{
    lc_caller caller;
    billing_usage u;
    PGresult *res;
    char seats[16], projects[16];
    const char *params[2] = {NULL, NULL};

    if (lc_caller_get(req, "admin", &caller) != 0) {
        return;
    }
    if (usage_count(lc_req_app(req), lc_req_id(req), caller.tenant_id, &u) ==
        0) {
        snprintf(seats, sizeof(seats), "%" PRIu32, u.seats);
        snprintf(projects, sizeof(projects), "%" PRIu32, u.projects);
        params[0] = seats;
        params[1] = projects;
    }
    res = lc_req_read(req, caller.tenant_id, &usage_answer, params);
    if (res == NULL) {
        return;
    }
    if (PQntuples(res) == 0) {
        lc_req_error(req, 404, "not_found", "this tenant has no subscription");
    } else if (PQgetvalue(res, 0, 1)[0] != 't') {
        lc_req_error(req, 503, "service_unavailable",
                     "usage cannot be counted now, try again later");
    } else {
        lc_req_respond(req, 200, "application/json", PQgetvalue(res, 0, 0),
                       (size_t)PQgetlength(res, 0, 0));
    }
    PQclear(res);
}

int
usage_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"GET", "/api/billing/usage", usage_show},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
