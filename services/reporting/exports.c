/*
 * exports.c: asynchronous CSV exports (manager and up; audit: admin and
 * up), run as jobs of lc_jobs so that they block no request and survive a
 * crash:
 *
 *   POST /api/reports/exports                {kind, format, filters…} → 202
 *                                            (honours Idempotency-Key)
 *   GET  /api/reports/exports/:id            status, progress, row count
 *   GET  /api/reports/exports/:id/download   the CSV, streamed in parts
 *
 * A job writes its file into reporting.export_chunks (chunk 0 the header,
 * then CHUNK_ROWS rows a transaction, in key order) and its progress into
 * reporting.exports; a rerun (after kill -9, the lease expires) starts the
 * file again, so the user sees one finished export. The file is one
 * snapshot of the read model: the attempt takes one when it starts
 * (lc_db_snapshot, held on a connection of its own until its last chunk)
 * and every chunk transaction imports it, so a change committed during
 * the run shows in no chunk, and the count agrees with the rows.
 *
 * The CSV is RFC 4180 (CRLF, every text cell quoted), UTF-8, with
 * formula-like cells defused (reporting.csv_cell). At most
 * LINTEL_REPORTING_EXPORTS_PER_TENANT exports of a tenant run at once (the
 * runner's tenant cap, across replicas); an export expires 24 h after it was
 * asked for, when a job (export.purge, enqueued with it) deletes its file.
 *
 * A download is a continued reply (lc_req_continue): each part is a slice
 * of at most PART_CHARS characters of one stored chunk, read by one
 * statement, so neither the service nor the edge ever holds the whole
 * file; the cursor "<chunk>:<offset>" is all a part needs, and any worker
 * or instance can serve the next one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_clock.h"
#include "lc_idem.h"
#include "lc_log.h"
#include "reporting.h"

#define EXPORT_JOB_KIND "export.run"
/* Each export's file is purged by a job due when the export expires. */
#define EXPORT_PURGE_KIND "export.purge"
#define CHUNK_ROWS "5000"
#define CHUNK_ROWS_N 5000
#define AT_US "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"
/* characters of a download's part: at most 1 MiB of UTF-8, far below the
 * edge's lintel_max_reply_size */
#define PART_CHARS "262144"
#define PART_CHARS_N 262144

/* --- the kinds: header, filters, a chunk, the count ---------------------- */

/* Each chunk statement: $1 export id, $2 chunk number, $3 the key after
 * which it starts (NULL: the first), then the kind's filters. It writes
 * the chunk (when it has rows) and returns its row count, last key and
 * size in bytes. `key` is the page's order, an index's (the key as text,
 * k, sorts the same way): ordering by the text would build the line of
 * every remaining row before the LIMIT. */
#define CHUNK(key, rows_sql)                                                   \
    "WITH page AS (" rows_sql " ORDER BY " key " LIMIT " CHUNK_ROWS "),"       \
    " ins AS (INSERT INTO reporting.export_chunks"                             \
    "   (tenant_id, export_id, n, data)"                                       \
    "   SELECT current_setting('app.tenant_id')::uuid, $1::uuid, $2::int,"     \
    "          string_agg(line, '' ORDER BY k)"                                \
    "     FROM page HAVING count(*) > 0 RETURNING length(data) AS bytes)"      \
    " SELECT (SELECT count(*) FROM page),"                                     \
    "        (SELECT k FROM page ORDER BY k DESC LIMIT 1),"                    \
    "        coalesce((SELECT bytes FROM ins), 0)"

#define CELL(x) "reporting.csv_cell(" x ")"
#define CRLF "E'\\r\\n'"

/* clang-format off */
/* tasks: project_id, status, due_from, due_to (from $a on) */
#define TASKS_WHERE(a, b, c, d)                                                \
    " WHERE ($" a "::uuid IS NULL OR t.project_id = $" a "::uuid)"             \
    "   AND ($" b "::text IS NULL OR t.status = $" b ")"                       \
    "   AND ($" c "::date IS NULL OR t.due_date >= $" c "::date)"              \
    "   AND ($" d "::date IS NULL OR t.due_date <= $" d "::date)"

/* The page's rows are picked first, by the primary key's order, and only
 * they are joined and written out. */
