/*
 * lc_req_tx: a request's database work, in its tenant and within its
 * deadline, answered as an API error when it fails.
 *
 *   lc_req_read  one read-only statement: the tenant, the statement timeout
 *                and the statement go in one round trip (lc_db_tenant_read),
 *                to the read replica while it keeps up (lc_replica.h), else
 *                to the primary
 *   lc_req_tx    a transaction (lc_db_tenant_tx: BEGIN and the settings in
 *                one round trip, serialization failures and deadlocks
 *                retried) whose body may decide an API error itself
 *
 * The body of an lc_req_tx decides an error (a 404 of a row that is gone,
 * a 409 of a state that forbids the change) with lc_req_fail_tx: the
 * transaction rolls back and that error is the answer. Every other failure
 * is answered by lc_req_db_error: the service's constraint table, or the
 * kind of failure.
 */
#ifndef LC_REQ_TX_H
#define LC_REQ_TX_H

#include "lc_rpc_server.h"

/* The first member of the context of every lc_req_tx: the API error the
 * body decided (status 0: none). */
typedef struct {
    int status;
    const char *code;
    const char *message;
} lc_req_fail;

/* In a transaction's body: records an API error and fails the
 * transaction (it rolls back). Returns -1, for `return lc_req_fail_tx(…)`. */
int lc_req_fail_tx(lc_req_fail *f, lc_db_error *err, int status,
                   const char *code, const char *message);

/*
 * Runs `fn` in a transaction of `tenant_id` (NULL: platform scope) with the
 * request's deadline. `ctx` must start with an lc_req_fail. Returns 0, or
 * -1 with the error response set.
 */
int lc_req_tx(lc_req *req, const char *tenant_id, lc_db_tx_fn fn, void *ctx);

/* The context of a transaction of one statement, and its body: pass
 * lc_req_query_tx and an lc_req_query to lc_req_tx; its result (PQclear
 * it) is in `res`. A body of several steps may end with it. */
typedef struct {
    lc_req_fail fail; /* first, as lc_req_tx wants */
    const lc_db_stmt *stmt;
    const char *const *params;
    PGresult *res;
} lc_req_query;

int lc_req_query_tx(lc_db *db, void *arg, lc_db_error *err);

/* One read-only statement in the tenant's transaction, in one round trip;
 * the result (PQclear it), or NULL with the error response set. */
PGresult *lc_req_read(lc_req *req, const char *tenant_id, const lc_db_stmt *st,
                      const char *const *params);

/* lc_req_read on the primary always: for a read that must see what the
 * caller has just written (a job's state right after its creation). */
PGresult *lc_req_read_primary(lc_req *req, const char *tenant_id,
                              const lc_db_stmt *st, const char *const *params);

#endif
