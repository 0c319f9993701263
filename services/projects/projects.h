/*
 * The projects service: construction projects and their tasks, per tenant,
 * with an outbox of domain events for the rest of the platform (DESIGN §8).
 * This header wires main.c to the resource files and holds what they
 * share: the caller and its role, typed request bodies, transactions that
 * fail with an API error, list paging, idempotency keys and events.
 */
#ifndef PROJECTS_H
#define PROJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include "lc_outbox.h"
#include "lc_page.h"
#include "lc_rpc_client.h"
#include "lc_rpc_server.h"

/* created_at and updated_at as RFC 3339 UTC, in SQL. */
#define PROJECTS_RFC3339_CREATED                                               \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define PROJECTS_RFC3339_UPDATED                                               \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* A task row as the API shows it (json text), for tasks.c and for the
 * events of a project's deletion in projects.c. */
#define TASK_JSON                                                              \
    "json_build_object('id', id, 'project_id', project_id, 'title', title,"    \
    " 'description', description, 'status', status, 'priority', priority,"     \
    " 'assignee_id', assignee_id,"                                             \
    " 'due_date', to_char(due_date, 'YYYY-MM-DD'),"                            \
    " 'estimate_hours', estimate_hours,"                                       \
    " 'created_at', " PROJECTS_RFC3339_CREATED ","                             \
    " 'updated_at', " PROJECTS_RFC3339_UPDATED ","                             \
    " 'created_by', created_by, 'updated_by', updated_by,"                     \
    " 'version', version)::text"

typedef struct {
    const char *users_rpc_url; /* users.GetUser, for assignees */
    const char *events_url;    /* NNG pub socket: "new events" hints */
    long users_timeout_ms;
    size_t max_message;
    lc_rpc_client *users;
    lc_outbox *outbox;
} projects_app;

/* --- request.c: the caller, bodies, transactions ------------------------ */

/* owner 5, admin 4, manager 3, member 2, viewer 1; anything else 0. */
int projects_role_rank(const char *role);

typedef struct {
    const char *tenant_id;
    const char *user_id;
    const char *role;
} projects_caller;

/* A tenant-host route called by a principal whose role (from the edge's
 * verified token) is at least `min_role`; -1 with 401/403/404 set. */
int projects_caller_get(lc_req *req, const char *min_role,
                        projects_caller *out);

typedef enum {
    PF_TEXT,     /* up to max bytes; not blank unless nullable */
    PF_ENUM,     /* one of `choices` */
    PF_DATE,     /* YYYY-MM-DD, a real day */
    PF_INT,      /* an integer in [min, max] */
    PF_NUMBER,   /* a number in [min, max], at most two decimals */
    PF_UUID,     /* a canonical uuid */
    PF_CURRENCY, /* three upper-case letters (ISO 4217) */
    PF_CODE,     /* [A-Za-z0-9][A-Za-z0-9._-]{0,31} */
} projects_field_kind;

typedef struct {
    const char *name;
    projects_field_kind kind;
    bool required; /* must be present (and not null) */
    bool nullable; /* null allowed: clears the field */
    size_t max;    /* PF_TEXT: bytes */
    int64_t min, lmax;
    const char *const *choices; /* PF_ENUM, NULL-terminated */
} projects_field;

typedef struct {
    bool present;     /* the key was in the body */
    const char *text; /* the value as SQL text; NULL for null */
    char buf[40];     /* numbers are formatted here */
} projects_value;

/*
 * Reads the body as an object of the fields of `spec` into `vals` (one per
 * field): unknown fields, wrong types, bad values and missing required ones
 * are answered with 400 validation_failed naming each field. Returns 0, or
 * -1 with the response set.
 */
int projects_body(lc_req *req, const projects_field *spec, size_t n,
                  projects_value *vals);

/* YYYY-MM-DD naming a real day (years 1900 to 2999). */
bool projects_date_valid(const char *s);

/* A 400 validation_failed naming one field. */
void projects_field_error(lc_req *req, const char *field, const char *code,
                          const char *message);

/* The first member of every transaction context: an API error decided in
 * the transaction (status 0: none). */
typedef struct {
    int status;
    const char *code;
    const char *message;
} projects_fail;

int projects_fail_tx(projects_fail *f, lc_db_error *err, int status,
                     const char *code, const char *message);

/* lc_db_tenant_tx in the caller's tenant with the request's deadline; on
 * failure answers with the projects_fail of `ctx` (its first member), or
 * maps a named constraint to a field error, or the database error; -1. */
int projects_tx(lc_req *req, const char *tenant_id, lc_db_tx_fn fn, void *ctx);

/* One read-only statement in the tenant's transaction, in one round trip
 * (lc_db_tenant_read); NULL with the error response set. */
PGresult *projects_read(lc_req *req, const char *tenant_id,
                        const lc_db_stmt *st, const char *const *params);

/* If-Match: 0 with *version set ("" for `*`: any current version), 1 when
 * absent, -1 (412 set) when it is not a version this service issued. */
int projects_if_match(lc_req *req, char *version, size_t len);

/* The path's id: a malformed one is a 404 (API.md); -1 with it set. */
int projects_path_id(lc_req *req, const char *what, const char **id);

/* GET of the row the path's :id names (viewer and up): `get` reads its
 * version and JSON; answers them with an ETag, or 404 with `missing`. */
void projects_get_one(lc_req *req, const lc_db_stmt *get, const char *missing);

