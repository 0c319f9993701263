/*
 * The billing service: the plan catalog, each tenant's subscription (made
 * from users' tenant.created event), prorated plan changes and the
 * entitlement checks other services ask before adding a seat or a project.
 * This header wires main.c to the resource files and holds what they
 * share.
 */
#ifndef BILLING_H
#define BILLING_H

#include "entitlement_cache.h"
#include "lc_body.h"
#include "lc_caller.h"
#include "lc_consumer.h"
#include "lc_etag.h"
#include "lc_idem.h"
#include "lc_jobs.h"
#include "lc_req_tx.h"
#include "lc_rpc_client.h"
#include "lc_rpc_server.h"

/* A timestamptz column as RFC 3339 UTC, and a date as YYYY-MM-DD, in SQL. */
#define BILLING_RFC3339(col)                                                   \
    "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define BILLING_DATE(col) "to_char(" col ", 'YYYY-MM-DD')"

/* A plan row (of alias `a`) as the API shows it (json). */
#define BILLING_PLAN_JSON(a)                                                   \
    "json_build_object('code', " a ".code, 'version', " a ".version,"          \
    " 'name', " a ".name, 'currency', " a ".currency,"                         \
    " 'seat_price_minor', " a ".seat_price_minor,"                             \
    " 'limits', json_build_object('seats', " a ".max_seats,"                   \
    " 'projects', " a ".max_projects))"

/* How many tenants' limits the entitlement cache holds (about 100 bytes
 * each); past that the oldest give way. */
#define ENTITLEMENT_CACHE_TENANTS 16384

typedef struct {
    long users_timeout_ms, projects_timeout_ms;
    lc_rpc_client *users, *projects;
    const char *users_rpc_url;    /* users.EventsSince, for the consumer */
    const char *users_events_url; /* users' pub socket: new-event hints */
    long consumer_poll_ms;
    lc_caller_rpc caller; /* lc_caller's path 2: users.GetCaller */
    lc_consumer *consumer;
    lc_jobs_options jobs_options; /* LINTEL_JOBS_* */
    lc_jobs *jobs;                /* the runner: invoice.run, webhook.process */
    const char *webhook_provider; /* the payment provider's name in the URL */
    const char *webhook_secret;   /* its signing secret; "off": none */
    const char *payment_provider_url; /* its charge API; "off": none */
    long payment_provider_timeout_ms;
    long entitlement_cache_ms;    /* an entry's longest life; 0: no cache */
    entitlement_cache *limits;    /* NULL: every check reads the database */
} billing_app;

/* --- usage.c -------------------------------------------------------------*/
typedef struct {
    uint32_t seats;    /* active members (users.CountSeats) */
    uint32_t projects; /* active projects (projects.CountProjects) */
} billing_usage;

/* Counts a tenant's usage where it is owned; 0, or -1 when users or
 * projects did not answer. */
int usage_count(billing_app *app, const char *request_id,
                const char *tenant_id, billing_usage *u);
int usage_routes(lc_rpc_server *s);
int usage_jobs_register(billing_app *app);
/* Enqueues tomorrow's snapshot (00:10 UTC) unless one waits already. */
int usage_schedule_next(billing_app *app, lc_db *db);

/* --- plans.c -------------------------------------------------------------*/
int plans_routes(lc_rpc_server *s);

/* --- subscriptions.c -----------------------------------------------------*/
int subscriptions_routes(lc_rpc_server *s);
/* GET /api/admin/billing/subscriptions (apex, platform admins) */
int subscriptions_admin_routes(lc_rpc_server *s);

/* --- entitlements.c ------------------------------------------------------*/
int entitlements_routes(lc_rpc_server *s);
/* After a committed change of a tenant's plan (or its cancellation): the
 * next checks read the plans again. */
void entitlements_plan_changed(billing_app *app);

/* --- invoices.c ---------------------------------------------------------*/
typedef struct {
    int invoices;    /* invoices made */
    int failed;      /* tenants whose invoicing failed (retried next run) */
    char error[512]; /* the last failure */
} invoice_run_result;

/* Bills every period that has ended by `as_of` (YYYY-MM-DD), on `db`
 * (outside any transaction) and a few more connections made from `opts`;
 * 0, or -1 when a tenant or the list failed. */
int invoice_run(const lc_db_options *opts, lc_db *db, lc_rpc_client *users,
                long users_timeout_ms, const char *as_of,
                invoice_run_result *out);
/* `lintel-billing invoice --as-of YYYY-MM-DD`; the exit status. */
int invoice_command(int argc, char **argv);
/* The job invoice.run: registers its handler; enqueues the next run (the
 * first of next month) unless one waits already. */
int invoice_jobs_register(billing_app *app);
int invoice_schedule_next(billing_app *app, lc_db *db);
int invoices_routes(lc_rpc_server *s);

/* A billing document (an invoice, a credit note) as GET .../{id} serves it
 * (admin and up): its JSON, or with ".pdf" after the id its PDF. */
typedef struct {
    const char *missing;         /* the 404's message */
    const char *title;           /* the PDF's; NULL: "Invoice" */
    const lc_db_stmt *json;      /* $1 the id: one row, its JSON text */
    const lc_db_stmt *pdf_head;  /* $1: number, status, issued, period start
                                    and end, plan, currency, total */
    const lc_db_stmt *pdf_lines; /* $1: description, quantity, unit price,
                                    amount */
} billing_document;
void billing_document_get(lc_req *req, const billing_document *doc);

/* --- credit_notes.c -----------------------------------------------------*/
int credit_notes_routes(lc_rpc_server *s);

/* --- webhooks.c ---------------------------------------------------------*/
int webhooks_routes(lc_rpc_server *s);
int webhooks_jobs_register(billing_app *app);

/* --- dunning.c ----------------------------------------------------------*/
/* Inside the failing payment's tenant transaction: the retry `step` (1 to
 * 3) of `invoice_id`, as a job at its day. */
int dunning_start(billing_app *app, lc_db *db, const char *tenant_id,
                  const char *invoice_id, int step, lc_db_error *err);
/* users.SetTenantStatus; 0, or -1 when users did not do it. */
int dunning_set_tenant_status(billing_app *app, const char *tenant_id,
                              const char *status);
int dunning_jobs_register(billing_app *app);

/* --- payment_charge.c ---------------------------------------------------*/
typedef enum {
    PAYMENT_CHARGE_SUCCEEDED,  /* paid: invoice.paid follows */
    PAYMENT_CHARGE_DECLINED,   /* refused: invoice.payment_failed follows */
    PAYMENT_CHARGE_UNAVAILABLE /* not asked: down, slow or nonsense */
} payment_charge_outcome;

typedef struct {
    const char *tenant_id, *invoice_id;
    int64_t amount_minor;
    const char *currency;
    int attempt; /* the dunning retry, 1 to 3: with the invoice, the
                    charge's idempotency key */
} payment_charge_request;

/* Asks the provider to charge `c`; why an unavailable answer, in `why`. */
payment_charge_outcome payment_charge(billing_app *app,
                                      const payment_charge_request *c,
                                      char *why, size_t whylen);

/* --- tenant_events.c: users' events, followed with lc_consumer ---------- */
int tenant_events_start(billing_app *app, const lc_db_options *db);
void tenant_events_stop(billing_app *app);

#endif
