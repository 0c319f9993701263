/*
 * feed.c: the read models follow projects' and users' events (DESIGN §8).
 * Two lc_consumer threads, one per source, each apply a batch and move
 * their cursor in one transaction of this service's database, so an event
 * takes effect exactly once and in seq order, across restarts and outages.
 * Each consumer hands a tenant's events of a batch at once (lc_consumer's
 * apply_batch) to one SQL function per source (migrations/reporting/
 * 0004_batch_apply.sql) as a JSON array: one round trip and one statement
 * per read-model table, however many events the batch holds.
 */
#include <cjson/cJSON.h>
#include <stdio.h>

#include "lc_metrics.h"
#include "lintel/v1/events.pb-c.h"
#include "lintel/v1/projects.pb-c.h"
#include "reporting.h"

static const lc_db_stmt apply_projects_events = {
    "SELECT reporting.apply_projects_events($1::jsonb)", 1};

static const lc_db_stmt apply_users_events = {
    "SELECT reporting.apply_users_events($1::jsonb)", 1};

/* The fields of one event that its source's SQL function reads, beside
 * seq, actor, at and data. */
typedef void (*feed_fields_fn)(cJSON *o, const lc_consumer_event *ev);

/* An empty id (no task, the platform as actor) is JSON null. */
static void
feed_add_id(cJSON *o, const char *name, const char *id)
{
    if (id != NULL && id[0] != '\0') {
        cJSON_AddStringToObject(o, name, id);
    } else {
        cJSON_AddNullToObject(o, name);
    }
}

static void
feed_projects_fields(cJSON *o, const lc_consumer_event *ev)
{
    const Lintel__V1__Projects__Event *m =
        (const Lintel__V1__Projects__Event *)ev->msg;

    feed_add_id(o, "project", m->project_id);
    feed_add_id(o, "task", m->task_id);
}

static void
feed_users_fields(cJSON *o, const lc_consumer_event *ev)
{
    const Lintel__V1__Event *m = (const Lintel__V1__Event *)ev->msg;

    feed_add_id(o, "subject", m->subject_id);
}

/* The events as a JSON array of the source's reporting.*_event rows; NULL
 * when out of memory. */
static char *
feed_render(const lc_consumer_event *evs, size_t n, feed_fields_fn fields)
{
    cJSON *a = cJSON_CreateArray(), *o;
    char *text = NULL;
    size_t i;

    for (i = 0; a != NULL && i < n; i++) {
        o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            cJSON_Delete(a);
            return NULL;
        }
        cJSON_AddNumberToObject(o, "seq", (double)evs[i].seq);
        cJSON_AddStringToObject(o, "type", evs[i].type);
        feed_add_id(o, "actor", evs[i].actor_id);
        cJSON_AddStringToObject(o, "at", evs[i].occurred_at);
        /* the source's own JSON, as it is: no parse, no copy of values */
        cJSON_AddRawToObject(o, "data", evs[i].data_json);
        fields(o, &evs[i]);
    }
    if (a != NULL) {
        text = cJSON_PrintUnformatted(a);
        cJSON_Delete(a);
    }
    return text;
}

/* Applies one tenant's events of a batch of `source`; the gauge says how
 * far each source's consumer got (its batch may still roll back: the
 * cursor is the truth). */
static int
feed_apply(lc_db *db, const char *source, const lc_db_stmt *st,
           feed_fields_fn fields, const lc_consumer_event *evs, size_t n,
           lc_db_error *err)
{
    char *events = feed_render(evs, n, fields);
    const char *params[1] = {events};
    char labels[32];
    PGresult *res;

    if (events == NULL) {
        lc_db_error_set(err, LC_DB_UNAVAILABLE, "out of memory");
        return -1;
    }
    res = lc_db_exec(db, st, params, err);
    cJSON_free(events);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    snprintf(labels, sizeof(labels), "source=\"%s\"", source);
    lc_metrics_gauge_set("lintel_reporting_applied_seq", labels,
                         "seq of the last event applied, per source",
                         (double)evs[n - 1].seq);
    return 0;
}

static int
feed_apply_projects(lc_db *db, const char *tenant_id,
                    const lc_consumer_event *evs, size_t n, void *arg,
                    lc_db_error *err)
{
    (void)tenant_id;
    (void)arg;
    return feed_apply(db, "projects", &apply_projects_events,
                      feed_projects_fields, evs, n, err);
}

static int
feed_apply_users(lc_db *db, const char *tenant_id,
                 const lc_consumer_event *evs, size_t n, void *arg,
                 lc_db_error *err)
{
    (void)tenant_id;
    (void)arg;
    return feed_apply(db, "users", &apply_users_events, feed_users_fields,
                      evs, n, err);
}

static lc_consumer *
feed_start(const reporting_app *app, const lc_db_options *db,
           const char *source, const char *method, const char *rpc_url,
           const char *hint_url, const ProtobufCMessageDescriptor *response,
           long timeout_ms, lc_consumer_apply_batch_fn apply)
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
        .apply_batch = apply,
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
