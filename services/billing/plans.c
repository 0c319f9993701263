/*
 * plans.c: the plan catalog. GET /api/billing/plans: every signed-in
 * member of a tenant may read it; it lists the current version of each
 * plan, cheapest first. POST /api/admin/billing/plans/{code}/versions: a
 * platform admin on the apex publishes a new version of a plan (its price
 * and limits); the version it replaces is retired, and the subscriptions on
 * it keep it until they change plan (a new trial or a plan change takes the
 * current one). The replaced version is named by If-Match, so a retry of a
 * publication that went through is a 412, never a second version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing.h"

static const lc_db_stmt plans_current = {
    "SELECT coalesce(json_agg(" BILLING_PLAN_JSON("p") " ORDER BY p.rank), '[]')"
    "::text FROM billing.plans p WHERE p.retired_at IS NULL",
    0};

static void
plans_list(lc_req *req)
{
    lc_caller caller;
    PGresult *res;
    cJSON *body;

    if (lc_caller_get(req, "viewer", &caller) != 0) {
        return;
    }
    res = lc_req_read(req, caller.tenant_id, &plans_current, NULL);
    if (res == NULL) {
        return;
    }
    body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, "data", cJSON_Parse(PQgetvalue(res, 0, 0)));
    PQclear(res);
    lc_req_respond_json(req, 200, body);
}

/* --- publishing a version ------------------------------------------------*/

/* The current version, locked: publications of one plan take turns. */
static const lc_db_stmt plan_current_lock = {
    "SELECT version, name FROM billing.plans"
    " WHERE code = $1 AND retired_at IS NULL FOR UPDATE",
    1};
static const lc_db_stmt plan_retire = {
    "UPDATE billing.plans SET retired_at = now()"
    " WHERE code = $1 AND version = $2::int",
    2};
/* $1 code, $2 replaced version, $3 name (NULL: the replaced one's),
 * $4 seat price, $5 max seats, $6 max projects */
static const lc_db_stmt plan_publish = {
    "INSERT INTO billing.plans AS np (code, version, name, currency,"
    " seat_price_minor, max_seats, max_projects, rank)"
    " SELECT code, version + 1, coalesce($3, name), currency, $4::bigint,"
    " $5::int, $6::int, rank FROM billing.plans"
    " WHERE code = $1 AND version = $2::int"
    " RETURNING np.version, " BILLING_PLAN_JSON("np") "::text",
    6};

typedef struct {
    lc_req_fail fail; /* first: lc_req_tx answers with it */
    const char *code, *if_match;
    const lc_body_value *v;
    char version[16];
    char *body;
} plan_publish_ctx;

enum { PV_NAME, PV_PRICE, PV_SEATS, PV_PROJECTS };

static int
plan_publish_tx(lc_db *db, void *arg, lc_db_error *err)
{
    plan_publish_ctx *c = arg;
    const char *params[6];
    char current[16];
    PGresult *res;

    res = lc_db_exec(db, &plan_current_lock, &c->code, err);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lc_req_fail_tx(&c->fail, err, 404, "not_found", "no such plan");
    }
    snprintf(current, sizeof(current), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (strcmp(current, c->if_match) != 0) {
        return lc_req_fail_tx(&c->fail, err, 412, "precondition_failed",
                              "the plan has another current version");
    }
    params[0] = c->code;
    params[1] = current;
    res = lc_db_exec(db, &plan_retire, params, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    params[2] = c->v[PV_NAME].text;
    params[3] = c->v[PV_PRICE].text;
    params[4] = c->v[PV_SEATS].text;
    params[5] = c->v[PV_PROJECTS].text;
    res = lc_db_exec(db, &plan_publish, params, err);
    if (res == NULL) {
        return -1;
    }
    snprintf(c->version, sizeof(c->version), "%s", PQgetvalue(res, 0, 0));
    free(c->body);
    c->body = strdup(PQgetvalue(res, 0, 1));
    PQclear(res);
    return c->body != NULL ? 0 : -1;
}

static void
plans_publish(lc_req *req)
{
    static const lc_body_field fields[] = {
        [PV_NAME] = {.name = "name", .kind = LC_BODY_NAME, .max = 100},
        [PV_PRICE] = {.name = "seat_price_minor", .kind = LC_BODY_INT,
                      .required = true, .min = 0,
                      .max = LC_BODY_MAX_SAFE_INT},
        [PV_SEATS] = {.name = "max_seats", .kind = LC_BODY_INT,
                      .required = true, .nullable = true, .min = 1,
                      .max = 1000000},
        [PV_PROJECTS] = {.name = "max_projects", .kind = LC_BODY_INT,
                         .required = true, .nullable = true, .min = 0,
                         .max = 1000000},
    };
    lc_body_value v[4];
    char if_match[LC_ETAG_VERSION_MAX + 1];
    plan_publish_ctx c = {.code = lc_req_param(req, "code"), .v = v};

    if (lc_caller_platform_admin(req) != 0 ||
        lc_body_read(req, fields, 4, v) != 0 ||
        lc_etag_require(req, if_match, sizeof(if_match)) != 0) {
        return;
    }
    c.if_match = if_match;
    if (lc_req_tx(req, NULL, plan_publish_tx, &c) != 0) {
        free(c.body);
        return;
    }
    /* a canceled subscription is held to the current free plan */
    entitlements_plan_changed(lc_req_app(req));
    lc_etag_respond(req, 201, c.version, c.body);
    free(c.body);
}

int
plans_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"GET", "/api/billing/plans", plans_list},
        {"POST", "/api/admin/billing/plans/:code/versions", plans_publish},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
