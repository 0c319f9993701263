/*
 * tasks.c: the tasks of a project. Members and above create, edit and
 * delete them; viewers read. An assignee must be an active user of the same
 * tenant, which only the users service knows: it is asked over NNG
 * (users.GetUser) and, when it cannot answer, the request fails with 503
 * rather than accepting an assignee nobody checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_clock.h"
#include "lintel/v1/users.pb-c.h"
#include "projects.h"

static const char *const task_statuses[] = {"todo", "in_progress", "blocked",
                                            "done", NULL};
static const char *const task_priorities[] = {"low", "normal", "high", "urgent",
                                              NULL};

enum {
    T_TITLE,
    T_DESCRIPTION,
    T_STATUS,
    T_PRIORITY,
    T_ASSIGNEE,
    T_DUE,
    T_ESTIMATE,
    T_COUNT
};

static const lc_body_field task_fields[T_COUNT] = {
    {.name = "title", .kind = LC_BODY_TEXT, .required = true, .max = 200},
    {.name = "description",
     .kind = LC_BODY_TEXT,
     .nullable = true,
     .max = 10000},
    {.name = "status", .kind = LC_BODY_ENUM, .choices = task_statuses},
    {.name = "priority", .kind = LC_BODY_ENUM, .choices = task_priorities},
    {.name = "assignee_id", .kind = LC_BODY_UUID, .nullable = true},
    {.name = "due_date", .kind = LC_BODY_DATE, .nullable = true},
    /* numeric(8, 2) in the table */
    {.name = "estimate_hours",
     .kind = LC_BODY_NUMBER,
     .nullable = true,
     .max = 100000,
     .decimals = 2},
};

/* GET /api/tasks/:id: binary columns, the JSON built in C (lc_row). */
static const lc_db_stmt task_get = {
    "SELECT version, id, project_id, title, description, status, priority,"
    " assignee_id, due_date, estimate_hours::text, created_at, updated_at,"
    " created_by, updated_by"
    " FROM projects.tasks WHERE id = $1 AND deleted_at IS NULL",
    1, .binary = true};

static const lc_row_column task_columns[] = {
    {"id", 1, LC_ROW_UUID},
    {"project_id", 2, LC_ROW_UUID},
    {"title", 3, LC_ROW_TEXT},
    {"description", 4, LC_ROW_TEXT},
    {"status", 5, LC_ROW_TEXT},
    {"priority", 6, LC_ROW_TEXT},
    {"assignee_id", 7, LC_ROW_UUID},
    {"due_date", 8, LC_ROW_DATE},
    {"estimate_hours", 9, LC_ROW_NUMBER_TEXT},
    {"created_at", 10, LC_ROW_TIMESTAMPTZ},
    {"updated_at", 11, LC_ROW_TIMESTAMPTZ},
    {"created_by", 12, LC_ROW_UUID},
    {"updated_by", 13, LC_ROW_UUID},
    {"version", 0, LC_ROW_INT4},
};

#define TASK_ENTITY                                                            \
    {                                                                          \
        .min_role = "viewer", .get = &task_get, .cols = task_columns,          \
        .ncols = sizeof(task_columns) / sizeof(task_columns[0]),               \
        .missing = "no such task",                                             \
        .changed = "the task has changed since you read it"                    \
    }

/* FOR SHARE: a concurrent delete of the project waits for this task's
 * transaction, and then takes the new task with it. */
static const lc_db_stmt task_project_lock = {
    "SELECT 1 FROM projects.projects WHERE id = $1 AND deleted_at IS NULL"
    " FOR SHARE",
    1};

static const lc_db_stmt task_insert = {
    "INSERT INTO projects.tasks (tenant_id, project_id, title, description,"
    " status, priority, assignee_id, due_date, estimate_hours, created_by,"
    " updated_by)"
    " VALUES (current_setting('app.tenant_id')::uuid, $9, $1, $2,"
    " coalesce($3, 'todo'), coalesce($4, 'normal'), $5, $6, $7, $8, $8)"
    " RETURNING id, version, " TASK_JSON ", project_id",
    9};

#define SET_IF(col, n, m, type)                                                \
    " " col " = CASE WHEN $" #n "::bool THEN $" #m "::" type " ELSE " col      \
    " END,"