/* Answers `json` (a JSON text) with `status` and ETag "<version>". */
void projects_respond_entity(lc_req *req, int status, const char *version,
                             const char *json);

/* --- paging.c: lists ------------------------------------------------------ */

typedef struct {
    const char *name; /* "created_at", "-name", … */
    lc_db_stmt first; /* the first page in that order */
    lc_db_stmt after; /* the page after a cursor */
} projects_sort;

/* The most orders a list offers. */
#define PROJECTS_MAX_SORTS 32

typedef struct {
    lc_page base;              /* limit, order and cursor (lc_page) */
    const projects_sort *sort; /* base.sort's statements */
} projects_page;

/* lc_page_parse() with the orders of `sorts` (the first is the default).
 * -1 with the 400 set. */
int projects_page_args(lc_req *req, const char *const *allowed,
                       const projects_sort *sorts, size_t nsorts,
                       projects_page *p);

/* The statement for this page: `first` or `after`. */
const lc_db_stmt *projects_page_stmt(const projects_page *p);

/* Answers {"data":[rows' JSON column `json_col`],"next_cursor":…} from a
 * result whose column 0 is the sort key and 1 the id, fetched with
 * limit + 1 rows. */
void projects_page_respond(lc_req *req, const projects_page *p,
                           const PGresult *res, int json_col);

/* --- idempotency.c ---------------------------------------------------------*/

typedef struct {
    bool active; /* an Idempotency-Key was sent and claimed */
    char key[256];
    char route[320];
    char hash[65];
    const char *tenant_id, *user_id;
} projects_idem;

/*
 * For a POST: with no Idempotency-Key returns 0 and leaves `idem` inactive.
 * Otherwise claims the key; returns 1 when the response is already set (a
 * replay, 409 while the first runs, 422 for another body, 400 for a bad
 * key) and 0 when the request should run.
 */
int projects_idem_begin(lc_req *req, const projects_caller *caller,
                        projects_idem *idem);

/* Inside the request's transaction: records its response (status, Location
 * or NULL, ETag version, body) with the key, for a replay to repeat. */
int projects_idem_store(lc_db *db, const projects_idem *idem, int status,
                        const char *location, const char *version,
                        const char *body, lc_db_error *err);

/* After a failed request: frees the key so that a retry runs again. */
void projects_idem_abort(lc_req *req, const projects_idem *idem);

/* --- events.c --------------------------------------------------------------*/

/* Inside the writing transaction, as its last statements: appends an event
 * and stores its seq in *seq. `task_id` NULL for project events. */
int projects_event_add(lc_db *db, const char *type, const char *project_id,
                       const char *task_id, const char *actor,
                       const char *data_json, int64_t *seq, lc_db_error *err);

/* Opens the outbox (its pub socket on events_url); -1 with a reason on
 * stderr. */
int projects_events_start(projects_app *app);
void projects_events_stop(projects_app *app);
int events_routes(lc_rpc_server *s);

/* --- change.c: what creating, patching and deleting share ------------------*/

/* The context of a changing transaction, for projects_tx. */
typedef struct {
    projects_fail fail; /* first: projects_tx answers with it */
    const projects_caller *caller;
    const projects_idem *idem; /* POST only */
    const char *id;            /* PATCH, DELETE: the path's id */
    const char *version;       /* PATCH, DELETE: If-Match; "" for any */
    projects_value *vals;
    PGresult *res; /* row 0: id, version, json, ... */
    int64_t seq;   /* the last event the transaction wrote */
} projects_change;

/* What a change says when its row is gone or has moved on. */
typedef struct {
    const lc_db_stmt *get; /* the row by id, if it is still there */
    const char *missing;   /* 404's message */
    const char *changed;   /* 412's message */
} projects_entity;

/* Runs the UPDATE (or soft DELETE) `st` of c->id into c->res. One that
 * matches nothing is a 412 when `e->get` still finds the row, else a 404.
 * Returns 0 with row 0 in c->res, or -1. */
int projects_change_exec(projects_change *c, lc_db *db, const lc_db_stmt *st,
                         const char *const *params, const projects_entity *e,
                         lc_db_error *err);

/* An UPDATE's parameters: id, actor, If-Match version (NULL: any), then
 * per field "true"/"false" (sent or not) and its value; 3 + 2n of them
 * (n = 0: a DELETE's). */
void projects_change_update_params(const projects_change *c, size_t n,
                                   const char **params);

/* `fields` with none required: the fields a PATCH may send. */
void projects_patch_spec(const projects_field *fields, size_t n,
                         projects_field *spec);

/* A PATCH's body by `spec` and its If-Match (428 without one) into
 * `version`. Returns 0, or -1 with the response set. */
int projects_patch_args(lc_req *req, const projects_field *spec, size_t n,
                        projects_value *vals, char *version, size_t len);

/* Runs `fn` in the caller's tenant, then announces the events it wrote and
 * answers `status`: 204 empty, else the entity of c->res with its ETag and,
 * when `location` is set, a Location of `location` + its id. A failed
 * transaction gives back c->idem's key, if any. */
void projects_change_run(lc_req *req, lc_db_tx_fn fn, projects_change *c,
                         int status, const char *location);

/* --- the resources ---------------------------------------------------------*/
int projects_routes(lc_rpc_server *s);
int tasks_routes(lc_rpc_server *s);

#endif
