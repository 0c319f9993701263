/*
 * health.c: GET /api/health on the apex host, the platform's readiness in
 * one answer (DESIGN §10).
 *
 * Users answers it because it serves the apex and nothing works without
 * it (tokens, tenants): when users is down the edge's 503 says as much.
 * It asks each other service's <service>.Ready (lc_health) with that
 * peer's deadline, in turn; a stopped service fails at once (no peer), a
 * hung one costs its deadline (LINTEL_<PEER>_TIMEOUT_MS: 200-300 ms).
 * Anyone may ask, so the answer is "up" or "down" per service and
 * nothing more. The edge limits it per client address like every
 * anonymous route.
 */
#include "users.h"

#include "lc_health.h"

static void
health_get(lc_req *req)
{
    users_app *app = lc_req_app(req);
    const lc_health_peer peers[] = {
        {"projects", &app->projects, &app->projects_timeout_ms},
        {"reporting", &app->reporting, &app->reporting_timeout_ms},
        {"billing", &app->billing.client, &app->billing.timeout_ms},
    };

    if (users_scope(req, false) != 0) {
        return;
    }
    lc_health_answer(req, peers, sizeof(peers) / sizeof(peers[0]));
}

int
health_routes(lc_rpc_server *s)
{
    return lc_rpc_server_route(s, "GET", "/api/health", health_get);
}
