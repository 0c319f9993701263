/*
 * reports.c: the tenant's reports (viewer and up), computed from the read
 * models by SQL and answered with `as_of`, the seq of the last applied
 * event of each source and when it happened:
 *
 *   GET /api/reports/dashboard          the tenant summary
 *   GET /api/reports/projects/:id       one project's summary
 *   GET /api/reports/workload           per assignee
 *   GET /api/reports/activity?from=&to= per UTC day, at most 366 days
 *   GET /api/reports/overdue            overdue tasks, keyset-paged
 *   RPC reporting.GetProjectSummary     one project's, for other services
 *
 * An answer is cached in Redis under the tenant's version, which every
 * batch of the tenant's events moves in its transaction, and which each
 * report's statement reads beside the report (one snapshot): an answer is
 * stored under exactly the version it was computed at. The consumers
 * keep the tenant's current version in Redis too (feed.c, lc_vcache), so
 * a warm answer is one round trip to Redis and none to PostgreSQL. "Today"
 * is part of the key too (overdue depends on it). Without Redis, or with
 * the cache off (LINTEL_REPORTING_CACHE_TTL_S=0), every answer is
 * computed.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lc_metrics.h"
#include "lc_query.h"
#include "lintel/v1/reporting.pb-c.h"
#include "reporting.h"

/* Reports count days in UTC. */
#define TODAY "(now() AT TIME ZONE 'UTC')::date"

#define RFC3339_US "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"

/* The tenant's as_of (its one row of tenant_state, under RLS). */
#define AS_OF                                                                  \
    "(SELECT json_build_object('seq', coalesce(max(projects_seq), 0),"         \
    " 'users_seq', coalesce(max(users_seq), 0),"                               \
    " 'at', to_char(max(applied_at) AT TIME ZONE 'UTC', " RFC3339_US "))"      \
    " FROM reporting.tenant_state)"

/* What a set of tasks adds up to, as jsonb_build_object's arguments. */
#define TASK_FIGURES                                                           \
    "'tasks_total', count(*),"                                                 \
    " 'tasks_by_status', jsonb_build_object("                                  \
    "   'todo', count(*) FILTER (WHERE status = 'todo'),"                      \
    "   'in_progress', count(*) FILTER (WHERE status = 'in_progress'),"        \
    "   'blocked', count(*) FILTER (WHERE status = 'blocked'),"                \
    "   'done', count(*) FILTER (WHERE status = 'done')),"                     \
    " 'overdue_tasks', count(*) FILTER (WHERE status <> 'done'"                \
    "   AND due_date < " TODAY "),"                                            \
    " 'due_next_7_days', count(*) FILTER (WHERE status <> 'done'"              \
    "   AND due_date BETWEEN " TODAY " AND " TODAY " + 7),"                    \
    " 'estimate_hours_open',"                                                  \
    "   coalesce(sum(estimate_hours) FILTER (WHERE status <> 'done'), 0),"     \
    " 'estimate_hours_done',"                                                  \
    "   coalesce(sum(estimate_hours) FILTER (WHERE status = 'done'), 0),"      \
    " 'percent_complete', CASE WHEN count(*) = 0 THEN 0"                       \
    "   ELSE round(100.0 * count(*) FILTER (WHERE status = 'done')"            \
    "              / count(*), 1) END"

/* The tenant's version, the second column of every report's row. */
#define VERSION                                                                \
    ", (SELECT coalesce(max(version), 0) FROM reporting.tenant_state)"

static const lc_db_stmt state_version = {
    "SELECT coalesce(max(version), 0) FROM reporting.tenant_state", 0};

