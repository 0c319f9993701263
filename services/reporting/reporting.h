/*
 * The reporting service: read models of every tenant's projects, tasks,
 * members and activity, fed by the events of projects and users
 * (lc_consumer, DESIGN §8), the reports computed from them (cached in
 * Redis under a per-tenant version), and the audit log. This header wires
 * main.c to the feed and to the resource files.
 */
#ifndef REPORTING_H
#define REPORTING_H

#include "lc_body.h"
#include "lc_caller.h"
#include "lc_consumer.h"
#include "lc_page.h"
#include "lc_req_tx.h"
#include "lc_rpc_client.h"
#include "lc_rpc_server.h"

typedef struct {
    /* the sources of events: their NNG endpoints and pub hints */
    const char *projects_url, *users_url;
    const char *projects_events_url, *users_events_url;
    long projects_timeout_ms, users_timeout_ms;
    long poll_ms;     /* longest wait without a hint */
    long batch;       /* events per call and transaction */
    long cache_ttl_s; /* a cached report's life (its version ends it sooner) */
    lc_rpc_client *users, *projects;
    lc_caller_rpc caller; /* lc_caller's path 2: users.GetCaller */
    lc_consumer *projects_feed, *users_feed;
} reporting_app;

/* --- feed.c: the consumers of projects' and users' events ----------------- */

/* Starts both consumers on their own connections of `db`; -1 with a reason
 * on stderr. */
int reporting_feed_start(reporting_app *app, const lc_db_options *db);
void reporting_feed_stop(reporting_app *app);

/* --- the resources --------------------------------------------------------*/
int reports_routes(lc_rpc_server *s);
int audit_routes(lc_rpc_server *s);

#endif
