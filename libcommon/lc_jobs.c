/*
 * lc_jobs.c: the runner. `workers` threads each claim one job at a time,
 * run its handler and record the outcome; one keeper thread renews the
 * leases of this process's running jobs, turns other runners' expired
 * leases into failed attempts, deletes old finished jobs and refreshes the
 * gauges of /metrics. Every thread has its own database connection.
 *
 * The per-tenant cap holds across replicas because a claim takes a
 * transaction-level advisory lock per tenant (in a fixed order, so claims
 * never deadlock) before it counts that tenant's running jobs: two runners
 * cannot both see K-1 running and both start one. A tenant's lock is held
 * for the claim's short transaction only, and claims of other tenants do
 * not wait for it.
 *
 * Every outcome is fenced by the lease id the claim drew: a runner whose
 * lease was taken away (it stalled past lease_until) records nothing.
 */
#include "lc_jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lc_clock.h"
#include "lc_log.h"
#include "lc_metrics.h"

#define LC_JOBS_MAX_KINDS 32
#define LC_JOBS_KIND_MAX 100
#define LC_JOBS_MAX_WORKERS 64
#define LC_JOBS_SQL_MAX 2048
#define LC_JOBS_TX_BUDGET_MS 10000
/* Tenants whose due jobs one claim considers (and locks). */
#define LC_JOBS_CLAIM_TENANTS "16"

/* The statements, with the schema written in once at lc_jobs_new. */
enum {
    SQL_ENQUEUE,
    SQL_LOCK_TENANTS,
    SQL_CLAIM,
    SQL_DONE,
    SQL_FAIL,
    SQL_RENEW,
    SQL_REAP,
    SQL_PURGE,
    SQL_STATS,
    SQL_COUNT
};

/* The delay before the next attempt, in SQL, from the row's attempts:
 * backoff · 2^(attempts-1) capped, then equal jitter (uniform in [d/2, d])
 * so that jobs failing together do not come back together. $B and $C are
 * the backoff and its cap in ms. */
#define LC_JOBS_BACKOFF(B, C)                                                  \
    "now() + least(" C "::float8, " B "::float8 * power(2, least(attempts - "  \
    "1, 40))) * (0.5 + random() / 2) * interval '1 millisecond'"

