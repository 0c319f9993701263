/*
 * lc_db: one PostgreSQL connection per worker thread, and the tenant
 * transaction every request runs in.
 *
 * Tenant isolation is enforced by row-level security (DESIGN §6): each
 * transaction starts with set_config('app.tenant_id', $1, true), local to
 * the transaction so it cannot leak to the next request on the connection
 * (nor to another client behind PgBouncer), and with statement_timeout set
 * from the request's deadline so no query outlives its caller.
 *
 * A statement is prepared on a connection the first time that connection
 * runs its text, and reused by text after that; `prepared = false` falls
 * back to PQexecParams for poolers that cannot keep prepared statements.
 */
#ifndef LC_DB_H
#define LC_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct lc_db lc_db;

typedef struct {
    const char *conninfo;    /* libpq URI or key=value string */
    const char *application; /* application_name, e.g. "lintel-users" */
    bool prepared;           /* use server-side prepared statements */
    int connect_timeout_s;   /* 0: 3 */
} lc_db_options;

typedef struct {
    const char *sql; /* parameters as $1..$n, always: never built SQL */
    int nparams;
    bool binary; /* results in binary format (read with lc_row) */
} lc_db_stmt;

/* What kind of failure: the request layer (lc_req_db_error) decides what
 * a client is told; lc_db knows nothing of HTTP. */
typedef enum {
    LC_DB_OK = 0,
    LC_DB_UNAVAILABLE, /* no connection, or the server is shutting down or
                          out of resources: worth a retry later */
    LC_DB_TIMEOUT,     /* the deadline passed (statement_timeout included) */
    LC_DB_CONFLICT,    /* a unique key taken; serialization failure or
                          deadlock still there after the retries */
    LC_DB_REFUSED,     /* a foreign key, check or not-null constraint */
    LC_DB_BAD_VALUE,   /* a data exception (SQLSTATE 22…) */
    LC_DB_ABORTED,     /* the transaction's own body chose to roll back */
    LC_DB_BUG,         /* anything else: bad SQL, privileges, misuse */
} lc_db_fault;

typedef struct {
    lc_db_fault fault;   /* LC_DB_OK when no error */
    char sqlstate[6];    /* "" when the error did not come from the server */
    char message[256];   /* for logs only: may name tables and constraints */
    char constraint[64]; /* the violated constraint, when there is one */
} lc_db_error;

/* Connects lazily: the first transaction or ping opens the connection. */
lc_db *lc_db_open(const lc_db_options *opts);
void lc_db_close(lc_db *db);

/* SELECT 1, reconnecting when the connection was lost; 0 or -1. */
int lc_db_ping(lc_db *db, lc_db_error *err);

/*
 * The body of a transaction. Returns 0 to commit, -1 to roll back with
 * `err` set (by lc_db_exec or by the function itself). It may run more than
 * once: a serialization failure or deadlock retries the whole transaction,
 * so it must not have effects outside the database before it returns.
 */
typedef int (*lc_db_tx_fn)(lc_db *db, void *arg, lc_db_error *err);

/*
 * BEGIN; set_config('app.tenant_id', tenant_id, true); statement_timeout
 * from `deadline_ms` (lc_clock_mono_ms() scale); fn; COMMIT — or ROLLBACK
 * when fn fails. tenant_id must be a UUID, or NULL for platform-scope work
 * (tenant tables then fail closed). A deadline already past fails
 * (LC_DB_TIMEOUT) without touching the database. BEGIN and the settings go
 * in one round trip. Returns 0 or -1 with `err` set.
 */
int lc_db_tenant_tx(lc_db *db, const char *tenant_id, int64_t deadline_ms,
                    lc_db_tx_fn fn, void *arg, lc_db_error *err);

/* How a transaction sees the database; {0} (or NULL) is READ COMMITTED,
 * read-write, lc_db_tenant_tx's. */
