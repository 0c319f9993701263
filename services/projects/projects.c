/*
 * projects.c: a tenant's construction projects. Lists with keyset paging,
 * create (manager+, Idempotency-Key), read with an ETag, PATCH under
 * If-Match, soft delete (its tasks go with it), each change with its
 * domain event in the same transaction; and the internal CountProjects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lintel/v1/projects.pb-c.h"
#include "projects.h"

#define PROJECT_JSON                                                           \
    "json_build_object('id', id, 'name', name, 'code', code,"                  \
    " 'status', status,"                                                       \
    " 'start_date', to_char(start_date, 'YYYY-MM-DD'),"                        \
    " 'end_date', to_char(end_date, 'YYYY-MM-DD'),"                            \
    " 'budget_cents', budget_cents, 'currency', currency,"                     \
    " 'address', address, 'description', description,"                         \
    " 'created_at', " PROJECTS_RFC3339_CREATED ","                             \
    " 'updated_at', " PROJECTS_RFC3339_UPDATED ","                             \
    " 'created_by', created_by, 'updated_by', updated_by,"                     \
    " 'version', version)::text"

static const char *const project_statuses[] = {
    "planned", "active", "on_hold", "completed", "cancelled", NULL};

/* The body of POST and PATCH; `required` applies to POST only. */
enum {
    F_NAME,
    F_CODE,
    F_STATUS,
    F_START,
    F_END,
    F_BUDGET,
    F_CURRENCY,
    F_ADDRESS,
    F_DESCRIPTION,
    F_COUNT
};

static const lc_body_field project_fields[F_COUNT] = {
    {.name = "name", .kind = LC_BODY_TEXT, .required = true, .max = 200},
    {.name = "code", .kind = LC_BODY_CODE, .required = true},
    {.name = "status", .kind = LC_BODY_ENUM, .choices = project_statuses},
    {.name = "start_date", .kind = LC_BODY_DATE, .nullable = true},
    {.name = "end_date", .kind = LC_BODY_DATE, .nullable = true},
    {.name = "budget_cents",
     .kind = LC_BODY_INT,
     .nullable = true,
     .max = LC_BODY_MAX_SAFE_INT},
    {.name = "currency", .kind = LC_BODY_CURRENCY, .nullable = true},
    {.name = "address", .kind = LC_BODY_TEXT, .nullable = true, .max = 500},
    {.name = "description",
     .kind = LC_BODY_TEXT,
     .nullable = true,
     .max = 10000},
};

/* GET /api/projects/:id: binary columns, the JSON built in C (lc_row);
 * PROJECT_JSON below is the same object built by SQL, for the writes. */
static const lc_db_stmt project_get = {
    "SELECT version, id, name, code, status, start_date, end_date,"
    " budget_cents, currency, address, description, created_at, updated_at,"
    " created_by, updated_by"
    " FROM projects.projects WHERE id = $1 AND deleted_at IS NULL",
    1, .binary = true};

static const lc_row_column project_columns[] = {
    {"id", 1, LC_ROW_UUID},
    {"name", 2, LC_ROW_TEXT},
    {"code", 3, LC_ROW_TEXT},
    {"status", 4, LC_ROW_TEXT},
    {"start_date", 5, LC_ROW_DATE},
    {"end_date", 6, LC_ROW_DATE},
    {"budget_cents", 7, LC_ROW_INT8},
    {"currency", 8, LC_ROW_TEXT},
    {"address", 9, LC_ROW_TEXT},
    {"description", 10, LC_ROW_TEXT},
    {"created_at", 11, LC_ROW_TIMESTAMPTZ},
    {"updated_at", 12, LC_ROW_TIMESTAMPTZ},
    {"created_by", 13, LC_ROW_UUID},
    {"updated_by", 14, LC_ROW_UUID},
    {"version", 0, LC_ROW_INT4},
};

#define PROJECT_ENTITY                                                         \
    {                                                                          \
        .min_role = "viewer", .get = &project_get, .cols = project_columns,    \
        .ncols = sizeof(project_columns) / sizeof(project_columns[0]),         \
        .missing = "no such project",                                          \
        .changed = "the project has changed since you read it"                 \
    }

