/*
 * lc_db against a live PostgreSQL (LINTEL_TEST_DB_URL, set by the e2e
 * suite to the users service's role): the tenant transaction, rollback,
 * error mapping, deadlines and reconnection. Everything it creates is a
 * temporary table, gone with the connection.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lc_clock.h"
#include "lc_db.h"
#include "lc_log.h"

#define TENANT_A "0b7c5f3e-6a1d-4c4e-9d51-1f2a3b4c5d6e"
#define TENANT_B "7e0d9c8b-1a2b-4c3d-8e4f-5a6b7c8d9e0f"

static lc_db *db;

static int64_t
soon(void)
{
    return lc_clock_mono_ms() + 5000;
}

/* Runs one statement (no parameters) in the transaction. */
static int
run_sql(lc_db *d, void *arg, lc_db_error *err)
{
    const lc_db_stmt st = {arg, 0};
    PGresult *res = lc_db_exec(d, &st, NULL, err);

    PQclear(res);
    return res ? 0 : -1;
}

static int
setup(void **state)
{
    const char *url = getenv("LINTEL_TEST_DB_URL");
    lc_db_options o = {url, "test_db", true, 3};
    static const char *const schema[] = {
        "CREATE TEMP TABLE things (tenant_id uuid NOT NULL,"
        " name text UNIQUE, n int CHECK (n > 0))",
        "ALTER TABLE things ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE things FORCE ROW LEVEL SECURITY",
        "CREATE POLICY iso ON things USING (tenant_id ="
        " (SELECT current_setting('app.tenant_id')::uuid))",
    };
    lc_db_error err;
    size_t i;

    (void)state;
    lc_log_init("test", LC_LOG_ERROR);
    if (url == NULL) {
        fprintf(stderr, "LINTEL_TEST_DB_URL is not set (run from the e2e "
                        "suite: make test)\n");
        return -1;
    }
    db = lc_db_open(&o);
    assert_non_null(db);
    for (i = 0; i < sizeof(schema) / sizeof(schema[0]); i++) {
        if (lc_db_tenant_tx(db, NULL, soon(), run_sql, (void *)schema[i],
                            &err) != 0) {
            fprintf(stderr, "setup: %s\n", err.message);
            return -1;
        }
    }
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    lc_db_close(db);
    return 0;
}

typedef struct {
    const char *sql;
    const char *params[2];
    char out[128];
} one_value;

