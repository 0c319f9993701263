/*
 * lc_db.c: the per-thread PostgreSQL connection, prepared statements, the
 * tenant transaction, snapshots held for other transactions to import, and
 * the mapping of SQLSTATEs to API errors.
 *
 * A connection belongs to exactly one thread, so nothing here locks except
 * the global error counter.
 */
#include "lc_db.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_clock.h"
#include "lc_log.h"

/* Prepared statements per connection; more are run unprepared. */
#define LC_DB_MAX_PREPARED 256
/* Whole-transaction retries after a serialization failure or deadlock. */
#define LC_DB_TX_ATTEMPTS 3

/* A statement prepared on this connection, known by its text: callers may
 * build lc_db_stmt values anywhere, so their address proves nothing. */
typedef struct {
    uint64_t hash;
    char *sql;
} lc_db_prepared;

struct lc_db {
    lc_db_options opts;
    PGconn *conn;
    lc_db_prepared prepared[LC_DB_MAX_PREPARED];
    int nprepared;
};

/* pg_export_snapshot()'s ids are short: "00000003-0000001B-1". */
#define LC_DB_SNAPSHOT_ID_MAX 64

struct lc_db_snapshot {
    lc_db *db; /* its own connection, in the holding transaction */
    char id[LC_DB_SNAPSHOT_ID_MAX];
};

static atomic_uint_fast64_t lc_db_errors;

static const lc_db_stmt lc_db_set_tx = {
    "SELECT set_config('app.tenant_id', $1, true),"
    " set_config('statement_timeout', $2, true)",
    2};

uint64_t
lc_db_error_count(void)
{
    return atomic_load(&lc_db_errors);
}

void
lc_db_error_set(lc_db_error *err, lc_db_fault fault, const char *message)
{
    memset(err, 0, sizeof(*err));
    err->fault = fault;
    snprintf(err->message, sizeof(err->message), "%s", message);
}

lc_db_fault
lc_db_sqlstate_fault(const char *s)
{
    if (strcmp(s, "23505") == 0 || strcmp(s, "40001") == 0 ||
        strcmp(s, "40P01") == 0) {
        return LC_DB_CONFLICT;
    }
    /* FK, check and not-null violations: the request names something that
     * cannot be stored, which validation should normally have caught. */
    if (strcmp(s, "23503") == 0 || strcmp(s, "23514") == 0 ||
        strcmp(s, "23502") == 0) {
        return LC_DB_REFUSED;
    }
    if (strncmp(s, "22", 2) == 0) {
        return LC_DB_BAD_VALUE;
    }
    if (strcmp(s, "57014") == 0) { /* statement_timeout: the deadline */
        return LC_DB_TIMEOUT;
    }
    if (strncmp(s, "08", 2) == 0 || strcmp(s, "57P01") == 0 ||
        strcmp(s, "57P02") == 0 || strcmp(s, "57P03") == 0 ||
        strncmp(s, "53", 2) == 0) {
        return LC_DB_UNAVAILABLE;
    }
    return LC_DB_BUG;
}

int
lc_db_value(lc_db *db, const lc_db_stmt *st, const char *const *params,
            char *out, size_t outlen, lc_db_error *err)
{
    PGresult *res = lc_db_exec(db, st, params, err);
    int found;

    if (res == NULL) {
        return -1;
    }
    found = PQntuples(res) > 0;
    if (found && out != NULL) {
        snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return found;
}

bool
lc_db_is_identifier(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9')) {
        return false;
    }
    for (i = 0; s[i] != '\0'; i++) {
        if (i >= 63 || !((s[i] >= 'a' && s[i] <= 'z') ||
                         (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) {
            return false;
        }
    }
    return true;
}

bool
lc_db_is_uuid(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != 36) {
        return false;
    }
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return false;
            }
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

bool
lc_db_is_path_uuid(const char *s)
{
    size_t i;

    if (!lc_db_is_uuid(s)) {
        return false;
    }
    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] >= 'A' && s[i] <= 'F') {
            return false;
        }
    }
    return true;
}

