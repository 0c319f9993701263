/*
 * The projects service: construction projects and their tasks, per tenant,
 * with an outbox of domain events for the rest of the platform (DESIGN §8).
 * This header wires main.c to the resource files and holds what they
 * share: the caller and its role, transactions that fail with an API
 * error, list paging, idempotency keys and events; bodies are lc_body's.
 */
#ifndef PROJECTS_H
#define PROJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include "lc_body.h"
#include "lc_caller.h"
#include "lc_entitlement.h"
#include "lc_etag.h"
#include "lc_idem.h"
#include "lc_outbox.h"
#include "lc_page.h"
#include "lc_rpc_client.h"
#include "lc_req_tx.h"
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
    const char *events_url;    /* NNG pub socket: "new events" hints */
    long users_timeout_ms;
    lc_rpc_client *users;
    lc_caller_rpc caller; /* lc_caller's path 2: users.GetCaller */
    lc_entitlement_client billing; /* plan limits on project creation */
    lc_outbox *outbox;
} projects_app;

/* --- request.c: the caller, transactions -------------------------------- */

/* The caller of a tenant route: lc_caller_get (the kit's policy). */
typedef lc_caller projects_caller;

/* The path's id: a malformed one is a 404 (API.md); -1 with it set. */
int projects_path_id(lc_req *req, const char *what, const char **id);

/* GET of the row the path's :id names (viewer and up): `get` reads its
 * version and JSON; answers them with an ETag, or 404 with `missing`. */
void projects_get_one(lc_req *req, const lc_db_stmt *get, const char *missing);

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
    lc_req_fail fail; /* first: lc_req_tx answers with it */
    const projects_caller *caller;
    const lc_idem *idem; /* POST only */
    const char *id;            /* PATCH, DELETE: the path's id */
    const char *version;       /* PATCH, DELETE: If-Match; "" for any */
    lc_body_value *vals;
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

/* A PATCH's body by `spec` (nothing required) and its If-Match (428
 * without one) into `version`. Returns 0, or -1 with the response set. */
int projects_patch_args(lc_req *req, const lc_body_field *spec, size_t n,
                        lc_body_value *vals, char *version, size_t len);

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
