/*
 * entitlements.c: billing.CheckEntitlement, the question other services
 * ask before they add a seat (users, on an invitation) or a project
 * (projects). The caller counts what it owns and sends the total it would
 * have; billing answers from the tenant's plan. A tenant without a
 * subscription (made before billing followed users' events) is not
 * limited; a canceled subscription is held to the free plan.
 *
 * The answer comes from the tenant's plan limits as entitlement_cache.h
 * keeps them (a database read only when the entry is missing, older than
 * LINTEL_ENTITLEMENT_CACHE_MS or older than the last plan change here). A
 * cached answer is given inline, on NNG's thread with no hand-off to a
 * worker (lc_rpc_server_route_inline); a miss goes to a worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing.h"
#include "lc_clock.h"
#include "lintel/v1/billing.pb-c.h"

/* The tenant's plan code and its limits (NULL: unlimited); no row without
 * a subscription. */
static const lc_db_stmt entitlement_limits_get = {
    "SELECT p.code, p.max_seats, p.max_projects"
    " FROM billing.subscriptions s"
    " JOIN billing.plans p ON CASE WHEN s.state = 'canceled'"
    "   THEN p.code = 'free' AND p.retired_at IS NULL"
    "   ELSE (p.code, p.version) = (s.plan_code, s.plan_version) END",
    0};

static int64_t
limit_value(PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? -1
                                    : strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

/* The tenant's limits from the cache, else from the database (and then
 * cached). 1: found, 0: no subscription, -1: failed (answered). */
static int
entitlements_limits(lc_req *req, const char *tenant_id, entitlement_limits *l)
{
    billing_app *app = lc_req_app(req);
    uint64_t gen = 0;
    PGresult *res;
    int found;

    if (app->limits != NULL) {
        if (entitlement_cache_get(app->limits, tenant_id, lc_clock_mono_ms(),
                                  l)) {
            return 1;
        }
        gen = entitlement_cache_generation(app->limits);
    }
    res = lc_req_read(req, tenant_id, &entitlement_limits_get, NULL);
    if (res == NULL) {
        return -1;
    }
    found = PQntuples(res) > 0;
    if (found) {
        snprintf(l->plan, sizeof(l->plan), "%s", PQgetvalue(res, 0, 0));
        l->max_seats = limit_value(res, 1);
        l->max_projects = limit_value(res, 2);
        if (app->limits != NULL) {
            entitlement_cache_put(app->limits, tenant_id, gen,
                                  lc_clock_mono_ms(), l);
        }
    }
    PQclear(res);
    return found;
}

/* The request, validated; NULL when it is not valid (answered). */
static const Lintel__V1__Billing__CheckEntitlementRequest *
entitlements_request(lc_req *req)
{
    const Lintel__V1__Billing__CheckEntitlementRequest *in;

    in = (const Lintel__V1__Billing__CheckEntitlementRequest *)lc_req_pb(
        req, &lintel__v1__billing__check_entitlement_request__descriptor);
    if (in == NULL) {
        return NULL;
    }
    if (!lc_db_is_uuid(in->tenant_id)) {
        lc_req_error(req, 400, "validation_failed", "tenant_id must be a uuid");
        return NULL;
    }
    if (strcmp(in->limit, "seats") != 0 && strcmp(in->limit, "projects") != 0) {
        lc_req_error(req, 400, "validation_failed",
                     "limit must be seats or projects");
        return NULL;
    }
    return in;
}

/* The answer to `in` for a tenant with limits `l` (NULL: no subscription,
 * not limited). */
static void
entitlements_answer(lc_req *req,
                    const Lintel__V1__Billing__CheckEntitlementRequest *in,
                    const entitlement_limits *l)
{
    Lintel__V1__Billing__CheckEntitlementResponse out =
        LINTEL__V1__BILLING__CHECK_ENTITLEMENT_RESPONSE__INIT;
    int64_t max;

    out.plan = "";
    out.allowed = true;
    out.unlimited = true;
    if (l != NULL) {
        out.plan = (char *)l->plan;
        max = strcmp(in->limit, "seats") == 0 ? l->max_seats : l->max_projects;
        if (max >= 0) {
            out.unlimited = false;
            out.max = (uint32_t)max;
            out.allowed = in->wanted <= out.max;
        }
    }
    lc_req_respond_pb(req, &out.base);
}

/* On NNG's thread: answered from the cache, or left to a worker (a miss
 * reads the database). */
static bool
entitlements_check_inline(lc_req *req)
{
    const Lintel__V1__Billing__CheckEntitlementRequest *in;
    billing_app *app = lc_req_app(req);
    entitlement_limits l;

    in = entitlements_request(req);
    if (in == NULL) {
        return true;
    }
    if (app->limits == NULL || !entitlement_cache_get(app->limits,
                                                      in->tenant_id,
                                                      lc_clock_mono_ms(), &l)) {
        return false;
    }
    entitlements_answer(req, in, &l);
    return true;
}

static void
entitlements_check_rpc(lc_req *req)
{
    const Lintel__V1__Billing__CheckEntitlementRequest *in;
    entitlement_limits l;
    int found;

    in = entitlements_request(req);
    if (in == NULL) {
        return;
    }
    found = entitlements_limits(req, in->tenant_id, &l);
    if (found < 0) {
        return;
    }
    entitlements_answer(req, in, found ? &l : NULL);
}

void
entitlements_plan_changed(billing_app *app)
{
    if (app->limits != NULL) {
        entitlement_cache_invalidate(app->limits);
    }
}

int
entitlements_routes(lc_rpc_server *s)
{
    return lc_rpc_server_route_inline(s, "RPC", "/rpc/billing.CheckEntitlement",
                                      entitlements_check_inline,
                                      entitlements_check_rpc);
}