static const lc_db_stmt tasks_chunk = {
    CHUNK("t.id",
          "SELECT t.id::text AS k,"
          " " CELL("t.id::text") " || ',' || " CELL("t.project_id::text")
          " || ',' || " CELL("p.name") " || ',' || " CELL("t.title")
          " || ',' || t.status || ',' || " CELL("t.assignee_id::text")
          " || ',' || " CELL("m.name")
          " || ',' || coalesce(to_char(t.due_date, 'YYYY-MM-DD'), '')"
          " || ',' || coalesce(t.estimate_hours::text, '') || " CRLF " AS line"
          " FROM (SELECT * FROM reporting.tasks t"
          TASKS_WHERE("4", "5", "6", "7")
          "         AND ($3::uuid IS NULL OR t.id > $3::uuid)"
          "       ORDER BY t.id LIMIT " CHUNK_ROWS ") t"
          " JOIN reporting.projects p"
          "   ON p.tenant_id = t.tenant_id AND p.id = t.project_id"
          " LEFT JOIN reporting.members m"
          "   ON m.tenant_id = t.tenant_id AND m.user_id = t.assignee_id"),
    7};

/* The count statements take the filters alone, as $1…. */
static const lc_db_stmt tasks_count = {
    "SELECT count(*) FROM reporting.tasks t" TASKS_WHERE("1", "2", "3", "4"),
    4};

/* projects: $4 status */
static const lc_db_stmt projects_chunk = {
    CHUNK("p.id",
          "SELECT p.id::text AS k,"
          " " CELL("p.id::text") " || ',' || " CELL("p.name")
          " || ',' || " CELL("p.code") " || ',' || p.status"
          " || ',' || coalesce(p.budget_cents::text, '')"
          " || ',' || coalesce(p.currency, '')"
          " || ',' || (SELECT count(*) FROM reporting.tasks t"
          "             WHERE t.tenant_id = p.tenant_id"
          "               AND t.project_id = p.id)"
          " || ',' || (SELECT count(*) FROM reporting.tasks t"
          "             WHERE t.tenant_id = p.tenant_id"
          "               AND t.project_id = p.id AND t.status = 'done')"
          " || ',' || to_char(p.last_activity_at AT TIME ZONE 'UTC', " AT_US ")"
          " || " CRLF " AS line"
          " FROM (SELECT * FROM reporting.projects p"
          "        WHERE NOT p.deleted AND ($4::text IS NULL OR p.status = $4)"
          "          AND ($3::uuid IS NULL OR p.id > $3::uuid)"
          "        ORDER BY p.id LIMIT " CHUNK_ROWS ") p"),
    4};

static const lc_db_stmt projects_count = {
    "SELECT count(*) FROM reporting.projects p"
    " WHERE NOT p.deleted AND ($1::text IS NULL OR p.status = $1)",
    1};

/* activity: $4 from, $5 to (both set by the route) */
static const lc_db_stmt activity_chunk = {
    CHUNK("g.d",
          "SELECT to_char(g.d, 'YYYY-MM-DD') AS k,"
          " to_char(g.d, 'YYYY-MM-DD') || ',' || coalesce(a.changes, 0)"
          " || ',' || coalesce(a.tasks_created, 0)"
          " || ',' || coalesce(a.tasks_completed, 0) || " CRLF " AS line"
          " FROM generate_series($4::date, $5::date, interval '1 day') g(d)"
          " LEFT JOIN reporting.activity a ON a.day = g.d::date"
          " WHERE ($3::date IS NULL OR g.d > $3::date)"),
    5};

static const lc_db_stmt activity_count = {"SELECT $2::date - $1::date + 1",
                                          2};

/* audit: from, to (dates, to included), type, actor (from $a on); the
 * key is "<occurred_at>|<id>". */
#define AUDIT_WHERE(a, b, c, d)                                                \
    " WHERE ($" a "::date IS NULL OR occurred_at >= $" a "::date)"             \
    "   AND ($" b "::date IS NULL OR occurred_at < $" b "::date + 1)"          \
    "   AND ($" c "::text IS NULL OR type = $" c ")"                           \
    "   AND ($" d "::uuid IS NULL OR actor_id = $" d "::uuid)"

static const lc_db_stmt audit_chunk = {
    CHUNK("occurred_at, id",
          "SELECT to_char(occurred_at AT TIME ZONE 'UTC', " AT_US ")"
          "       || '|' || id AS k, occurred_at, id,"
          " to_char(occurred_at AT TIME ZONE 'UTC', " AT_US ")"
          " || ',' || source || ',' || seq || ',' || " CELL("type")
          " || ',' || " CELL("actor_id::text") " || ',' || " CELL("entity_type")
          " || ',' || " CELL("entity_id::text") " || ',' || " CELL("data::text")
          " || " CRLF " AS line"
          " FROM (SELECT * FROM reporting.audit" AUDIT_WHERE("4", "5", "6", "7")
          "         AND ($3::text IS NULL OR (occurred_at, id) >"
          "              (split_part($3, '|', 1)::timestamptz,"
          "               split_part($3, '|', 2)::uuid))"
          "       ORDER BY occurred_at, id LIMIT " CHUNK_ROWS ") a"),
    7};

