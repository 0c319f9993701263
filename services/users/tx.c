/*
 * tx.c: transactions whose body may decide an API error (a 404, a 409 of
 * the handler's own), answered as such instead of as a database failure.
 */
#include <stdio.h>
#include <string.h>

#include "users.h"

int
users_fail_tx(users_fail *f, lc_db_error *err, int status, const char *code,
              const char *message)
{
    f->status = status;
    f->code = code;
    f->message = message;
    lc_db_error_set(err, status, code, message);
    return -1;
}

int
users_tx(lc_req *req, const char *tenant_id, lc_db_tx_fn fn, void *ctx)
{
    users_fail *f = ctx;
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
users_db_value(lc_db *db, const lc_db_stmt *st, const char *const *params,
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
