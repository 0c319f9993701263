/*
 * lc_jobs against a live PostgreSQL (LINTEL_TEST_DB_URL, set by the e2e
 * suite to the users service's role, whose schema has users.jobs). Every
 * test uses kinds of its own (suffixed with the pid), which the stack's
 * own runner never claims, and fresh tenant ids; waits are on conditions.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lc_clock.h"
#include "lc_db.h"
#include "lc_jobs.h"
#include "lc_log.h"
#include "lc_metrics.h"

#define WAIT_MS 15000
#define MAX_CALLS 16

static lc_db *db;
static const char *url;

/* What a handler saw, and how it behaves. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int64_t at_mono[MAX_CALLS], at_wall[MAX_CALLS];
    int attempt[MAX_CALLS];
    char payload[256], tenant[37];
    int fail_until; /* attempts below this one fail (RETRY) */
    bool dead;      /* answer LC_JOB_DEAD */
    bool block;     /* wait until released */
    bool released;
    int running, max_running;
    int sleep_ms; /* work that takes this long */
    bool finished;
} recorder;

static void
recorder_init(recorder *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
}

static lc_job_outcome
record_job(lc_db *d, const lc_job *job, void *arg, char *why, size_t whylen)
{
    recorder *r = arg;
    lc_job_outcome out = LC_JOB_DONE;
    int n;

    (void)d;
    pthread_mutex_lock(&r->mu);
    n = r->calls++;
    if (n < MAX_CALLS) {
        r->at_mono[n] = lc_clock_mono_ms();
        r->at_wall[n] = lc_clock_wall_ms();
        r->attempt[n] = job->attempt;
    }
    snprintf(r->payload, sizeof(r->payload), "%s", job->payload);
    snprintf(r->tenant, sizeof(r->tenant), "%s",
             job->tenant_id ? job->tenant_id : "");
    if (++r->running > r->max_running) {
        r->max_running = r->running;
    }
    pthread_cond_broadcast(&r->cv);
    while (r->block && !r->released) {
        pthread_cond_wait(&r->cv, &r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    if (r->sleep_ms > 0) {
        usleep((useconds_t)r->sleep_ms * 1000);
    }
    pthread_mutex_lock(&r->mu);
    r->running--;
    r->finished = true;
    if (r->dead) {
        out = LC_JOB_DEAD;
    } else if (job->attempt < r->fail_until) {
        out = LC_JOB_RETRY;
    }
    if (out != LC_JOB_DONE) {
        snprintf(why, whylen, "boom %d", job->attempt);
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return out;
}

/* Waits until r->calls >= n; false on timeout. */
static bool
wait_calls(recorder *r, int n)
{
    int64_t end = lc_clock_mono_ms() + WAIT_MS;
    bool ok;

    pthread_mutex_lock(&r->mu);
    while (r->calls < n && lc_clock_mono_ms() < end) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    ok = r->calls >= n;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static void
release(recorder *r)
{
    pthread_mutex_lock(&r->mu);
    r->released = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* The first value of a statement run on its own (autocommit), copied. */
static void
sql_value(char *out, size_t outlen, const char *sql, int nparams,
          const char *const *params)
{
    lc_db_stmt st = {sql, nparams};
    lc_db_error err;
    PGresult *res = lc_db_exec(db, &st, params, &err);

    if (res == NULL) {
        fail_msg("%s: %s", sql, err.message);
    }
    snprintf(out, outlen, "%s",
             PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)
                 ? PQgetvalue(res, 0, 0)
                 : "");
    PQclear(res);
}

static void
new_uuid(char out[37])
{
    sql_value(out, 37, "SELECT gen_random_uuid()", 0, NULL);
}

static void
kind_of(char *out, size_t outlen, const char *name)
{
    snprintf(out, outlen, "test.%s.%ld", name, (long)getpid());
}

/* Polls a job's column until it equals `want`; false on timeout. */
static bool
wait_job(const char *id, const char *column, const char *want)
{
    char sql[128], got[256] = "";
    const char *params[1] = {id};
    int64_t end = lc_clock_mono_ms() + WAIT_MS;

    snprintf(sql, sizeof(sql),
             "SELECT (%s)::text FROM users.jobs WHERE id = $1", column);
    while (lc_clock_mono_ms() < end) {
        sql_value(got, sizeof(got), sql, 1, params);
        if (strcmp(got, want) == 0) {
            return true;
        }
        usleep(20 * 1000);
    }
    print_message("job %s: %s is \"%s\", not \"%s\"\n", id, column, got, want);
    return false;
}

static void
job_value(char *out, size_t outlen, const char *id, const char *column)
{
    char sql[128];
    const char *params[1] = {id};

    snprintf(sql, sizeof(sql),
             "SELECT (%s)::text FROM users.jobs WHERE id = $1", column);
    sql_value(out, outlen, sql, 1, params);
}

static lc_jobs_options
options(void)
{
    lc_jobs_options o = {
        .schema = "users",
        .db = {url, "test_jobs", true, 3},
        .workers = 4,
        .poll_ms = 50,
        .lease_ms = 1000,
        .max_attempts = 5,
        .backoff_ms = 300,
        .backoff_max_ms = 10000,
        .tenant_concurrency = 2,
        .keep_done_s = 3600,
        .drain_ms = 5000,
    };
    return o;
}

static lc_jobs *
runner(const lc_jobs_options *o, const char *kind, recorder *r)
{
    lc_jobs *j = lc_jobs_new(o);

    assert_non_null(j);
    assert_int_equal(lc_jobs_handle(j, kind, record_job, r), 0);
    assert_int_equal(lc_jobs_start(j), 0);
    return j;
}

typedef struct {
    lc_jobs *jobs;
    lc_job_new job;
    char id[37];
    bool fail; /* roll the transaction back after enqueueing */
} enqueue_ctx;

static int
enqueue_tx(lc_db *d, void *arg, lc_db_error *err)
{
    enqueue_ctx *c = arg;

    if (lc_jobs_enqueue(c->jobs, d, &c->job, c->id, err) != 0) {
        return -1;
    }
    if (c->fail) {
        lc_db_error_set(err, LC_DB_ABORTED, "the business rule said no");
        return -1;
    }
    return 0;
}

/* Enqueues in a committed transaction of the job's tenant, then wakes. */
static void
enqueue(lc_jobs *j, const char *kind, const char *tenant, const char *payload,
        int64_t run_at_ms, int max_attempts, char id[37])
{
    enqueue_ctx c = {
        j, {kind, tenant, payload, run_at_ms, max_attempts}, "", false};
    lc_db_error err;

    assert_int_equal(lc_db_tenant_tx(db, tenant, lc_clock_mono_ms() + 5000,
                                     enqueue_tx, &c, &err),
                     0);
    snprintf(id, 37, "%s", c.id);
    lc_jobs_wake(j);
}

static int
setup(void **state)
{
    lc_db_options o = {NULL, "test_jobs", true, 3};

    (void)state;
    url = getenv("LINTEL_TEST_DB_URL");
    if (url == NULL) {
        fprintf(stderr, "LINTEL_TEST_DB_URL is not set\n");
        return -1;
    }
    o.conninfo = url;
    db = lc_db_open(&o);
    lc_log_init("test_jobs", LC_LOG_ERROR);
    return db ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    lc_db_close(db);
    return 0;
}

/* --- enqueue ------------------------------------------------------------ */

static void
test_enqueue_in_a_rolled_back_transaction_leaves_no_job(void **state)
{
    lc_jobs_options o = options();
    lc_jobs *j = lc_jobs_new(&o);
    char kind[64], tenant[37], n[16];
    const char *params[1] = {kind};
    enqueue_ctx c = {j, {0}, "", true};
    lc_db_error err;

    (void)state;
    kind_of(kind, sizeof(kind), "rollback");
    new_uuid(tenant);
    c.job = (lc_job_new){
        .kind = kind, .tenant_id = tenant, .payload = "{\"n\": 1}"};
    assert_int_equal(lc_db_tenant_tx(db, tenant, lc_clock_mono_ms() + 5000,
                                     enqueue_tx, &c, &err),
                     -1);
    assert_int_equal(err.fault, LC_DB_ABORTED);
    sql_value(n, sizeof(n), "SELECT count(*) FROM users.jobs WHERE kind = $1",
              1, params);
    assert_string_equal(n, "0");

    c.fail = false;
    assert_int_equal(lc_db_tenant_tx(db, tenant, lc_clock_mono_ms() + 5000,
                                     enqueue_tx, &c, &err),
                     0);
    sql_value(n, sizeof(n), "SELECT count(*) FROM users.jobs WHERE kind = $1",
              1, params);
    assert_string_equal(n, "1");
    job_value(n, sizeof(n), c.id, "status");
    assert_string_equal(n, "queued");
    job_value(n, sizeof(n), c.id, "max_attempts");
    assert_string_equal(n, "5");
    lc_jobs_free(j);
}

static void
test_enqueue_refuses_a_bad_kind_or_tenant(void **state)
{
    lc_jobs_options o = options();
    lc_jobs *j = lc_jobs_new(&o);
    lc_job_new bad_kind = {.kind = "Has Spaces"};
    lc_job_new bad_tenant = {.kind = "test.ok", .tenant_id = "acme"};
    lc_db_error err;

    (void)state;
    assert_int_equal(lc_jobs_enqueue(j, db, &bad_kind, NULL, &err), -1);
    assert_int_equal(lc_jobs_enqueue(j, db, &bad_tenant, NULL, &err), -1);
    o.schema = "users; DROP TABLE x";
    assert_null(lc_jobs_new(&o));
    lc_jobs_free(j);
}

/* --- running ------------------------------------------------------------ */

static void
test_a_job_runs_once_with_its_payload_and_is_done(void **state)
{
    lc_jobs_options o = options();
    recorder r;
    char kind[64], tenant[37], id[37], v[64];
    lc_jobs *j;

    (void)state;
    recorder_init(&r);
    kind_of(kind, sizeof(kind), "once");
    new_uuid(tenant);
    j = runner(&o, kind, &r);
    enqueue(j, kind, tenant, "{\"to\": \"x\"}", 0, 0, id);
    assert_true(wait_job(id, "status", "done"));
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.attempt[0], 1);
    assert_string_equal(r.payload, "{\"to\": \"x\"}");
    assert_string_equal(r.tenant, tenant);
    job_value(v, sizeof(v), id, "lease_id IS NULL AND finished_at IS NOT NULL");
    assert_string_equal(v, "true");
    lc_jobs_stop(j);
    lc_jobs_free(j);
}

static void
test_enqueue_wakes_the_runner_before_its_poll(void **state)
{
    lc_jobs_options o = options();
    recorder r;
    char kind[64], id[37];
    lc_jobs *j;
    int64_t t0;

    (void)state;
    recorder_init(&r);
    o.poll_ms = 60000; /* only the wake-up can start it in time */
    o.workers = 1;
    kind_of(kind, sizeof(kind), "wake");
    j = runner(&o, kind, &r);
    usleep(200 * 1000); /* let the worker finish its first look and sleep */
    t0 = lc_clock_mono_ms();
    enqueue(j, kind, NULL, NULL, 0, 0, id);
    assert_true(wait_calls(&r, 1));
    assert_true(r.at_mono[0] - t0 < 5000);
    assert_true(wait_job(id, "status", "done"));
    lc_jobs_stop(j);
    lc_jobs_free(j);
}

static void
test_failed_attempts_back_off_exponentially_with_jitter(void **state)
{
    lc_jobs_options o = options();
    recorder r;
    char kind[64], id[37], v[64];
    int64_t gap1, gap2;
    lc_jobs *j;

    (void)state;
    recorder_init(&r);
    r.fail_until = 3; /* attempts 1 and 2 fail, 3 succeeds */
    kind_of(kind, sizeof(kind), "backoff");
    j = runner(&o, kind, &r);
    enqueue(j, kind, NULL, NULL, 0, 0, id);
    assert_true(wait_calls(&r, 1));
    assert_true(wait_job(id, "status", "failed"));
    /* the second attempt may have come and failed too (150-300 ms later)
     * by the time a loaded machine looks */
    job_value(v, sizeof(v), id, "last_error");
    assert_true(strcmp(v, "boom 1") == 0 || strcmp(v, "boom 2") == 0);
    assert_true(wait_job(id, "status", "done"));
    assert_int_equal(r.calls, 3);
    assert_int_equal(r.attempt[2], 3);
    /* 300 ms then 600 ms, each drawn in [d/2, d], plus polling (50 ms). */
    gap1 = r.at_mono[1] - r.at_mono[0];
    gap2 = r.at_mono[2] - r.at_mono[1];
    print_message("back-off gaps: %lld ms, %lld ms\n", (long long)gap1,
                  (long long)gap2);
    assert_true(gap1 >= 150 && gap1 <= 300 + 400);
    assert_true(gap2 >= 300 && gap2 <= 600 + 400);
    job_value(v, sizeof(v), id, "last_error IS NULL");
    assert_string_equal(v, "true");
    lc_jobs_stop(j);
    lc_jobs_free(j);
}

static void
test_a_job_is_dead_after_its_last_attempt_and_kept(void **state)
{
    lc_jobs_options o = options();
    recorder r;
    char kind[64], id[37], id2[37], v[64];
    lc_jobs *j;
    size_t len;
    char *text;

    (void)state;
    recorder_init(&r);
    r.fail_until = 1000;
    o.backoff_ms = 20;
    kind_of(kind, sizeof(kind), "dead");
    j = runner(&o, kind, &r);
    enqueue(j, kind, NULL, NULL, 0, 3, id);
    assert_true(wait_job(id, "status", "dead"));
    assert_int_equal(r.calls, 3);
    job_value(v, sizeof(v), id, "attempts");
    assert_string_equal(v, "3");
    job_value(v, sizeof(v), id, "last_error");
    assert_string_equal(v, "boom 3");
    job_value(v, sizeof(v), id, "finished_at IS NOT NULL");
    assert_string_equal(v, "true");

    /* A handler that knows it can never succeed: dead at once. */
    pthread_mutex_lock(&r.mu);
    r.dead = true;
    pthread_mutex_unlock(&r.mu);
    enqueue(j, kind, NULL, NULL, 0, 3, id2);
    assert_true(wait_job(id2, "status", "dead"));
    job_value(v, sizeof(v), id2, "attempts");
    assert_string_equal(v, "1");

    /* The gauges of /metrics count them (the keeper refreshes them). */
    for (int64_t end = lc_clock_mono_ms() + WAIT_MS;;) {
        text = lc_metrics_render("test", &len);
        assert_non_null(text);
        if (strstr(text, "lintel_jobs{status=\"dead\"} ") != NULL &&
            strstr(text, "lintel_jobs{status=\"dead\"} 0\n") == NULL) {
            free(text);
            break;
        }
        free(text);
        assert_true(lc_clock_mono_ms() < end);
        usleep(20 * 1000);
    }
    lc_jobs_stop(j);
    lc_jobs_free(j);
}

static void
test_an_expired_lease_runs_the_job_again(void **state)
{
    lc_jobs_options o = options();
    recorder r;
    char kind[64], id[37], expiry[32];
    const char *params[1] = {kind};
    lc_jobs *j;

    (void)state;
    recorder_init(&r);
    kind_of(kind, sizeof(kind), "lease");
    /* The row a runner leaves behind when it dies mid-job (kill -9): it
     * stops renewing, the lease runs out 400 ms from now. */
    sql_value(id, sizeof(id),
              "INSERT INTO users.jobs (kind, status, attempts, max_attempts,"
              " lease_id, leased_by, lease_until)"
              " VALUES ($1, 'running', 1, 5, gen_random_uuid(), 'gone:1',"
              " now() + interval '400 ms') RETURNING id",
              1, params);
    job_value(expiry, sizeof(expiry), id,
              "(extract(epoch FROM lease_until) * 1000)::bigint");
    j = runner(&o, kind, &r);
    assert_true(wait_calls(&r, 1));
    assert_true(r.at_wall[0] >= atoll(expiry));
    assert_int_equal(r.attempt[0], 2);
    assert_true(wait_job(id, "status", "done"));
    lc_jobs_stop(j);
    lc_jobs_free(j);
}

static void
test_a_running_job_keeps_its_lease_while_its_handler_works(void **state)
{
    lc_jobs_options o = options();
    recorder r;
    char kind[64], id[37], v[64];
    lc_jobs *j;

    (void)state;
    recorder_init(&r);
    /* Over twice the lease: the keeper renews it (every third of it).
     * Not a shorter lease: the stack's own users service reaps expired
     * leases of this table too, and a loaded machine can delay a keeper's
     * round (renew, reap, statistics) by half a second. */
    r.sleep_ms = 3500;
    o.lease_ms = 1500;
    kind_of(kind, sizeof(kind), "renew");
    j = runner(&o, kind, &r);
    enqueue(j, kind, NULL, NULL, 0, 0, id);
    assert_true(wait_job(id, "status", "done"));
    assert_int_equal(r.calls, 1);
    job_value(v, sizeof(v), id, "attempts");
    assert_string_equal(v, "1");
    lc_jobs_stop(j);
    lc_jobs_free(j);
}

/* Two runners (as two replicas), cap 2: never more than 2 of one tenant
 * run at once, and another tenant's job is not held up by them. */
static void
test_the_tenant_cap_holds_across_runners(void **state)
{
    lc_jobs_options o = options();
    recorder r, other;
    char kind[64], kind_b[64], a[37], b[37], id[5][37], idb[37], n[16];
    const char *params[2] = {kind, a};
    lc_jobs *j1, *j2, *jb;
    int i;

    (void)state;
    recorder_init(&r);
    recorder_init(&other);
    r.block = true;
    o.workers = 3;
    kind_of(kind, sizeof(kind), "cap");
    kind_of(kind_b, sizeof(kind_b), "cap-other");
    new_uuid(a);
    new_uuid(b);
    j1 = runner(&o, kind, &r);
    j2 = runner(&o, kind, &r);
    for (i = 0; i < 5; i++) {
        enqueue(j1, kind, a, NULL, 0, 0, id[i]);
    }
    lc_jobs_wake(j2);
    assert_true(wait_calls(&r, 2));
    jb = runner(&o, kind_b, &other);
    enqueue(jb, kind_b, b, NULL, 0, 0, idb);
    assert_true(wait_job(idb, "status", "done"));
    sql_value(n, sizeof(n),
              "SELECT count(*) FROM users.jobs WHERE kind = $1"
              " AND tenant_id = $2 AND status = 'running'",
              2, params);
    assert_string_equal(n, "2");
    pthread_mutex_lock(&r.mu);
    assert_int_equal(r.calls, 2);
    pthread_mutex_unlock(&r.mu);

    release(&r);
    for (i = 0; i < 5; i++) {
        assert_true(wait_job(id[i], "status", "done"));
    }
    assert_int_equal(r.calls, 5);
    assert_int_equal(r.max_running, 2);
    lc_jobs_stop(j1);
    lc_jobs_stop(j2);
    lc_jobs_stop(jb);
    lc_jobs_free(j1);
    lc_jobs_free(j2);
    lc_jobs_free(jb);
}

static void
test_a_scheduled_job_waits_for_its_time(void **state)
{
    lc_jobs_options o = options();
    recorder r;
    char kind[64], id[37];
    int64_t run_at = lc_clock_wall_ms() + 800;
    lc_jobs *j;

    (void)state;
    recorder_init(&r);
    kind_of(kind, sizeof(kind), "run-at");
    j = runner(&o, kind, &r);
    enqueue(j, kind, NULL, NULL, run_at, 0, id);
    assert_true(wait_calls(&r, 1));
    /* PostgreSQL's clock and ours are the same machine's; its now() is a
     * transaction start, a few ms early at most. */
    assert_true(r.at_wall[0] >= run_at - 20);
    assert_true(wait_job(id, "status", "done"));
    lc_jobs_stop(j);
    lc_jobs_free(j);
}

static void
test_stop_lets_a_running_job_finish(void **state)
{
    lc_jobs_options o = options();
    recorder r;
    char kind[64], id[37];
    lc_jobs *j;

    (void)state;
    recorder_init(&r);
    r.sleep_ms = 400;
    kind_of(kind, sizeof(kind), "drain");
    j = runner(&o, kind, &r);
    enqueue(j, kind, NULL, NULL, 0, 0, id);
    assert_true(wait_calls(&r, 1));
    assert_int_equal(lc_jobs_stop(j), 0);
    assert_true(r.finished);
    assert_true(wait_job(id, "status", "done"));
    lc_jobs_free(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_enqueue_in_a_rolled_back_transaction_leaves_no_job),
        cmocka_unit_test(test_enqueue_refuses_a_bad_kind_or_tenant),
        cmocka_unit_test(test_a_job_runs_once_with_its_payload_and_is_done),
        cmocka_unit_test(test_enqueue_wakes_the_runner_before_its_poll),
        cmocka_unit_test(
            test_failed_attempts_back_off_exponentially_with_jitter),
        cmocka_unit_test(test_a_job_is_dead_after_its_last_attempt_and_kept),
        cmocka_unit_test(test_an_expired_lease_runs_the_job_again),
        cmocka_unit_test(
            test_a_running_job_keeps_its_lease_while_its_handler_works),
        cmocka_unit_test(test_the_tenant_cap_holds_across_runners),
        cmocka_unit_test(test_a_scheduled_job_waits_for_its_time),
        cmocka_unit_test(test_stop_lets_a_running_job_finish),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
