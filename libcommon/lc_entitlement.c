/*
 * lc_entitlement.c: billing.CheckEntitlement from the services that own
 * what plans limit, with the fallback of lc_entitlement.h.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "lc_clock.h"
#include "lc_entitlement.h"
#include "lc_log.h"
#include "lc_metrics.h"
#include "lintel/v1/billing.pb-c.h"

/* Actions allowed without billing's answer, per limit, since start. */
static atomic_long lc_entitlement_unchecked_seats;
static atomic_long lc_entitlement_unchecked_projects;
static atomic_long lc_entitlement_unchecked_other;

static void
lc_entitlement_count_unchecked(const char *limit)
{
    atomic_long *n = strcmp(limit, "seats") == 0 ? &lc_entitlement_unchecked_seats
                     : strcmp(limit, "projects") == 0
                         ? &lc_entitlement_unchecked_projects
                         : &lc_entitlement_unchecked_other;
    char labels[64];
    long v = atomic_fetch_add(n, 1) + 1;

    snprintf(labels, sizeof(labels), "limit=\"%s\"",
             n == &lc_entitlement_unchecked_other ? "other" : limit);
    lc_metrics_gauge_set("lintel_entitlement_unchecked", labels,
                         "actions allowed since start without billing's "
                         "answer (billing down, slow or failing)",
                         (double)v);
}

void
lc_entitlement_refuse(lc_req *req, int status, const char *code,
                      const char *limit, const char *plan, uint32_t usage,
                      uint32_t max)
{
    cJSON *body = cJSON_CreateObject(), *err, *lim;
    char message[256];

    snprintf(message, sizeof(message),
             "the %s plan allows %u %s; this tenant has %u", plan, max, limit,
             usage);
    err = cJSON_AddObjectToObject(body, "error");
    cJSON_AddStringToObject(err, "code", code);
    cJSON_AddStringToObject(err, "message", message);
    cJSON_AddStringToObject(err, "request_id", lc_req_id(req));
    lim = cJSON_AddObjectToObject(err, "limit");
    cJSON_AddStringToObject(lim, "name", limit);
    cJSON_AddStringToObject(lim, "plan", plan);
    cJSON_AddNumberToObject(lim, "usage", usage);
    cJSON_AddNumberToObject(lim, "max", max);
    lc_req_respond_json(req, status, body);
}

int
lc_entitlement_check(lc_req *req, const lc_entitlement_client *billing,
                     const char *tenant_id, const char *limit, uint32_t usage)
{
    Lintel__V1__Billing__CheckEntitlementRequest in =
        LINTEL__V1__BILLING__CHECK_ENTITLEMENT_REQUEST__INIT;
    Lintel__V1__Billing__CheckEntitlementResponse *out = NULL;
    int64_t deadline = lc_clock_mono_ms() + billing->timeout_ms;
    lc_rpc_status st;
    int status = 0, rc = 0;

    /* Within the request's own deadline too: a check never makes the
     * action late. */
    if (deadline > lc_req_deadline_ms(req)) {
        deadline = lc_req_deadline_ms(req);
    }
    in.tenant_id = (char *)tenant_id;
    in.limit = (char *)limit;
    in.wanted = usage + 1;
    st = lc_rpc_call_method(
        billing->client, "billing.CheckEntitlement", lc_req_id(req), tenant_id,
        &in.base, &lintel__v1__billing__check_entitlement_response__descriptor,
        deadline, (ProtobufCMessage **)&out, &status);
    if (st != LC_RPC_OK) {
        lc_entitlement_count_unchecked(limit);
        lc_log(LC_LOG_WARN, lc_req_id(req), tenant_id,
               "entitlement %s unchecked, allowed: billing.CheckEntitlement "
               "%s (status %d)",
               limit, lc_rpc_status_text(st), status);
        return 0;
    }
    if (!out->allowed) {
        lc_entitlement_refuse(req, 402, "plan_limit_reached", limit, out->plan,
                              usage, out->max);
        rc = -1;
    }
    lc_envelope_free_message(&out->base);
    return rc;
}