static const lc_db_stmt audit_count = {
    "SELECT count(*) FROM reporting.audit" AUDIT_WHERE("1", "2", "3", "4"), 4};
/* clang-format on */

static const char *const project_statuses[] = {
    "planned", "active", "on_hold", "completed", "cancelled", NULL};
static const char *const task_statuses[] = {"todo", "in_progress", "blocked",
                                            "done", NULL};
static const char *const export_kinds[] = {"projects", "tasks", "activity",
                                           "audit", NULL};
static const char *const export_formats[] = {"csv", NULL};

#define EXPORT_MAX_FILTERS 4

typedef struct {
    const char *kind;
    const char *min_role;
    const char *header;
    const lc_db_stmt *chunk, *count;
    /* the body: kind, format, then the filters (in $4… order) */
    lc_body_field fields[2 + EXPORT_MAX_FILTERS];
    size_t nfilters;
} export_kind;

#define KIND_FIELDS                                                            \
    {.name = "kind",                                                           \
     .kind = LC_BODY_ENUM,                                                     \
     .required = true,                                                         \
     .choices = export_kinds},                                                 \
    {                                                                          \
        .name = "format", .kind = LC_BODY_ENUM, .choices = export_formats      \
    }

static const export_kind kinds[] = {
    {.kind = "projects",
     .min_role = "manager",
     .header = "id,name,code,status,budget_cents,currency,tasks_total,"
               "tasks_done,last_activity_at\r\n",
     .chunk = &projects_chunk,
     .count = &projects_count,
     .fields = {KIND_FIELDS,
                {.name = "status",
                 .kind = LC_BODY_ENUM,
                 .choices = project_statuses}},
     .nfilters = 1},
    {.kind = "tasks",
     .min_role = "manager",
     .header = "id,project_id,project_name,title,status,assignee_id,"
               "assignee_name,due_date,estimate_hours\r\n",
     .chunk = &tasks_chunk,
     .count = &tasks_count,
     .fields = {KIND_FIELDS,
                {.name = "project_id", .kind = LC_BODY_UUID},
                {.name = "status",
                 .kind = LC_BODY_ENUM,
                 .choices = task_statuses},
                {.name = "due_from", .kind = LC_BODY_DATE},
                {.name = "due_to", .kind = LC_BODY_DATE}},
     .nfilters = 4},
    {.kind = "activity",
     .min_role = "manager",
     .header = "day,changes,tasks_created,tasks_completed\r\n",
     .chunk = &activity_chunk,
     .count = &activity_count,
     .fields = {KIND_FIELDS,
                {.name = "from", .kind = LC_BODY_DATE, .required = true},
                {.name = "to", .kind = LC_BODY_DATE, .required = true}},
     .nfilters = 2},
    {.kind = "audit",
     .min_role = "admin",
     .header = "occurred_at,source,seq,type,actor_id,entity_type,entity_id,"
               "data\r\n",
     .chunk = &audit_chunk,
     .count = &audit_count,
     .fields = {KIND_FIELDS,
                {.name = "from", .kind = LC_BODY_DATE},
                {.name = "to", .kind = LC_BODY_DATE},
                {.name = "type", .kind = LC_BODY_TEXT, .max = 100},
                {.name = "actor", .kind = LC_BODY_UUID}},
     .nfilters = 4},
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static const export_kind *
export_kind_named(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < NKINDS; i++) {
        if (strcmp(kinds[i].kind, name) == 0) {
            return &kinds[i];
        }
    }
    return NULL;
}

/* --- the export as the API shows it -------------------------------------- */

#define EXPORT_JSON                                                            \
    "json_build_object('id', id, 'kind', kind, 'format', format,"              \
    " 'filters', filters,"                                                     \
    " 'status', CASE WHEN now() >= expires_at THEN 'expired' ELSE status END," \
    " 'progress', progress, 'row_count', row_count,"                           \
    " 'error', error,"                                                         \
    " 'created_at', to_char(created_at AT TIME ZONE 'UTC', " AT_US "),"        \
    " 'finished_at', to_char(finished_at AT TIME ZONE 'UTC', " AT_US "),"      \
    " 'expires_at', to_char(expires_at AT TIME ZONE 'UTC', " AT_US "))::text"

static const lc_db_stmt export_insert = {
    "INSERT INTO reporting.exports (tenant_id, kind, format, filters,"
    " requested_by)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, 'csv',"
    " $2::jsonb, $3)"
    " RETURNING id, " EXPORT_JSON ","
    " (extract(epoch FROM expires_at) * 1000)::bigint",
    3};

