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
#include "lc_jobs.h"
#include "lc_page.h"
#include "lc_req_tx.h"
#include "lc_rpc_client.h"
#include "lc_rpc_server.h"
#include "lc_vcache.h"

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
    /* each consumer's fences and stamps of versions (NULL: cache off) */
    lc_vcache_writer *projects_answers, *users_answers;
    /* the answers kept in memory, given inline (NULL: cache off) */
    lc_vcache_near *near;
    /* exports: their job runner, the tenant cap and the largest file */
    lc_jobs_options jobs_options;
    lc_jobs *jobs;
    long exports_per_tenant;
    long export_max_bytes;
} reporting_app;

/* The keys of cached answers and of the tenants' versions (lc_vcache). */
#define REPORTING_CACHE_PREFIX "lintel:reporting"

/* --- feed.c: the consumers of projects' and users' events ----------------- */

/* Starts both consumers on their own connections of `db` (and of Redis,
 * `cache`); -1 with a reason on stderr. */
int reporting_feed_start(reporting_app *app, const lc_db_options *db,
                         const lc_cache_options *cache);
void reporting_feed_stop(reporting_app *app);

/* --- exports.c: the export job's runner ----------------------------------*/
int reporting_exports_start(reporting_app *app, const lc_db_options *db);
void reporting_exports_stop(reporting_app *app);

/* --- reports.c ------------------------------------------------------------*/

/* A range of days `from` to `to` (valid dates, both included): 0, or -1
 * with the 400 set when from is after to (after_to) or it spans more than
 * REPORTING_MAX_DAYS days (range_too_long). */
#define REPORTING_MAX_DAYS 366
int reporting_range_check(lc_req *req, const char *from, const char *to);

/* --- the resources --------------------------------------------------------*/
int reports_routes(lc_rpc_server *s);
int audit_routes(lc_rpc_server *s);
int exports_routes(lc_rpc_server *s);

#endif
