/*
 * dunning.c: what billing does about an unpaid invoice. A failed payment
 * (invoice.payment_failed) makes an active subscription past due and
 * starts the retries, jobs dunning.step at +1, +3 and +7 days. Each step
 * whose invoice is still unpaid asks the payment provider to charge it
 * again (payment_charge.c, when LINTEL_PAYMENT_PROVIDER_URL is set): a
 * charge that goes through ends the retries (the provider's invoice.paid
 * webhook makes it paid and active); a declined one moves on to the next
 * step; a provider that does not answer leaves the step to run again with
 * lc_jobs' back-off, never lost. Still unpaid after the last, the tenant is
 * suspended through users.SetTenantStatus: its API answers 403
 * tenant_suspended.
 * A later payment (invoice.paid) makes the subscription active, ends the
 * retries and reactivates a tenant that billing suspended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing.h"
#include "lc_clock.h"
#include "lintel/v1/users.pb-c.h"

#define DUNNING_JOB_KIND "dunning.step"
#define DUNNING_LAST_STEP 3

/* Days after the failure of each retry: +1, +3, +7. */
static const int dunning_day[DUNNING_LAST_STEP + 1] = {0, 1, 3, 7};

static const lc_db_stmt dunning_state = {
    "SELECT s.state, s.dunning_step, coalesce(i.status, '')"
    " FROM billing.subscriptions s"
    " LEFT JOIN billing.invoices i ON i.id = $1 FOR UPDATE OF s",
    1};

/* What to charge: what is due on the invoice (its total less its credit
 * notes) while it is open and the subscription past due, else no row. */
static const lc_db_stmt dunning_charge_get = {
    "SELECT i.total_minor + (SELECT coalesce(sum(n.total_minor), 0)"
    "   FROM billing.credit_notes n WHERE n.invoice_id = i.id), i.currency"
    " FROM billing.subscriptions s JOIN billing.invoices i ON i.id = $1"
    " WHERE s.state = 'past_due' AND i.status = 'open'",
    1};

static const lc_db_stmt dunning_advance = {
    "UPDATE billing.subscriptions SET dunning_step = $1::int,"
    " suspended_by_billing = suspended_by_billing OR $1::int = 3",
    1};

int
dunning_start(billing_app *app, lc_db *db, const char *tenant_id,
              const char *invoice_id, int step, lc_db_error *err)
{
    char payload[160];
    lc_job_new job = {.kind = DUNNING_JOB_KIND,
                      .tenant_id = tenant_id,
                      .payload = payload};

    snprintf(payload, sizeof(payload),
             "{\"invoice_id\":\"%s\",\"step\":%d}", invoice_id, step);
    job.run_at_ms = lc_clock_wall_ms() +
                    (int64_t)(dunning_day[step] - dunning_day[step - 1]) *
                        86400000;
    return lc_jobs_enqueue(app->jobs, db, &job, NULL, err);
}

int
dunning_set_tenant_status(billing_app *app, const char *tenant_id,
                          const char *status)
{
    Lintel__V1__Users__SetTenantStatusRequest in =
        LINTEL__V1__USERS__SET_TENANT_STATUS_REQUEST__INIT;
    Lintel__V1__Users__SetTenantStatusResponse *out = NULL;
    int code = 0, rc;

    in.tenant_id = (char *)tenant_id;
    in.status = (char *)status;
    if (lc_rpc_call_method(
            app->users, "users.SetTenantStatus", "", tenant_id, &in.base,
            &lintel__v1__users__set_tenant_status_response__descriptor,
            lc_clock_mono_ms() + app->users_timeout_ms,
            (ProtobufCMessage **)&out, &code) != LC_RPC_OK) {
        return -1;
    }
    rc = out->found ? 0 : -1;
    lc_envelope_free_message(&out->base);
    return rc;
}

typedef struct {
    billing_app *app;
    const char *tenant_id, *invoice_id;
    int step;
    bool suspend; /* the last step found it unpaid */
} dunning_ctx;