static const lc_db_stmt export_get = {"SELECT kind, " EXPORT_JSON
                                      ", status, now() >= expires_at"
                                      " FROM reporting.exports WHERE id = $1",
                                      1};

/* One part of a download: $1 export id, $2 chunk, $3 offset in it (in
 * characters). The file's size in bytes (octet_length reads it from the
 * stored value's header, without decompressing), the part, whether the
 * chunk goes on after it and the next chunk's number. */
static const lc_db_stmt export_download = {
    "SELECT e.kind, e.status, now() >= e.expires_at,"
    " (SELECT sum(octet_length(c.data)) FROM reporting.export_chunks c"
    "   WHERE c.tenant_id = e.tenant_id AND c.export_id = e.id),"
    " p.part, p.more,"
    " (SELECT min(c.n) FROM reporting.export_chunks c"
    "   WHERE c.tenant_id = e.tenant_id AND c.export_id = e.id"
    "     AND c.n > $2::int)"
    " FROM reporting.exports e"
    " LEFT JOIN LATERAL (SELECT substr(c.data, $3::int + 1, " PART_CHARS
    ") AS part, length(c.data) > $3::int + " PART_CHARS " AS more"
    "   FROM reporting.export_chunks c WHERE c.tenant_id = e.tenant_id"
    "    AND c.export_id = e.id AND c.n = $2::int) p ON true"
    " WHERE e.id = $1",
    3};

/* The job's statements, in the export's tenant. The claim's lock is NO
 * KEY UPDATE: a FOR UPDATE lock marks the row's key as changed, and the
 * chunks' foreign key checks, in the export's snapshot, would then fail
 * to serialize. */
static const lc_db_stmt export_claim = {
    "SELECT kind, filters::text, status, now() >= expires_at"
    " FROM reporting.exports WHERE id = $1 FOR NO KEY UPDATE",
    1};
static const lc_db_stmt export_restart = {
    "WITH gone AS (DELETE FROM reporting.export_chunks WHERE export_id = $1)"
    " UPDATE reporting.exports SET status = 'running', started_at = now(),"
    " progress = 0, row_count = 0, bytes = length($3), total_rows = $2,"
    " error = NULL, finished_at = NULL WHERE id = $1",
    3};
static const lc_db_stmt export_header = {
    "INSERT INTO reporting.export_chunks (tenant_id, export_id, n, data)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, 0, $2)",
    2};
/* Its own transaction after each chunk's: in the chunk's (the
 * snapshot's) an UPDATE of the row the last advance changed would fail. */
static const lc_db_stmt export_advance = {
    "UPDATE reporting.exports SET row_count = $2, bytes = $3,"
    " progress = least(99, $2::bigint * 100 / greatest(total_rows, 1))"
    " WHERE id = $1",
    3};
static const lc_db_stmt export_finish = {
    "UPDATE reporting.exports SET status = 'done', progress = 100,"
    " finished_at = now() WHERE id = $1",
    1};
static const lc_db_stmt export_fail = {
    "UPDATE reporting.exports SET status = 'failed', error = $2,"
    " finished_at = now() WHERE id = $1",
    2};
/* Expired files of the tenant go; their rows stay, to say "expired". */
static const lc_db_stmt exports_purge = {
    "DELETE FROM reporting.export_chunks c USING reporting.exports e"
    " WHERE e.tenant_id = c.tenant_id AND e.id = c.export_id"
    "   AND e.expires_at <= now()",
    0};

/* --- POST ----------------------------------------------------------------*/

typedef struct {
    lc_req_fail fail; /* first: lc_req_tx answers with it */
    reporting_app *app;
    const lc_caller *caller;
    const lc_idem *idem;
    const char *kind;
    const char *filters;
    char location[96];
    PGresult *res;
} export_create_ctx;

static int
export_create_tx(lc_db *db, void *arg, lc_db_error *err)
{
    export_create_ctx *c = arg;
    const char *params[3] = {c->kind, c->filters, c->caller->user_id};
    char payload[80];
    lc_job_new job = {.kind = EXPORT_JOB_KIND};
    lc_job_new purge = {.kind = EXPORT_PURGE_KIND};

    PQclear(c->res);
    c->res = lc_db_exec(db, &export_insert, params, err);
    if (c->res == NULL) {
        return -1;
    }
    snprintf(payload, sizeof(payload), "{\"export_id\": \"%s\"}",
             PQgetvalue(c->res, 0, 0));
    job.tenant_id = c->caller->tenant_id;
    job.payload = payload;
    purge.tenant_id = c->caller->tenant_id;
    purge.payload = payload;
    purge.run_at_ms = strtoll(PQgetvalue(c->res, 0, 2), NULL, 10);
    if (lc_jobs_enqueue(c->app->jobs, db, &job, NULL, err) != 0 ||
        lc_jobs_enqueue(c->app->jobs, db, &purge, NULL, err) != 0) {
        return -1;
    }
    snprintf(c->location, sizeof(c->location), "/api/reports/exports/%s",
             PQgetvalue(c->res, 0, 0));
    return lc_idem_store(db, c->idem, 202, c->location, NULL,
                         PQgetvalue(c->res, 0, 1), err);
}