static const lc_db_stmt project_insert = {
    "INSERT INTO projects.projects (tenant_id, name, code, status, start_date,"
    " end_date, budget_cents, currency, address, description, created_by,"
    " updated_by)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, $2,"
    " coalesce($3, 'planned'), $4, $5, $6, $7, $8, $9, $10, $10)"
    " RETURNING id, version, " PROJECT_JSON,
    10};

#define SET_IF(col, n, m, type)                                                \
    " " col " = CASE WHEN $" #n "::bool THEN $" #m "::" type " ELSE " col      \
    " END,"

/* $1 id, $2 actor, $3 expected version (NULL: any), then present/value
 * pairs in project_fields order. */
/* clang-format off */
static const lc_db_stmt project_update = {
    "UPDATE projects.projects SET"
    SET_IF("name", 4, 5, "text")
    SET_IF("code", 6, 7, "text")
    SET_IF("status", 8, 9, "text")
    SET_IF("start_date", 10, 11, "date")
    SET_IF("end_date", 12, 13, "date")
    SET_IF("budget_cents", 14, 15, "bigint")
    SET_IF("currency", 16, 17, "text")
    SET_IF("address", 18, 19, "text")
    SET_IF("description", 20, 21, "text")
    " updated_at = now(), updated_by = $2, version = version + 1"
    " WHERE id = $1 AND deleted_at IS NULL"
    "   AND ($3::int IS NULL OR version = $3::int)"
    " RETURNING id, version, " PROJECT_JSON,
    21};
/* clang-format on */

static const lc_db_stmt project_delete = {
    "UPDATE projects.projects SET deleted_at = now(), updated_at = now(),"
    " updated_by = $2, version = version + 1"
    " WHERE id = $1 AND deleted_at IS NULL"
    "   AND ($3::int IS NULL OR version = $3::int)"
    " RETURNING id, version, " PROJECT_JSON,
    3};

static const lc_db_stmt project_delete_tasks = {
    "UPDATE projects.tasks SET deleted_at = now(), updated_at = now(),"
    " updated_by = $2, version = version + 1"
    " WHERE project_id = $1 AND deleted_at IS NULL"
    " RETURNING id, version, " TASK_JSON ", project_id",
    2};

/* Projects, and active ones: what billing's plans limit. */
#define PROJECTS_ACTIVE "status NOT IN ('completed', 'cancelled')"
static const lc_db_stmt project_count = {
    "SELECT count(*), count(*) FILTER (WHERE " PROJECTS_ACTIVE ")"
    " FROM projects.projects WHERE deleted_at IS NULL",
    0};

/* Two statements per sort order, the first page and the pages after a
 * cursor (so that a generic plan of either can walk the index): the key,
 * the comparison that continues after the cursor and the direction. Dates
 * may be null: they sort as 'infinity' (last when ascending), which the
 * cursor can carry. $1 status, $2 q, $3 limit, $4 cursor key, $5 id. */
#define PROJECTS_LIST(key, after)                                              \
    "SELECT (" key ")::text AS sort_key, id, " PROJECT_JSON                    \
    " FROM projects.projects"                                                  \
    " WHERE deleted_at IS NULL"                                                \
    "   AND ($1::text IS NULL OR status = $1)"                                 \
    "   AND ($2::text IS NULL OR strpos(lower(name), lower($2)) > 0"           \
    "        OR strpos(lower(code), lower($2)) > 0)" after
/* clang-format off */
#define PROJECTS_SORT(name, key, type, cmp, dir)                               \
    {name,                                                                     \
     {PROJECTS_LIST(key, " ORDER BY " key " " dir ", id " dir " LIMIT $3"),    \
      3},                                                                      \
     {PROJECTS_LIST(key, " AND (" key ", id) " cmp " ($4::text::" type         \
                         ", $5::uuid) ORDER BY " key " " dir ", id " dir       \
                         " LIMIT $3"),                                         \
      5}}
/* clang-format on */

