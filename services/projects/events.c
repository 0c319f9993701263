/*
 * events.c: projects' domain events on the kit's outbox (lc_outbox, DESIGN
 * §8). What is projects' own: the keys of its events (project_id, and
 * task_id for a task's) and its EventsSince reply, projects.Event, which
 * predates the shared lintel.v1.Event and keeps its wire contract.
 */
#include <stdio.h>
#include <stdlib.h>

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

/* projects.EventsSince: lc_outbox_read's rows as projects.Event. */
static void
events_since_rpc(lc_req *req)
{
    const Lintel__V1__Projects__EventsSinceRequest *in;
    Lintel__V1__Projects__EventsSinceResponse out =
        LINTEL__V1__PROJECTS__EVENTS_SINCE_RESPONSE__INIT;
    Lintel__V1__Projects__Event *events = NULL, **ptrs = NULL;
    lc_outbox_page page;
    const PGresult *rows;
    int i, n;

    in = (const Lintel__V1__Projects__EventsSinceRequest *)lc_req_pb(
        req, &lintel__v1__projects__events_since_request__descriptor);
    if (in == NULL || lc_outbox_read(req, projects_outbox, in->after_seq,
                                     in->limit, &page) != 0) {
        return;
    }
    rows = page.rows;
    n = PQntuples(rows);
    if (n > 0) {
        events = calloc((size_t)n, sizeof(*events));
        ptrs = calloc((size_t)n, sizeof(*ptrs));
        if (events == NULL || ptrs == NULL) {
            lc_req_error(req, 500, "internal", "internal error");
            goto done;
        }
    }
    for (i = 0; i < n; i++) {
        lintel__v1__projects__event__init(&events[i]);
        events[i].seq =
            strtoull(PQgetvalue(rows, i, LC_OUTBOX_COL_SEQ), NULL, 10);
        events[i].tenant_id = PQgetvalue(rows, i, LC_OUTBOX_COL_TENANT_ID);
        events[i].type = PQgetvalue(rows, i, LC_OUTBOX_COL_TYPE);
        events[i].project_id = PQgetvalue(rows, i, LC_OUTBOX_COL_KEY0);
        events[i].task_id = PQgetvalue(rows, i, LC_OUTBOX_COL_KEY0 + 1);
        events[i].actor_id = PQgetvalue(rows, i, LC_OUTBOX_COL_ACTOR_ID);
        events[i].occurred_at = PQgetvalue(rows, i, LC_OUTBOX_COL_OCCURRED_AT);
        events[i].data_json = PQgetvalue(rows, i, LC_OUTBOX_COL_DATA_JSON);
        ptrs[i] = &events[i];
    }
    out.n_events = (size_t)n;
    out.events = ptrs;
    out.last_seq = page.last_seq;
    lc_req_respond_pb(req, &out.base);
done:
    free(events);
    free(ptrs);
    lc_outbox_page_clear(&page);
}

int
events_routes(lc_rpc_server *s)
{
    return lc_rpc_server_route(s, "RPC", "/rpc/projects.EventsSince",
                               events_since_rpc);
}
