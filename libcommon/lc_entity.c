/*
 * lc_entity.c: GET by id, and the steps of a create, PATCH or DELETE.
 */
#include "lc_entity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_etag.h"

int
lc_entity_path_id(lc_req *req, const char *what, const char **id)
{
    *id = lc_req_param(req, "id");
    if (!lc_db_is_uuid(*id)) {
        lc_req_error(req, 404, "not_found", what);
        return -1;
    }
    return 0;
}

void
lc_entity_get(lc_req *req, const lc_entity *e)
{
    char version[40], small[4096], *json = small;
    lc_caller caller;
    PGresult *res;
    const char *id;
    size_t size;
    long len;

    if (lc_caller_get(req, e->min_role, &caller) != 0 ||
        lc_entity_path_id(req, e->missing, &id) != 0) {
        return;
    }
    res = lc_req_read(req, caller.tenant_id, e->get, &id);
    if (res == NULL) {
        return;
    }
    if (PQntuples(res) == 0) {
        lc_req_error(req, 404, "not_found", e->missing);
        PQclear(res);
        return;
    }
    size = lc_row_json_size(res, 0, e->cols, e->ncols);
    if (size > sizeof(small)) {
        json = malloc(size);
    }
    len = json ? lc_row_json(res, 0, e->cols, e->ncols, json) : -1;
    if (len < 0 || lc_row_text(res, 0, 0, LC_ROW_INT4, version) < 0) {
        lc_req_error(req, 500, "internal", "internal error");
    } else {
        lc_etag_respond(req, 200, version, json);
    }
    if (json != small) {
        free(json);
    }
    PQclear(res);
}

int
lc_entity_change_exec(lc_entity_change *c, lc_db *db, const lc_db_stmt *st,
                      const char *const *params, const lc_entity *e,
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
    return exists ? lc_req_fail_tx(&c->fail, err, 412, "precondition_failed",
                                   e->changed)
                  : lc_req_fail_tx(&c->fail, err, 404, "not_found", e->missing);
}

void
lc_entity_update_params(const lc_entity_change *c, size_t n,
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
lc_entity_patch_args(lc_req *req, const lc_body_field *spec, size_t n,
                     lc_body_value *vals, char *version, size_t len)
{
    if (lc_body_read_patch(req, spec, n, vals) != 0) {
        return -1;
    }
    return lc_etag_require(req, version, len);
}

void
lc_entity_change_run(lc_req *req, lc_db_tx_fn fn, lc_entity_change *c,
                     lc_outbox *outbox, int status, const char *location)
{
    char url[96];

    if (lc_req_tx(req, c->caller->tenant_id, fn, c) != 0) {
        PQclear(c->res); /* what a failed attempt left */
        if (c->idem != NULL) {
            lc_idem_abort(req, c->idem);
        }
        return;
    }
    lc_outbox_announce(outbox, c->seq);
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
