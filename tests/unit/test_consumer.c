/*
 * lc_consumer (and lc_outbox, its producer side) against a live PostgreSQL:
 * run from tests/e2e/test_libcommon_live.py, which makes the scratch schema
 * consumer_test (owned by the migration role, LINTEL_TEST_DB_URL) and gives
 * two free ports. The producer is real: an lc_outbox whose EventsSince an
 * lc_rpc_server serves over NNG, with its pub socket; each consumer keeps
 * its cursor and its effects (consumer_test.applied) in the same database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lc_clock.h"
#include "lc_consumer.h"
#include "lc_db.h"
#include "lc_log.h"
#include "lc_outbox.h"
#include "lc_rpc_server.h"
#include "lintel/v1/events.pb-c.h"

#define TENANT "0b7c5f3e-6a1d-4c4e-9d51-1f2a3b4c5d6e"
#define TENANT2 "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
#define ACTOR "7e0d9c8b-1a2b-4c3d-8e4f-5a6b7c8d9e0f"

static const char *db_url, *rpc_url, *hint_url;
static lc_db *db;
static lc_outbox *outbox;
static lc_rpc_server *server;

/* The apply function's fault: fail once at this seq (0: never), after the
 * batch's earlier events already ran their INSERTs. */
static _Atomic uint64_t fail_at;
static atomic_int applied_calls, batch_calls;

static const char *const schema_sql[] = {
    "DROP TABLE IF EXISTS consumer_test.events, consumer_test.event_counter,"
    " consumer_test.consumer_cursors, consumer_test.applied",
    "CREATE TABLE consumer_test.event_counter (id boolean PRIMARY KEY"
    " DEFAULT true CHECK (id), seq bigint NOT NULL)",
    "INSERT INTO consumer_test.event_counter (seq) VALUES (0)",
    "CREATE TABLE consumer_test.events (seq bigint PRIMARY KEY,"
    " tenant_id uuid NOT NULL, type text NOT NULL, subject_id uuid NOT NULL,"
    " actor_id uuid, occurred_at timestamptz NOT NULL"
    " DEFAULT clock_timestamp(), data jsonb NOT NULL)",
    "CREATE TABLE consumer_test.consumer_cursors (source text PRIMARY KEY,"
    " seq bigint NOT NULL)",
    /* no key on (source, seq): a second apply must show, not fail */
    "CREATE TABLE consumer_test.applied (n bigserial, source text NOT NULL,"
    " seq bigint NOT NULL, tenant_id uuid NOT NULL, type text NOT NULL)",
};

static int64_t
soon(void)
{
    return lc_clock_mono_ms() + 5000;
}

static int
run_sql(lc_db *d, void *arg, lc_db_error *err)
{
    const lc_db_stmt st = {arg, 0};
    PGresult *res = lc_db_exec(d, &st, NULL, err);

    PQclear(res);
    return res ? 0 : -1;
}