/* The filters of the body, as a JSON object of the members sent (NULL
 * when out of memory); activity's range is checked here. */
static char *
export_filters(lc_req *req, const export_kind *k, const lc_body_value *vals)
{
    cJSON *obj = cJSON_CreateObject();
    char *out;
    size_t i;

    if (strcmp(k->kind, "activity") == 0 &&
        reporting_range_check(req, vals[2].text, vals[3].text) != 0) {
        cJSON_Delete(obj);
        return NULL;
    }
    for (i = 0; i < k->nfilters; i++) {
        const lc_body_value *v = &vals[2 + i];

        if (v->text != NULL) {
            cJSON_AddStringToObject(obj, k->fields[2 + i].name, v->text);
        }
    }
    out = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (out == NULL) {
        lc_req_error(req, 500, "internal", "internal error");
    }
    return out;
}

static void
exports_create(lc_req *req)
{
    static const lc_body_field kind_only[] = {KIND_FIELDS};
    const cJSON *body;
    const export_kind *k;
    lc_body_value vals[2 + EXPORT_MAX_FILTERS];
    lc_caller caller;
    lc_idem idem;
    export_create_ctx c = {0};

    if (lc_caller_get(req, "manager", &caller) != 0 ||
        (body = lc_req_json(req)) == NULL) {
        return;
    }
    k = export_kind_named(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "kind")));
    /* Which filters a body may hold depends on its kind: without a known
     * kind, the body is checked for kind and format alone (and fails). */
    if (k == NULL) {
        lc_body_read(req, kind_only, 2, vals);
        return;
    }
    if (lc_body_read(req, k->fields, 2 + k->nfilters, vals) != 0) {
        return;
    }
    if (lc_caller_role_rank(caller.role) < lc_caller_role_rank(k->min_role)) {
        lc_req_error(req, 403, "forbidden",
                     "exports of this kind need an admin or the owner");
        return;
    }
    c.filters = export_filters(req, k, vals);
    if (c.filters == NULL) {
        return;
    }
    /* The body is checked before the key is claimed (lc_idem.h). */
    if (lc_idem_begin(req, caller.tenant_id, caller.user_id, &idem) != 0) {
        free((char *)c.filters);
        return;
    }
    c.app = lc_req_app(req);
    c.caller = &caller;
    c.idem = &idem;
    c.kind = k->kind;
    if (lc_req_tx(req, caller.tenant_id, export_create_tx, &c) == 0) {
        lc_jobs_wake(c.app->jobs);
        lc_req_header(req, "location", c.location);
        lc_req_respond(req, 202, "application/json", PQgetvalue(c.res, 0, 1),
                       (size_t)PQgetlength(c.res, 0, 1));
    } else {
        lc_idem_abort(req, &idem);
    }
    PQclear(c.res);
    free((char *)c.filters);
}

/* --- GET ------------------------------------------------------------------*/

/* The export the path names, for a caller of the role its kind needs: its
 * row of `st` (column 0 the kind; $1 the id, set here, then the rest of
 * `params`), or NULL with a 404 / 403 set. */
static PGresult *
export_read(lc_req *req, const lc_db_stmt *st, const char **params)
{
    const char *id = lc_req_param(req, "id");
    const export_kind *k;
    lc_caller caller;
    PGresult *res;

    if (lc_caller_get(req, "manager", &caller) != 0) {
        return NULL;
    }
    if (!lc_db_is_path_uuid(id)) {
        lc_req_error(req, 404, "not_found", "no such export");
        return NULL;
    }
    /* the primary's: an export just created is there, the replica may
     * not have it yet */
    params[0] = id;
    res = lc_req_read_primary(req, caller.tenant_id, st, params);
    if (res == NULL) {
        return NULL;
    }
    if (PQntuples(res) == 0) {
        lc_req_error(req, 404, "not_found", "no such export");
        PQclear(res);
        return NULL;
    }
    k = export_kind_named(PQgetvalue(res, 0, 0));
    if (k == NULL ||
        lc_caller_role_rank(caller.role) < lc_caller_role_rank(k->min_role)) {
        lc_req_error(req, 403, "forbidden",
                     "exports of this kind need an admin or the owner");
        PQclear(res);
        return NULL;
    }
    return res;
}