static const lc_db_stmt dashboard_report = {
    "SELECT (jsonb_build_object("
    " 'projects_total',"
    "   (SELECT count(*) FROM reporting.projects WHERE NOT deleted),"
    " 'projects_by_status', (SELECT jsonb_build_object("
    "   'planned', count(*) FILTER (WHERE status = 'planned'),"
    "   'active', count(*) FILTER (WHERE status = 'active'),"
    "   'on_hold', count(*) FILTER (WHERE status = 'on_hold'),"
    "   'completed', count(*) FILTER (WHERE status = 'completed'),"
    "   'cancelled', count(*) FILTER (WHERE status = 'cancelled'))"
    "   FROM reporting.projects WHERE NOT deleted),"
    " 'budget_by_currency', (SELECT coalesce(jsonb_agg(jsonb_build_object("
    "     'currency', currency, 'budget_cents', total) ORDER BY currency),"
    "   '[]'::jsonb)"
    "   FROM (SELECT currency, sum(budget_cents) AS total"
    "           FROM reporting.projects"
    "          WHERE NOT deleted AND status = 'active'"
    "            AND budget_cents IS NOT NULL GROUP BY currency) b),"
    " 'activity_last_30_days', (SELECT jsonb_build_object("
    "   'changes', coalesce(sum(changes), 0),"
    "   'tasks_created', coalesce(sum(tasks_created), 0),"
    "   'tasks_completed', coalesce(sum(tasks_completed), 0))"
    "   FROM reporting.activity WHERE day > " TODAY " - 30),"
    " 'as_of', " AS_OF ")"
    " || (SELECT jsonb_build_object(" TASK_FIGURES ") FROM reporting.tasks)"
    ")::text" VERSION,
    0};

static const lc_db_stmt project_report = {
    "SELECT (jsonb_build_object("
    " 'project', jsonb_build_object('id', p.id, 'name', p.name,"
    "   'code', p.code, 'status', p.status,"
    "   'budget_cents', p.budget_cents, 'currency', p.currency),"
    " 'last_activity_at',"
    "   to_char(p.last_activity_at AT TIME ZONE 'UTC', " RFC3339_US "),"
    " 'as_of', " AS_OF ")"
    " || (SELECT jsonb_build_object(" TASK_FIGURES ")"
    "       FROM reporting.tasks t WHERE t.project_id = p.id))::text" VERSION
    " FROM reporting.projects p WHERE p.id = $1 AND NOT p.deleted",
    1};

static const lc_db_stmt workload_report = {
    "SELECT json_build_object('data', coalesce(json_agg(json_build_object("
    "   'assignee_id', w.assignee_id, 'name', w.name,"
    "   'open_tasks', w.open_tasks, 'overdue_tasks', w.overdue_tasks,"
    "   'estimate_hours_open', w.hours)"
    "   ORDER BY w.open_tasks DESC, w.assignee_id NULLS LAST), '[]'),"
    " 'as_of', " AS_OF ")::text" VERSION
    " FROM (SELECT t.assignee_id, max(m.name) AS name, count(*) AS open_tasks,"
    "        count(*) FILTER (WHERE t.due_date < " TODAY ") AS overdue_tasks,"
    "        coalesce(sum(t.estimate_hours), 0) AS hours"
    "   FROM reporting.tasks t"
    "   LEFT JOIN reporting.members m"
    "     ON m.tenant_id = t.tenant_id AND m.user_id = t.assignee_id"
    "  WHERE t.status <> 'done' GROUP BY t.assignee_id) w",
    0};

/* $1 from, $2 to: every day between, those without activity as zeros. */
static const lc_db_stmt activity_report = {
    "SELECT json_build_object('from', to_char($1::date, 'YYYY-MM-DD'),"
    " 'to', to_char($2::date, 'YYYY-MM-DD'),"
    " 'data', (SELECT json_agg(json_build_object("
    "     'day', to_char(g.d, 'YYYY-MM-DD'),"
    "     'changes', coalesce(a.changes, 0),"
    "     'tasks_created', coalesce(a.tasks_created, 0),"
    "     'tasks_completed', coalesce(a.tasks_completed, 0)) ORDER BY g.d)"
    "   FROM generate_series($1::date, $2::date, interval '1 day') AS g(d)"
    "   LEFT JOIN reporting.activity a ON a.day = g.d::date),"
    " 'as_of', " AS_OF ")::text" VERSION,
    2};

/* Open tasks due before today, by due date then id: $1 limit + 1,
 * $2 project_id, $3 assignee_id (NULL: any), after a cursor $4 due date,
 * $5 id. One row: {"rows": [...], "as_of": ...}. */
