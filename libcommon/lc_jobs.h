/*
 * lc_jobs: durable jobs (DESIGN §8) on a table in the service's own
 * schema, `<schema>.jobs` (migrations/users/0003_jobs.sql is the model).
 *
 * A job is enqueued inside the business transaction that causes it, so it
 * exists exactly when the change does. A runner in each replica claims due
 * jobs with FOR UPDATE SKIP LOCKED and a lease (lease_until), renewed while
 * the handler runs; a process that dies, even by kill -9, stops renewing,
 * and any runner turns the expired lease into a failed attempt that is
 * retried. A failed attempt is retried after an exponential back-off with
 * jitter; after max_attempts the job is dead: kept, visible to `lintel-<svc>
 * jobs list`, and back in the queue with `jobs retry`. At most
 * tenant_concurrency jobs of one tenant run at once, across replicas.
 * Delivery is at least once: a handler must tolerate running again.
 *
 * The table is cross-tenant on purpose, like projects.events: runners find
 * due jobs of every tenant. So it holds references and times only; what
 * belongs to a tenant stays in that tenant's tables under row-level
 * security, and the handler reads it in a transaction of the job's tenant.
 *
 * States: queued (waiting for run_at) → running (leased) → done; or → failed
 * (waiting for its retry at run_at) → running …; or → dead.
 */
#ifndef LC_JOBS_H
#define LC_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "lc_config.h"
#include "lc_db.h"

typedef struct lc_jobs lc_jobs;

/* What the runner does with a job after its handler returned. */
typedef enum {
    LC_JOB_DONE,  /* finished: the row stays as done for keep_done_s */
    LC_JOB_RETRY, /* failed: again after a back-off, dead after the last */
    LC_JOB_DEAD,  /* failed for good (a payload that can never work) */
} lc_job_outcome;

/* A claimed job, as its handler sees it. */
typedef struct {
    const char *id;
    const char *kind;
    const char *tenant_id; /* NULL for a platform job */
    const char *payload;   /* JSON text */
    int attempt;           /* 1 for the first run */
    int max_attempts;
} lc_job;

/*
 * Runs one job on the runner's own connection (outside any transaction:
 * it opens tenant transactions as it needs). On failure it writes a reason
 * (kept as last_error) into `why`.
 */
typedef lc_job_outcome (*lc_job_handler)(lc_db *db, const lc_job *job,
                                         void *arg, char *why, size_t whylen);

typedef struct {
    const char *schema;      /* the service's schema: the table <schema>.jobs */
    lc_db_options db;        /* each runner thread opens its own connection */
    long workers;            /* threads running handlers */
    long poll_ms;            /* fallback when no wake-up comes */
    long lease_ms;           /* a lease not renewed for this long expires */
    long max_attempts;       /* default of lc_jobs_enqueue */
    long backoff_ms;         /* delay after the first failed attempt */
    long backoff_max_ms;     /* cap of the doubling */
    long tenant_concurrency; /* running jobs of one tenant, at most */
    long keep_done_s;        /* finished jobs are deleted after this */
    long drain_ms;           /* how long lc_jobs_stop waits for handlers */
} lc_jobs_options;

/*
 * The LINTEL_JOBS_* variables, for a service's own configuration table:
 *   static lc_jobs_options jobs;
 *   static const lc_config_var vars[] = { …, LC_JOBS_CONFIG_VARS(jobs) };
 * schema and db are set by the service at start.
 */
/* clang-format off */
#define LC_JOBS_CONFIG_VARS(o)                                                 \
    {"LINTEL_JOBS_WORKERS", "2", LC_CFG_INT, 1, 64,                            \
     "threads running jobs, each with its own database connection",           \
     &(o).workers},                                                            \
    {"LINTEL_JOBS_POLL_MS", "1000", LC_CFG_INT, 10, 60000,                     \
     "how often the job runner looks for due jobs when not woken",             \
     &(o).poll_ms},                                                            \
    {"LINTEL_JOBS_LEASE_MS", "30000", LC_CFG_INT, 100, 3600000,                \
     "a running job whose lease is not renewed for this long runs again",      \
     &(o).lease_ms},                                                           \
    {"LINTEL_JOBS_MAX_ATTEMPTS", "8", LC_CFG_INT, 1, 1000,                     \
     "attempts before a job is dead (kept, listed, retried by hand)",          \
     &(o).max_attempts},                                                       \
    {"LINTEL_JOBS_BACKOFF_MS", "1000", LC_CFG_INT, 1, 3600000,                 \
     "delay after a first failed attempt; it doubles, with jitter",            \
     &(o).backoff_ms},                                                         \
    {"LINTEL_JOBS_BACKOFF_MAX_MS", "600000", LC_CFG_INT, 1, 86400000,          \
     "longest delay between attempts", &(o).backoff_max_ms},                   \
    {"LINTEL_JOBS_TENANT_CONCURRENCY", "4", LC_CFG_INT, 1, 1000,               \
     "jobs of one tenant running at once, across replicas",                    \
     &(o).tenant_concurrency},                                                 \
    {"LINTEL_JOBS_KEEP_DONE_S", "86400", LC_CFG_INT, 0, 31536000,              \
     "how long finished jobs stay listed", &(o).keep_done_s},                  \
    {"LINTEL_JOBS_DRAIN_MS", "10000", LC_CFG_INT, 0, 600000,                   \
     "how long running jobs may finish after SIGTERM", &(o).drain_ms}

/* clang-format on */

/* A runner, not started yet; NULL when the options are unusable. */
lc_jobs *lc_jobs_new(const lc_jobs_options *opts);

/* Registers the handler of a kind, before lc_jobs_start; 0 or -1. */
int lc_jobs_handle(lc_jobs *jobs, const char *kind, lc_job_handler fn,
                   void *arg);

/* Starts the threads: 0, or -1 (nothing left running). */
int lc_jobs_start(lc_jobs *jobs);

/*
 * Stops claiming, lets running handlers finish for up to drain_ms, and
 * joins the threads: 0. When a handler is still running then, -1: that
 * job is left to its lease (it runs again elsewhere), and the runner to
 * the exit of the process (lc_jobs_free leaves it alone). Safe on a
 * runner never started.
 */
int lc_jobs_stop(lc_jobs *jobs);
void lc_jobs_free(lc_jobs *jobs);

/* A job to enqueue. */
typedef struct {
    const char *kind;      /* a registered kind, "mail.send" */
    const char *tenant_id; /* NULL: a platform job, outside tenant caps */
    const char *payload;   /* JSON text; NULL: {} */
    int64_t run_at_ms;     /* Unix time in ms; 0: now */
    int max_attempts;      /* 0: the runner's default */
} lc_job_new;

/*
 * Inside the caller's transaction on `db`: inserts the job, which exists
 * once that transaction commits (and never if it rolls back). Writes its id
 * into `id` (37 bytes) when not NULL. Call lc_jobs_wake after the commit.
 */
int lc_jobs_enqueue(lc_jobs *jobs, lc_db *db, const lc_job_new *job, char *id,
                    lc_db_error *err);

/* Wakes this process's runner (after a commit that enqueued). */
void lc_jobs_wake(lc_jobs *jobs);

/*
 * `lintel-<svc> jobs list [--status S] [--limit N]` and `jobs retry <id>`
 * on <schema>.jobs; argv starts after "jobs". The exit status: 0, 1 when the
 * database refused, 2 for a bad command line.
 */
int lc_jobs_command(const char *schema, const lc_db_options *db, int argc,
                    char **argv);

#endif