static void
exports_get(lc_req *req)
{
    const char *params[1];
    PGresult *res = export_read(req, &export_get, params);

    if (res != NULL) {
        lc_req_respond(req, 200, "application/json", PQgetvalue(res, 0, 1),
                       (size_t)PQgetlength(res, 0, 1));
        PQclear(res);
    }
}

/* The part a download's cursor names ("<chunk>:<offset>"); the first
 * request has none and starts at chunk 0, the header row. */
static int
export_part_cursor(lc_req *req, char chunk[16], char offset[16])
{
    const char *cursor = lc_req_continuation(req);
    long n = 0, off = 0;
    int used = 0;

    if (cursor != NULL &&
        (sscanf(cursor, "%9ld:%9ld%n", &n, &off, &used) != 2 ||
         cursor[used] != '\0' || n < 0 || off < 0)) {
        lc_req_error(req, 400, "invalid_cursor", "not a download's cursor");
        return -1;
    }
    snprintf(chunk, 16, "%ld", n);
    snprintf(offset, 16, "%ld", off);
    return 0;
}

static void
exports_download(lc_req *req)
{
    const char *params[3];
    char chunk[16], offset[16], cursor[40], disposition[128];
    PGresult *res;
    size_t len;

    if (export_part_cursor(req, chunk, offset) != 0) {
        return;
    }
    params[1] = chunk;
    params[2] = offset;
    res = export_read(req, &export_download, params);
    if (res == NULL) {
        return;
    }
    len = (size_t)PQgetlength(res, 0, 4);
    if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
        lc_req_error(req, 410, "expired",
                     "the export has expired: ask for a new one");
    } else if (strcmp(PQgetvalue(res, 0, 1), "done") != 0) {
        lc_req_error(req, 409, "conflict",
                     strcmp(PQgetvalue(res, 0, 1), "failed") == 0
                         ? "the export failed: ask for a new one"
                         : "the export is not finished yet");
    } else if (len == 0) {
        /* a done export's chunks are all there, none empty: this one went
         * while it was downloaded (expired and purged) */
        lc_log(LC_LOG_ERROR, lc_req_id(req), lc_req_tenant_id(req),
               "export %s has no chunk %s at %s", lc_req_param(req, "id"),
               chunk, offset);
        lc_req_error(req, 500, "internal", "the export's file is gone");
    } else {
        snprintf(disposition, sizeof(disposition),
                 "attachment; filename=\"%s-%.8s.csv\"", PQgetvalue(res, 0, 0),
                 lc_req_param(req, "id"));
        lc_req_header(req, "content-disposition", disposition);
        lc_req_respond(req, 200, "text/csv; charset=utf-8",
                       PQgetvalue(res, 0, 4), len);
        if (strcmp(PQgetvalue(res, 0, 5), "t") == 0) {
            snprintf(cursor, sizeof(cursor), "%s:%ld", chunk,
                     atol(offset) + PART_CHARS_N);
        } else if (!PQgetisnull(res, 0, 6)) {
            snprintf(cursor, sizeof(cursor), "%s:0", PQgetvalue(res, 0, 6));
        } else {
            cursor[0] = '\0';
        }
        if (cursor[0] != '\0') {
            lc_req_continue(req, cursor,
                            strtoull(PQgetvalue(res, 0, 3), NULL, 10));
        }
    }
    PQclear(res);
}

/* --- the job --------------------------------------------------------------*/

typedef struct {
    const char *export_id;
    const export_kind *kind;
    const char *params[3 + EXPORT_MAX_FILTERS]; /* id, n, after, filters */
    cJSON *filters;
    char n[16], after[128];
    bool finished;          /* the export was done (or gone) already */
    long rows, chunk_bytes; /* the last chunk's */
    long row_count, bytes;  /* the file's so far, its header included */
    long max_bytes;
} export_run_ctx;

/* Claims the export and starts its file again: a rerun after a crash
 * replaces whatever the last attempt wrote. */
