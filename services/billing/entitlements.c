/*
 * entitlements.c: billing.CheckEntitlement, the question other services
 * ask before they add a seat (users, on an invitation) or a project
 * (projects). The caller counts what it owns and sends the total it would
 * have; billing answers from the tenant's plan. A tenant without a
 * subscription (made before billing followed users' events) is not
 * limited; a canceled subscription is held to the free plan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing.h"
#include "lintel/v1/billing.pb-c.h"

/* $1 "seats" or "projects": the plan's code and that limit (NULL:
 * unlimited); no row without a subscription. */
static const lc_db_stmt entitlement_limit = {
    "SELECT p.code, CASE $1 WHEN 'seats' THEN p.max_seats"
    " ELSE p.max_projects END"
    " FROM billing.subscriptions s"
    " JOIN billing.plans p ON CASE WHEN s.state = 'canceled'"
    "   THEN p.code = 'free' AND p.retired_at IS NULL"
    "   ELSE (p.code, p.version) = (s.plan_code, s.plan_version) END",
    1};

static void
entitlements_check_rpc(lc_req *req)
{
    const Lintel__V1__Billing__CheckEntitlementRequest *in;
    Lintel__V1__Billing__CheckEntitlementResponse out =
        LINTEL__V1__BILLING__CHECK_ENTITLEMENT_RESPONSE__INIT;
    PGresult *res;
    const char *limit;

    in = (const Lintel__V1__Billing__CheckEntitlementRequest *)lc_req_pb(
        req, &lintel__v1__billing__check_entitlement_request__descriptor);
    if (in == NULL) {
        return;
    }
    if (!lc_db_is_uuid(in->tenant_id)) {
        lc_req_error(req, 400, "validation_failed", "tenant_id must be a uuid");
        return;
    }
    if (strcmp(in->limit, "seats") != 0 && strcmp(in->limit, "projects") != 0) {
        lc_req_error(req, 400, "validation_failed",
                     "limit must be seats or projects");
        return;
    }
    limit = in->limit;
    res = lc_req_read(req, in->tenant_id, &entitlement_limit, &limit);
    if (res == NULL) {
        return;
    }
    out.plan = "";
    out.allowed = true;
    out.unlimited = true;
    if (PQntuples(res) > 0) {
        out.plan = PQgetvalue(res, 0, 0);
        if (!PQgetisnull(res, 0, 1)) {
            out.unlimited = false;
            out.max = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
            out.allowed = in->wanted <= out.max;
        }
    }
    lc_req_respond_pb(req, &out.base);
    PQclear(res);
}

int
entitlements_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"RPC", "/rpc/billing.CheckEntitlement", entitlements_check_rpc},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
