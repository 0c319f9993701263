/*
 * tenant_events.c: billing follows users' domain events (lc_consumer) and
 * gives every new tenant its subscription: tenant.created starts a 14-day
 * trial of the current team plan, its period the trial's days. The
 * subscription is written in the batch's transaction with the consumer's
 * cursor, so each tenant gets exactly one, whatever crashes meanwhile.
 */
#include <stdio.h>
#include <string.h>

#include "billing.h"
#include "lintel/v1/events.pb-c.h"

#define BILLING_TRIAL_PLAN "team"
#define BILLING_TRIAL_DAYS "14"

/* $1 the event's time. The tenant is the transaction's (app.tenant_id). */
static const lc_db_stmt trial_insert = {
    "INSERT INTO billing.subscriptions (tenant_id, plan_code, plan_version,"
    " state, trial_ends_at, period_start, period_end)"
    " SELECT current_setting('app.tenant_id')::uuid, code, version,"
    " 'trialing', $1::timestamptz + interval '" BILLING_TRIAL_DAYS " days',"
    " ($1::timestamptz AT TIME ZONE 'UTC')::date,"
    " ($1::timestamptz AT TIME ZONE 'UTC')::date + " BILLING_TRIAL_DAYS
    " FROM billing.plans"
    " WHERE code = '" BILLING_TRIAL_PLAN "' AND retired_at IS NULL"
    " ON CONFLICT (tenant_id) DO NOTHING",
    1};

static int
tenant_events_apply(lc_db *db, const lc_consumer_event *ev, void *arg,
                    lc_db_error *err)
{
    PGresult *res;

    (void)arg;
    if (strcmp(ev->type, "tenant.created") != 0) {
        return 0;
    }
    res = lc_db_exec(db, &trial_insert, &ev->occurred_at, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}

int
tenant_events_start(billing_app *app, const lc_db_options *db)
{
    char err[256];
    lc_consumer_options o = {
        .source = "users",
        .method = "users.EventsSince",
        .hint_url = strcmp(app->users_events_url, "off") != 0
                        ? app->users_events_url
                        : NULL,
        .response = &lintel__v1__events_since_response__descriptor,
        .schema = "billing",
        .db = *db,
        .poll_ms = app->consumer_poll_ms,
        .timeout_ms = app->users_timeout_ms,
        .apply = tenant_events_apply,
        .arg = app,
    };

    o.rpc_url = app->users_rpc_url;
    app->consumer = lc_consumer_start(&o, err, sizeof(err));
    if (app->consumer == NULL) {
        fprintf(stderr, "lintel-billing: cannot follow users' events: %s\n",
                err);
        return -1;
    }
    return 0;
}

void
tenant_events_stop(billing_app *app)
{
    if (app->consumer != NULL) {
        lc_consumer_stop(app->consumer);
        app->consumer = NULL;
    }
}