static const struct {
    const char *sql; /* %1$s: the schema */
    int nparams;
} lc_jobs_sql[SQL_COUNT] = {
    [SQL_ENQUEUE] =
        {"INSERT INTO %1$s.jobs (kind, tenant_id, payload, run_at,"
         " max_attempts) VALUES ($1, $2::uuid, coalesce($3::jsonb, '{}'),"
         " CASE WHEN $4::bigint = 0 THEN now()"
         " ELSE to_timestamp($4::bigint / 1000.0) END, $5::int)"
         " RETURNING id",
         5},
    /* Tenants with due jobs and room under the cap, oldest due first,
     * locked in the order of their lock keys. $1 kinds, $2 the cap. */
    [SQL_LOCK_TENANTS] =
        {"SELECT coalesce(array_agg(t)::text, '{}') FROM ("
         " SELECT t, pg_advisory_xact_lock(k) FROM ("
         "  SELECT t, hashtextextended('lc_jobs %1$s ' || t, 0) AS k FROM ("
         "   SELECT j.tenant_id AS t FROM %1$s.jobs j"
         "    WHERE j.status IN ('queued', 'failed') AND j.run_at <= now()"
         "      AND j.kind = ANY($1::text[]) AND j.tenant_id IS NOT NULL"
         "      AND (SELECT count(*) FROM %1$s.jobs r"
         "            WHERE r.tenant_id = j.tenant_id"
         "              AND r.status = 'running') < $2::int"
         "    GROUP BY j.tenant_id ORDER BY min(j.run_at)"
         "    LIMIT " LC_JOBS_CLAIM_TENANTS ") c"
         "  ORDER BY k) o) l",
         2},
    /* One due job of a locked tenant (or of none) whose tenant has room;
     * tenants take turns (rn). $3 the locked tenants, $4 the runner's
     * name, $5 the lease in ms. The row is checked again once locked, on
     * its latest version: this statement's snapshot may predate another
     * runner's attempt that has since failed it with a later run_at. */
    [SQL_CLAIM] =
        {"WITH running AS ("
         " SELECT tenant_id, count(*) AS n FROM %1$s.jobs"
         "  WHERE status = 'running' AND tenant_id = ANY($3::uuid[])"
         "  GROUP BY tenant_id),"
         " ranked AS ("
         " SELECT j.id, j.run_at, j.tenant_id, row_number() OVER ("
         "   PARTITION BY j.tenant_id ORDER BY j.run_at, j.id) AS rn"
         "  FROM %1$s.jobs j"
         "  WHERE j.status IN ('queued', 'failed') AND j.run_at <= now()"
         "    AND j.kind = ANY($1::text[])"
         "    AND (j.tenant_id IS NULL OR j.tenant_id = ANY($3::uuid[]))),"
         " picked AS ("
         " SELECT r.id FROM ranked r LEFT JOIN running u"
         "  ON u.tenant_id = r.tenant_id"
         "  WHERE r.tenant_id IS NULL OR r.rn + coalesce(u.n, 0) <= $2::int"
         "  ORDER BY r.rn, r.run_at, r.id LIMIT 1),"
         " locked AS ("
         " SELECT j.id FROM %1$s.jobs j JOIN picked p ON p.id = j.id"
         "  WHERE j.status IN ('queued', 'failed') AND j.run_at <= now()"
         "  FOR UPDATE OF j SKIP LOCKED)"
         " UPDATE %1$s.jobs j SET status = 'running',"
         " attempts = j.attempts + 1, lease_id = gen_random_uuid(),"
         " leased_by = $4, lease_until = now() + $5::bigint"
         " * interval '1 millisecond', updated_at = now()"
         " FROM locked WHERE j.id = locked.id"
         " RETURNING j.id, j.kind, j.tenant_id, j.payload::text, j.attempts,"
         " j.max_attempts, j.lease_id",
         5},
    [SQL_DONE] = {"UPDATE %1$s.jobs SET status = 'done', lease_id = NULL,"
                  " leased_by = NULL, lease_until = NULL, last_error = NULL,"
                  " finished_at = now(), updated_at = now()"
                  " WHERE id = $1 AND lease_id = $2",
                  2},
    /* $3 true: dead at once; $4 the reason; $5, $6 the back-off. */
    [SQL_FAIL] =
        {"UPDATE %1$s.jobs SET"
         " status = CASE WHEN $3::bool OR attempts >= max_attempts"
         "  THEN 'dead' ELSE 'failed' END,"
         " run_at = CASE WHEN $3::bool OR attempts >= max_attempts"
         "  THEN run_at ELSE " LC_JOBS_BACKOFF(
             "$5", "$6") " END,"
                         " finished_at = CASE WHEN $3::bool OR attempts >= "
                         "max_attempts"
                         "  THEN now() END,"
                         " last_error = $4, lease_id = NULL, leased_by = NULL,"
                         " lease_until = NULL, updated_at = now()"
                         " WHERE id = $1 AND lease_id = $2 RETURNING status",
         6},
    [SQL_RENEW] = {"UPDATE %1$s.jobs SET lease_until = now() + $2::bigint"
                   " * interval '1 millisecond'"
                   " WHERE lease_id = ANY($1::uuid[]) AND status = 'running'",
                   2},
    /* A lease that ran out is an attempt that failed. */
    [SQL_REAP] =
        {"UPDATE %1$s.jobs SET"
         " status = CASE WHEN attempts >= max_attempts"
         "  THEN 'dead' ELSE 'failed' END,"
         " run_at = CASE WHEN attempts >= max_attempts"
         "  THEN run_at ELSE " LC_JOBS_BACKOFF(
             "$1",
             "$2") " END,"
                   " finished_at = CASE WHEN attempts >= max_attempts THEN "
                   "now() END,"
                   " last_error = 'lease expired: runner ' || "
                   "coalesce(leased_by, '?')"
                   "  || ' stopped renewing it',"
                   " lease_id = NULL, leased_by = NULL, lease_until = NULL,"
                   " updated_at = now()"
                   " WHERE status = 'running' AND lease_until < now()"
                   " RETURNING id, kind, tenant_id, status",
         2},
    [SQL_PURGE] = {"DELETE FROM %1$s.jobs WHERE status = 'done'"
                   " AND finished_at < now() - $1::bigint * interval '1 s'",
                   1},
    [SQL_STATS] =
        {"SELECT count(*) FILTER (WHERE status = 'queued'),"
         " count(*) FILTER (WHERE status = 'running'),"
         " count(*) FILTER (WHERE status = 'failed'),"
         " count(*) FILTER (WHERE status = 'dead'),"
         " coalesce(extract(epoch FROM now() - min(run_at) FILTER ("
         "  WHERE status IN ('queued', 'failed') AND run_at <= now())), 0)"
         " FROM %1$s.jobs WHERE status <> 'done'",
         0},
};