/* clang-format off */
static const lc_db_stmt task_update = {
    "UPDATE projects.tasks SET"
    SET_IF("title", 4, 5, "text")
    SET_IF("description", 6, 7, "text")
    SET_IF("status", 8, 9, "text")
    SET_IF("priority", 10, 11, "text")
    SET_IF("assignee_id", 12, 13, "uuid")
    SET_IF("due_date", 14, 15, "date")
    SET_IF("estimate_hours", 16, 17, "numeric")
    " updated_at = now(), updated_by = $2, version = version + 1"
    " WHERE id = $1 AND deleted_at IS NULL"
    "   AND ($3::int IS NULL OR version = $3::int)"
    " RETURNING id, version, " TASK_JSON ", project_id",
    17};
/* clang-format on */

static const lc_db_stmt task_delete = {
    "UPDATE projects.tasks SET deleted_at = now(), updated_at = now(),"
    " updated_by = $2, version = version + 1"
    " WHERE id = $1 AND deleted_at IS NULL"
    "   AND ($3::int IS NULL OR version = $3::int)"
    " RETURNING id, version, " TASK_JSON ", project_id",
    3};

static const lc_db_stmt task_project_exists = {
    "SELECT 1 FROM projects.projects WHERE id = $1 AND deleted_at IS NULL", 1};

/* As in projects.c: the first page, and the pages after a cursor.
 * $1 project, $2 status, $3 assignee, $4 due before, $5 limit, $6 cursor
 * key, $7 id. */
#define TASKS_LIST(key, after)                                                 \
    "SELECT (" key ")::text AS sort_key, id, " TASK_JSON                       \
    " FROM projects.tasks"                                                     \
    " WHERE project_id = $1 AND deleted_at IS NULL"                            \
    "   AND ($2::text IS NULL OR status = $2)"                                 \
    "   AND ($3::uuid IS NULL OR assignee_id = $3::uuid)"                      \
    "   AND ($4::date IS NULL OR due_date < $4::date)" after
/* clang-format off */
#define TASKS_SORT(name, key, type, cmp, dir)                                  \
    {name,                                                                     \
     {TASKS_LIST(key, " ORDER BY " key " " dir ", id " dir " LIMIT $5"), 5},   \
     {TASKS_LIST(key, " AND (" key ", id) " cmp " ($6::text::" type            \
                      ", $7::uuid) ORDER BY " key " " dir ", id " dir          \
                      " LIMIT $5"),                                            \
      7}}
/* clang-format on */

#define DUE_KEY "coalesce(due_date, 'infinity'::date)"

static const lc_page_order list_sorts[] = {
    TASKS_SORT("-created_at", "created_at", "timestamptz", "<", "DESC"),
    TASKS_SORT("created_at", "created_at", "timestamptz", ">", "ASC"),
    TASKS_SORT("updated_at", "updated_at", "timestamptz", ">", "ASC"),
    TASKS_SORT("-updated_at", "updated_at", "timestamptz", "<", "DESC"),
    TASKS_SORT("due_date", DUE_KEY, "date", ">", "ASC"),
    TASKS_SORT("-due_date", DUE_KEY, "date", "<", "DESC"),
    TASKS_SORT("title", "title", "text", ">", "ASC"),
    TASKS_SORT("-title", "title", "text", "<", "DESC"),
};

/* --- the assignee
 * -------------------------------------------------------------*/

/* 0 when `user_id` is an active user of the caller's tenant; -1 with 400
 * (unknown or deactivated) or 503 (the users service cannot tell) set. */
static int
tasks_check_assignee(lc_req *req, const projects_caller *caller,
                     const char *user_id)
{
    projects_app *app = lc_req_app(req);
    Lintel__V1__Users__GetUserRequest in =
        LINTEL__V1__USERS__GET_USER_REQUEST__INIT;
    Lintel__V1__Users__GetUserResponse *out = NULL;
    int64_t deadline = lc_clock_mono_ms() + app->users_timeout_ms;
    lc_rpc_status st;
    int status = 0, ok;

    if (deadline > lc_req_deadline_ms(req)) {
        deadline = lc_req_deadline_ms(req);
    }
    in.tenant_id = (char *)caller->tenant_id;
    in.user_id = (char *)user_id;
    st = lc_rpc_call_method(app->users, "users.GetUser", lc_req_id(req),
                            caller->tenant_id, &in.base,
                            &lintel__v1__users__get_user_response__descriptor,
                            deadline, (ProtobufCMessage **)&out, &status);
    if (st != LC_RPC_OK) {
        lc_req_error(req, 503, "service_unavailable",
                     "cannot check the assignee now, try again later");
        lc_req_header(req, "retry-after", "1");
        return -1;
    }
    ok = out->found && out->user != NULL &&
         strcmp(out->user->status, "active") == 0;
    lc_envelope_free_message(&out->base);
    if (!ok) {
        lc_body_field_error(req, "assignee_id", "not_found",
                            "assignee_id: not an active user of this tenant");
        return -1;
    }
    return 0;
}