/* One number from a query without parameters. */
static long long
query_number(const char *sql)
{
    const lc_db_stmt st = {sql, 0};
    lc_db_error err;
    PGresult *res = lc_db_tenant_read(db, NULL, soon(), &st, NULL, &err);
    long long v;

    assert_non_null(res);
    v = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static uint64_t
head(void)
{
    return (uint64_t)query_number(
        "SELECT seq FROM consumer_test.event_counter");
}

/* --- the producer --------------------------------------------------------- */

static void
events_since(lc_req *req)
{
    lc_outbox_serve(req, outbox);
}

typedef struct {
    int n;
    int64_t seq;
} produce_ctx;

static int
produce_tx(lc_db *d, void *arg, lc_db_error *err)
{
    produce_ctx *p = arg;
    const lc_outbox_event ev = {.type = "thing.created",
                                .keys = {ACTOR},
                                .actor_id = ACTOR,
                                .data_json = "{\"k\": 1}"};
    int i;

    for (i = 0; i < p->n; i++) {
        if (lc_outbox_append(d, outbox, &ev, &p->seq, err) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Commits `n` events of `tenant`; announces them when `announce`. The
 * last seq. */
static uint64_t
produce_in(const char *tenant, int n, bool announce)
{
    produce_ctx p = {.n = n};
    lc_db_error err;

    assert_int_equal(lc_db_tenant_tx(db, tenant, soon(), produce_tx, &p, &err),
                     0);
    if (announce) {
        lc_outbox_announce(outbox, p.seq);
    }
    return (uint64_t)p.seq;
}

static uint64_t
produce(int n, bool announce)
{
    return produce_in(TENANT, n, announce);
}

/* --- the consumer's effect ------------------------------------------------ */

static int
apply_event(lc_db *d, const lc_consumer_event *ev, void *arg, lc_db_error *err)
{
    static const lc_db_stmt insert = {
        "INSERT INTO consumer_test.applied (source, seq, tenant_id, type)"
        " VALUES ($1, $2, current_setting('app.tenant_id')::uuid, $3)",
        3};
    char seq[24];
    const char *params[3] = {arg, seq, ev->type};
    uint64_t want = ev->seq;
    PGresult *res;

    atomic_fetch_add(&applied_calls, 1);
    if (atomic_compare_exchange_strong(&fail_at, &want, 0)) {
        lc_db_error_set(err, LC_DB_BUG, "the apply failed on purpose");
        return -1;
    }
    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)ev->seq);
    res = lc_db_exec(d, &insert, params, err);
    PQclear(res);
    return res ? 0 : -1;
}

/* apply_batch: one tenant's events in seq order, each applied as above
 * (so in the scope the kit set); a call that breaks the promise fails, and
 * the consumer never catches up. */
static int
apply_tenant_batch(lc_db *d, const char *tenant_id,
                   const lc_consumer_event *evs, size_t n, void *arg,
                   lc_db_error *err)
{
    size_t i;

    atomic_fetch_add(&batch_calls, 1);
    for (i = 0; i < n; i++) {
        if (strcmp(evs[i].tenant_id, tenant_id) != 0 ||
            (i > 0 && evs[i].seq <= evs[i - 1].seq)) {
            lc_db_error_set(err, LC_DB_BUG, "mixed tenants, or out of order");
            return -1;
        }
        if (apply_event(d, &evs[i], arg, err) != 0) {
            return -1;
        }
    }
    return 0;
}

static lc_consumer *
consumer_with_upkeep(const char *source, long poll_ms, uint32_t batch,
                     lc_consumer_apply_batch_fn apply_batch, lc_db_tx_fn upkeep,
                     long upkeep_ms)
{
    const lc_consumer_options o = {
        .source = source,
        .method = "test.EventsSince",
        .rpc_url = rpc_url,
        .hint_url = hint_url,
        .response = &lintel__v1__events_since_response__descriptor,
        .schema = "consumer_test",
        .db = {db_url, "test-consumer", true, 3},
        .batch = batch,
        .poll_ms = poll_ms,
        .timeout_ms = 2000,
        .apply = apply_batch != NULL ? NULL : apply_event,
        .apply_batch = apply_batch,
        .upkeep = upkeep,
        .upkeep_ms = upkeep_ms,
        .arg = (void *)source,
    };
    char err[256];
    lc_consumer *c = lc_consumer_start(&o, err, sizeof(err));

    if (c == NULL) {
        fail_msg("lc_consumer_start: %s", err);
    }
    return c;
}

static lc_consumer *
consumer_with(const char *source, long poll_ms, uint32_t batch,
              lc_consumer_apply_batch_fn apply_batch)
{
    return consumer_with_upkeep(source, poll_ms, batch, apply_batch, NULL, 0);
}

static lc_consumer *
consumer(const char *source, long poll_ms)
{
    return consumer_with(source, poll_ms, 2, NULL); /* several batches */
}

/* Waits until the consumer's cursor reaches `seq`; its latency in ms, or
 * -1 after `timeout_ms`. */
static int64_t
wait_cursor(const lc_consumer *c, uint64_t seq, int64_t timeout_ms)
{
    int64_t start = lc_clock_mono_ms();
    const struct timespec tick = {0, 2 * 1000 * 1000};

    while (lc_consumer_cursor(c) < seq) {
        if (lc_clock_mono_ms() - start > timeout_ms) {
            return -1;
        }
        nanosleep(&tick, NULL);
    }
    return lc_clock_mono_ms() - start;
}

/* Every event up to the head applied exactly once for `source`, in seq
 * order, in the events' tenant, and the stored cursor at the head. */
static void
assert_applied_once_in_order(const char *source)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM consumer_test.applied WHERE source = '%s'",
             source);
    assert_int_equal(query_number(sql), (long long)head());
    snprintf(sql, sizeof(sql),
             "SELECT count(DISTINCT seq) FROM consumer_test.applied"
             " WHERE source = '%s' AND tenant_id = '" TENANT "'",
             source);
    assert_int_equal(query_number(sql), (long long)head());
    /* in the order applied (n), every seq follows the one before it */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM (SELECT seq - lag(seq, 1, 0::bigint)"
             " OVER (ORDER BY n) AS step FROM consumer_test.applied"
             " WHERE source = '%s') s WHERE step <> 1",
             source);
    assert_int_equal(query_number(sql), 0);
    snprintf(sql, sizeof(sql),
             "SELECT seq FROM consumer_test.consumer_cursors"
             " WHERE source = '%s'",
             source);
    assert_int_equal(query_number(sql), (long long)head());
}

