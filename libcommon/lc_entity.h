/*
 * lc_entity: the routes of a resource that lives in one table row with a
 * version: GET by id with its ETag, and the create, PATCH and DELETE
 * transactions around a service's own statements.
 *
 * A service describes each resource (its GET statement, the JSON columns
 * of the row, its 404 and 412 messages) and writes its statements and
 * rules; the kit does the rest:
 *
 *   GET     lc_entity_get: the caller, the path's id (a malformed one is a
 *           404, API.md), one round trip, the JSON built from binary
 *           columns (lc_row), the version as the ETag
 *   PATCH   lc_entity_patch_args: the body (nothing required) and If-Match
 *           (428 without it); lc_entity_update_params: the UPDATE's
 *           parameters; lc_entity_change_exec: the UPDATE, telling a
 *           vanished row (404) from a changed one (412)
 *   all     lc_entity_change_run: the transaction, the events it wrote
 *           announced, and the answer (201 with Location, 200 with the
 *           ETag, or 204); a failed one gives back its Idempotency-Key
 */
#ifndef LC_ENTITY_H
#define LC_ENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "lc_body.h"
#include "lc_caller.h"
#include "lc_idem.h"
#include "lc_outbox.h"
#include "lc_req_tx.h"
#include "lc_row.h"

typedef struct {
    const char *min_role;      /* who may read it: "viewer" */
    const lc_db_stmt *get;     /* the row by id, binary: version, then cols */
    const lc_row_column *cols; /* the JSON of the row (lc_row) */
    size_t ncols;
    const char *missing; /* 404's message */
    const char *changed; /* 412's message */
} lc_entity;

/* The path's :id; a malformed one is a 404 with `missing`; -1 then. */
int lc_entity_path_id(lc_req *req, const char *missing, const char **id);

/* GET of the row the path's :id names. */
void lc_entity_get(lc_req *req, const lc_entity *e);

/* The context of a changing transaction, for lc_req_tx. */
typedef struct {
    lc_req_fail fail; /* first: lc_req_tx answers with it */
    const lc_caller *caller;
    const lc_idem *idem; /* POST only */
    const char *id;      /* PATCH, DELETE: the path's id */
    const char *version; /* PATCH, DELETE: If-Match; "" for any */
    lc_body_value *vals; /* the body */
    PGresult *res;       /* row 0: id, version, json, ... */
    int64_t seq;         /* the last event the transaction wrote */
} lc_entity_change;

/* Runs the UPDATE (or soft DELETE) `st` of c->id into c->res. One that
 * matches nothing is a 412 when `e->get` still finds the row, else a 404.
 * Returns 0 with row 0 in c->res, or -1. */
int lc_entity_change_exec(lc_entity_change *c, lc_db *db, const lc_db_stmt *st,
                          const char *const *params, const lc_entity *e,
                          lc_db_error *err);

/* An UPDATE's parameters: id, actor, If-Match version (NULL: any), then
 * per field "true"/"false" (sent or not) and its value; 3 + 2n of them
 * (n = 0: a DELETE's). */
void lc_entity_update_params(const lc_entity_change *c, size_t n,
                             const char **params);

/* A PATCH's body by `spec` (nothing required) and its If-Match (428
 * without one) into `version`. Returns 0, or -1 with the response set. */
int lc_entity_patch_args(lc_req *req, const lc_body_field *spec, size_t n,
                         lc_body_value *vals, char *version, size_t len);

/* Runs `fn` in the caller's tenant, then announces the events it wrote on
 * `outbox` and answers `status`: 204 empty, else the entity of c->res
 * (columns id, version, JSON text) with its ETag and, when `location` is
 * set, a Location of `location` + its id. */
void lc_entity_change_run(lc_req *req, lc_db_tx_fn fn, lc_entity_change *c,
                          lc_outbox *outbox, int status, const char *location);

#endif