#define OVERDUE_PAGE(after)                                                    \
    "SELECT json_build_object('rows', coalesce(json_agg(json_build_object("    \
    "   'id', t.id, 'project_id', t.project_id, 'project_name', p.name,"       \
    "   'title', t.title, 'status', t.status,"                                 \
    "   'assignee_id', t.assignee_id, 'assignee_name', m.name,"                \
    "   'due_date', to_char(t.due_date, 'YYYY-MM-DD'),"                        \
    "   'days_overdue', " TODAY " - t.due_date,"                               \
    "   'estimate_hours', t.estimate_hours) ORDER BY t.due_date, t.id),"       \
    "   '[]'), 'as_of', " AS_OF ")::text" VERSION                              \
    " FROM (SELECT * FROM reporting.tasks"                                     \
    "        WHERE status <> 'done' AND due_date < " TODAY                     \
    "          AND ($2::uuid IS NULL OR project_id = $2::uuid)"                \
    "          AND ($3::uuid IS NULL OR assignee_id = $3::uuid)" after         \
    "        ORDER BY due_date, id LIMIT $1) t"                                \
    " JOIN reporting.projects p"                                               \
    "   ON p.tenant_id = t.tenant_id AND p.id = t.project_id"                  \
    " LEFT JOIN reporting.members m"                                           \
    "   ON m.tenant_id = t.tenant_id AND m.user_id = t.assignee_id"

static const lc_db_stmt overdue_first = {OVERDUE_PAGE(""), 3};
static const lc_db_stmt overdue_after = {
    OVERDUE_PAGE(" AND (due_date, id) > ($4::date, $5::uuid)"), 5};

/* --- the cache ---------------------------------------------------------- */

/* Computes one report's body (malloc'd JSON text) into *body, and the
 * version its statement read beside it into *version. Returns 0; or -1
 * with the response set (a 404, a database failure). */
typedef int (*report_fn)(lc_req *req, const char *tenant_id, void *arg,
                         char **body, int64_t *version);

/* A HIT from the process's memory (lc_vcache_near), beside lookups'. */
#define REPORTS_HIT_MEMORY (LC_VCACHE_DOWN + 1)

/* Answers by how the cache took part, since start. */
static atomic_ulong cache_counts[REPORTS_HIT_MEMORY + 1];

static void
reports_count(int r)
{
    static const char *const labels[] = {
        [REPORTS_HIT_MEMORY] = "result=\"hit_memory\"",
        [LC_VCACHE_HIT] = "result=\"hit\"",
        [LC_VCACHE_MISS] = "result=\"miss\"",
        [LC_VCACHE_UNKNOWN] = "result=\"version_unknown\"",
        [LC_VCACHE_FENCED] = "result=\"fenced\"",
        [LC_VCACHE_DOWN] = "result=\"redis_down\"",
    };

    lc_metrics_gauge_set("lintel_reporting_cache_answers", labels[r],
                         "report answers by cache outcome, since start",
                         (double)(atomic_fetch_add(&cache_counts[r], 1) + 1));
}

/* The answer's name in the cache: today (UTC) and `what`. */
static void
reports_name(const char *what, char *name, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(name, len, "%Y-%m-%d:", &tm);
    snprintf(name + strlen(name), len - strlen(name), "%s", what);
}

/*
 * Answers the report `fn` computes, from the cache when it holds the
 * answer of the tenant's current version: from memory when this process
 * keeps it (the only way in an inline handler, `inline_only`, which
 * returns false without it), else from Redis (a HIT is then kept in
 * memory), else from the read model. True when answered.
 */
