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

#include "lc_entitlement.h"
#include "lc_entity.h"
#include "lc_etag.h"
#include "lc_page.h"
#include "lc_req_tx.h"
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
    long users_timeout_ms;
    lc_rpc_client *users;
    lc_caller_rpc caller; /* lc_caller's path 2: users.GetCaller */
    lc_entitlement_client billing; /* plan limits on project creation */
} projects_app;

/* The caller of a tenant route: lc_caller_get (the kit's policy). */
typedef lc_caller projects_caller;

/* --- events.c --------------------------------------------------------------*/

/* Inside the writing transaction, as its last statements: appends an event
 * and stores its seq in *seq. `task_id` NULL for project events. */
int projects_event_add(lc_db *db, const char *type, const char *project_id,
                       const char *task_id, const char *actor,
                       const char *data_json, int64_t *seq, lc_db_error *err);

/* The service's outbox, opened and closed by lc_service. */
extern lc_outbox *projects_outbox;
int events_routes(lc_rpc_server *s);

/* Tasks (tasks.c), whose events a project's deletion writes too. */
extern const lc_resource task_resource;

/* --- the resources ---------------------------------------------------------*/
int projects_routes(lc_rpc_server *s);
int tasks_routes(lc_rpc_server *s);

#endif