/* --- the tests ------------------------------------------------------------ */

static void
test_catches_up_after_being_stopped(void **state)
{
    lc_consumer *c;
    uint64_t seq;

    (void)state;
    seq = produce(3, true);
    c = consumer("catch-up", 200);
    assert_true(wait_cursor(c, seq, 10000) >= 0);
    lc_consumer_stop(c);

    /* written (and announced) while nobody listened */
    seq = produce(5, true);
    c = consumer("catch-up", 200);
    assert_true(wait_cursor(c, seq, 10000) >= 0);
    lc_consumer_stop(c);
    assert_applied_once_in_order("catch-up");
}

static void
test_a_failed_batch_is_applied_again_not_twice(void **state)
{
    lc_consumer *c;
    uint64_t seq;
    int calls;

    (void)state;
    seq = produce(3, true);
    /* Batches of 2 from cursor 0 start at odd seqs: an even one is second
     * in its batch, whose first event's INSERT has run when it fails. */
    atomic_store(&fail_at, seq % 2 == 0 ? seq : seq - 1);
    atomic_store(&applied_calls, 0);
    c = consumer("rollback", 200);
    assert_true(wait_cursor(c, seq, 10000) >= 0);
    lc_consumer_stop(c);
    assert_int_equal(atomic_load(&fail_at), 0); /* it did fail */
    calls = atomic_load(&applied_calls);
    /* the failing event and the one before it ran twice ... */
    assert_int_equal(calls, (int)seq + 2);
    assert_applied_once_in_order("rollback"); /* ... but took effect once */
}

static void
test_a_hint_wakes_it_well_before_the_poll(void **state)
{
    lc_consumer *c;
    uint64_t seq;
    int64_t latency = -1, t0;
    int round;

    (void)state;
    c = consumer("hint", 20000);
    assert_true(wait_cursor(c, head(), 10000) >= 0);
    /* The sub pipe attaches in the background: a hint sent before it is
     * lost, so a round may miss; the next hint covers both. */
    for (round = 0; round < 5 && (latency < 0 || latency > 1000); round++) {
        seq = produce(1, true);
        latency = wait_cursor(c, seq, 2000);
    }
    assert_true(latency >= 0 && latency <= 1000);
    /* stopping wakes the thread from its 20 s sleep */
    t0 = lc_clock_mono_ms();
    lc_consumer_stop(c);
    assert_true(lc_clock_mono_ms() - t0 < 1000);
    assert_applied_once_in_order("hint");
}