typedef struct {
    char kind[LC_JOBS_KIND_MAX + 1];
    lc_job_handler fn;
    void *arg;
} lc_jobs_handler;

/* A worker thread; lease_id is set while it runs a job (for renewal). */
typedef struct {
    lc_jobs *jobs;
    lc_db *db;
    pthread_t thread;
    bool started;
    char lease_id[37];
} lc_jobs_worker;

struct lc_jobs {
    lc_jobs_options o;
    char schema[64];
    char sql_text[SQL_COUNT][LC_JOBS_SQL_MAX];
    lc_db_stmt sql[SQL_COUNT];
    lc_jobs_handler handlers[LC_JOBS_MAX_KINDS];
    int nhandlers;
    char kinds[LC_JOBS_MAX_KINDS * (LC_JOBS_KIND_MAX + 3) + 3]; /* {a,b} */
    char runner[128]; /* host:pid, in leased_by */
    char lease_ms[24], backoff_ms[24], backoff_max_ms[24], cap[24];

    pthread_mutex_t mu;
    pthread_cond_t wake_cv, keeper_cv;
    unsigned wake_seq;
    bool stopping, started;
    int running_workers; /* not yet exited */
    lc_jobs_worker workers[LC_JOBS_MAX_WORKERS];
    int nworkers;
    lc_db *keeper_db;
    pthread_t keeper;
    bool keeper_started;
};

/* --- setup ---------------------------------------------------------------- */

static bool
lc_jobs_identifier(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_')) {
            return false;
        }
    }
    return true;
}

/* Kinds are names like "mail.send": they go into an array literal. */
static bool
lc_jobs_kind_valid(const char *s)
{
    size_t i, n = s ? strlen(s) : 0;

    if (n == 0 || n > LC_JOBS_KIND_MAX) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '.' || s[i] == '-')) {
            return false;
        }
    }
    return true;
}