#define START_KEY "coalesce(start_date, 'infinity'::date)"
#define END_KEY "coalesce(end_date, 'infinity'::date)"

static const lc_page_order list_sorts[] = {
    PROJECTS_SORT("-created_at", "created_at", "timestamptz", "<", "DESC"),
    PROJECTS_SORT("created_at", "created_at", "timestamptz", ">", "ASC"),
    PROJECTS_SORT("updated_at", "updated_at", "timestamptz", ">", "ASC"),
    PROJECTS_SORT("-updated_at", "updated_at", "timestamptz", "<", "DESC"),
    PROJECTS_SORT("name", "name", "text", ">", "ASC"),
    PROJECTS_SORT("-name", "name", "text", "<", "DESC"),
    PROJECTS_SORT("code", "code", "text", ">", "ASC"),
    PROJECTS_SORT("-code", "code", "text", "<", "DESC"),
    PROJECTS_SORT("start_date", START_KEY, "date", ">", "ASC"),
    PROJECTS_SORT("-start_date", START_KEY, "date", "<", "DESC"),
    PROJECTS_SORT("end_date", END_KEY, "date", ">", "ASC"),
    PROJECTS_SORT("-end_date", END_KEY, "date", "<", "DESC"),
};

/* --- one statement, one result ---------------------------------------------*/

/* --- list and read
 * -----------------------------------------------------------*/

static void
projects_list(lc_req *req)
{
    static const char *const allowed[] = {"limit",  "cursor", "sort",
                                          "status", "q",      NULL};
    projects_caller caller;
    lc_page page;
    PGresult *res;
    char status_buf[32], q_buf[201], limit[16];
    const char *status, *q, *params[5];
    size_t i;

    if (lc_caller_get(req, "viewer", &caller) != 0 ||
        lc_page_parse_orders(req, allowed, list_sorts,
                             sizeof(list_sorts) / sizeof(list_sorts[0]),
                             &page) != 0 ||
        lc_page_filter(req, "status", status_buf, sizeof(status_buf),
                       &status) != 0 ||
        lc_page_filter(req, "q", q_buf, sizeof(q_buf), &q) != 0) {
        return;
    }
    for (i = 0; status != NULL && project_statuses[i] != NULL &&
                strcmp(status, project_statuses[i]) != 0;
         i++) {
    }
    if (status != NULL && project_statuses[i] == NULL) {
        lc_body_field_error(req, "status", "invalid_choice",
                            "status: not a project status");
        return;
    }
    snprintf(limit, sizeof(limit), "%d", page.limit + 1);
    params[0] = status;
    params[1] = q != NULL && q[0] != '\0' ? q : NULL;
    params[2] = limit;
    params[3] = page.after_key;
    params[4] = page.after_id;
    res = lc_req_read(req, caller.tenant_id, lc_page_stmt(&page), params);
    if (res != NULL) {
        lc_page_respond_rows(req, &page, res, 2);
        PQclear(res);
    }
}

/* --- changes ------------------------------------------------------------ */

/* May the tenant's plan have one more active project (billing)? A project
 * created completed or cancelled is not active: plans do not limit it.
 * Asked after the create's Idempotency-Key is claimed (lc_resource's
 * admit): a retry of a create that succeeded gets its 201 back, and a 402
 * is kept as the key's answer. 0, or -1 with the response set (402, or the
 * count's failure). */
static int
projects_entitled(lc_req *req, const lc_caller *caller,
                  const lc_body_value *vals)
{
    const lc_body_value *status = &vals[F_STATUS];
    projects_app *app = lc_req_app(req);
    PGresult *res;
    uint32_t active;

    if (status->text != NULL && (strcmp(status->text, "completed") == 0 ||
                                 strcmp(status->text, "cancelled") == 0)) {
        return 0;
    }
    res = lc_req_read(req, caller->tenant_id, &project_count, NULL);
    if (res == NULL) {
        return -1;
    }
    active = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    return lc_entitlement_check(req, &app->billing, caller->tenant_id,
                                "projects", active);
}

/* What a single field cannot say: dates in order, a budget with its
 * currency (PATCH leaves both to the table's constraints, which see the
 * row as it ends up). */
