/*
 * plans.c: the plan catalog, GET /api/billing/plans. Every signed-in
 * member of a tenant may read it; it lists the current version of each
 * plan, cheapest first.
 */
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

int
plans_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"GET", "/api/billing/plans", plans_list},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