lc_db *
lc_db_open(const lc_db_options *opts)
{
    lc_db *db = calloc(1, sizeof(*db));

    if (db == NULL) {
        return NULL;
    }
    db->opts = *opts;
    if (db->opts.connect_timeout_s <= 0) {
        db->opts.connect_timeout_s = 3;
    }
    return db;
}

static void
lc_db_forget_prepared(lc_db *db)
{
    int i;

    for (i = 0; i < db->nprepared; i++) {
        free(db->prepared[i].sql);
    }
    db->nprepared = 0;
}

void
lc_db_close(lc_db *db)
{
    if (db == NULL) {
        return;
    }
    if (db->conn != NULL) {
        PQfinish(db->conn);
    }
    lc_db_forget_prepared(db);
    free(db);
}

/* FNV-1a: a cheap filter before the string comparison. */
static uint64_t
lc_db_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    while (*s) {
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    }
    return h;
}

static void
lc_db_fail(lc_db_error *err, lc_db_fault fault, const char *what,
           PGconn *conn)
{
    const char *msg = conn ? PQerrorMessage(conn) : "";

    atomic_fetch_add(&lc_db_errors, 1);
    memset(err, 0, sizeof(*err));
    err->fault = fault;
    snprintf(err->message, sizeof(err->message), "%s: %s", what, msg);
    err->message[strcspn(err->message, "\n")] = '\0';
}

/* Makes sure there is a healthy connection; forgets prepared statements
 * when it had to open a new one. */
static int
lc_db_connect(lc_db *db, lc_db_error *err)
{
    char timeout[16];
    const char *keys[] = {"dbname", "connect_timeout", "application_name",
                          NULL};
    const char *vals[] = {
        db->opts.conninfo, timeout,
        db->opts.application ? db->opts.application : "lintel", NULL};

    if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK) {
        return 0;
    }
    if (db->conn != NULL) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
    lc_db_forget_prepared(db);
    snprintf(timeout, sizeof(timeout), "%d", db->opts.connect_timeout_s);
    /* expand_dbname = 1: "dbname" may be a whole URI or conninfo string. */
    db->conn = PQconnectdbParams(keys, vals, 1);
    if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
        lc_db_fail(err, LC_DB_UNAVAILABLE, "connect", db->conn);
        if (db->conn != NULL) {
            PQfinish(db->conn);
            db->conn = NULL;
        }
        return -1;
    }
    return 0;
}

/* Fills `err` from a failed result and counts it. */
static void
lc_db_result_error(lc_db *db, const PGresult *res, lc_db_error *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary =
        res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *constraint =
        res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;

    atomic_fetch_add(&lc_db_errors, 1);
    memset(err, 0, sizeof(*err));
    if (state == NULL) {
        /* No SQLSTATE: the connection itself failed. */
        err->fault = LC_DB_UNAVAILABLE;
        snprintf(err->message, sizeof(err->message), "%s",
                 PQerrorMessage(db->conn));
        err->message[strcspn(err->message, "\n")] = '\0';
        return;
    }
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state);
    err->fault = lc_db_sqlstate_fault(state);
    snprintf(err->message, sizeof(err->message), "%s",
             primary ? primary : "database error");
    if (constraint != NULL) {
        snprintf(err->constraint, sizeof(err->constraint), "%s", constraint);
    }
}

/* The index of `st` among the connection's prepared statements, preparing
 * it first if needed; -1 when it should run unprepared. */
static int
lc_db_prepare(lc_db *db, const lc_db_stmt *st, lc_db_error *err, int *failed)
{
    uint64_t hash = lc_db_hash(st->sql);
    char name[16];
    PGresult *res;
    char *copy;
    int i;

    *failed = 0;
    for (i = 0; i < db->nprepared; i++) {
        if (db->prepared[i].hash == hash &&
            strcmp(db->prepared[i].sql, st->sql) == 0) {
            return i;
        }
    }
    if (!db->opts.prepared || db->nprepared == LC_DB_MAX_PREPARED ||
        (copy = strdup(st->sql)) == NULL) {
        return -1;
    }
    i = db->nprepared;
    snprintf(name, sizeof(name), "lc%d", i);
    res = PQprepare(db->conn, name, st->sql, st->nparams, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        lc_db_result_error(db, res, err);
        PQclear(res);
        free(copy);
        *failed = 1;
        return -1;
    }
    PQclear(res);
    db->prepared[i].hash = hash;
    db->prepared[i].sql = copy;
    db->nprepared++;
    return i;
}

