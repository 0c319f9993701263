/*
 * change.c: the steps projects.c and tasks.c share when they create, patch
 * or delete: the PATCH body and If-Match, the UPDATE's parameters, telling
 * a vanished row from a changed one, and running the transaction through
 * to the events' announcement and the answer.
 */
#include <stdio.h>
#include <string.h>

#include "projects.h"

int
projects_change_exec(projects_change *c, lc_db *db, const lc_db_stmt *st,
                     const char *const *params, const projects_entity *e,
                     lc_db_error *err)
{
    PGresult *res;
    int exists;

    PQclear(c->res);
    c->res = lc_db_exec(db, st, params, err);
    if (c->res == NULL) {
        return -1;
    }
    if (PQntuples(c->res) > 0) {
        return 0;
    }
    res = lc_db_exec(db, e->get, &c->id, err);
    if (res == NULL) {
        return -1;
    }
    exists = PQntuples(res) > 0;
    PQclear(res);
    return exists
               ? lc_req_fail_tx(&c->fail, err, 412, "precondition_failed",
                                  e->changed)
               : lc_req_fail_tx(&c->fail, err, 404, "not_found", e->missing);
}

void
projects_change_update_params(const projects_change *c, size_t n,
                              const char **params)
{
    size_t i;

    params[0] = c->id;
    params[1] = c->caller->user_id;
    params[2] = c->version[0] ? c->version : NULL;
    for (i = 0; i < n; i++) {
        params[3 + 2 * i] = c->vals[i].present ? "true" : "false";
        params[4 + 2 * i] = c->vals[i].text;
    }
}

int
projects_patch_args(lc_req *req, const lc_body_field *spec, size_t n,
                    lc_body_value *vals, char *version, size_t len)
{
    if (lc_body_read_patch(req, spec, n, vals) != 0) {
        return -1;
    }
    return lc_etag_require(req, version, len);
}

void
projects_change_run(lc_req *req, lc_db_tx_fn fn, projects_change *c, int status,
                    const char *location)
{
    char url[96];

    if (lc_req_tx(req, c->caller->tenant_id, fn, c) != 0) {
        PQclear(c->res); /* what a failed attempt left */
        if (c->idem != NULL) {
            lc_idem_abort(req, c->idem);
        }
        return;
    }
    lc_outbox_announce(projects_outbox, c->seq);
    if (status == 204) {
        lc_req_respond(req, 204, NULL, NULL, 0);
    } else {
        if (location != NULL) {
            snprintf(url, sizeof(url), "%s%s", location,
                     PQgetvalue(c->res, 0, 0));
            lc_req_header(req, "location", url);
        }
        lc_etag_respond(req, status, PQgetvalue(c->res, 0, 1),
                                PQgetvalue(c->res, 0, 2));
    }
    PQclear(c->res);
}
