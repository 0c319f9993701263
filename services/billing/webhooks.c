/*
 * webhooks.c: a payment provider calls back, POST /api/billing/webhooks/
 * {provider} on the apex host, without a token: its Webhook-Signature
 * over the raw body is the proof (webhook_signature.h). An unsigned,
 * stale or tampered event is a 400 and nothing is stored. A valid one is
 * stored first, once per provider's event id, with its processing job in
 * the same transaction, and answered 200; replays answer 200 and change
 * nothing. The job applies it in the tenant it names:
 *
 *   invoice.paid            the invoice is paid; a past-due subscription
 *                           is active again
 *   invoice.payment_failed  an active subscription is past due
 *
 * An event for an invoice billing does not know is kept, flagged for an
 * operator; other types are kept and ignored.
 *
 * The event is a JSON object {"id", "type", "data": {"tenant_id",
 * "invoice_id"}, …}; other members are the provider's and are kept.
 */
#include <stdio.h>
#include <string.h>

#include "billing.h"
#include "lc_clock.h"
#include "lc_json.h"
#include "webhook_signature.h"

#define WEBHOOK_JOB_KIND "webhook.process"

static const lc_db_stmt webhook_insert = {
    "INSERT INTO billing.webhook_events (provider, event_id, type, payload)"
    " VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING RETURNING 1",
    4};

typedef struct {
    lc_req_fail fail; /* first: lc_req_tx answers with it */
    billing_app *app;
    const char *params[4];
    bool stored;
} webhook_store_ctx;

static int
webhook_store_tx(lc_db *db, void *arg, lc_db_error *err)
{
    webhook_store_ctx *c = arg;
    char payload[600];
    lc_job_new job = {.kind = WEBHOOK_JOB_KIND, .payload = payload};
    cJSON *p;
    char *text;
    int rc;

    rc = lc_db_value(db, &webhook_insert, c->params, NULL, 0, err);
    if (rc < 0) {
        return -1;
    }
    c->stored = rc == 1;
    if (!c->stored) {
        return 0; /* a replay: stored and processed already */
    }
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "provider", c->params[0]);
    cJSON_AddStringToObject(p, "event_id", c->params[1]);
    text = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    if (text == NULL || strlen(text) >= sizeof(payload)) {
        cJSON_free(text);
        lc_db_error_set(err, LC_DB_BUG, "job payload");
        return -1;
    }
    memcpy(payload, text, strlen(text) + 1);
    cJSON_free(text);
    return lc_jobs_enqueue(c->app->jobs, db, &job, NULL, err);
}

/* The event's id and type, checked; -1 with a 400 set. */
static int
webhook_event_fields(lc_req *req, const cJSON *ev, const char **id,
                     const char **type)
{
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(ev, "id");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");

    if (!cJSON_IsObject(ev)) {
        lc_req_error(req, 400, "validation_failed", "the event is not an object");
        return -1;
    }
    if (!cJSON_IsString(i) || i->valuestring[0] == '\0' ||
        strlen(i->valuestring) > 255) {
        lc_body_field_error(req, "id", cJSON_IsString(i) ? "invalid_format"
                                                          : "required",
                            "id: the provider's event id (1 to 255 characters)");
        return -1;
    }
    if (!cJSON_IsString(t) || t->valuestring[0] == '\0' ||
        strlen(t->valuestring) > 100) {
        lc_body_field_error(req, "type", cJSON_IsString(t) ? "invalid_format"
                                                            : "required",
                            "type: the event's type");
        return -1;
    }
    *id = i->valuestring;
    *type = t->valuestring;
    return 0;
}

static void
webhooks_receive(lc_req *req)
{
    billing_app *app = lc_req_app(req);
    const lc_request *env = lc_req_envelope(req);
    const char *provider = lc_req_param(req, "provider"), *header;
    webhook_store_ctx c = {.app = app};
    webhook_signature_status st;
    const cJSON *ev;
    char *text;
    cJSON *out;

    /* The apex host only (elsewhere the route does not exist), and a
     * provider billing knows. */
    if (lc_req_tenant_id(req) != NULL) {
        lc_req_error(req, 404, "not_found", "no such route");
        return;
    }
    if (strcmp(provider, app->webhook_provider) != 0) {
        lc_req_error(req, 404, "not_found", "no such provider");
        return;
    }
    if (strcmp(app->webhook_secret, "off") == 0) {
        lc_req_error(req, 503, "service_unavailable",
                     "payment webhooks are not configured");
        return;
    }
    header = lc_envelope_header(env, "webhook-signature");
    st = webhook_signature_check(header, env->body.data, env->body.len,
                                 app->webhook_secret,
                                 lc_clock_wall_ms() / 1000,
                                 WEBHOOK_TOLERANCE_S);
    if (st != WEBHOOK_SIGNATURE_OK) {
        lc_req_error(req, 400, "invalid_signature", webhook_signature_text(st));
        return;
    }
    ev = lc_req_json(req);
    if (ev == NULL ||
        webhook_event_fields(req, ev, &c.params[1], &c.params[2]) != 0) {
        return;
    }
    text = cJSON_PrintUnformatted(ev);
    if (text == NULL) {
        lc_req_error(req, 500, "internal", "out of memory");
        return;
    }
    c.params[0] = provider;
    c.params[3] = text;
    if (lc_req_tx(req, NULL, webhook_store_tx, &c) != 0) {
        cJSON_free(text);
        return;
    }
    cJSON_free(text);
    if (c.stored) {
        lc_jobs_wake(app->jobs);
    }
    out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "received", true);
    cJSON_AddBoolToObject(out, "duplicate", !c.stored);
    lc_req_respond_json(req, 200, out);
}

