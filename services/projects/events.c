/*
 * events.c: the outbox (DESIGN §8). Every change appends its domain event
 * in the transaction that makes it; EventsSince serves the outbox in
 * sequence order to internal consumers, across tenants; after a commit an
 * NNG pub socket announces the new highest sequence number so that
 * subscribers need not poll. The announcement is only a hint: a consumer
 * that missed it (or was down) catches up from its own cursor.
 */
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_log.h"
#include "lintel/v1/projects.pb-c.h"
#include "projects.h"

#define EVENTS_DEFAULT_LIMIT 100
#define EVENTS_MAX_LIMIT 1000

struct projects_events {
    nng_socket pub;
    atomic_llong announced; /* highest seq published */
};

/* The seq comes from the single counter row (see 0001_init.sql for why):
 * its lock is held until COMMIT, so seqs become visible in order. Callers
 * run this last in their transaction to hold that lock briefly. */
static const lc_db_stmt event_insert = {
    "WITH s AS (UPDATE projects.event_counter SET seq = seq + 1"
    "           RETURNING seq)"
    " INSERT INTO projects.events"
    " (seq, tenant_id, type, project_id, task_id, actor_id, data)"
    " SELECT s.seq, current_setting('app.tenant_id')::uuid, $1, $2, $3, $4,"
    "        $5::jsonb FROM s"
    " RETURNING seq",
    5};

static const lc_db_stmt events_since = {
    "SELECT seq, tenant_id, type, project_id, coalesce(task_id::text, ''),"
    " actor_id, to_char(occurred_at AT TIME ZONE 'UTC',"
    "                   'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), data::text"
    " FROM projects.events WHERE seq > $1 ORDER BY seq LIMIT $2",
    2};

static const lc_db_stmt events_last = {"SELECT seq FROM projects.event_counter",
                                       0};

int
projects_event_add(lc_db *db, const char *type, const char *project_id,
                   const char *task_id, const char *actor,
                   const char *data_json, int64_t *seq, lc_db_error *err)
{
    const char *params[5] = {type, project_id, task_id, actor, data_json};
    PGresult *res = lc_db_exec(db, &event_insert, params, err);

    if (res == NULL) {
        return -1;
    }
    *seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

void
projects_events_announce(projects_app *app, int64_t seq)
{
    projects_events *e = app->events;
    long long prev;
    char msg[24];
    int len;

    if (e == NULL || seq <= 0) {
        return;
    }
    /* Announce only a new maximum: seq n implies every seq below it. */
    prev = atomic_load(&e->announced);
    do {
        if (prev >= seq) {
            return;
        }
    } while (!atomic_compare_exchange_weak(&e->announced, &prev, seq));
    len = snprintf(msg, sizeof(msg), "%lld", (long long)seq);
    /* pub0 never blocks: a slow subscriber loses hints, not the service. */
    nng_send(e->pub, msg, (size_t)len, NNG_FLAG_NONBLOCK);
}

int
projects_events_start(projects_app *app)
{
    projects_events *e = calloc(1, sizeof(*e));
    int rv;

    if (e == NULL) {
        return -1;
    }
    if ((rv = nng_pub0_open(&e->pub)) != 0 ||
        (rv = nng_listen(e->pub, app->events_url, NULL, 0)) != 0) {
        fprintf(stderr, "lintel-projects: LINTEL_EVENTS_URL %s: %s\n",
                app->events_url, nng_strerror(rv));
        nng_close(e->pub);
        free(e);
        return -1;
    }
    app->events = e;
    return 0;
}

void
projects_events_stop(projects_app *app)
{
    if (app->events != NULL) {
        nng_close(app->events->pub);
        free(app->events);
        app->events = NULL;
    }
}

/* --- projects.EventsSince ------------------------------------------------- */

typedef struct {
    lc_req_fail fail;
    const char *params[2];
    PGresult *res, *last;
} events_ctx;

static int
events_since_tx(lc_db *db, void *arg, lc_db_error *err)
{
    events_ctx *c = arg;

    PQclear(c->res);
    PQclear(c->last);
    c->last = NULL;
    c->res = lc_db_exec(db, &events_since, c->params, err);
    if (c->res == NULL) {
        return -1;
    }
    c->last = lc_db_exec(db, &events_last, NULL, err);
    return c->last ? 0 : -1;
}

static void
events_since_rpc(lc_req *req)
{
    const Lintel__V1__Projects__EventsSinceRequest *in;
    Lintel__V1__Projects__EventsSinceResponse out =
        LINTEL__V1__PROJECTS__EVENTS_SINCE_RESPONSE__INIT;
    Lintel__V1__Projects__Event *events = NULL, **ptrs = NULL;
    events_ctx c = {0};
    char after[24], limit[16];
    int i, n;

    in = (const Lintel__V1__Projects__EventsSinceRequest *)lc_req_pb(
        req, &lintel__v1__projects__events_since_request__descriptor);
    if (in == NULL) {
        return;
    }
    if (in->limit > EVENTS_MAX_LIMIT || in->after_seq > INT64_MAX) {
        lc_req_error(req, 400, "validation_failed",
                     "limit is at most 1000; after_seq a valid seq");
        return;
    }
    snprintf(after, sizeof(after), "%llu", (unsigned long long)in->after_seq);
    snprintf(limit, sizeof(limit), "%u",
             in->limit ? in->limit : EVENTS_DEFAULT_LIMIT);
    c.params[0] = after;
    c.params[1] = limit;
    /* Platform scope (no tenant): the outbox has no RLS, by design. */
    if (lc_req_tx(req, NULL, events_since_tx, &c) != 0) {
        PQclear(c.res);
        PQclear(c.last);
        return;
    }
    n = PQntuples(c.res);
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
        events[i].seq = strtoull(PQgetvalue(c.res, i, 0), NULL, 10);
        events[i].tenant_id = PQgetvalue(c.res, i, 1);
        events[i].type = PQgetvalue(c.res, i, 2);
        events[i].project_id = PQgetvalue(c.res, i, 3);
        events[i].task_id = PQgetvalue(c.res, i, 4);
        events[i].actor_id = PQgetvalue(c.res, i, 5);
        events[i].occurred_at = PQgetvalue(c.res, i, 6);
        events[i].data_json = PQgetvalue(c.res, i, 7);
        ptrs[i] = &events[i];
    }
    out.n_events = (size_t)n;
    out.events = ptrs;
    out.last_seq = strtoull(PQgetvalue(c.last, 0, 0), NULL, 10);
    lc_req_respond_pb(req, &out.base);
done:
    free(events);
    free(ptrs);
    PQclear(c.res);
    PQclear(c.last);
}

int
events_routes(lc_rpc_server *s)
{
    return lc_rpc_server_route(s, "RPC", "/rpc/projects.EventsSince",
                               events_since_rpc);
}