PGresult *
lc_db_exec(lc_db *db, const lc_db_stmt *st, const char *const *params,
           lc_db_error *err)
{
    char name[16];
    PGresult *res;
    ExecStatusType status;
    int idx, failed;

    if (db->conn == NULL && lc_db_connect(db, err) != 0) {
        return NULL;
    }
    idx = lc_db_prepare(db, st, err, &failed);
    if (failed) {
        return NULL;
    }
    if (idx >= 0) {
        snprintf(name, sizeof(name), "lc%d", idx);
        res =
            PQexecPrepared(db->conn, name, st->nparams, params, NULL, NULL,
                           st->binary);
    } else {
        res = PQexecParams(db->conn, st->sql, st->nparams, NULL, params, NULL,
                           NULL, st->binary);
    }
    status = PQresultStatus(res);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        return res;
    }
    lc_db_result_error(db, res, err);
    PQclear(res);
    return NULL;
}

/* Runs a parameterless control statement (BEGIN, COMMIT, ROLLBACK). */
static int
lc_db_simple(lc_db *db, const char *sql, lc_db_error *err)
{
    PGresult *res = PQexec(db->conn, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        lc_db_result_error(db, res, err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

/* COMMIT of a transaction that already failed "succeeds" as ROLLBACK: treat
 * that as the failure it is, never as a write that happened. */
static int
lc_db_commit(lc_db *db, lc_db_error *err)
{
    PGresult *res = PQexec(db->conn, "COMMIT");

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        lc_db_result_error(db, res, err);
        PQclear(res);
        return -1;
    }
    if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        PQclear(res);
        lc_db_error_set(err, LC_DB_BUG,
                        "transaction was aborted before COMMIT");
        return -1;
    }
    PQclear(res);
    return 0;
}

static void
lc_db_rollback(lc_db *db)
{
    lc_db_error ignored;

    if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK &&
        PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
        lc_db_simple(db, "ROLLBACK", &ignored);
    }
}

int
lc_db_ping(lc_db *db, lc_db_error *err)
{
    static const lc_db_stmt ping = {"SELECT 1", 0};
    PGresult *res;

    if (lc_db_connect(db, err) != 0) {
        return -1;
    }
    res = lc_db_exec(db, &ping, NULL, err);
    if (res == NULL && PQstatus(db->conn) != CONNECTION_OK) {
        /* The server went away since the last use: one fresh attempt. */
        if (lc_db_connect(db, err) != 0) {
            return -1;
        }
        res = lc_db_exec(db, &ping, NULL, err);
    }
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}

static int lc_db_send(lc_db *db, const lc_db_stmt *st,
                      const char *const *params, lc_db_error *err);
static PGresult *lc_db_pipeline_result(lc_db *db, lc_db_error *err,
                                       int *failed);

/* BEGIN, SET TRANSACTION SNAPSHOT (when `snapshot` is not NULL: it must
 * come before any query) and the transaction-local settings, pipelined:
 * one round trip. A Sync inside an explicit transaction does not end it. */
