/*
 * feed.c: the read models follow projects' and users' events (DESIGN §8).
 * Two lc_consumer threads, one per source, each apply a batch and move
 * their cursor in one transaction of this service's database, so an event
 * takes effect exactly once and in seq order, across restarts and outages.
 * Each consumer hands a tenant's events of a batch at once (lc_consumer's
 * apply_batch) to one SQL function per source (migrations/reporting/
 * 0004_batch_apply.sql) as a JSON array: one round trip and one statement
 * per read-model table, however many events the batch holds.
 *
 * Each such call also moves the tenant's version, which keys its cached
 * answers (reports.c): the consumer fences the tenant in Redis before the
 * call and stamps the version it moved to after the commit
 * (lc_vcache_writer), so that a reader never takes from Redis a version
 * older than the committed read model.
 *
 * After its batches commit, at most once a second, each consumer also asks
 * for fresh planner statistics of the read models that have changed enough
 * (migrations/reporting/0005_fresh_statistics.sql): a new tenant's rows,
 * unknown to the last ANALYZE, would otherwise be planned as one row and
 * each batch would scan all of that tenant's tasks until autovacuum
 * analyzes.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "lc_clock.h"
#include "lc_log.h"
#include "lc_metrics.h"
#include "lc_vcache.h"
#include "lintel/v1/events.pb-c.h"
#include "lintel/v1/projects.pb-c.h"
#include "reporting.h"

static const lc_db_stmt apply_projects_events = {
    "SELECT reporting.apply_projects_events($1::jsonb)", 1};

static const lc_db_stmt apply_users_events = {
    "SELECT reporting.apply_users_events($1::jsonb)", 1};

static const lc_db_stmt analyze_read_models = {
    "SELECT string_agg(t::text, ', ') FROM reporting.analyze_read_models() t",
    0};

static const lc_db_stmt tenant_version = {
    "SELECT coalesce(max(version), 0) FROM reporting.tenant_state", 0};

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
feed_apply(lc_db *db, lc_vcache_writer *answers, const char *tenant_id,
           const char *source, const lc_db_stmt *st, feed_fields_fn fields,
           const lc_consumer_event *evs, size_t n, lc_db_error *err)
{
    char *events;
    const char *params[1];
    char labels[32];
    PGresult *res;

    if (answers != NULL && lc_vcache_writer_fence(answers, tenant_id) != 0) {
        lc_db_error_set(err, LC_DB_UNAVAILABLE, "out of memory");
        return -1;
    }
    events = feed_render(evs, n, fields);
    params[0] = events;
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
    if (answers != NULL) {
        res = lc_db_exec(db, &tenant_version, NULL, err);
        if (res == NULL) {
            return -1;
        }
        lc_vcache_writer_version(answers, tenant_id,
                                 strtoll(PQgetvalue(res, 0, 0), NULL, 10));
        PQclear(res);
    }
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
    return feed_apply(db, arg, tenant_id, "projects", &apply_projects_events,
                      feed_projects_fields, evs, n, err);
}

static int
feed_apply_users(lc_db *db, const char *tenant_id,
                 const lc_consumer_event *evs, size_t n, void *arg,
                 lc_db_error *err)
{
    return feed_apply(db, arg, tenant_id, "users", &apply_users_events,
                      feed_users_fields, evs, n, err);
}

/* The consumers' upkeep: ANALYZE of the read models that changed enough
 * since their last one, and a line in the log saying which, and how long
 * it took. */
static int
feed_analyze(lc_db *db, void *arg, lc_db_error *err)
{
    int64_t start = lc_clock_mono_ms();
    PGresult *res = lc_db_exec(db, &analyze_read_models, NULL, err);

    (void)arg;
    if (res == NULL) {
        return -1;
    }
    if (!PQgetisnull(res, 0, 0)) {
        lc_log_info("reporting: analyzed %s in %lld ms", PQgetvalue(res, 0, 0),
                    (long long)(lc_clock_mono_ms() - start));
    }
    PQclear(res);
    return 0;
}

static void
feed_after_batch(void *arg, bool committed)
{
    if (arg != NULL) {
        lc_vcache_writer_done(arg, committed);
    }
}

/* Starts one source's consumer, and its writer of versions into Redis
 * (*answers; none with the cache off). */
static lc_consumer *
feed_start(const reporting_app *app, const lc_db_options *db,
           const lc_cache_options *cache, lc_vcache_writer **answers,
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
        .after_batch = feed_after_batch,
        .upkeep = feed_analyze,
    };
    lc_consumer *c;

    *answers = NULL;
    if (app->cache_ttl_s > 0) {
        /* a fence outlives the longest transaction it guards */
        *answers = lc_vcache_writer_new(cache, REPORTING_CACHE_PREFIX,
                                        2 * LC_CONSUMER_TX_MS);
        if (*answers == NULL) {
            fprintf(stderr, "lintel-reporting: out of memory\n");
            return NULL;
        }
    }
    o.arg = *answers;
    c = lc_consumer_start(&o, err, sizeof(err));
    if (c == NULL) {
        fprintf(stderr, "lintel-reporting: %s events: %s\n", source, err);
        lc_vcache_writer_free(*answers);
        *answers = NULL;
    }
    return c;
}

int
reporting_feed_start(reporting_app *app, const lc_db_options *db,
                     const lc_cache_options *cache)
{
    app->projects_feed = feed_start(
        app, db, cache, &app->projects_answers, "projects",
        "projects.EventsSince", app->projects_url, app->projects_events_url,
        &lintel__v1__projects__events_since_response__descriptor,
        app->projects_timeout_ms, feed_apply_projects);
    if (app->projects_feed == NULL) {
        return -1;
    }
    app->users_feed =
        feed_start(app, db, cache, &app->users_answers, "users",
                   "users.EventsSince", app->users_url, app->users_events_url,
                   &lintel__v1__events_since_response__descriptor,
                   app->users_timeout_ms, feed_apply_users);
    if (app->users_feed == NULL) {
        reporting_feed_stop(app);
        return -1;
    }
    return 0;
}

void
reporting_feed_stop(reporting_app *app)
{
    lc_consumer_stop(app->users_feed);
    lc_consumer_stop(app->projects_feed);
    lc_vcache_writer_free(app->users_answers);
    lc_vcache_writer_free(app->projects_answers);
    app->users_feed = app->projects_feed = NULL;
    app->users_answers = app->projects_answers = NULL;
}