/* The statement texts for one schema (a checked identifier). */
static void
lc_jobs_build_sql(char text[SQL_COUNT][LC_JOBS_SQL_MAX], lc_db_stmt *sql,
                  const char *schema)
{
    int i;

    for (i = 0; i < SQL_COUNT; i++) {
        /* The formats are the literals of lc_jobs_sql, with %1$s only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(text[i], LC_JOBS_SQL_MAX, lc_jobs_sql[i].sql, schema);
#pragma GCC diagnostic pop
        sql[i].sql = text[i];
        sql[i].nparams = lc_jobs_sql[i].nparams;
    }
}

lc_jobs *
lc_jobs_new(const lc_jobs_options *opts)
{
    lc_jobs *j;
    char host[64] = "";

    if (opts->schema == NULL || !lc_jobs_identifier(opts->schema) ||
        opts->workers < 1 || opts->workers > LC_JOBS_MAX_WORKERS ||
        opts->poll_ms < 1 || opts->lease_ms < 1 || opts->max_attempts < 1 ||
        opts->backoff_ms < 1 || opts->backoff_max_ms < 1 ||
        opts->tenant_concurrency < 1 || opts->keep_done_s < 0 ||
        opts->drain_ms < 0) {
        return NULL;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return NULL;
    }
    j->o = *opts;
    snprintf(j->schema, sizeof(j->schema), "%s", opts->schema);
    j->o.schema = j->schema;
    lc_jobs_build_sql(j->sql_text, j->sql, j->schema);
    gethostname(host, sizeof(host) - 1);
    snprintf(j->runner, sizeof(j->runner), "%s:%ld", host, (long)getpid());
    snprintf(j->lease_ms, sizeof(j->lease_ms), "%ld", opts->lease_ms);
    snprintf(j->backoff_ms, sizeof(j->backoff_ms), "%ld", opts->backoff_ms);
    snprintf(j->backoff_max_ms, sizeof(j->backoff_max_ms), "%ld",
             opts->backoff_max_ms);
    snprintf(j->cap, sizeof(j->cap), "%ld", opts->tenant_concurrency);
    strcpy(j->kinds, "{}");
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->wake_cv, NULL);
    pthread_cond_init(&j->keeper_cv, NULL);
    return j;
}

int
lc_jobs_handle(lc_jobs *j, const char *kind, lc_job_handler fn, void *arg)
{
    lc_jobs_handler *h;
    size_t len;

    if (j->started || fn == NULL || !lc_jobs_kind_valid(kind) ||
        j->nhandlers == LC_JOBS_MAX_KINDS) {
        return -1;
    }
    h = &j->handlers[j->nhandlers++];
    snprintf(h->kind, sizeof(h->kind), "%s", kind);
    h->fn = fn;
    h->arg = arg;
    /* {"a","b"}: the kinds this runner claims. */
    len = strlen(j->kinds) - 1;
    snprintf(j->kinds + len, sizeof(j->kinds) - len, "%s\"%s\"}",
             j->nhandlers > 1 ? "," : "", kind);
    return 0;
}

/* --- enqueue ---------------------------------------------------------------
 */

int
lc_jobs_enqueue(lc_jobs *j, lc_db *db, const lc_job_new *job, char *id,
                lc_db_error *err)
{
    char run_at[24], max[16];
    const char *params[5];
    PGresult *res;

    if (!lc_jobs_kind_valid(job->kind) ||
        (job->tenant_id != NULL && !lc_db_is_uuid(job->tenant_id)) ||
        job->max_attempts < 0 || job->run_at_ms < 0) {
        lc_db_error_set(err, LC_DB_BUG, "lc_jobs_enqueue: bad job");
        return -1;
    }
    snprintf(run_at, sizeof(run_at), "%lld", (long long)job->run_at_ms);
    snprintf(max, sizeof(max), "%ld",
             job->max_attempts > 0 ? (long)job->max_attempts
                                   : j->o.max_attempts);
    params[0] = job->kind;
    params[1] = job->tenant_id;
    params[2] = job->payload;
    params[3] = run_at;
    params[4] = max;
    res = lc_db_exec(db, &j->sql[SQL_ENQUEUE], params, err);
    if (res == NULL) {
        return -1;
    }
    if (id != NULL) {
        snprintf(id, 37, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return 0;
}

void
lc_jobs_wake(lc_jobs *j)
{
    pthread_mutex_lock(&j->mu);
    j->wake_seq++;
    pthread_cond_broadcast(&j->wake_cv);
    pthread_mutex_unlock(&j->mu);
}

/* --- claiming and running ----------------------------------------------- */

typedef struct {
    lc_jobs *jobs;
    PGresult *res; /* the claimed row, or NULL */
} lc_jobs_claim_ctx;

static int
lc_jobs_claim_tx(lc_db *db, void *arg, lc_db_error *err)
{
    lc_jobs_claim_ctx *c = arg;
    lc_jobs *j = c->jobs;
    const char *lock_params[2] = {j->kinds, j->cap};
    const char *params[5] = {j->kinds, j->cap, NULL, j->runner, j->lease_ms};
    char tenants[16 * 40 + 3];
    PGresult *res;

    PQclear(c->res);
    c->res = NULL;
    res = lc_db_exec(db, &j->sql[SQL_LOCK_TENANTS], lock_params, err);
    if (res == NULL) {
        return -1;
    }
    snprintf(tenants, sizeof(tenants), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    params[2] = tenants;
    c->res = lc_db_exec(db, &j->sql[SQL_CLAIM], params, err);
    return c->res ? 0 : -1;
}

/* 1 with the job's row in *out, 0 when nothing is due, -1 on error. */
static int
lc_jobs_claim(lc_jobs *j, lc_db *db, PGresult **out)
{
    lc_jobs_claim_ctx c = {j, NULL};
    lc_db_error err;

    if (lc_db_tenant_tx(db, NULL, lc_clock_mono_ms() + LC_JOBS_TX_BUDGET_MS,
                        lc_jobs_claim_tx, &c, &err) != 0) {
        PQclear(c.res);
        lc_log(LC_LOG_WARN, NULL, NULL, "jobs: claim: %s", err.message);
        return -1;
    }
    if (PQntuples(c.res) == 0) {
        PQclear(c.res);
        return 0;
    }
    *out = c.res;
    return 1;
}

static const lc_jobs_handler *
lc_jobs_handler_of(const lc_jobs *j, const char *kind)
{
    int i;

    for (i = 0; i < j->nhandlers; i++) {
        if (strcmp(j->handlers[i].kind, kind) == 0) {
            return &j->handlers[i];
        }
    }
    return NULL;
}

/* Records the outcome of one attempt, fenced by its lease id. */
static void
lc_jobs_record(lc_jobs *j, lc_db *db, const lc_job *job, const char *lease_id,
               lc_job_outcome outcome, const char *why)
{
    const char *params[6] = {
        job->id, lease_id,      outcome == LC_JOB_DEAD ? "true" : "false",
        why,     j->backoff_ms, j->backoff_max_ms};
    const lc_db_stmt *st =
        outcome == LC_JOB_DONE ? &j->sql[SQL_DONE] : &j->sql[SQL_FAIL];
    lc_db_error err;
    PGresult *res = lc_db_exec(db, st, params, &err);

    if (res == NULL) {
        lc_log(LC_LOG_WARN, NULL, job->tenant_id,
               "jobs: %s %s: cannot record the outcome (%s); its lease will "
               "expire and it runs again",
               job->kind, job->id, err.message);
        return;
    }
    if (PQcmdTuples(res)[0] == '0') {
        lc_log(LC_LOG_WARN, NULL, job->tenant_id,
               "jobs: %s %s: lease lost before the outcome was recorded",
               job->kind, job->id);
    } else if (outcome == LC_JOB_DONE) {
        lc_log(LC_LOG_INFO, NULL, job->tenant_id, "jobs: %s %s: done",
               job->kind, job->id);
    } else if (strcmp(PQgetvalue(res, 0, 0), "dead") == 0) {
        lc_log(LC_LOG_ERROR, NULL, job->tenant_id,
               "jobs: %s %s: dead after attempt %d: %s", job->kind, job->id,
               job->attempt, why);
    } else {
        lc_log(LC_LOG_WARN, NULL, job->tenant_id,
               "jobs: %s %s: attempt %d of %d failed: %s", job->kind, job->id,
               job->attempt, job->max_attempts, why);
    }
    PQclear(res);
}

static void
lc_jobs_run(lc_jobs_worker *w, PGresult *row)
{
    lc_jobs *j = w->jobs;
    const lc_jobs_handler *h;
    lc_job job = {0};
    lc_job_outcome outcome;
    char why[512] = "";

    job.id = PQgetvalue(row, 0, 0);
    job.kind = PQgetvalue(row, 0, 1);
    job.tenant_id = PQgetisnull(row, 0, 2) ? NULL : PQgetvalue(row, 0, 2);
    job.payload = PQgetvalue(row, 0, 3);
    job.attempt = atoi(PQgetvalue(row, 0, 4));
    job.max_attempts = atoi(PQgetvalue(row, 0, 5));
    pthread_mutex_lock(&j->mu);
    snprintf(w->lease_id, sizeof(w->lease_id), "%s", PQgetvalue(row, 0, 6));
    pthread_mutex_unlock(&j->mu);

    h = lc_jobs_handler_of(j, job.kind);
    outcome = h->fn(w->db, &job, h->arg, why, sizeof(why));
    if (outcome != LC_JOB_DONE && why[0] == '\0') {
        snprintf(why, sizeof(why), "the handler gave no reason");
    }
    lc_jobs_record(j, w->db, &job, PQgetvalue(row, 0, 6), outcome, why);

    pthread_mutex_lock(&j->mu);
    w->lease_id[0] = '\0';
    pthread_mutex_unlock(&j->mu);
    /* A slot of this tenant is free: another worker may take its next. */
    lc_jobs_wake(j);
}

/* Waits for a wake-up after `seen`, the poll interval, or stop. */
static void
lc_jobs_wait(lc_jobs *j, pthread_cond_t *cv, unsigned seen, long ms)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&j->mu);
    while (!j->stopping && j->wake_seq == seen &&
           pthread_cond_timedwait(cv, &j->mu, &until) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&j->mu);
}

static void *
lc_jobs_worker_main(void *arg)
{
    lc_jobs_worker *w = arg;
    lc_jobs *j = w->jobs;
    PGresult *row;
    unsigned seen;
    int got;

    for (;;) {
        pthread_mutex_lock(&j->mu);
        seen = j->wake_seq;
        if (j->stopping) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        pthread_mutex_unlock(&j->mu);
        got = lc_jobs_claim(j, w->db, &row);
        if (got == 1) {
            lc_jobs_run(w, row);
            PQclear(row);
            continue;
        }
        lc_jobs_wait(j, &j->wake_cv, seen, j->o.poll_ms);
    }
    pthread_mutex_lock(&j->mu);
    j->running_workers--;
    pthread_cond_broadcast(&j->keeper_cv);
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* --- the keeper ------------------------------------------------------------
 */

static void
lc_jobs_renew(lc_jobs *j)
{
    char ids[LC_JOBS_MAX_WORKERS * 38 + 3] = "{";
    const char *params[2] = {ids, j->lease_ms};
    lc_db_error err;
    PGresult *res;
    size_t len;
    int i, n = 0;

    pthread_mutex_lock(&j->mu);
    for (i = 0; i < j->nworkers; i++) {
        if (j->workers[i].lease_id[0] != '\0') {
            len = strlen(ids);
            snprintf(ids + len, sizeof(ids) - len, "%s%s", n++ ? "," : "",
                     j->workers[i].lease_id);
        }
    }
    pthread_mutex_unlock(&j->mu);
    if (n == 0) {
        return;
    }
    strcat(ids, "}");
    res = lc_db_exec(j->keeper_db, &j->sql[SQL_RENEW], params, &err);
    if (res == NULL) {
        lc_log(LC_LOG_WARN, NULL, NULL, "jobs: lease renewal: %s", err.message);
    }
    PQclear(res);
}

static void
lc_jobs_reap(lc_jobs *j)
{
    const char *params[2] = {j->backoff_ms, j->backoff_max_ms};
    lc_db_error err;
    PGresult *res = lc_db_exec(j->keeper_db, &j->sql[SQL_REAP], params, &err);
    int i;

    if (res == NULL) {
        lc_log(LC_LOG_WARN, NULL, NULL, "jobs: reaping leases: %s",
               err.message);
        return;
    }
    for (i = 0; i < PQntuples(res); i++) {
        lc_log(LC_LOG_WARN, NULL,
               PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2),
               "jobs: %s %s: lease expired, now %s", PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 0), PQgetvalue(res, i, 3));
    }
    if (PQntuples(res) > 0) {
        lc_jobs_wake(j);
    }
    PQclear(res);
}

static void
lc_jobs_housekeep(lc_jobs *j)
{
    static const char *const states[] = {"queued", "running", "failed", "dead"};
    char keep[24], labels[32];
    const char *params[1] = {keep};
    lc_db_error err;
    PGresult *res;
    int i;

    snprintf(keep, sizeof(keep), "%ld", j->o.keep_done_s);
    res = lc_db_exec(j->keeper_db, &j->sql[SQL_PURGE], params, &err);
    PQclear(res);
    res = lc_db_exec(j->keeper_db, &j->sql[SQL_STATS], NULL, &err);
    if (res == NULL) {
        lc_log(LC_LOG_WARN, NULL, NULL, "jobs: statistics: %s", err.message);
        return;
    }
    for (i = 0; i < 4; i++) {
        snprintf(labels, sizeof(labels), "status=\"%s\"", states[i]);
        lc_metrics_gauge_set("lintel_jobs", labels,
                             "Jobs of the service by state (all replicas).",
                             atof(PQgetvalue(res, 0, i)));
    }
    lc_metrics_gauge_set("lintel_jobs_oldest_due_seconds", "",
                         "How long the oldest due job has waited to start.",
                         atof(PQgetvalue(res, 0, 4)));
    PQclear(res);
}

static void *
lc_jobs_keeper_main(void *arg)
{
    lc_jobs *j = arg;
    /* Renew well before expiry; poll no slower than the runner does. */
    long tick =
        j->o.lease_ms / 3 < j->o.poll_ms ? j->o.lease_ms / 3 : j->o.poll_ms;
    struct timespec until;
    bool done;

    for (;;) {
        lc_jobs_renew(j);
        pthread_mutex_lock(&j->mu);
        done = j->stopping && j->running_workers == 0;
        pthread_mutex_unlock(&j->mu);
        if (done) {
            break;
        }
        lc_jobs_reap(j);
        lc_jobs_housekeep(j);

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += tick / 1000;
        until.tv_nsec += (tick % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&j->mu);
        if (!(j->stopping && j->running_workers == 0)) {
            pthread_cond_timedwait(&j->keeper_cv, &j->mu, &until);
        }
        pthread_mutex_unlock(&j->mu);
    }
    return NULL;
}

/* --- start and stop ------------------------------------------------------- */

int
lc_jobs_start(lc_jobs *j)
{
    lc_db_options opts = j->o.db;
    int i;

    if (j->started || j->nhandlers == 0) {
        return -1;
    }
    j->started = true;
    j->keeper_db = lc_db_open(&opts);
    j->nworkers = (int)j->o.workers;
    for (i = 0; i < j->nworkers; i++) {
        j->workers[i].jobs = j;
        j->workers[i].db = lc_db_open(&opts);
        if (j->workers[i].db == NULL) {
            lc_jobs_stop(j);
            return -1;
        }
    }
    if (j->keeper_db == NULL) {
        lc_jobs_stop(j);
        return -1;
    }
    for (i = 0; i < j->nworkers; i++) {
        if (pthread_create(&j->workers[i].thread, NULL, lc_jobs_worker_main,
                           &j->workers[i]) != 0) {
            lc_jobs_stop(j);
            return -1;
        }
        j->workers[i].started = true;
        pthread_mutex_lock(&j->mu);
        j->running_workers++;
        pthread_mutex_unlock(&j->mu);
    }
    if (pthread_create(&j->keeper, NULL, lc_jobs_keeper_main, j) != 0) {
        lc_jobs_stop(j);
        return -1;
    }
    j->keeper_started = true;
    return 0;
}

int
lc_jobs_stop(lc_jobs *j)
{
    struct timespec until;
    bool drained;
    int i;

    if (j == NULL) {
        return 0;
    }
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += j->o.drain_ms / 1000;
    until.tv_nsec += (j->o.drain_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&j->mu);
    j->stopping = true;
    pthread_cond_broadcast(&j->wake_cv);
    pthread_cond_broadcast(&j->keeper_cv);
    /* The keeper goes on renewing the leases of the jobs still running. */
    while (j->running_workers > 0 &&
           pthread_cond_timedwait(&j->keeper_cv, &j->mu, &until) != ETIMEDOUT) {
    }
    drained = j->running_workers == 0;
    pthread_mutex_unlock(&j->mu);
    if (!drained) {
        /* A handler still runs: its threads and this runner are left to
         * the exit of the process, and its lease to another runner. */
        lc_log(LC_LOG_WARN, NULL, NULL,
               "jobs: %d job(s) still running after %ld ms; left to their "
               "leases",
               j->running_workers, j->o.drain_ms);
        return -1;
    }
    for (i = 0; i < j->nworkers; i++) {
        if (j->workers[i].started) {
            pthread_join(j->workers[i].thread, NULL);
            j->workers[i].started = false;
        }
    }
    if (j->keeper_started) {
        pthread_mutex_lock(&j->mu);
        pthread_cond_broadcast(&j->keeper_cv);
        pthread_mutex_unlock(&j->mu);
        pthread_join(j->keeper, NULL);
        j->keeper_started = false;
    }
    for (i = 0; i < j->nworkers; i++) {
        lc_db_close(j->workers[i].db);
        j->workers[i].db = NULL;
    }
    lc_db_close(j->keeper_db);
    j->keeper_db = NULL;
    j->nworkers = 0;
    return 0;
}

void
lc_jobs_free(lc_jobs *j)
{
    if (j == NULL || j->running_workers > 0) {
        return; /* abandoned by lc_jobs_stop: threads still use it */
    }
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->wake_cv);
    pthread_cond_destroy(&j->keeper_cv);
    free(j);
}