/* The list, after the project is known to be there. */
static int
list_tx(lc_db *db, void *arg, lc_db_error *err)
{
    lc_req_query *c = arg;
    PGresult *res = lc_db_exec(db, &task_project_exists, c->params, err);
    int found;

    if (res == NULL) {
        return -1;
    }
    found = PQntuples(res);
    PQclear(res);
    if (!found) {
        return lc_req_fail_tx(&c->fail, err, 404, "not_found",
                              "no such project");
    }
    return lc_req_query_tx(db, arg, err);
}

static void
tasks_list(lc_req *req)
{
    static const char *const allowed[] = {
        "limit", "cursor", "sort", "status", "assignee_id", "due_before", NULL};
    projects_caller caller;
    lc_page page;
    lc_req_query c = {0};
    char status_buf[32], assignee_buf[64], due_buf[16], limit[16];
    const char *project_id, *status, *assignee, *due, *params[7];
    size_t i;

    if (lc_caller_get(req, "viewer", &caller) != 0 ||
        lc_entity_path_id(req, "no such project", &project_id) != 0 ||
        lc_page_parse_orders(req, allowed, list_sorts,
                             sizeof(list_sorts) / sizeof(list_sorts[0]),
                             &page) != 0 ||
        lc_page_filter(req, "status", status_buf, sizeof(status_buf),
                       &status) != 0 ||
        lc_page_filter(req, "assignee_id", assignee_buf, sizeof(assignee_buf),
                       &assignee) != 0 ||
        lc_page_filter(req, "due_before", due_buf, sizeof(due_buf), &due) !=
            0) {
        return;
    }
    for (i = 0; status != NULL && task_statuses[i] != NULL &&
                strcmp(status, task_statuses[i]) != 0;
         i++) {
    }
    if (status != NULL && task_statuses[i] == NULL) {
        lc_body_field_error(req, "status", "invalid_choice",
                            "status: not a task status");
        return;
    }
    if (assignee != NULL && !lc_db_is_uuid(assignee)) {
        lc_body_field_error(req, "assignee_id", "invalid_format",
                            "assignee_id: not a uuid");
        return;
    }
    if (due != NULL && !lc_body_date_valid(due)) {
        lc_body_field_error(req, "due_before", "invalid_format",
                            "due_before: YYYY-MM-DD");
        return;
    }
    snprintf(limit, sizeof(limit), "%d", page.limit + 1);
    params[0] = project_id;
    params[1] = status;
    params[2] = assignee;
    params[3] = due;
    params[4] = limit;
    params[5] = page.after_key;
    params[6] = page.after_id;
    c.stmt = lc_page_stmt(&page);
    c.params = params;
    if (lc_req_tx(req, caller.tenant_id, list_tx, &c) != 0) {
        return;
    }
    lc_page_respond_rows(req, &page, c.res, 2);
    PQclear(c.res);
}

/* --- changes ------------------------------------------------------------ */

/* The assignee, when one is set, is an active user of the tenant. */
static int
tasks_check(lc_req *req, const lc_caller *caller, const lc_body_value *vals,
            bool create)
{
    (void)create;
    return vals[T_ASSIGNEE].text != NULL
               ? tasks_check_assignee(req, caller, vals[T_ASSIGNEE].text)
               : 0;
}

const lc_resource task_resource = {
    .entity = TASK_ENTITY,
    .write_role = "member",
    .fields = task_fields,
    .nfields = T_COUNT,
    .insert = &task_insert,
    .parent_lock = &task_project_lock,
    .parent_missing = "no such project",
    .location = "/api/tasks/",
    .update = &task_update,
    .remove = &task_delete,
    .outbox = &projects_outbox,
    .events = {"task.created", "task.updated", "task.deleted"},
    .key_cols = {3, 0}, /* the project, then the task */
    .check = tasks_check,
};

static void
tasks_get(lc_req *req)
{
    lc_entity_get(req, &task_resource.entity);
}

static void
tasks_create(lc_req *req)
{
    lc_resource_create(req, &task_resource);
}

static void
tasks_patch(lc_req *req)
{
    lc_resource_patch(req, &task_resource);
}

static void
tasks_delete(lc_req *req)
{
    lc_resource_delete(req, &task_resource);
}

int
tasks_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"GET", "/api/projects/:id/tasks", tasks_list},
        {"POST", "/api/projects/:id/tasks", tasks_create},
        {"GET", "/api/tasks/:id", tasks_get},
        {"PATCH", "/api/tasks/:id", tasks_patch},
        {"DELETE", "/api/tasks/:id", tasks_delete},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