static bool
reports_serve(lc_req *req, const lc_caller *caller, const char *what,
              report_fn fn, void *arg, bool inline_only)
{
    const reporting_app *app = lc_req_app(req);
    lc_cache *cache = lc_req_cache(req);
    lc_vcache_result r = LC_VCACHE_DOWN;
    lc_vcache_ticket ticket = {0, 0};
    lc_vcache_seen seen;
    char name[2400], *body = NULL;
    PGresult *res;
    int64_t version;
    size_t len;

    if (app->cache_ttl_s > 0) {
        reports_name(what, name, sizeof(name));
        if (lc_vcache_near_get(app->near, caller->tenant_id, name, &body,
                               &len)) {
            reports_count(REPORTS_HIT_MEMORY);
            lc_req_respond(req, 200, "application/json", body, len);
            free(body);
            return true;
        }
        if (inline_only) {
            return false;
        }
        ticket = lc_vcache_near_ticket(app->near, caller->tenant_id);
        r = lc_vcache_lookup(cache, REPORTING_CACHE_PREFIX, caller->tenant_id,
                             name, &seen, &body, &len);
        reports_count(r);
    } else if (inline_only) {
        return false;
    }
    if (r == LC_VCACHE_HIT) {
        lc_vcache_near_put(app->near, ticket, caller->tenant_id, name, body,
                           len);
        lc_req_respond(req, 200, "application/json", body, len);
        free(body);
        return true;
    }
    if (r == LC_VCACHE_UNKNOWN) {
        /* the version as the primary has it, read after the lookup */
        res = lc_req_read_primary(req, caller->tenant_id, &state_version, NULL);
        if (res == NULL) {
            return true;
        }
        lc_vcache_fill(cache, REPORTING_CACHE_PREFIX, caller->tenant_id, &seen,
                       strtoll(PQgetvalue(res, 0, 0), NULL, 10), NULL);
        PQclear(res);
    }
    if (fn(req, caller->tenant_id, arg, &body, &version) != 0) {
        return true;
    }
    len = strlen(body);
    if (r != LC_VCACHE_DOWN) {
        lc_vcache_put(cache, REPORTING_CACHE_PREFIX, caller->tenant_id, version,
                      name, body, len, (int)app->cache_ttl_s);
    }
    lc_req_respond(req, 200, "application/json", body, len);
    free(body);
    return true;
}

/* --- reports of one statement --------------------------------------------*/

typedef struct {
    const lc_db_stmt *stmt;
    const char *const *params;
    const char *missing; /* the 404's message when there is no row */
} report_query;

static int
report_one_row(lc_req *req, const char *tenant_id, void *arg, char **body,
               int64_t *version)
{
    const report_query *q = arg;
    PGresult *res = lc_req_read(req, tenant_id, q->stmt, q->params);

    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        lc_req_error(req, 404, "not_found", q->missing);
        return -1;
    }
    *body = strdup(PQgetvalue(res, 0, 0));
    *version = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    if (*body == NULL) {
        lc_req_error(req, 500, "internal", "internal error");
        return -1;
    }
    return 0;
}

/* The caller of a report: viewer and up. In an inline handler, only
 * from the process's recent facts: 1 when they cannot tell (nothing
 * answered). 0, or -1 with the response set. */
static int
reports_viewer(lc_req *req, bool inline_only, lc_caller *caller)
{
    return inline_only ? lc_caller_get_inline(req, "viewer", caller)
                       : lc_caller_get(req, "viewer", caller);
}

/* The caller (as reports_viewer) of a route that takes no query
 * parameters but `allowed`. */
static int
reports_caller(lc_req *req, const char *const *allowed, bool inline_only,
               lc_caller *caller)
{
    char name[64];
    int rc = reports_viewer(req, inline_only, caller);

    if (rc != 0) {
        return rc;
    }
    if (lc_query_unknown(lc_req_envelope(req)->query, allowed, name,
                         sizeof(name))) {
        lc_body_field_error(req, name, "unknown_field",
                            "unknown query parameter");
        return -1;
    }
    return 0;
}

/*
 * Each report route is one function of (req, inline_only) that returns
 * whether it answered: on NNG's thread first (inline_only: an answer from
 * memory, or an error that needs nothing but the request), then, when it
 * did not answer there, on a worker.
 */
/* clang-format off */
#define REPORTS_ROUTE(name)                                                    \
    static bool name##_inline(lc_req *req) { return name(req, true); }         \
    static void name##_worker(lc_req *req) { name(req, false); }
/* clang-format on */

/* The caller's verdict as a route's answer: whether it answered. */
#define REPORTS_ANSWERED(rc) ((rc) < 0)

static bool
reports_dashboard(lc_req *req, bool inline_only)
{
    static const char *const none[] = {NULL};
    report_query q = {&dashboard_report, NULL, NULL};
    lc_caller caller;
    int rc = reports_caller(req, none, inline_only, &caller);

    if (rc != 0) {
        return REPORTS_ANSWERED(rc);
    }
    return reports_serve(req, &caller, "dashboard", report_one_row, &q,
                         inline_only);
}