/* --- lintel-<svc> jobs ---------------------------------------------------- */

static const char lc_jobs_list_sql[] =
    "SELECT id, kind, coalesce(tenant_id::text, '-'), status,"
    " attempts || '/' || max_attempts,"
    " to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " coalesce(last_error, '')"
    " FROM %1$s.jobs WHERE $1::text IS NULL OR status = $1"
    " ORDER BY created_at DESC, id LIMIT $2::int";

/* A dead or failed job back in the queue, due now, with all its attempts. */
static const char lc_jobs_retry_sql[] =
    "UPDATE %1$s.jobs SET status = 'queued', attempts = 0, run_at = now(),"
    " finished_at = NULL, updated_at = now()"
    " WHERE id = $1::uuid AND status IN ('dead', 'failed') RETURNING kind";

static const char lc_jobs_status_sql[] =
    "SELECT status FROM %1$s.jobs WHERE id = $1::uuid";

static int
lc_jobs_usage(const char *schema)
{
    fprintf(stderr,
            "usage: lintel-%s jobs list [--status S] [--limit N]\n"
            "       lintel-%s jobs retry <id>\n"
            "  list   the newest jobs of %s.jobs (S: queued, running, failed,\n"
            "         dead or done; N: 1 to 1000, default 100)\n"
            "  retry  a dead or failed job back to queued, due now\n",
            schema, schema, schema);
    return 2;
}