static int
projects_check(lc_req *req, const lc_caller *caller, const lc_body_value *vals,
               bool create)
{
    (void)caller;
    if (!create) {
        return 0;
    }
    if (vals[F_START].text != NULL && vals[F_END].text != NULL &&
        strcmp(vals[F_END].text, vals[F_START].text) < 0) {
        lc_body_field_error(req, "end_date", "before_start",
                            "end_date is before start_date");
        return -1;
    }
    if ((vals[F_BUDGET].text == NULL) != (vals[F_CURRENCY].text == NULL)) {
        lc_body_field_error(
            req, vals[F_CURRENCY].text ? "budget_cents" : "currency",
            "required_with_budget", "budget_cents and currency go together");
        return -1;
    }
    return 0;
}

/* A deleted project takes its tasks along, each with its task.deleted. */
static int
projects_cascade(lc_db *db, lc_entity_change *c, int what, lc_db_error *err)
{
    const char *params[2] = {c->id, c->caller->user_id};
    PGresult *tasks;
    int i, n, rv = 0;

    if (what != LC_RESOURCE_DELETED) {
        return 0;
    }
    tasks = lc_db_exec(db, &project_delete_tasks, params, err);
    if (tasks == NULL) {
        return -1;
    }
    n = PQntuples(tasks);
    for (i = 0; i < n && rv == 0; i++) {
        rv = lc_resource_event(db, &task_resource, c, LC_RESOURCE_DELETED,
                               tasks, i, err);
    }
    PQclear(tasks);
    return rv;
}

static const lc_resource project_resource = {
    .entity = PROJECT_ENTITY,
    .write_role = "manager",
    .fields = project_fields,
    .nfields = F_COUNT,
    .insert = &project_insert,
    .location = "/api/projects/",
    .update = &project_update,
    .remove = &project_delete,
    .outbox = &projects_outbox,
    .events = {"project.created", "project.updated", "project.deleted"},
    .key_cols = {0, -1},
    .check = projects_check,
    .admit = projects_entitled,
    .also = projects_cascade,
};

static void
projects_create(lc_req *req)
{
    lc_resource_create(req, &project_resource);
}

static void
projects_patch(lc_req *req)
{
    lc_resource_patch(req, &project_resource);
}

static void
projects_delete(lc_req *req)
{
    lc_resource_delete(req, &project_resource);
}

static void
projects_get(lc_req *req)
{
    lc_entity_get(req, &project_resource.entity);
}

/* --- projects.CountProjects -------------------------------------------------
 */

static void
projects_count_rpc(lc_req *req)
{
    const Lintel__V1__Projects__CountProjectsRequest *in;
    Lintel__V1__Projects__CountProjectsResponse out =
        LINTEL__V1__PROJECTS__COUNT_PROJECTS_RESPONSE__INIT;
    lc_req_query c = {0};

    in = (const Lintel__V1__Projects__CountProjectsRequest *)lc_req_pb(
        req, &lintel__v1__projects__count_projects_request__descriptor);
    if (in == NULL) {
        return;
    }
    if (!lc_db_is_uuid(in->tenant_id)) {
        lc_req_error(req, 400, "validation_failed", "tenant_id must be a uuid");
        return;
    }
    c.stmt = &project_count;
    if (lc_req_tx(req, in->tenant_id, lc_req_query_tx, &c) != 0) {
        return;
    }
    out.projects = (uint32_t)strtoul(PQgetvalue(c.res, 0, 0), NULL, 10);
    out.active = (uint32_t)strtoul(PQgetvalue(c.res, 0, 1), NULL, 10);
    lc_req_respond_pb(req, &out.base);
    PQclear(c.res);
}

int
projects_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"GET", "/api/projects", projects_list},
        {"POST", "/api/projects", projects_create},
        {"GET", "/api/projects/:id", projects_get},
        {"PATCH", "/api/projects/:id", projects_patch},
        {"DELETE", "/api/projects/:id", projects_delete},
        {"RPC", "/rpc/projects.CountProjects", projects_count_rpc},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