static bool
reports_project(lc_req *req, bool inline_only)
{
    static const char *const none[] = {NULL};
    const char *id = lc_req_param(req, "id");
    report_query q = {&project_report, &id, "no such project"};
    lc_caller caller;
    char what[64];
    int rc = reports_caller(req, none, inline_only, &caller);

    if (rc != 0) {
        return REPORTS_ANSWERED(rc);
    }
    if (!lc_db_is_path_uuid(id)) {
        lc_req_error(req, 404, "not_found", "no such project");
        return true;
    }
    snprintf(what, sizeof(what), "project:%s", id);
    return reports_serve(req, &caller, what, report_one_row, &q, inline_only);
}

static bool
reports_workload(lc_req *req, bool inline_only)
{
    static const char *const none[] = {NULL};
    report_query q = {&workload_report, NULL, NULL};
    lc_caller caller;
    int rc = reports_caller(req, none, inline_only, &caller);

    if (rc != 0) {
        return REPORTS_ANSWERED(rc);
    }
    return reports_serve(req, &caller, "workload", report_one_row, &q,
                         inline_only);
}

/* --- activity: a range of days -------------------------------------------*/

#define ACTIVITY_DEFAULT_DAYS 30

/* Days since the epoch of a valid YYYY-MM-DD. */
static long
activity_day_number(const char *date)
{
    struct tm tm = {0};

    sscanf(date, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long)(timegm(&tm) / 86400);
}

static void
activity_date_of(long day, char *out, size_t len)
{
    time_t t = (time_t)day * 86400;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%d", &tm);
}

int
reporting_range_check(lc_req *req, const char *from, const char *to)
{
    long first = activity_day_number(from), last = activity_day_number(to);

    if (first > last) {
        lc_body_field_error(req, "from", "after_to", "from is after to");
        return -1;
    }
    if (last - first + 1 > REPORTING_MAX_DAYS) {
        lc_body_field_error(req, "to", "range_too_long",
                            "at most 366 days from `from` to `to`");
        return -1;
    }
    return 0;
}

/* One of `from` and `to` into out (default `def`); 0, or -1 with the 400
 * set. */
static int
activity_param(lc_req *req, const char *name, const char *def, char *out,
               size_t len)
{
    const char *value;

    if (lc_page_filter(req, name, out, len, &value) != 0) {
        return -1;
    }
    if (value == NULL) {
        snprintf(out, len, "%s", def);
    } else if (!lc_body_date_valid(value)) {
        lc_body_field_error(req, name, "invalid_format",
                            "a date is YYYY-MM-DD");
        return -1;
    }
    return 0;
}

static bool
reports_activity(lc_req *req, bool inline_only)
{
    static const char *const allowed[] = {"from", "to", NULL};
    char from[16], to[16], dfrom[16], dto[16], what[64];
    const char *params[2] = {from, to};
    report_query q = {&activity_report, params, NULL};
    lc_caller caller;
    long last;
    int rc = reports_caller(req, allowed, inline_only, &caller);

    if (rc != 0) {
        return REPORTS_ANSWERED(rc);
    }
    /* By default the 30 days up to `to`, which defaults to today. */
    activity_date_of((long)(time(NULL) / 86400), dto, sizeof(dto));
    if (activity_param(req, "to", dto, to, sizeof(to)) != 0) {
        return true;
    }
    last = activity_day_number(to);
    activity_date_of(last - (ACTIVITY_DEFAULT_DAYS - 1), dfrom, sizeof(dfrom));
    if (activity_param(req, "from", dfrom, from, sizeof(from)) != 0 ||
        reporting_range_check(req, from, to) != 0) {
        return true;
    }
    snprintf(what, sizeof(what), "activity:%s:%s", from, to);
    return reports_serve(req, &caller, what, report_one_row, &q, inline_only);
}

/* --- overdue: a keyset-paged list ----------------------------------------*/

typedef struct {
    lc_page page;
    const char *params[5];
} overdue_query;