/* --- processing -------------------------------------------------------------*/

static const lc_db_stmt webhook_get = {
    "SELECT type, coalesce(payload #>> '{data,tenant_id}', ''),"
    " coalesce(payload #>> '{data,invoice_id}', '')"
    " FROM billing.webhook_events WHERE provider = $1 AND event_id = $2",
    2};

static const lc_db_stmt webhook_done = {
    "UPDATE billing.webhook_events SET processed_at = now(), outcome = $3,"
    " flagged = $4 WHERE provider = $1 AND event_id = $2",
    4};

/* In the tenant: 'paid', 'open' or '' (no such invoice). */
static const lc_db_stmt invoice_status = {
    "SELECT status FROM billing.invoices WHERE id = $1 FOR UPDATE", 1};
static const lc_db_stmt invoice_paid = {
    "UPDATE billing.invoices SET status = 'paid', paid_at = now()"
    " WHERE id = $1 AND status = 'open'",
    1};
/* A payment ends the dunning. Whether billing had suspended the tenant
 * stays recorded until users has reactivated it (a job that dies between
 * the two runs again and still knows). */
static const lc_db_stmt subscription_reactivate = {
    "UPDATE billing.subscriptions SET state = 'active', dunning_step = 0,"
    " updated_at = now(), version = version + 1 WHERE state = 'past_due'",
    0};
static const lc_db_stmt subscription_suspended = {
    "SELECT suspended_by_billing FROM billing.subscriptions", 0};
static const lc_db_stmt subscription_unsuspended = {
    "UPDATE billing.subscriptions SET suspended_by_billing = false", 0};
static const lc_db_stmt subscription_past_due = {
    "UPDATE billing.subscriptions SET state = 'past_due', dunning_step = 0,"
    " updated_at = now(), version = version + 1 WHERE state = 'active'"
    " RETURNING 1",
    0};

typedef struct {
    billing_app *app;
    const char *type, *tenant_id, *invoice_id;
    const char *outcome;
    bool flagged;
    bool reactivate; /* billing had suspended the tenant: lift it */
} webhook_apply_ctx;

static int
webhook_exec(lc_db *db, const lc_db_stmt *st, const char *const *params,
             lc_db_error *err)
{
    PGresult *r = lc_db_exec(db, st, params, err);

    PQclear(r);
    return r ? 0 : -1;
}

/* The event's effect, in its tenant's transaction. */
static int
webhook_apply_tx(lc_db *db, void *arg, lc_db_error *err)
{
    webhook_apply_ctx *c = arg;
    char status[16] = "";
    int rc;

    rc = lc_db_value(db, &invoice_status, &c->invoice_id, status,
                     sizeof(status), err);
    if (rc < 0) {
        return -1;
    }
    if (rc == 0 || strcmp(status, "draft") == 0) {
        c->outcome = "flagged: no such invoice";
        c->flagged = true;
        return 0;
    }
    c->reactivate = false;
    if (strcmp(c->type, "invoice.paid") == 0) {
        char suspended[8] = "";

        c->outcome = "applied: invoice paid";
        if (webhook_exec(db, &invoice_paid, &c->invoice_id, err) != 0 ||
            webhook_exec(db, &subscription_reactivate, NULL, err) != 0 ||
            lc_db_value(db, &subscription_suspended, NULL, suspended,
                        sizeof(suspended), err) < 0) {
            return -1;
        }
        c->reactivate = suspended[0] == 't';
        return 0;
    }
    c->outcome = "applied: payment failed, subscription past due";
    if (strcmp(status, "open") != 0) {
        c->outcome = "ignored: the invoice is paid";
        return 0;
    }
    rc = lc_db_value(db, &subscription_past_due, NULL, NULL, 0, err);
    if (rc < 0) {
        return -1;
    }
    /* the retries start with the first failure of an active subscription */
    return rc == 1 ? dunning_start(c->app, db, c->tenant_id, c->invoice_id, 1,
                                   err)
                   : 0;
}