static int
lc_db_begin_once(lc_db *db, const char *begin_sql, const char *snapshot,
                 const char *const *set, lc_db_error *err)
{
    PGresult *begin, *imported = NULL, *settings, *sync;
    int failed = 0;

    lc_db_prepare(db, &lc_db_set_tx, err, &failed);
    if (failed) {
        return -1;
    }
    if (!PQenterPipelineMode(db->conn) ||
        !PQsendQueryParams(db->conn, begin_sql, 0, NULL, NULL, NULL, NULL, 0) ||
        (snapshot != NULL && !PQsendQueryParams(db->conn, snapshot, 0, NULL,
                                                NULL, NULL, NULL, 0)) ||
        lc_db_send(db, &lc_db_set_tx, set, err) != 0 ||
        !PQpipelineSync(db->conn)) {
        if (err->fault == LC_DB_OK) {
            lc_db_result_error(db, NULL, err);
        }
        PQfinish(db->conn); /* a half-built pipeline goes with it */
        db->conn = NULL;
        return -1;
    }
    begin = lc_db_pipeline_result(db, err, &failed);
    if (snapshot != NULL) {
        imported = lc_db_pipeline_result(db, err, &failed);
    }
    settings = lc_db_pipeline_result(db, err, &failed);
    sync = PQgetResult(db->conn);
    PQclear(begin);
    PQclear(imported);
    PQclear(settings);
    if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
        if (!failed) {
            lc_db_result_error(db, sync, err);
        }
        PQclear(sync);
        PQfinish(db->conn);
        db->conn = NULL;
        return -1;
    }
    PQclear(sync);
    PQexitPipelineMode(db->conn);
    if (failed) {
        lc_db_rollback(db);
        return -1;
    }
    return 0;
}

/* An exported snapshot's id is spliced into SET TRANSACTION SNAPSHOT (it
 * takes no parameter): hex digits and dashes only, as PostgreSQL writes
 * them. */
static bool
lc_db_is_snapshot_id(const char *s)
{
    size_t n = strspn(s, "0123456789ABCDEFabcdef-");

    return n > 0 && n < LC_DB_SNAPSHOT_ID_MAX && s[n] == '\0';
}

/* A connection found dead at BEGIN is replaced once: nothing has run yet,
 * so that is safe. `opts` was checked by the caller. */
static int
lc_db_begin(lc_db *db, const char *tenant_id, int64_t remaining_ms,
            const lc_db_tx_options *opts, lc_db_error *err)
{
    char timeout[24], snapshot[LC_DB_SNAPSHOT_ID_MAX + 32];
    const char *set[2], *begin_sql = "BEGIN";
    int attempt;

    if (opts->repeatable_read) {
        begin_sql = opts->read_only
                        ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                        : "BEGIN ISOLATION LEVEL REPEATABLE READ";
    } else if (opts->read_only) {
        begin_sql = "BEGIN READ ONLY";
    }
    if (opts->snapshot != NULL) {
        snprintf(snapshot, sizeof(snapshot), "SET TRANSACTION SNAPSHOT '%s'",
                 opts->snapshot);
    }
    snprintf(timeout, sizeof(timeout), "%lld", (long long)remaining_ms);
    /* An empty app.tenant_id fails the policies' uuid cast: fail closed. */
    set[0] = tenant_id ? tenant_id : "";
    set[1] = timeout;
    for (attempt = 0;; attempt++) {
        if (lc_db_connect(db, err) != 0) {
            return -1;
        }
        if (lc_db_begin_once(db, begin_sql,
                             opts->snapshot != NULL ? snapshot : NULL, set,
                             err) == 0) {
            return 0;
        }
        if (attempt > 0 ||
            (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)) {
            return -1;
        }
    }
}

static bool
lc_db_retryable(const lc_db_error *err)
{
    return strcmp(err->sqlstate, "40001") == 0 ||
           strcmp(err->sqlstate, "40P01") == 0;
}

/* Queues `st` in the connection's pipeline, prepared when it can be. */
static int
lc_db_send(lc_db *db, const lc_db_stmt *st, const char *const *params,
           lc_db_error *err)
{
    char name[16];
    int idx, failed, ok;

    idx = lc_db_prepare(db, st, err, &failed);
    if (failed) {
        return -1;
    }
    if (idx >= 0) {
        snprintf(name, sizeof(name), "lc%d", idx);
        ok = PQsendQueryPrepared(db->conn, name, st->nparams, params, NULL,
                                 NULL, st->binary);
    } else {
        ok = PQsendQueryParams(db->conn, st->sql, st->nparams, NULL, params,
                               NULL, NULL, st->binary);
    }
    if (!ok) {
        lc_db_result_error(db, NULL, err);
        return -1;
    }
    return 0;
}