/* The page's rows (limit + 1 of them: one more says there is a next page)
 * as {"data": [...], "next_cursor": ..., "as_of": ...}. */
static int
overdue_page(lc_req *req, const char *tenant_id, void *arg, char **body,
             int64_t *version)
{
    overdue_query *q = arg;
    PGresult *res;
    cJSON *all, *rows, *data, *last, *out;
    int n;

    res = lc_req_read(req, tenant_id,
                      q->page.has_cursor ? &overdue_after : &overdue_first,
                      q->params);
    if (res == NULL) {
        return -1;
    }
    all = cJSON_Parse(PQgetvalue(res, 0, 0));
    *version = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    if (all == NULL) {
        lc_req_error(req, 500, "internal", "internal error");
        return -1;
    }
    rows = cJSON_DetachItemFromObjectCaseSensitive(all, "rows");
    n = cJSON_GetArraySize(rows);
    data = rows;
    if (n > q->page.limit) {
        cJSON_DeleteItemFromArray(data, n - 1);
    }
    last = cJSON_GetArrayItem(data, q->page.limit - 1);
    out = lc_page_json(
        &q->page, data,
        last ? cJSON_GetStringValue(
                   cJSON_GetObjectItemCaseSensitive(last, "due_date"))
             : NULL,
        last
            ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(last, "id"))
            : NULL,
        n > q->page.limit);
    cJSON_AddItemToObject(
        out, "as_of", cJSON_DetachItemFromObjectCaseSensitive(all, "as_of"));
    cJSON_Delete(all);
    *body = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    if (*body == NULL) {
        lc_req_error(req, 500, "internal", "internal error");
        return -1;
    }
    return 0;
}

/* A uuid filter into `out` (*value NULL when absent); a malformed one is a
 * 400 naming it. */
static int
overdue_filter(lc_req *req, const char *name, char *out, size_t len,
               const char **value)
{
    if (lc_page_filter(req, name, out, len, value) != 0) {
        return -1;
    }
    if (*value != NULL && !lc_db_is_uuid(*value)) {
        lc_body_field_error(req, name, "invalid_format", "not a uuid");
        return -1;
    }
    return 0;
}

static bool
reports_overdue(lc_req *req, bool inline_only)
{
    static const char *const allowed[] = {"limit", "cursor", "project_id",
                                          "assignee_id", NULL};
    overdue_query q;
    lc_caller caller;
    char limit[16], project[40], assignee[40], what[2300];
    int rc = reports_viewer(req, inline_only, &caller);

    if (rc != 0) {
        return REPORTS_ANSWERED(rc);
    }
    if (lc_page_parse(req, allowed, NULL, &q.page) != 0 ||
        overdue_filter(req, "project_id", project, sizeof(project),
                       &q.params[1]) != 0 ||
        overdue_filter(req, "assignee_id", assignee, sizeof(assignee),
                       &q.params[2]) != 0) {
        return true;
    }
    if (q.page.has_cursor && !lc_body_date_valid(q.page.after_key)) {
        lc_body_field_error(req, "cursor", "invalid_format",
                            "not a cursor of this list");
        return true;
    }
    snprintf(limit, sizeof(limit), "%d", q.page.limit + 1);
    q.params[0] = limit;
    q.params[3] = q.page.after_key;
    q.params[4] = q.page.after_id;
    snprintf(what, sizeof(what), "overdue:%d:%s:%s:%s:%s", q.page.limit,
             q.params[1] ? q.params[1] : "", q.params[2] ? q.params[2] : "",
             q.page.has_cursor ? q.page.after_key : "",
             q.page.has_cursor ? q.page.after_id : "");
    return reports_serve(req, &caller, what, overdue_page, &q, inline_only);
}

REPORTS_ROUTE(reports_dashboard)
REPORTS_ROUTE(reports_project)
REPORTS_ROUTE(reports_workload)
REPORTS_ROUTE(reports_activity)
REPORTS_ROUTE(reports_overdue)

/* --- reporting.GetProjectSummary ------------------------------------------*/

static uint32_t
summary_count(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsNumber(v) ? (uint32_t)v->valuedouble : 0;
}

