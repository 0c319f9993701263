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
    if (!lc_db_is_path_uuid(*id)) {
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

/* --- resources ---------------------------------------------------------- */

/* A change's transaction context: the change first, for lc_req_tx. */
typedef struct {
    lc_entity_change c;
    const lc_resource *r;
    int what;
} lc_resource_tx;

int
lc_resource_event(lc_db *db, const lc_resource *r, lc_entity_change *c,
                  int what, const PGresult *res, int row, lc_db_error *err)
{
    lc_outbox_event ev = {
        .type = r->events[what],
        .actor_id = c->caller->user_id,
        .data_json = PQgetvalue(res, row, 2),
    };
    int k;

    for (k = 0; k < 2; k++) {
        ev.keys[k] =
            r->key_cols[k] >= 0 ? PQgetvalue(res, row, r->key_cols[k]) : NULL;
    }
    return lc_outbox_append(db, *r->outbox, &ev, &c->seq, err);
}

/* The rest of a change after its statement: the service's steps, the
 * event and, for a create, the response kept with its Idempotency-Key. */
static int
lc_resource_finish(lc_db *db, lc_resource_tx *t, lc_db_error *err)
{
    char location[128];

    if ((t->r->also != NULL && t->r->also(db, &t->c, t->what, err) != 0) ||
        lc_resource_event(db, t->r, &t->c, t->what, t->c.res, 0, err) != 0) {
        return -1;
    }
    if (t->what != LC_RESOURCE_CREATED) {
        return 0;
    }
    snprintf(location, sizeof(location), "%s%s", t->r->location,
             PQgetvalue(t->c.res, 0, 0));
    return lc_idem_store(db, t->c.idem, 201, location,
                         PQgetvalue(t->c.res, 0, 1), PQgetvalue(t->c.res, 0, 2),
                         err);
}

static int
lc_resource_create_tx(lc_db *db, void *arg, lc_db_error *err)
{
    lc_resource_tx *t = arg;
    const lc_resource *r = t->r;
    const char *params[LC_RESOURCE_MAX_FIELDS + 2];
    size_t i;
    int found;

    if (r->parent_lock != NULL) {
        found = lc_db_value(db, r->parent_lock, &t->c.id, NULL, 0, err);
        if (found <= 0) {
            return found < 0 ? -1
                             : lc_req_fail_tx(&t->c.fail, err, 404, "not_found",
                                              r->parent_missing);
        }
    }
    for (i = 0; i < r->nfields; i++) {
        params[i] = t->c.vals[i].text;
    }
    params[r->nfields] = t->c.caller->user_id;
    params[r->nfields + 1] = t->c.id;
    PQclear(t->c.res);
    t->c.res = lc_db_exec(db, r->insert, params, err);
    return t->c.res == NULL ? -1 : lc_resource_finish(db, t, err);
}

static int
lc_resource_change_tx(lc_db *db, void *arg, lc_db_error *err)
{
    lc_resource_tx *t = arg;
    const char *params[3 + 2 * LC_RESOURCE_MAX_FIELDS];
    bool update = t->what == LC_RESOURCE_UPDATED;

    lc_entity_update_params(&t->c, update ? t->r->nfields : 0, params);
    if (lc_entity_change_exec(&t->c, db, update ? t->r->update : t->r->remove,
                              params, &t->r->entity, err) != 0) {
        return -1;
    }
    return lc_resource_finish(db, t, err);
}

void
lc_resource_create(lc_req *req, const lc_resource *r)
{
    lc_body_value vals[LC_RESOURCE_MAX_FIELDS];
    lc_resource_tx t = {.r = r, .what = LC_RESOURCE_CREATED};
    lc_caller caller;
    lc_idem idem;

    if (lc_caller_get(req, r->write_role, &caller) != 0 ||
        (r->parent_lock != NULL &&
         lc_entity_path_id(req, r->parent_missing, &t.c.id) != 0) ||
        lc_body_read(req, r->fields, r->nfields, vals) != 0 ||
        (r->check != NULL && r->check(req, &caller, vals, true) != 0) ||
        lc_idem_begin(req, caller.tenant_id, caller.user_id, &idem) != 0) {
        return;
    }
    if (r->admit != NULL && r->admit(req, &caller, vals) != 0) {
        lc_idem_keep_refusal(req, &idem);
        return;
    }
    t.c.caller = &caller;
    t.c.idem = &idem;
    t.c.vals = vals;
    lc_entity_change_run(req, lc_resource_create_tx, &t.c, *r->outbox, 201,
                         r->location);
}

void
lc_resource_patch(lc_req *req, const lc_resource *r)
{
    lc_body_value vals[LC_RESOURCE_MAX_FIELDS];
    lc_resource_tx t = {.r = r, .what = LC_RESOURCE_UPDATED};
    char version[LC_ETAG_VERSION_MAX + 1];
    lc_caller caller;

    if (lc_caller_get(req, r->write_role, &caller) != 0 ||
        lc_entity_path_id(req, r->entity.missing, &t.c.id) != 0 ||
        lc_entity_patch_args(req, r->fields, r->nfields, vals, version,
                             sizeof(version)) != 0 ||
        (r->check != NULL && r->check(req, &caller, vals, false) != 0)) {
        return;
    }
    t.c.caller = &caller;
    t.c.vals = vals;
    t.c.version = version;
    lc_entity_change_run(req, lc_resource_change_tx, &t.c, *r->outbox, 200,
                         NULL);
}

void
lc_resource_delete(lc_req *req, const lc_resource *r)
{
    lc_resource_tx t = {.r = r, .what = LC_RESOURCE_DELETED};
    char version[LC_ETAG_VERSION_MAX + 1] = "";
    lc_caller caller;

    if (lc_caller_get(req, r->write_role, &caller) != 0 ||
        lc_entity_path_id(req, r->entity.missing, &t.c.id) != 0 ||
        lc_etag_if_match(req, version, sizeof(version)) < 0) {
        return;
    }
    t.c.caller = &caller;
    t.c.version = version;
    lc_entity_change_run(req, lc_resource_change_tx, &t.c, *r->outbox, 204,
                         NULL);
}