static int
export_start_tx(lc_db *db, void *arg, lc_db_error *err)
{
    export_run_ctx *c = arg;
    PGresult *res, *count;
    const char *p[3];
    size_t i;

    res = lc_db_exec(db, &export_claim, &c->export_id, err);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 2), "done") == 0 ||
        strcmp(PQgetvalue(res, 0, 3), "t") == 0 ||
        (c->kind = export_kind_named(PQgetvalue(res, 0, 0))) == NULL) {
        c->finished = true;
        PQclear(res);
        return 0;
    }
    cJSON_Delete(c->filters);
    c->filters = cJSON_Parse(PQgetvalue(res, 0, 1));
    PQclear(res);
    for (i = 0; i < c->kind->nfilters; i++) {
        c->params[3 + i] =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                c->filters, c->kind->fields[2 + i].name));
    }
    count = lc_db_exec(db, c->kind->count, c->params + 3, err);
    if (count == NULL) {
        return -1;
    }
    p[0] = c->export_id;
    p[1] = PQgetvalue(count, 0, 0);
    p[2] = c->kind->header;
    res = lc_db_exec(db, &export_restart, p, err);
    PQclear(count);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    p[1] = c->kind->header;
    res = lc_db_exec(db, &export_header, p, err);
    PQclear(res);
    c->row_count = 0;
    c->bytes = (long)strlen(c->kind->header);
    return res == NULL ? -1 : 0;
}

/* One chunk of rows after c->after. */
static int
export_chunk_tx(lc_db *db, void *arg, lc_db_error *err)
{
    export_run_ctx *c = arg;
    PGresult *res;

    c->params[2] = c->after[0] != '\0' ? c->after : NULL;
    res = lc_db_exec(db, c->kind->chunk, c->params, err);
    if (res == NULL) {
        return -1;
    }
    c->rows = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    c->chunk_bytes = strtol(PQgetvalue(res, 0, 2), NULL, 10);
    snprintf(c->after, sizeof(c->after), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}

/* The export's progress, after a chunk's transaction committed. */
static int
export_advance_tx(lc_db *db, void *arg, lc_db_error *err)
{
    export_run_ctx *c = arg;
    char rows[24], bytes[24];
    const char *p[3] = {c->export_id, rows, bytes};
    PGresult *res;

    snprintf(rows, sizeof(rows), "%ld", c->row_count);
    snprintf(bytes, sizeof(bytes), "%ld", c->bytes);
    res = lc_db_exec(db, &export_advance, p, err);
    PQclear(res);
    return res == NULL ? -1 : 0;
}

static int
export_finish_tx(lc_db *db, void *arg, lc_db_error *err)
{
    export_run_ctx *c = arg;
    PGresult *res = lc_db_exec(db, &export_finish, &c->export_id, err);

    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    /* also a sweep for exports asked for before their purge jobs existed */
    res = lc_db_exec(db, &exports_purge, NULL, err);
    PQclear(res);
    return res == NULL ? -1 : 0;
}

static int
export_purge_tx(lc_db *db, void *arg, lc_db_error *err)
{
    PGresult *res = lc_db_exec(db, &exports_purge, NULL, err);

    (void)arg;
    PQclear(res);
    return res == NULL ? -1 : 0;
}

typedef struct {
    const char *export_id;
    const char *why;
} export_fail_ctx;

static int
export_fail_tx(lc_db *db, void *arg, lc_db_error *err)
{
    export_fail_ctx *f = arg;
    const char *p[2] = {f->export_id, f->why};
    PGresult *res = lc_db_exec(db, &export_fail, p, err);

    PQclear(res);
    return res == NULL ? -1 : 0;
}

#define EXPORT_TX_MS 60000
/* the application_name of the connection that holds an export's snapshot:
 * what an operator looks for when VACUUM is held back */
#define EXPORT_SNAPSHOT_APP "lintel-reporting-export-snapshot"

/* One transaction of the job: in the export's snapshot when `in` is set,
 * or else READ COMMITTED. */
static int
export_step(lc_db *db, const lc_job *job, const lc_db_snapshot *in,
            lc_db_tx_fn fn, void *ctx, char *why, size_t whylen)
{
    lc_db_tx_options opts = {0};
    lc_db_error err = {0};

    if (in != NULL) {
        opts.repeatable_read = true;
        opts.snapshot = lc_db_snapshot_id(in);
    }
    if (lc_db_tenant_tx_with(db, job->tenant_id,
                             lc_clock_mono_ms() + EXPORT_TX_MS, &opts, fn, ctx,
                             &err) != 0) {
        snprintf(why, whylen, "%s", err.message);
        return -1;
    }
    return 0;
}

/* Marks the export failed, for a job that will not run again. */
static lc_job_outcome
export_give_up(lc_db *db, const lc_job *job, const char *export_id,
               const char *message, char *why, size_t whylen)
{
    export_fail_ctx f = {export_id, message};
    char ignored[256];

    export_step(db, job, NULL, export_fail_tx, &f, ignored, sizeof(ignored));
    snprintf(why, whylen, "%s", message);
    return LC_JOB_DEAD;
}

static lc_job_outcome
export_run(lc_db *db, const lc_job *job, void *arg, char *why, size_t whylen)
{
    const reporting_app *app = arg;
    export_run_ctx c = {.max_bytes = app->export_max_bytes};
    cJSON *payload = cJSON_Parse(job->payload);
    lc_job_outcome out = LC_JOB_DONE;
    lc_db_options holder = app->jobs_options.db;
    lc_db_snapshot *snap = NULL;
    lc_db_error err = {0};
    int n;

    c.export_id = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(payload, "export_id"));
    if (job->tenant_id == NULL || !lc_db_is_uuid(c.export_id)) {
        snprintf(why, whylen, "not an export job's payload");
        cJSON_Delete(payload);
        return LC_JOB_DEAD;
    }
    c.params[0] = c.export_id;
    c.params[1] = c.n;
    /* The snapshot is taken before the start's count and held until the
     * last chunk; a rerun takes a new one and starts the file again. */
    holder.application = EXPORT_SNAPSHOT_APP;
    snap = lc_db_snapshot_take(&holder, job->tenant_id,
                               lc_clock_mono_ms() + EXPORT_TX_MS, &err);
    if (snap == NULL) {
        snprintf(why, whylen, "%s", err.message);
        goto failed;
    }
    if (export_step(db, job, snap, export_start_tx, &c, why, whylen) != 0) {
        goto failed;
    }
    for (n = 1; !c.finished; n++) {
        snprintf(c.n, sizeof(c.n), "%d", n);
        if (export_step(db, job, snap, export_chunk_tx, &c, why, whylen) != 0) {
            goto failed;
        }
        c.row_count += c.rows;
        c.bytes += c.chunk_bytes;
        if (export_step(db, job, NULL, export_advance_tx, &c, why, whylen) !=
            0) {
            goto failed;
        }
        if (c.bytes > c.max_bytes) {
            lc_db_snapshot_release(snap);
            snap = NULL;
            out = export_give_up(db, job, c.export_id,
                                 "the export is larger than the service"
                                 " serves: narrow its filters",
                                 why, whylen);
            goto done;
        }
        if (c.rows < CHUNK_ROWS_N) {
            break;
        }
    }
    lc_db_snapshot_release(snap);
    snap = NULL;
    if (!c.finished &&
        export_step(db, job, NULL, export_finish_tx, &c, why, whylen) != 0) {
        goto failed;
    }
    goto done;
failed:
    lc_db_snapshot_release(snap);
    snap = NULL;
    out = job->attempt >= job->max_attempts
              ? export_give_up(db, job, c.export_id,
                               "the export failed: ask for a new one", why,
                               whylen)
              : LC_JOB_RETRY;
done:
    cJSON_Delete(c.filters);
    cJSON_Delete(payload);
    return out;
}