/* Runs one statement of the command; NULL after a message on stderr. */
static PGresult *
lc_jobs_command_exec(lc_db *db, const char *schema, const char *fmt,
                     int nparams, const char *const *params)
{
    char sql[LC_JOBS_SQL_MAX];
    lc_db_stmt st = {sql, nparams};
    lc_db_error err;
    PGresult *res;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(sql, sizeof(sql), fmt, schema);
#pragma GCC diagnostic pop
    res = lc_db_exec(db, &st, params, &err);
    if (res == NULL) {
        fprintf(stderr, "lintel-%s jobs: %s\n", schema,
                strcmp(err.sqlstate, "42P01") == 0
                    ? "this service has no job table"
                    : err.message);
    }
    return res;
}

static int
lc_jobs_list(lc_db *db, const char *schema, int argc, char **argv)
{
    static const char *const states[] = {"queued", "running", "failed", "dead",
                                         "done"};
    const char *params[2] = {NULL, "100"};
    PGresult *res;
    char *end;
    int i, r, c;
    long n;
    bool known;

    for (i = 0; i < argc; i += 2) {
        if (i + 1 >= argc) {
            return lc_jobs_usage(schema);
        }
        if (strcmp(argv[i], "--status") == 0) {
            for (known = false, c = 0; c < 5; c++) {
                known = known || strcmp(argv[i + 1], states[c]) == 0;
            }
            if (!known) {
                fprintf(stderr,
                        "lintel-%s jobs list: --status must be queued, "
                        "running, failed, dead or done (got \"%s\")\n",
                        schema, argv[i + 1]);
                return 2;
            }
            params[0] = argv[i + 1];
        } else if (strcmp(argv[i], "--limit") == 0) {
            n = strtol(argv[i + 1], &end, 10);
            if (*end != '\0' || n < 1 || n > 1000) {
                fprintf(stderr,
                        "lintel-%s jobs list: --limit must be an integer "
                        "from 1 to 1000 (got \"%s\")\n",
                        schema, argv[i + 1]);
                return 2;
            }
            params[1] = argv[i + 1];
        } else {
            return lc_jobs_usage(schema);
        }
    }
    res = lc_jobs_command_exec(db, schema, lc_jobs_list_sql, 2, params);
    if (res == NULL) {
        return 1;
    }
    printf("ID\tKIND\tTENANT\tSTATUS\tATTEMPTS\tRUN_AT\tLAST_ERROR\n");
    for (r = 0; r < PQntuples(res); r++) {
        for (c = 0; c < 7; c++) {
            /* One line per job: a reason's own line breaks become spaces. */
            const char *v = PQgetvalue(res, r, c);

            for (; *v; v++) {
                putchar(*v == '\n' || *v == '\t' || *v == '\r' ? ' ' : *v);
            }
            putchar(c < 6 ? '\t' : '\n');
        }
    }
    PQclear(res);
    return 0;
}