static void
test_it_polls_when_the_hint_is_missed(void **state)
{
    lc_consumer *c;
    uint64_t seq;

    (void)state;
    c = consumer("poll", 300);
    assert_true(wait_cursor(c, head(), 10000) >= 0);
    seq = produce(2, false); /* no announcement */
    assert_true(wait_cursor(c, seq, 5000) >= 0);
    lc_consumer_stop(c);
    assert_applied_once_in_order("poll");
}

static void
test_a_reply_without_events_is_refused(void **state)
{
    lc_consumer_options o = {
        .source = "bad",
        .method = "test.EventsSince",
        .rpc_url = "tcp://127.0.0.1:1",
        .response = &lintel__v1__events_since_request__descriptor,
        .schema = "consumer_test",
        .apply = apply_event,
    };
    char err[256];

    (void)state;
    assert_null(lc_consumer_start(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "not an EventsSince reply"));
    o.response = &lintel__v1__events_since_response__descriptor;
    o.schema = "consumer_test; DROP TABLE x";
    assert_null(lc_consumer_start(&o, err, sizeof(err)));
}

/* Runs last: the earlier tests' assertions count TENANT's events only. */
static void
test_a_batch_hook_gets_each_tenant_in_seq_order(void **state)
{
    lc_consumer *c;
    uint64_t seq = 0;
    int i;

    (void)state;
    for (i = 0; i < 4; i++) { /* interleaved: A B A B ... */
        produce_in(TENANT, 1, false);
        seq = produce_in(TENANT2, 1, false);
    }
    atomic_store(&batch_calls, 0);
    c = consumer_with("batch", 200, 4, apply_tenant_batch);
    assert_true(wait_cursor(c, seq, 10000) >= 0);
    lc_consumer_stop(c);
    /* fewer calls than events: each batch's tenants came grouped */
    assert_true(atomic_load(&batch_calls) < (int)seq);
    assert_int_equal(query_number("SELECT count(*) FROM consumer_test.applied"
                                  " WHERE source = 'batch'"),
                     (long long)seq);
    assert_int_equal(query_number("SELECT count(DISTINCT seq)"
                                  " FROM consumer_test.applied"
                                  " WHERE source = 'batch'"),
                     (long long)seq);
    /* each event applied in its own tenant's scope */
    assert_int_equal(
        query_number("SELECT count(*) FROM consumer_test.applied a"
                     " JOIN consumer_test.events e USING (seq)"
                     " WHERE a.source = 'batch'"
                     " AND a.tenant_id <> e.tenant_id"),
        0);
    /* within a tenant, in seq order */
    assert_int_equal(
        query_number("SELECT count(*) FROM (SELECT seq - lag(seq, 1,"
                     " 0::bigint) OVER (PARTITION BY tenant_id ORDER BY n)"
                     " AS step FROM consumer_test.applied"
                     " WHERE source = 'batch') s WHERE step <= 0"),
        0);
    assert_int_equal(query_number("SELECT seq FROM consumer_test.consumer_cursors"
                                  " WHERE source = 'batch'"),
                     (long long)seq);
}

/* The upkeep: counts its calls, and those that ran outside the batch's
 * transaction (its own has written nothing yet, so has no xid); then
 * fails, which must cost the consumer nothing. */
static atomic_int upkeep_calls, upkeep_outside;

static int
failing_upkeep(lc_db *d, void *arg, lc_db_error *err)
{
    static const lc_db_stmt xid = {"SELECT txid_current_if_assigned() IS NULL",
                                   0};
    PGresult *res = lc_db_exec(d, &xid, NULL, err);

    (void)arg;
    atomic_fetch_add(&upkeep_calls, 1);
    if (res != NULL && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        atomic_fetch_add(&upkeep_outside, 1);
    }
    PQclear(res);
    lc_db_error_set(err, LC_DB_BUG, "the upkeep failed on purpose");
    return -1;
}

