/*
 * lc_entitlement: may a tenant have one more seat or project under its
 * plan? The question every service that owns a counted thing asks billing
 * (billing.CheckEntitlement) before it adds one, and the answer's shape.
 *
 * A billing outage must never stop a customer's work: when billing is
 * down, slow past the caller's budget (200 ms by default) or answers
 * nonsense, the action is allowed, counted in the gauge
 * lintel_entitlement_unchecked{limit} (actions since start) and logged;
 * billing's next usage snapshot sees what was added meanwhile. Only a
 * clear "no" from billing refuses: 402 plan_limit_reached, with the limit,
 * the plan and the usage in the error's `limit` member.
 */
#ifndef LC_ENTITLEMENT_H
#define LC_ENTITLEMENT_H

#include <stdint.h>

#include "lc_rpc_client.h"
#include "lc_rpc_server.h"

/* The caller's billing peer (lc_service_peer "billing"). */
typedef struct {
    lc_rpc_client *client;
    long timeout_ms;
} lc_entitlement_client;

/*
 * Before adding one of `limit` ("seats", "projects") to a tenant that has
 * `usage` of them: 0 to go ahead (allowed, or billing could not tell), or
 * -1 with the 402 set.
 */
int lc_entitlement_check(lc_req *req, const lc_entitlement_client *billing,
                         const char *tenant_id, const char *limit,
                         uint32_t usage);

/* Answers `status` `code` with the error's `limit` member
 * {"name", "plan", "usage", "max"} and a message saying the same. */
void lc_entitlement_refuse(lc_req *req, int status, const char *code,
                           const char *limit, const char *plan, uint32_t usage,
                           uint32_t max);

#endif