/* Due when an export expires: the tenant's expired files go, its own
 * with them. */
static lc_job_outcome
export_purge(lc_db *db, const lc_job *job, void *arg, char *why,
             size_t whylen)
{
    (void)arg;
    if (job->tenant_id == NULL) {
        snprintf(why, whylen, "not an export job's payload");
        return LC_JOB_DEAD;
    }
    return export_step(db, job, NULL, export_purge_tx, NULL, why, whylen) == 0
               ? LC_JOB_DONE
               : LC_JOB_RETRY;
}

int
reporting_exports_start(reporting_app *app, const lc_db_options *db)
{
    app->jobs_options.schema = "reporting";
    app->jobs_options.db = *db;
    app->jobs_options.db.application = "lintel-reporting-jobs";
    app->jobs_options.tenant_concurrency = app->exports_per_tenant;
    app->jobs = lc_jobs_new(&app->jobs_options);
    if (app->jobs == NULL ||
        lc_jobs_handle(app->jobs, EXPORT_JOB_KIND, export_run, app) != 0 ||
        lc_jobs_handle(app->jobs, EXPORT_PURGE_KIND, export_purge, app) != 0 ||
        lc_jobs_start(app->jobs) != 0) {
        lc_jobs_free(app->jobs);
        app->jobs = NULL;
        return -1;
    }
    return 0;
}

void
reporting_exports_stop(reporting_app *app)
{
    if (app->jobs != NULL && lc_jobs_stop(app->jobs) == 0) {
        lc_jobs_free(app->jobs);
    }
    app->jobs = NULL;
}

int
exports_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"POST", "/api/reports/exports", exports_create},
        {"GET", "/api/reports/exports/:id", exports_get},
        {"GET", "/api/reports/exports/:id/download", exports_download},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