static double
summary_number(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *
summary_text(const cJSON *obj, const char *name)
{
    const char *s =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));

    return s != NULL ? s : "";
}

/* The project report's JSON (the one SQL of its figures) as the message. */
static void
summary_fill(const cJSON *r,
             Lintel__V1__Reporting__GetProjectSummaryResponse *out,
             Lintel__V1__Reporting__TasksByStatus *by)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "project");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "tasks_by_status");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "as_of");

    out->found = true;
    out->project_id = (char *)summary_text(p, "id");
    out->name = (char *)summary_text(p, "name");
    out->code = (char *)summary_text(p, "code");
    out->status = (char *)summary_text(p, "status");
    out->tasks_total = summary_count(r, "tasks_total");
    by->todo = summary_count(s, "todo");
    by->in_progress = summary_count(s, "in_progress");
    by->blocked = summary_count(s, "blocked");
    by->done = summary_count(s, "done");
    out->tasks_by_status = by;
    out->overdue_tasks = summary_count(r, "overdue_tasks");
    out->due_next_7_days = summary_count(r, "due_next_7_days");
    out->estimate_hours_open = summary_number(r, "estimate_hours_open");
    out->estimate_hours_done = summary_number(r, "estimate_hours_done");
    out->percent_complete = summary_number(r, "percent_complete");
    out->last_activity_at = (char *)summary_text(r, "last_activity_at");
    out->as_of_seq = (uint64_t)summary_number(a, "seq");
    out->as_of_at = (char *)summary_text(a, "at");
}

static void
reports_project_summary_rpc(lc_req *req)
{
    const Lintel__V1__Reporting__GetProjectSummaryRequest *in;
    Lintel__V1__Reporting__GetProjectSummaryResponse out =
        LINTEL__V1__REPORTING__GET_PROJECT_SUMMARY_RESPONSE__INIT;
    Lintel__V1__Reporting__TasksByStatus by =
        LINTEL__V1__REPORTING__TASKS_BY_STATUS__INIT;
    const char *id;
    PGresult *res = NULL;
    cJSON *report = NULL;

    in = (const Lintel__V1__Reporting__GetProjectSummaryRequest *)lc_req_pb(
        req, &lintel__v1__reporting__get_project_summary_request__descriptor);
    if (in == NULL) {
        return;
    }
    if (!lc_db_is_uuid(in->tenant_id)) {
        lc_req_error(req, 400, "validation_failed", "tenant_id must be a uuid");
        return;
    }
    /* A malformed project id names no project, as at the edge. */
    if (lc_db_is_uuid(in->project_id)) {
        id = in->project_id;
        res = lc_req_read(req, in->tenant_id, &project_report, &id);
        if (res == NULL) {
            return;
        }
        if (PQntuples(res) > 0) {
            report = cJSON_Parse(PQgetvalue(res, 0, 0));
            if (report == NULL) {
                lc_req_error(req, 500, "internal", "internal error");
                PQclear(res);
                return;
            }
            summary_fill(report, &out, &by);
        }
    }
    lc_req_respond_pb(req, &out.base);
    cJSON_Delete(report);
    PQclear(res);
}

int
reports_routes(lc_rpc_server *s)
{
    static const struct {
        const char *pattern;
        lc_rpc_inline_handler inline_fn;
        lc_rpc_handler fn;
    } reports[] = {
        {"/api/reports/dashboard", reports_dashboard_inline,
         reports_dashboard_worker},
        {"/api/reports/projects/:id", reports_project_inline,
         reports_project_worker},
        {"/api/reports/workload", reports_workload_inline,
         reports_workload_worker},
        {"/api/reports/activity", reports_activity_inline,
         reports_activity_worker},
        {"/api/reports/overdue", reports_overdue_inline,
         reports_overdue_worker},
    };
    size_t i;

    for (i = 0; i < sizeof(reports) / sizeof(reports[0]); i++) {
        if (lc_rpc_server_route_inline(s, "GET", reports[i].pattern,
                                       reports[i].inline_fn,
                                       reports[i].fn) != 0) {
            return -1;
        }
    }
    return lc_rpc_server_route(s, "RPC", "/rpc/reporting.GetProjectSummary",
                               reports_project_summary_rpc);
}