/* The result of the next queued statement (NULL on failure, `err` set
 * from the first failure only), and the NULL that ends it. */
static PGresult *
lc_db_pipeline_result(lc_db *db, lc_db_error *err, int *failed)
{
    PGresult *res = PQgetResult(db->conn), *end;
    ExecStatusType status = PQresultStatus(res);

    while (res != NULL && (end = PQgetResult(db->conn)) != NULL) {
        PQclear(end); /* never more than one result per statement here */
    }
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        return res;
    }
    if (!*failed) {
        if (status == PGRES_PIPELINE_ABORTED || res == NULL) {
            lc_db_error_set(err, LC_DB_BUG, "pipeline aborted");
        } else {
            lc_db_result_error(db, res, err);
        }
        *failed = 1;
    }
    PQclear(res);
    return NULL;
}

PGresult *
lc_db_tenant_read(lc_db *db, const char *tenant_id, int64_t deadline_ms,
                  const lc_db_stmt *st, const char *const *params,
                  lc_db_error *err)
{
    char timeout[24];
    const char *set[2];
    PGresult *settings, *res, *sync;
    int64_t remaining;
    int attempt, failed;

    if (tenant_id != NULL && !lc_db_is_uuid(tenant_id)) {
        lc_db_error_set(err, LC_DB_BUG, "tenant id is not a uuid");
        return NULL;
    }
    for (attempt = 0;; attempt++) {
        remaining = deadline_ms - lc_clock_mono_ms();
        if (remaining <= 0) {
            lc_db_error_set(err, LC_DB_TIMEOUT,
                            "deadline passed before the transaction");
            return NULL;
        }
        memset(err, 0, sizeof(*err));
        if (lc_db_connect(db, err) != 0) {
            return NULL;
        }
        snprintf(timeout, sizeof(timeout), "%lld", (long long)remaining);
        /* An empty app.tenant_id fails the policies' uuid cast. */
        set[0] = tenant_id ? tenant_id : "";
        set[1] = timeout;
        /* Statements are prepared before the pipeline starts: preparing
         * is a round trip of its own, once per connection. */
        lc_db_prepare(db, &lc_db_set_tx, err, &failed);
        if (!failed) {
            lc_db_prepare(db, st, err, &failed);
        }
        if (failed) {
            if (attempt == 0 && PQstatus(db->conn) != CONNECTION_OK) {
                continue; /* nothing ran: a fresh connection may */
            }
            return NULL;
        }
        if (!PQenterPipelineMode(db->conn) ||
            lc_db_send(db, &lc_db_set_tx, set, err) != 0 ||
            lc_db_send(db, st, params, err) != 0 || !PQpipelineSync(db->conn)) {
            if (err->fault == LC_DB_OK) {
                lc_db_result_error(db, NULL, err);
            }
            /* No Sync reached the server, so nothing can commit: drop
             * the half-built pipeline with the connection. */
            PQfinish(db->conn);
            db->conn = NULL;
            return NULL;
        }
        failed = 0;
        settings = lc_db_pipeline_result(db, err, &failed);
        res = lc_db_pipeline_result(db, err, &failed);
        sync = PQgetResult(db->conn);
        if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
            /* The connection broke mid-pipeline. */
            if (!failed) {
                lc_db_result_error(db, sync, err);
                failed = 1;
            }
            PQclear(sync);
            PQclear(settings);
            PQclear(res);
            PQfinish(db->conn);
            db->conn = NULL;
            return NULL;
        }
        PQclear(sync);
        PQexitPipelineMode(db->conn);
        PQclear(settings);
        if (!failed) {
            return res;
        }
        PQclear(res);
        return NULL;
    }
}

/* The options a transaction may run with: 0, or -1 with `err` set. */
static int
lc_db_tx_options_check(const char *tenant_id, const lc_db_tx_options *opts,
                       lc_db_error *err)
{
    if (tenant_id != NULL && !lc_db_is_uuid(tenant_id)) {
        lc_db_error_set(err, LC_DB_BUG, "tenant id is not a uuid");
        return -1;
    }
    if (opts->snapshot != NULL &&
        (!opts->repeatable_read || !lc_db_is_snapshot_id(opts->snapshot))) {
        lc_db_error_set(err, LC_DB_BUG,
                        "a snapshot is imported by a repeatable read"
                        " transaction, by its id");
        return -1;
    }
    return 0;
}