typedef struct {
    const char *const *params;
    const lc_db_stmt *st;
    PGresult *res;
} webhook_query_ctx;

static int
webhook_query_tx(lc_db *db, void *arg, lc_db_error *err)
{
    webhook_query_ctx *c = arg;

    PQclear(c->res);
    c->res = lc_db_exec(db, c->st, c->params, err);
    return c->res ? 0 : -1;
}

/* users.SetTenantStatus(active), then billing forgets it suspended it. */
static int
webhook_reactivate(lc_db *db, const webhook_apply_ctx *a)
{
    webhook_query_ctx q = {.st = &subscription_unsuspended};
    lc_db_error err;
    int rc;

    if (dunning_set_tenant_status(a->app, a->tenant_id, "active") != 0) {
        return -1;
    }
    rc = lc_db_tenant_tx(db, a->tenant_id, lc_clock_mono_ms() + 10000,
                         webhook_query_tx, &q, &err);
    PQclear(q.res);
    return rc;
}

static lc_job_outcome
webhook_job(lc_db *db, const lc_job *job, void *arg, char *why, size_t whylen)
{
    cJSON *p = cJSON_Parse(job->payload);
    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(p, "provider");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "event_id");
    const char *key[2], *done[4];
    webhook_query_ctx q = {0};
    webhook_apply_ctx a = {.app = arg,
                           .outcome = "ignored: not a type billing handles"};
    lc_db_error err;
    const char *tenant;
    lc_job_outcome out = LC_JOB_DONE;

    if (!cJSON_IsString(prov) || !cJSON_IsString(id)) {
        cJSON_Delete(p);
        snprintf(why, whylen, "a payload without provider and event_id");
        return LC_JOB_DEAD;
    }
    key[0] = prov->valuestring;
    key[1] = id->valuestring;
    q.params = key;
    q.st = &webhook_get;
    if (lc_db_tenant_tx(db, NULL, lc_clock_mono_ms() + 10000,
                        webhook_query_tx, &q, &err) != 0) {
        snprintf(why, whylen, "event not readable: %s", err.message);
        PQclear(q.res);
        cJSON_Delete(p);
        return LC_JOB_RETRY;
    }
    if (PQntuples(q.res) == 0) { /* stored with the job: cannot happen */
        snprintf(why, whylen, "no such event");
        PQclear(q.res);
        cJSON_Delete(p);
        return LC_JOB_DEAD;
    }
    a.type = PQgetvalue(q.res, 0, 0);
    tenant = a.tenant_id = PQgetvalue(q.res, 0, 1);
    a.invoice_id = PQgetvalue(q.res, 0, 2);
    if (strcmp(a.type, "invoice.paid") == 0 ||
        strcmp(a.type, "invoice.payment_failed") == 0) {
        if (!lc_db_is_uuid(tenant) || !lc_db_is_uuid(a.invoice_id)) {
            a.outcome = "flagged: no such invoice";
            a.flagged = true;
        } else if (lc_db_tenant_tx(db, tenant, lc_clock_mono_ms() + 10000,
                                   webhook_apply_tx, &a, &err) != 0) {
            snprintf(why, whylen, "%s", err.message);
            out = LC_JOB_RETRY;
        } else if (a.reactivate && webhook_reactivate(db, &a) != 0) {
            /* runs again: the payment is recorded, and so is the
             * suspension until users has lifted it */
            snprintf(why, whylen, "the tenant is not reactivated yet");
            out = LC_JOB_RETRY;
        }
    }
    if (out == LC_JOB_DONE) {
        PGresult *prev = q.res;

        done[0] = key[0];
        done[1] = key[1];
        done[2] = a.outcome;
        done[3] = a.flagged ? "true" : "false";
        q.params = done;
        q.st = &webhook_done;
        q.res = NULL;
        if (lc_db_tenant_tx(db, NULL, lc_clock_mono_ms() + 10000,
                            webhook_query_tx, &q, &err) != 0) {
            snprintf(why, whylen, "%s", err.message);
            out = LC_JOB_RETRY;
        }
        PQclear(prev);
    }
    PQclear(q.res);
    cJSON_Delete(p);
    return out;
}

int
webhooks_jobs_register(billing_app *app)
{
    return lc_jobs_handle(app->jobs, WEBHOOK_JOB_KIND, webhook_job, app);
}

int
webhooks_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"POST", "/api/billing/webhooks/:provider", webhooks_receive},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