static int
lc_jobs_retry(lc_db *db, const char *schema, const char *id)
{
    const char *params[1] = {id};
    PGresult *res;

    if (!lc_db_is_uuid(id)) {
        fprintf(stderr, "lintel-%s jobs retry: \"%s\" is not a job id\n",
                schema, id);
        return 2;
    }
    res = lc_jobs_command_exec(db, schema, lc_jobs_retry_sql, 1, params);
    if (res == NULL) {
        return 1;
    }
    if (PQntuples(res) == 1) {
        printf("job %s (%s) queued again\n", id, PQgetvalue(res, 0, 0));
        PQclear(res);
        return 0;
    }
    PQclear(res);
    res = lc_jobs_command_exec(db, schema, lc_jobs_status_sql, 1, params);
    if (res == NULL) {
        return 1;
    }
    if (PQntuples(res) == 0) {
        fprintf(stderr, "lintel-%s jobs retry: no job %s\n", schema, id);
    } else {
        fprintf(stderr,
                "lintel-%s jobs retry: job %s is %s: only a failed or dead "
                "job can be retried\n",
                schema, id, PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return 1;
}

int
lc_jobs_command(const char *schema, const lc_db_options *opts, int argc,
                char **argv)
{
    lc_db *db;
    int rc;

    if (argc < 1 || !lc_jobs_identifier(schema)) {
        return lc_jobs_usage(schema);
    }
    if (strcmp(argv[0], "list") != 0 &&
        !(strcmp(argv[0], "retry") == 0 && argc == 2)) {
        return lc_jobs_usage(schema);
    }
    db = lc_db_open(opts);
    if (db == NULL) {
        return 1;
    }
    rc = strcmp(argv[0], "list") == 0
             ? lc_jobs_list(db, schema, argc - 1, argv + 1)
             : lc_jobs_retry(db, schema, argv[1]);
    lc_db_close(db);
    return rc;
}