typedef struct {
    bool repeatable_read; /* one snapshot for the whole transaction */
    bool read_only;
    /* A snapshot another transaction holds (lc_db_snapshot_id): this one
     * sees the database exactly as that one does. Needs repeatable_read;
     * an UPDATE or DELETE of a row changed since then fails (40001). */
    const char *snapshot;
} lc_db_tx_options;

/* lc_db_tenant_tx with an isolation level and, maybe, an imported
 * snapshot, set by BEGIN and SET TRANSACTION SNAPSHOT in the same round
 * trip as the settings. */
int lc_db_tenant_tx_with(lc_db *db, const char *tenant_id, int64_t deadline_ms,
                         const lc_db_tx_options *opts, lc_db_tx_fn fn,
                         void *arg, lc_db_error *err);

/*
 * A snapshot held open for other transactions to share: its own
 * connection (opened with `opts`) in a REPEATABLE READ READ ONLY tenant
 * transaction that ran pg_export_snapshot() and stays open until
 * lc_db_snapshot_release. Transactions that import its id (on any
 * connection) all read the same committed state, however long apart they
 * run. While it is held, VACUUM cannot remove rows that died after it:
 * hold it for one piece of work, never longer. NULL with `err` set on
 * failure.
 */
typedef struct lc_db_snapshot lc_db_snapshot;

lc_db_snapshot *lc_db_snapshot_take(const lc_db_options *opts,
                                    const char *tenant_id, int64_t deadline_ms,
                                    lc_db_error *err);
/* The id to import (lc_db_tx_options.snapshot), valid until released. */
const char *lc_db_snapshot_id(const lc_db_snapshot *snap);
/* Ends the transaction and closes its connection; NULL is a no-op. */
void lc_db_snapshot_release(lc_db_snapshot *snap);

/*
 * A single read-only statement in its own tenant transaction, in one round
 * trip: set_config (tenant, statement_timeout) and the statement are
 * pipelined up to one Sync, which makes them one implicit transaction, so
 * the settings are local to it exactly as in lc_db_tenant_tx. Returns the
 * statement's result (TUPLES_OK), which the caller PQclear()s, or NULL with
 * `err` set. A connection found dead is replaced once; nothing is retried
 * after the statement may have run.
 */
PGresult *lc_db_tenant_read(lc_db *db, const char *tenant_id,
                            int64_t deadline_ms, const lc_db_stmt *st,
                            const char *const *params, lc_db_error *err);

/*
 * Runs a statement; params are text (NULL = SQL NULL). Returns a result
 * with status TUPLES_OK or COMMAND_OK, which the caller PQclear()s, or NULL
 * with `err` set.
 */
PGresult *lc_db_exec(lc_db *db, const lc_db_stmt *st, const char *const *params,
                     lc_db_error *err);

/* Sets `err` for a failure found by the caller (not from the server). */
void lc_db_error_set(lc_db_error *err, lc_db_fault fault, const char *message);

/* The kind of failure a SQLSTATE reports (23505 → LC_DB_CONFLICT, ...). */
lc_db_fault lc_db_sqlstate_fault(const char *sqlstate);

/* The first column of the first row of a statement, copied into `out`
 * (may be NULL); 1 when there was a row, 0 when none, -1 on error. */
int lc_db_value(lc_db *db, const lc_db_stmt *st, const char *const *params,
                char *out, size_t outlen, lc_db_error *err);

/* true when `s` is [a-z_][a-z0-9_]{0,62}: a schema, table or column name
 * a caller may splice into a statement it builds once (lc_outbox,
 * lc_consumer). */
bool lc_db_is_identifier(const char *s);

/* true when `s` is a textual UUID (8-4-4-4-12 hex digits, either case). */
bool lc_db_is_uuid(const char *s);

/* true when `s` is a UUID in the one form ids take in paths, lower case
 * as PostgreSQL writes them: one resource, one URL, in every service (an
 * upper-case spelling is a 404 like any other malformed id). */
bool lc_db_is_path_uuid(const char *s);

/* Server and connection errors since start, for /metrics. */
uint64_t lc_db_error_count(void);

#endif
