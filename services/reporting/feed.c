/*
 * feed.c: the read models follow projects' and users' events (DESIGN §8).
 * Two lc_consumer threads, one per source, each apply a batch and move
 * their cursor in one transaction of this service's database, so an event
 * takes effect exactly once and in seq order, across restarts and outages.
 * What an event does to the read models is one SQL function per source
 * (migrations/reporting/0001_init.sql): one statement per event.
 */
#include <stdio.h>

#include "lc_metrics.h"
#include "lintel/v1/events.pb-c.h"
#include "lintel/v1/projects.pb-c.h"
#include "reporting.h"

static const lc_db_stmt apply_projects_event = {
    "SELECT reporting.apply_projects_event($1::bigint, $2, $3::uuid,"
    " $4::uuid, $5::uuid, $6::timestamptz, $7::jsonb)",
    7};

static const lc_db_stmt apply_users_event = {
    "SELECT reporting.apply_users_event($1::bigint, $2, $3::uuid, $4::uuid,"
    " $5::timestamptz, $6::jsonb)",
    6};

/* An empty id (no task, the platform as actor) is SQL NULL. */
static const char *
feed_id(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Applies one event of `source`; the gauge says how far each source's
 * consumer got (its batch may still roll back: the cursor is the truth). */
static int
feed_run(lc_db *db, const char *source, uint64_t seq, const lc_db_stmt *st,
         const char *const *params, lc_db_error *err)
{
    PGresult *res = lc_db_exec(db, st, params, err);
    char labels[32];

    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    snprintf(labels, sizeof(labels), "source=\"%s\"", source);
    lc_metrics_gauge_set("lintel_reporting_applied_seq", labels,
                         "seq of the last event applied, per source",
                         (double)seq);
    return 0;
}

static int
feed_apply_projects(lc_db *db, const lc_consumer_event *ev, void *arg,
                    lc_db_error *err)
{
    const Lintel__V1__Projects__Event *m =
        (const Lintel__V1__Projects__Event *)ev->msg;
    char seq[24];
    const char *params[7];

    (void)arg;
    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)ev->seq);
    params[0] = seq;
    params[1] = ev->type;
    params[2] = m->project_id;
    params[3] = feed_id(m->task_id);
    params[4] = feed_id(ev->actor_id);
    params[5] = ev->occurred_at;
    params[6] = ev->data_json;
    return feed_run(db, "projects", ev->seq, &apply_projects_event, params,
                    err);
}

static int
feed_apply_users(lc_db *db, const lc_consumer_event *ev, void *arg,
                 lc_db_error *err)
{
    const Lintel__V1__Event *m = (const Lintel__V1__Event *)ev->msg;
    char seq[24];
    const char *params[6];

    (void)arg;
    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)ev->seq);
    params[0] = seq;
    params[1] = ev->type;
    params[2] = feed_id(m->subject_id);
    params[3] = feed_id(ev->actor_id);
    params[4] = ev->occurred_at;
    params[5] = ev->data_json;
    return feed_run(db, "users", ev->seq, &apply_users_event, params, err);
}

static lc_consumer *
feed_start(const reporting_app *app, const lc_db_options *db,
           const char *source, const char *method, const char *rpc_url,
           const char *hint_url, const ProtobufCMessageDescriptor *response,
           long timeout_ms, lc_consumer_apply_fn apply)
{
    char err[256];
    /* The consumer keeps these pointers: `source` and `method` are static
     * strings, the URLs the configuration's. */
    lc_consumer_options o = {
        .source = source,
        .method = method,
        .rpc_url = rpc_url,
        .hint_url = hint_url,
        .response = response,
        .schema = "reporting",
        .db = *db,
        .batch = (uint32_t)app->batch,
        .poll_ms = app->poll_ms,
        .timeout_ms = timeout_ms,
        .apply = apply,
    };
    lc_consumer *c;

    c = lc_consumer_start(&o, err, sizeof(err));
    if (c == NULL) {
        fprintf(stderr, "lintel-reporting: %s events: %s\n", source, err);
    }
    return c;
}

int
reporting_feed_start(reporting_app *app, const lc_db_options *db)
{
    app->projects_feed =
        feed_start(app, db, "projects", "projects.EventsSince",
                   app->projects_url, app->projects_events_url,
                   &lintel__v1__projects__events_since_response__descriptor,
                   app->projects_timeout_ms, feed_apply_projects);
    if (app->projects_feed == NULL) {
        return -1;
    }
    app->users_feed = feed_start(app, db, "users", "users.EventsSince",
                                 app->users_url, app->users_events_url,
                                 &lintel__v1__events_since_response__descriptor,
                                 app->users_timeout_ms, feed_apply_users);
    if (app->users_feed == NULL) {
        lc_consumer_stop(app->projects_feed);
        app->projects_feed = NULL;
        return -1;
    }
    return 0;
}

void
reporting_feed_stop(reporting_app *app)
{
    lc_consumer_stop(app->users_feed);
    lc_consumer_stop(app->projects_feed);
    app->users_feed = app->projects_feed = NULL;
}
