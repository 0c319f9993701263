/*
 * lc_req_tx.c: transactions and reads of a request, failing as API errors.
 */
#include "lc_req_tx.h"

int
lc_req_fail_tx(lc_req_fail *f, lc_db_error *err, int status, const char *code,
               const char *message)
{
    f->status = status;
    f->code = code;
    f->message = message;
    lc_db_error_set(err, LC_DB_ABORTED, message);
    return -1;
}

int
lc_req_tx(lc_req *req, const char *tenant_id, lc_db_tx_fn fn, void *ctx)
{
    lc_req_fail *f = ctx;
    lc_db_error err;

    f->status = 0;
    if (lc_db_tenant_tx(lc_req_db(req), tenant_id, lc_req_deadline_ms(req), fn,
                        ctx, &err) == 0) {
        return 0;
    }
    if (f->status != 0) {
        lc_req_error(req, f->status, f->code, f->message);
    } else {
        lc_req_db_error(req, &err);
    }
    return -1;
}

int
lc_req_query_tx(lc_db *db, void *arg, lc_db_error *err)
{
    lc_req_query *q = arg;

    PQclear(q->res); /* what an attempt before a retry left */
    q->res = lc_db_exec(db, q->stmt, q->params, err);
    return q->res ? 0 : -1;
}

PGresult *
lc_req_read(lc_req *req, const char *tenant_id, const lc_db_stmt *st,
            const char *const *params)
{
    lc_db *replica = lc_req_replica_db(req);
    lc_db_error err;
    PGresult *res;

    /* A replica that fails a read (down, or a query cancelled by replay)
     * costs that read a second try on the primary, never an error. */
    if (replica != NULL) {
        res = lc_db_tenant_read(replica, tenant_id, lc_req_deadline_ms(req), st,
                                params, &err);
        if (res != NULL) {
            return res;
        }
        lc_req_replica_failed(req);
    }
    return lc_req_read_primary(req, tenant_id, st, params);
}

PGresult *
lc_req_read_primary(lc_req *req, const char *tenant_id, const lc_db_stmt *st,
                    const char *const *params)
{
    lc_db_error err;
    PGresult *res = lc_db_tenant_read(
        lc_req_db(req), tenant_id, lc_req_deadline_ms(req), st, params, &err);

    if (res == NULL) {
        lc_req_db_error(req, &err);
    }
    return res;
}
