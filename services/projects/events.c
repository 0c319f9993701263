/*
 * events.c: projects' domain events on the kit's outbox (lc_outbox, DESIGN
 * §8). What is projects' own: the keys of its events (project_id, and
 * task_id for a task's) and its EventsSince reply, projects.Event, which
 * predates the shared lintel.v1.Event and keeps its wire contract.
 */
#include "lintel/v1/projects.pb-c.h"
#include "projects.h"

/* Opened by lc_service before any worker runs (main.c's definition), and
 * read-only after: the transactions that append have only their
 * connection at hand. */
lc_outbox *projects_outbox;

int
projects_event_add(lc_db *db, const char *type, const char *project_id,
                   const char *task_id, const char *actor,
                   const char *data_json, int64_t *seq, lc_db_error *err)
{
    const lc_outbox_event ev = {
        .type = type,
        .keys = {project_id, task_id},
        .actor_id = actor,
        .data_json = data_json,
    };

    return lc_outbox_append(db, projects_outbox, &ev, seq, err);
}

/* projects.EventsSince: the kit's, in projects.Event, which predates the
 * shared lintel.v1.Event and keeps its wire contract. */
static void
events_since_rpc(lc_req *req)
{
    lc_outbox_serve_as(
        req, projects_outbox,
        &lintel__v1__projects__events_since_response__descriptor);
}

int
events_routes(lc_rpc_server *s)
{
    return lc_rpc_server_route(s, "RPC", "/rpc/projects.EventsSince",
                               events_since_rpc);
}
