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

#include <stdbool.h>
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

/* The path's :id (lc_db_is_path_uuid); anything else is a 404 with
 * `missing`; -1 then. */
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

/* --- a resource: its routes from a declaration --------------------------- */

#define LC_RESOURCE_MAX_FIELDS 32

enum { LC_RESOURCE_CREATED, LC_RESOURCE_UPDATED, LC_RESOURCE_DELETED };

/*
 * A resource whose create, PATCH and DELETE the kit answers. The service
 * writes its statements and rules; each change runs them in one
 * transaction with the caller's tenant, appends its event (the row's JSON
 * as data) and answers with the ETag; a create takes an Idempotency-Key
 * (checked after the body and the rules, so a bad request claims nothing).
 *
 * Every change statement returns the row as: id, version, JSON text, then
 * the columns `key_cols` names for the event's keys.
 */
typedef struct lc_resource lc_resource;
struct lc_resource {
    lc_entity entity;            /* GET, and the 404 and 412 messages */
    const char *write_role;      /* who may create, patch and delete */
    const lc_body_field *fields; /* POST's body; PATCH's with none required */
    size_t nfields;
    /* $1..$n the fields' values in order, $n+1 the actor and, for a
     * resource created under a parent (POST /api/parents/:id/children),
     * $n+2 the parent's id */
    const lc_db_stmt *insert;
    const lc_db_stmt *parent_lock; /* the parent by $1, FOR SHARE; or NULL */
    const char *parent_missing;    /* 404's message without the parent */
    const char *location;          /* "/api/tasks/": + the new id */
    /* $1 id, $2 actor, $3 If-Match version (NULL: any), then per field
     * "true"/"false" (sent or not) and its value */
    const lc_db_stmt *update;
    const lc_db_stmt *remove; /* a soft DELETE: $1 id, $2 actor, $3 version */
    lc_outbox *const *outbox;
    const char *events[3]; /* by LC_RESOURCE_*: "task.created", … */
    int key_cols[2];       /* result columns of the event's keys; -1: NULL */
    /* The service's rules beyond the field specs, before any transaction
     * (`create`: all required fields are there): 0, or -1 with the answer
     * set. NULL: none. */
    int (*check)(lc_req *req, const lc_caller *caller,
                 const lc_body_value *vals, bool create);
    /* For a create, after its Idempotency-Key is claimed and before its
     * transaction: whether the tenant may have one more (billing's
     * entitlement). 0, or -1 with the answer set; a refusal is kept as the
     * key's answer, so a retry gets it again, and a retry of a create that
     * succeeded gets its 201 back, never this check's answer. NULL: none. */
    int (*admit)(lc_req *req, const lc_caller *caller,
                 const lc_body_value *vals);
    /* More steps of a change's transaction, after its statement and before
     * its event (a cascade); 0 or -1. NULL: none. */
    int (*also)(lc_db *db, lc_entity_change *c, int what, lc_db_error *err);
};

/* The three routes of a resource (the path's :id is the row's, or the
 * parent's for a create under a parent). */
void lc_resource_create(lc_req *req, const lc_resource *r);
void lc_resource_patch(lc_req *req, const lc_resource *r);
void lc_resource_delete(lc_req *req, const lc_resource *r);

/* Appends one event of `r` about a row of `res` (id, version, JSON, keys)
 * in the running transaction; for `also` steps that change other rows. */
int lc_resource_event(lc_db *db, const lc_resource *r, lc_entity_change *c,
                      int what, const PGresult *res, int row, lc_db_error *err);

#endif