static void
test_upkeep_follows_a_commit_at_most_once_an_interval(void **state)
{
    lc_consumer *c;
    uint64_t seq;

    (void)state;
    seq = produce(8, true);
    atomic_store(&upkeep_calls, 0);
    atomic_store(&upkeep_outside, 0);
    /* batches of 2: four of them within an interval of a minute */
    c = consumer_with_upkeep("upkeep", 200, 2, NULL, failing_upkeep, 60000);
    assert_true(wait_cursor(c, seq, 10000) >= 0);
    lc_consumer_stop(c);
    assert_int_equal(atomic_load(&upkeep_calls), 1);
    assert_int_equal(atomic_load(&upkeep_outside), 1);
    assert_applied_once_in_order("upkeep"); /* its failure stopped nothing */
}

/* --- setup ---------------------------------------------------------------- */

static int
setup(void **state)
{
    const lc_db_options dbo = {db_url, "test-producer", true, 3};
    lc_rpc_server_options so = {
        .service = "test",
        .url = rpc_url,
        .workers = 2,
        .max_message = 1 << 20,
        .default_timeout_ms = 2000,
        .max_timeout_ms = 5000,
        .max_json_bytes = 1024,
        .db = dbo,
        .cache = {"127.0.0.1", 1, 50, 50, 1000},
    };
    const lc_outbox_options oo = {
        .schema = "consumer_test",
        .keys = {"subject_id"},
        .nkeys = 1,
        .pub_url = hint_url,
    };
    lc_db_error dberr;
    char err[256];
    size_t i;

    (void)state;
    lc_log_init("test", LC_LOG_ERROR);
    db = lc_db_open(&dbo);
    for (i = 0; i < sizeof(schema_sql) / sizeof(schema_sql[0]); i++) {
        if (lc_db_tenant_tx(db, NULL, soon(), run_sql, (void *)schema_sql[i],
                            &dberr) != 0) {
            fprintf(stderr, "%s: %s\n", schema_sql[i], dberr.message);
            return -1;
        }
    }
    outbox = lc_outbox_open(&oo, err, sizeof(err));
    server = lc_rpc_server_new(&so);
    if (outbox == NULL || server == NULL ||
        lc_rpc_server_route(server, "RPC", "/rpc/test.EventsSince",
                            events_since) != 0 ||
        lc_rpc_server_start(server, err, sizeof(err)) != 0) {
        fprintf(stderr, "producer: %s\n", err);
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    lc_rpc_server_stop(server, 1000);
    lc_rpc_server_free(server);
    lc_outbox_close(outbox);
    lc_db_close(db);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catches_up_after_being_stopped),
        cmocka_unit_test(test_a_failed_batch_is_applied_again_not_twice),
        cmocka_unit_test(test_a_hint_wakes_it_well_before_the_poll),
        cmocka_unit_test(test_it_polls_when_the_hint_is_missed),
        cmocka_unit_test(test_a_reply_without_events_is_refused),
        cmocka_unit_test(test_upkeep_follows_a_commit_at_most_once_an_interval),
        cmocka_unit_test(test_a_batch_hook_gets_each_tenant_in_seq_order),
    };

    db_url = getenv("LINTEL_TEST_DB_URL");
    rpc_url = getenv("LINTEL_TEST_CONSUMER_RPC_URL");
    hint_url = getenv("LINTEL_TEST_CONSUMER_HINT_URL");
    if (db_url == NULL || rpc_url == NULL || hint_url == NULL) {
        fprintf(stderr, "test_consumer: needs LINTEL_TEST_DB_URL,"
                        " LINTEL_TEST_CONSUMER_RPC_URL and"
                        " LINTEL_TEST_CONSUMER_HINT_URL (run it from"
                        " tests/e2e/test_libcommon_live.py)\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