static int
dunning_tx(lc_db *db, void *arg, lc_db_error *err)
{
    dunning_ctx *c = arg;
    char step[8];
    const char *params[1] = {step};
    PGresult *s, *r;
    bool unpaid;

    c->suspend = false;
    s = lc_db_exec(db, &dunning_state, &c->invoice_id, err);
    if (s == NULL) {
        return -1;
    }
    /* paid meanwhile, or no longer past due: the retries end */
    unpaid = PQntuples(s) > 0 &&
             strcmp(PQgetvalue(s, 0, 0), "past_due") == 0 &&
             strcmp(PQgetvalue(s, 0, 2), "open") == 0;
    PQclear(s);
    if (!unpaid) {
        return 0;
    }
    snprintf(step, sizeof(step), "%d", c->step);
    r = lc_db_exec(db, &dunning_advance, params, err);
    if (r == NULL) {
        return -1;
    }
    PQclear(r);
    if (c->step < DUNNING_LAST_STEP) {
        return dunning_start(c->app, db, c->tenant_id, c->invoice_id,
                             c->step + 1, err);
    }
    c->suspend = true;
    return 0;
}

/* What a step's charge leaves to do. */
typedef enum {
    DUNNING_GO_ON, /* declined, or no provider: the step goes on */
    DUNNING_OVER,  /* paid meanwhile, or the charge went through */
    DUNNING_AGAIN  /* the provider did not answer: the step runs again */
} dunning_charge_outcome;

/* Asks the provider to charge the step's invoice again, if it is still
 * unpaid. */
static dunning_charge_outcome
dunning_charge(lc_db *db, dunning_ctx *c, char *why, size_t whylen)
{
    payment_charge_request charge = {.tenant_id = c->tenant_id,
                                     .invoice_id = c->invoice_id,
                                     .attempt = c->step};
    char currency[4];
    lc_db_error err;
    PGresult *res;

    if (strcmp(c->app->payment_provider_url, "off") == 0) {
        return DUNNING_GO_ON;
    }
    res = lc_db_tenant_read(db, c->tenant_id, lc_clock_mono_ms() + 10000,
                            &dunning_charge_get, &c->invoice_id, &err);
    if (res == NULL) {
        snprintf(why, whylen, "%s", err.message);
        return DUNNING_AGAIN;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return DUNNING_OVER;
    }
    charge.amount_minor = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(currency, sizeof(currency), "%s", PQgetvalue(res, 0, 1));
    charge.currency = currency;
    PQclear(res);
    if (charge.amount_minor <= 0) {
        return DUNNING_OVER; /* credited in full: nothing to charge */
    }
    switch (payment_charge(c->app, &charge, why, whylen)) {
    case PAYMENT_CHARGE_SUCCEEDED:
        return DUNNING_OVER;
    case PAYMENT_CHARGE_DECLINED:
        return DUNNING_GO_ON;
    case PAYMENT_CHARGE_UNAVAILABLE:
        break;
    }
    return DUNNING_AGAIN;
}

static lc_job_outcome
dunning_job(lc_db *db, const lc_job *job, void *arg, char *why, size_t whylen)
{
    cJSON *p = cJSON_Parse(job->payload);
    const cJSON *inv = cJSON_GetObjectItemCaseSensitive(p, "invoice_id");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(p, "step");
    dunning_ctx c = {.app = arg, .tenant_id = job->tenant_id};
    lc_job_outcome out = LC_JOB_DONE;
    dunning_charge_outcome charged;
    lc_db_error err;

    if (job->tenant_id == NULL || !cJSON_IsString(inv) ||
        !lc_db_is_uuid(inv->valuestring) || !cJSON_IsNumber(step) ||
        step->valueint < 1 || step->valueint > DUNNING_LAST_STEP) {
        cJSON_Delete(p);
        snprintf(why, whylen, "a payload without invoice_id and step");
        return LC_JOB_DEAD;
    }
    c.invoice_id = inv->valuestring;
    c.step = step->valueint;
    charged = dunning_charge(db, &c, why, whylen);
    if (charged != DUNNING_GO_ON) {
        cJSON_Delete(p);
        return charged == DUNNING_OVER ? LC_JOB_DONE : LC_JOB_RETRY;
    }
    if (lc_db_tenant_tx(db, job->tenant_id, lc_clock_mono_ms() + 10000,
                        dunning_tx, &c, &err) != 0) {
        snprintf(why, whylen, "%s", err.message);
        out = LC_JOB_RETRY;
    } else if (c.suspend &&
               dunning_set_tenant_status(c.app, job->tenant_id, "suspended") !=
                   0) {
        /* runs again: the step is recorded, the suspension is not yet */
        snprintf(why, whylen, "users.SetTenantStatus did not answer");
        out = LC_JOB_RETRY;
    }
    cJSON_Delete(p);
    return out;
}

int
dunning_jobs_register(billing_app *app)
{
    return lc_jobs_handle(app->jobs, DUNNING_JOB_KIND, dunning_job, app);
}