int
lc_db_tenant_tx(lc_db *db, const char *tenant_id, int64_t deadline_ms,
                lc_db_tx_fn fn, void *arg, lc_db_error *err)
{
    return lc_db_tenant_tx_with(db, tenant_id, deadline_ms, NULL, fn, arg, err);
}

int
lc_db_tenant_tx_with(lc_db *db, const char *tenant_id, int64_t deadline_ms,
                     const lc_db_tx_options *opts, lc_db_tx_fn fn, void *arg,
                     lc_db_error *err)
{
    static const lc_db_tx_options read_committed = {0};
    int64_t remaining;
    int attempt;

    if (opts == NULL) {
        opts = &read_committed;
    }
    if (lc_db_tx_options_check(tenant_id, opts, err) != 0) {
        return -1;
    }
    for (attempt = 1;; attempt++) {
        remaining = deadline_ms - lc_clock_mono_ms();
        if (remaining <= 0) {
            lc_db_error_set(err, LC_DB_TIMEOUT,
                            "deadline passed before the transaction");
            return -1;
        }
        memset(err, 0, sizeof(*err));
        if (lc_db_begin(db, tenant_id, remaining, opts, err) != 0) {
            return -1;
        }
        if (fn(db, arg, err) == 0 && lc_db_commit(db, err) == 0) {
            return 0;
        }
        if (err->fault == LC_DB_OK) {
            lc_db_error_set(err, LC_DB_BUG,
                            "transaction failed without an error");
        }
        lc_db_rollback(db);
        if (!lc_db_retryable(err) || attempt == LC_DB_TX_ATTEMPTS) {
            return -1;
        }
        lc_log(LC_LOG_INFO, NULL, tenant_id,
               "retrying transaction after SQLSTATE %s (attempt %d)",
               err->sqlstate, attempt);
    }
}

lc_db_snapshot *
lc_db_snapshot_take(const lc_db_options *opts, const char *tenant_id,
                    int64_t deadline_ms, lc_db_error *err)
{
    static const lc_db_tx_options holding = {.repeatable_read = true,
                                             .read_only = true};
    static const lc_db_stmt export_snapshot = {"SELECT pg_export_snapshot()",
                                               0};
    int64_t remaining = deadline_ms - lc_clock_mono_ms();
    lc_db_snapshot *snap;

    if (lc_db_tx_options_check(tenant_id, &holding, err) != 0) {
        return NULL;
    }
    if (remaining <= 0) {
        lc_db_error_set(err, LC_DB_TIMEOUT,
                        "deadline passed before the transaction");
        return NULL;
    }
    snap = calloc(1, sizeof(*snap));
    if (snap == NULL || (snap->db = lc_db_open(opts)) == NULL) {
        free(snap);
        lc_db_error_set(err, LC_DB_UNAVAILABLE, "out of memory");
        return NULL;
    }
    memset(err, 0, sizeof(*err));
    /* The transaction stays open: the snapshot lives as long as it. */
    if (lc_db_begin(snap->db, tenant_id, remaining, &holding, err) != 0 ||
        lc_db_value(snap->db, &export_snapshot, NULL, snap->id,
                    sizeof(snap->id), err) != 1 ||
        !lc_db_is_snapshot_id(snap->id)) {
        if (err->fault == LC_DB_OK) {
            lc_db_error_set(err, LC_DB_BUG, "pg_export_snapshot gave no id");
        }
        lc_db_snapshot_release(snap);
        return NULL;
    }
    return snap;
}

const char *
lc_db_snapshot_id(const lc_db_snapshot *snap)
{
    return snap->id;
}

void
lc_db_snapshot_release(lc_db_snapshot *snap)
{
    if (snap == NULL) {
        return;
    }
    /* Closing the connection ends its transaction, and the snapshot. */
    lc_db_close(snap->db);
    free(snap);
}