static int
select_value(lc_db *d, void *arg, lc_db_error *err)
{
    one_value *v = arg;
    const lc_db_stmt st = {v->sql, v->params[0] ? 1 : 0};
    PGresult *res = lc_db_exec(d, &st, v->params, err);

    if (res == NULL) {
        return -1;
    }
    snprintf(v->out, sizeof(v->out), "%s",
             PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return 0;
}

static void
test_tenant_and_timeout_are_set_for_the_transaction(void **state)
{
    one_value v = {"SELECT current_setting('app.tenant_id') || ' ' || "
                   "current_setting('statement_timeout')"};
    lc_db_error err;

    (void)state;
    assert_int_equal(lc_db_tenant_tx(db, TENANT_A, lc_clock_mono_ms() + 60000,
                                     select_value, &v, &err),
                     0);
    /* 60 s budget, a few ms already gone: "59…ms" or "1min". */
    assert_true(strncmp(v.out, TENANT_A " ", 37) == 0);
    assert_true(strstr(v.out, "ms") != NULL || strstr(v.out, "min") != NULL);
}

static int
insert_then_fail(lc_db *d, void *arg, lc_db_error *err)
{
    (void)arg;
    if (run_sql(d,
                "INSERT INTO things VALUES ('" TENANT_A "', 'rolled-back', 1)",
                err) != 0) {
        return -1;
    }
    lc_db_error_set(err, LC_DB_ABORTED, "the handler said no");
    return -1;
}

static void
test_failed_transaction_is_rolled_back(void **state)
{
    one_value v = {"SELECT count(*) FROM things WHERE name = 'rolled-back'"};
    lc_db_error err;

    (void)state;
    assert_int_equal(
        lc_db_tenant_tx(db, TENANT_A, soon(), insert_then_fail, NULL, &err),
        -1);
    assert_int_equal(err.fault, LC_DB_ABORTED);
    assert_int_equal(
        lc_db_tenant_tx(db, TENANT_A, soon(), select_value, &v, &err), 0);
    assert_string_equal(v.out, "0");
}

static void
test_rls_hides_other_tenants_rows(void **state)
{
    one_value v = {"SELECT count(*) FROM things"};
    lc_db_error err;

    (void)state;
    assert_int_equal(lc_db_tenant_tx(db, TENANT_B, soon(), run_sql,
                                     "INSERT INTO things VALUES ('" TENANT_B
                                     "', 'b-only', 1)",
                                     &err),
                     0);
    assert_int_equal(
        lc_db_tenant_tx(db, TENANT_A, soon(), select_value, &v, &err), 0);
    assert_string_equal(v.out, "0");
    assert_int_equal(
        lc_db_tenant_tx(db, TENANT_B, soon(), select_value, &v, &err), 0);
    assert_string_equal(v.out, "1");
}

static void
test_missing_tenant_fails_closed(void **state)
{
    one_value v = {"SELECT count(*) FROM things"};
    lc_db_error err;

    (void)state;
    assert_int_equal(lc_db_tenant_tx(db, NULL, soon(), select_value, &v, &err),
                     -1);
    assert_string_equal(err.sqlstate, "22P02"); /* '' is not a uuid */
}

static void
test_tenant_id_must_be_a_uuid(void **state)
{
    one_value v = {"SELECT 1"};
    lc_db_error err;

    (void)state;
    assert_int_equal(
        lc_db_tenant_tx(db, "' OR 1=1 --", soon(), select_value, &v, &err), -1);
    assert_int_equal(err.fault, LC_DB_BUG);
}

static void
test_unique_violation_is_409_with_constraint(void **state)
{
    lc_db_error err;

    (void)state;
    assert_int_equal(lc_db_tenant_tx(db, TENANT_A, soon(), run_sql,
                                     "INSERT INTO things VALUES ('" TENANT_A
                                     "', 'twice', 1)",
                                     &err),
                     0);
    assert_int_equal(lc_db_tenant_tx(db, TENANT_A, soon(), run_sql,
                                     "INSERT INTO things VALUES ('" TENANT_A
                                     "', 'twice', 1)",
                                     &err),
                     -1);
    assert_int_equal(err.fault, LC_DB_CONFLICT);
    assert_string_equal(err.sqlstate, "23505");
    assert_string_equal(err.constraint, "things_name_key");
}

static void
test_check_violation_is_422(void **state)
{
    lc_db_error err;

    (void)state;
    assert_int_equal(lc_db_tenant_tx(db, TENANT_A, soon(), run_sql,
                                     "INSERT INTO things VALUES ('" TENANT_A
                                     "', 'negative', -1)",
                                     &err),
                     -1);
    assert_int_equal(err.fault, LC_DB_REFUSED);
}

static void
test_past_deadline_never_reaches_the_database(void **state)
{
    lc_db_error err;

    (void)state;
    assert_int_equal(lc_db_tenant_tx(db, TENANT_A, lc_clock_mono_ms() - 1,
                                     run_sql, "SELECT 1", &err),
                     -1);
    assert_int_equal(err.fault, LC_DB_TIMEOUT);
    assert_string_equal(err.sqlstate, "");
}

static void
test_query_past_the_deadline_is_cancelled(void **state)
{
    int64_t start = lc_clock_mono_ms();
    lc_db_error err;

    (void)state;
    assert_int_equal(lc_db_tenant_tx(db, TENANT_A, start + 200, run_sql,
                                     "SELECT pg_sleep(3)", &err),
                     -1);
    assert_int_equal(err.fault, LC_DB_TIMEOUT);
    assert_string_equal(err.sqlstate, "57014");
    assert_true(lc_clock_mono_ms() - start < 1500);
}

static void
test_lost_connection_is_replaced(void **state)
{
    one_value v = {"SELECT 'alive'"};
    lc_db_error err;

    (void)state;
    /* The server ends our session mid-transaction: that request fails with
     * 503, the next one gets a fresh connection. */
    assert_int_equal(lc_db_tenant_tx(db, TENANT_A, soon(), run_sql,
                                     "SELECT pg_terminate_backend("
                                     "pg_backend_pid())",
                                     &err),
                     -1);
    assert_int_equal(err.fault, LC_DB_UNAVAILABLE);
    assert_int_equal(
        lc_db_tenant_tx(db, TENANT_A, soon(), select_value, &v, &err), 0);
    assert_string_equal(v.out, "alive");
    assert_int_equal(lc_db_ping(db, &err), 0);
}

static void
test_unprepared_mode_runs_the_same_statements(void **state)
{
    lc_db_options o = {getenv("LINTEL_TEST_DB_URL"), "test_db", false, 3};
    lc_db *plain = lc_db_open(&o);
    one_value v = {"SELECT upper($1)", {"pgbouncer"}};
    lc_db_error err;

    (void)state;
    assert_int_equal(
        lc_db_tenant_tx(plain, TENANT_A, soon(), select_value, &v, &err), 0);
    assert_string_equal(v.out, "PGBOUNCER");
    lc_db_close(plain);
}

static void
test_unreachable_server_is_503(void **state)
{
    lc_db_options o = {"postgresql://nobody@127.0.0.1:1/none", "test_db", true,
                       1};
    lc_db *dead = lc_db_open(&o);
    lc_db_error err;

    (void)state;
    assert_int_equal(
        lc_db_tenant_tx(dead, TENANT_A, soon(), run_sql, "SELECT 1", &err), -1);
    assert_int_equal(err.fault, LC_DB_UNAVAILABLE);
    assert_int_equal(lc_db_ping(dead, &err), -1);
    lc_db_close(dead);
}

/* Two transactions take two advisory locks in opposite orders: PostgreSQL
 * aborts one as a deadlock (40P01); lc_db_tenant_tx runs it again and both
 * commit. */
typedef struct {
    const char *first, *second;
    atomic_int runs;
    int rc;
    lc_db_error err;
} deadlock_side;

static int
lock_two(lc_db *d, void *arg, lc_db_error *err)
{
    deadlock_side *side = arg;

    atomic_fetch_add(&side->runs, 1);
    if (run_sql(d, (void *)side->first, err) != 0 ||
        run_sql(d, "SELECT pg_sleep(0.3)", err) != 0) {
        return -1;
    }
    return run_sql(d, (void *)side->second, err);
}

static void *
deadlock_thread(void *arg)
{
    deadlock_side *side = arg;
    lc_db_options o = {getenv("LINTEL_TEST_DB_URL"), "test_db", true, 3};
    lc_db *d = lc_db_open(&o);

    side->rc = lc_db_tenant_tx(d, TENANT_A, lc_clock_mono_ms() + 20000,
                               lock_two, side, &side->err);
    lc_db_close(d);
    return NULL;
}

static void
test_deadlock_is_retried(void **state)
{
    deadlock_side a = {"SELECT pg_advisory_xact_lock(4242001)",
                       "SELECT pg_advisory_xact_lock(4242002)"};
    deadlock_side b = {"SELECT pg_advisory_xact_lock(4242002)",
                       "SELECT pg_advisory_xact_lock(4242001)"};
    pthread_t ta, tb;

    (void)state;
    pthread_create(&ta, NULL, deadlock_thread, &a);
    pthread_create(&tb, NULL, deadlock_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(atomic_load(&a.runs) + atomic_load(&b.runs), 3);
}

static void
test_sqlstate_mapping(void **state)
{
    (void)state;
    assert_int_equal(lc_db_sqlstate_fault("23505"), LC_DB_CONFLICT);
    assert_int_equal(lc_db_sqlstate_fault("23503"), LC_DB_REFUSED);
    assert_int_equal(lc_db_sqlstate_fault("23514"), LC_DB_REFUSED);
    assert_int_equal(lc_db_sqlstate_fault("40001"), LC_DB_CONFLICT);
    assert_int_equal(lc_db_sqlstate_fault("57014"), LC_DB_TIMEOUT);
    assert_int_equal(lc_db_sqlstate_fault("08006"), LC_DB_UNAVAILABLE);
    assert_int_equal(lc_db_sqlstate_fault("42501"), LC_DB_BUG);
    assert_int_equal(lc_db_sqlstate_fault("22003"), LC_DB_BAD_VALUE);
}

static void
test_uuid_check(void **state)
{
    (void)state;
    assert_true(lc_db_is_identifier("users"));
    assert_true(lc_db_is_identifier("_x9"));
    assert_false(lc_db_is_identifier("9x"));
    assert_false(lc_db_is_identifier(""));
    assert_false(lc_db_is_identifier("Users"));
    assert_false(lc_db_is_identifier("a; DROP TABLE x"));
    assert_false(lc_db_is_identifier(
        "a123456789012345678901234567890123456789012345678901234567890123"));
    assert_true(lc_db_is_uuid(TENANT_A));
    assert_false(lc_db_is_uuid("0b7c5f3e6a1d4c4e9d511f2a3b4c5d6e"));
    assert_false(lc_db_is_uuid("0b7c5f3e-6a1d-4c4e-9d51-1f2a3b4c5d6g"));
    assert_false(lc_db_is_uuid(""));
    assert_false(lc_db_is_uuid(NULL));
    assert_true(lc_db_is_uuid("0B7C5F3E-6A1D-4C4E-9D51-1F2A3B4C5D6E"));
    assert_true(lc_db_is_path_uuid("0b7c5f3e-6a1d-4c4e-9d51-1f2a3b4c5d6e"));
    assert_false(lc_db_is_path_uuid("0B7C5F3E-6A1D-4C4E-9D51-1F2A3B4C5D6E"));
    assert_false(lc_db_is_path_uuid("0b7c5f3e-6a1d-4c4e-9d51-1f2a3b4c5d6E"));
    assert_false(lc_db_is_path_uuid("0b7c5f3e6a1d4c4e9d511f2a3b4c5d6e"));
    assert_false(lc_db_is_path_uuid(NULL));
}

/* --- lc_db_tenant_read: the same transaction in one round trip --------- */

static char *
read_value(lc_db *d, const char *tenant, const char *sql, lc_db_error *err)
{
    static char out[128];
    const lc_db_stmt st = {sql, 0};
    PGresult *res = lc_db_tenant_read(d, tenant, soon(), &st, NULL, err);

    if (res == NULL) {
        return NULL;
    }
    snprintf(out, sizeof(out), "%s",
             PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return out;
}

static void
test_read_sets_tenant_and_timeout_for_its_statement(void **state)
{
    lc_db_error err;
    const char *v;

    (void)state;
    v = read_value(db, TENANT_A,
                   "SELECT current_setting('app.tenant_id') || ' ' || "
                   "current_setting('statement_timeout')",
                   &err);
    assert_non_null(v);
    assert_true(strncmp(v, TENANT_A " ", 37) == 0);
    assert_string_not_equal(v + 37, "0");
}

static void
test_read_settings_end_with_it(void **state)
{
    const lc_db_stmt st = {"SELECT coalesce(current_setting('app.tenant_id',"
                           " true), '')",
                           0};
    lc_db_error err;
    PGresult *res;

    (void)state;
    assert_non_null(read_value(db, TENANT_B, "SELECT 1", &err));
    /* The next statement on the connection, outside any transaction. */
    res = lc_db_exec(db, &st, NULL, &err);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "");
    PQclear(res);
}

static void
test_read_hides_other_tenants_rows(void **state)
{
    lc_db_error err;

    (void)state;
    assert_int_equal(lc_db_tenant_tx(db, TENANT_B, soon(), run_sql,
                                     "INSERT INTO things VALUES ('" TENANT_B
                                     "', 'b-read', 1)",
                                     &err),
                     0);
    assert_string_equal(
        read_value(db, TENANT_A,
                   "SELECT count(*) FROM things WHERE name = 'b-read'", &err),
        "0");
    assert_string_equal(
        read_value(db, TENANT_B,
                   "SELECT count(*) FROM things WHERE name = 'b-read'", &err),
        "1");
}

static void
test_read_without_tenant_fails_closed(void **state)
{
    lc_db_error err;

    (void)state;
    assert_null(read_value(db, NULL, "SELECT count(*) FROM things", &err));
    assert_string_equal(err.sqlstate, "22P02");
    assert_null(read_value(db, "x' OR true --", "SELECT 1", &err));
    assert_int_equal(err.fault, LC_DB_BUG);
}

static void
test_read_error_leaves_the_connection_usable(void **state)
{
    lc_db_error err;

    (void)state;
    assert_null(read_value(db, TENANT_A, "SELECT 1 / 0", &err));
    assert_string_equal(err.sqlstate, "22012");
    assert_int_equal(err.fault, LC_DB_BAD_VALUE);
    assert_string_equal(read_value(db, TENANT_A, "SELECT 'still here'", &err),
                        "still here");
}

static void
test_read_unprepared_and_with_parameters(void **state)
{
    lc_db_options o = {getenv("LINTEL_TEST_DB_URL"), "test_db", false, 3};
    lc_db *plain = lc_db_open(&o);
    const lc_db_stmt st = {"SELECT upper($1)", 1};
    const char *params[1] = {"pipelined"};
    lc_db_error err;
    PGresult *res;

    (void)state;
    res = lc_db_tenant_read(plain, TENANT_A, soon(), &st, params, &err);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "PIPELINED");
    PQclear(res);
    lc_db_close(plain);
}

static void
test_read_past_deadline_never_reaches_the_database(void **state)
{
    const lc_db_stmt st = {"SELECT 1", 0};
    lc_db_error err;

    (void)state;
    assert_null(lc_db_tenant_read(db, TENANT_A, lc_clock_mono_ms() - 1, &st,
                                  NULL, &err));
    assert_int_equal(err.fault, LC_DB_TIMEOUT);
}

/* --- lc_db_snapshot: one snapshot shared by several transactions ------- */

static const char *
count_named(const lc_db_tx_options *opts, const char *name, lc_db_error *err)
{
    static one_value v;

    memset(&v, 0, sizeof(v));
    v.sql = "SELECT count(*) || ' ' || current_setting('app.tenant_id')"
            " FROM things WHERE name = $1";
    v.params[0] = name;
    if (lc_db_tenant_tx_with(db, TENANT_A, soon(), opts, select_value, &v,
                             err) != 0) {
        return NULL;
    }
    return v.out;
}

static void
test_an_imported_snapshot_hides_what_committed_after_it(void **state)
{
    lc_db_options o = {getenv("LINTEL_TEST_DB_URL"), "test_db_snapshot", true,
                       3};
    lc_db_tx_options in = {.repeatable_read = true};
    lc_db_snapshot *snap;
    lc_db_error err;
    char id[64];

    (void)state;
    snap = lc_db_snapshot_take(&o, TENANT_A, soon(), &err);
    assert_non_null(snap);
    /* a copy: the id goes with the snapshot */
    snprintf(id, sizeof(id), "%s", lc_db_snapshot_id(snap));
    in.snapshot = id;
    assert_int_equal(lc_db_tenant_tx(db, TENANT_A, soon(), run_sql,
                                     "INSERT INTO things VALUES ('" TENANT_A
                                     "', 'after-snapshot', 1)",
                                     &err),
                     0);
    assert_string_equal(count_named(NULL, "after-snapshot", &err),
                        "1 " TENANT_A);
    /* twice: every transaction that imports it reads the same state */
    assert_string_equal(count_named(&in, "after-snapshot", &err),
                        "0 " TENANT_A);
    assert_string_equal(count_named(&in, "after-snapshot", &err),
                        "0 " TENANT_A);
    /* and may write */
    assert_int_equal(
        lc_db_tenant_tx_with(db, TENANT_A, soon(), &in, run_sql,
                             "INSERT INTO things VALUES ('" TENANT_A
                             "', 'in-snapshot', 1)",
                             &err),
        0);
    assert_string_equal(count_named(NULL, "in-snapshot", &err), "1 " TENANT_A);
    /* Released, the snapshot is gone with its transaction: its file is
     * gone (22023), or, the exporting backend still exiting, the file
     * names a process that no longer runs (55000). */
    lc_db_snapshot_release(snap);
    assert_null(count_named(&in, "after-snapshot", &err));
    assert_true(strcmp(err.sqlstate, "22023") == 0 ||
                strcmp(err.sqlstate, "55000") == 0);
    assert_string_equal(count_named(NULL, "after-snapshot", &err),
                        "1 " TENANT_A);
    lc_db_snapshot_release(NULL);
}

static void
test_snapshot_options_are_checked_before_the_database(void **state)
{
    lc_db_options o = {getenv("LINTEL_TEST_DB_URL"), "test_db_snapshot", true,
                       3};
    lc_db_tx_options rc = {.snapshot = "00000003-0000001B-1"};
    lc_db_tx_options spliced = {.repeatable_read = true,
                                .snapshot = "1'; DROP TABLE things; --"};
    lc_db_error err;

    (void)state;
    assert_null(count_named(&rc, "x", &err));
    assert_int_equal(err.fault, LC_DB_BUG);
    assert_null(count_named(&spliced, "x", &err));
    assert_int_equal(err.fault, LC_DB_BUG);
    assert_null(lc_db_snapshot_take(&o, "x' OR true --", soon(), &err));
    assert_int_equal(err.fault, LC_DB_BUG);
    assert_null(
        lc_db_snapshot_take(&o, TENANT_A, lc_clock_mono_ms() - 1, &err));
    assert_int_equal(err.fault, LC_DB_TIMEOUT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_and_timeout_are_set_for_the_transaction),
        cmocka_unit_test(test_failed_transaction_is_rolled_back),
        cmocka_unit_test(test_rls_hides_other_tenants_rows),
        cmocka_unit_test(test_missing_tenant_fails_closed),
        cmocka_unit_test(test_tenant_id_must_be_a_uuid),
        /* before the connection is replaced: they use the temp table */
        cmocka_unit_test(test_read_sets_tenant_and_timeout_for_its_statement),
        cmocka_unit_test(test_read_settings_end_with_it),
        cmocka_unit_test(test_read_hides_other_tenants_rows),
        cmocka_unit_test(test_read_without_tenant_fails_closed),
        cmocka_unit_test(test_read_error_leaves_the_connection_usable),
        cmocka_unit_test(test_read_unprepared_and_with_parameters),
        cmocka_unit_test(test_read_past_deadline_never_reaches_the_database),
        cmocka_unit_test(
            test_an_imported_snapshot_hides_what_committed_after_it),
        cmocka_unit_test(test_snapshot_options_are_checked_before_the_database),
        cmocka_unit_test(test_unique_violation_is_409_with_constraint),
        cmocka_unit_test(test_check_violation_is_422),
        cmocka_unit_test(test_past_deadline_never_reaches_the_database),
        cmocka_unit_test(test_query_past_the_deadline_is_cancelled),
        cmocka_unit_test(test_lost_connection_is_replaced),
        cmocka_unit_test(test_unprepared_mode_runs_the_same_statements),
        cmocka_unit_test(test_unreachable_server_is_503),
        cmocka_unit_test(test_deadlock_is_retried),
        cmocka_unit_test(test_sqlstate_mapping),
        cmocka_unit_test(test_uuid_check),
    };

    return cmocka_run_group_tests_name("db", tests, setup, teardown);
}
