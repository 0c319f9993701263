/*
 * subscriptions.c: a tenant's subscription. Admins and owners read it;
 * the owner previews a plan change and makes it (Idempotency-Key). A
 * change inside a paid period is prorated by the day (proration.h): the
 * unused days of the old plan are credited and the rest of the period on
 * the new plan charged, as pending charges of the next invoice, exactly as
 * the preview shows them. During a trial a change costs nothing and the
 * trial goes on (a change to the free plan ends it). A change to a plan
 * whose limits the tenant's usage exceeds is refused (409, naming the
 * limit); seats and projects are counted by their owners, users and
 * projects, over NNG.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing.h"
#include "lc_clock.h"
#include "lc_entitlement.h"
#include "lc_page.h"
#include "proration.h"

#define SUBSCRIPTION_JSON                                                      \
    "json_build_object('plan', " BILLING_PLAN_JSON("p") ", 'state', s.state,"      \
    " 'trial_ends_at', " BILLING_RFC3339("s.trial_ends_at") ","               \
    " 'current_period', json_build_object("                                   \
    "   'start', " BILLING_DATE("s.period_start") ","                         \
    "   'end', " BILLING_DATE("s.period_end") "),"                            \
    " 'created_at', " BILLING_RFC3339("s.created_at") ","                     \
    " 'updated_at', " BILLING_RFC3339("s.updated_at") ","                     \
    " 'version', s.version)::text"

static const lc_db_stmt subscription_get = {
    "SELECT s.version, " SUBSCRIPTION_JSON " FROM billing.subscriptions s"
    " JOIN billing.plans p"
    "   ON (p.code, p.version) = (s.plan_code, s.plan_version)",
    0};

/* The subscription, its plan, the target plan's current version ($1; NULL
 * columns when there is none) and today in UTC. */
#define CHANGE_STATE_SQL                                                       \
    "SELECT s.state, s.plan_code, s.plan_version, sp.name,"                    \
    " sp.seat_price_minor, sp.currency,"                                       \
    " t.code, t.version, t.name, t.seat_price_minor, t.currency,"             \
    " t.max_seats, t.max_projects, " BILLING_PLAN_JSON("t") "::text,"        \
    " " BILLING_DATE("s.period_start") ", " BILLING_DATE("s.period_end") ","  \
    " " BILLING_DATE("(now() AT TIME ZONE 'UTC')::date")                       \
    " FROM billing.subscriptions s"                                            \
    " JOIN billing.plans sp"                                                   \
    "   ON (sp.code, sp.version) = (s.plan_code, s.plan_version)"             \
    " LEFT JOIN billing.plans t ON t.code = $1 AND t.retired_at IS NULL"

enum {
    C_STATE,
    C_PLAN,
    C_PLAN_VERSION,
    C_PLAN_NAME,
    C_PRICE,
    C_CURRENCY,
    C_NEW_PLAN,
    C_NEW_VERSION,
    C_NEW_NAME,
    C_NEW_PRICE,
    C_NEW_CURRENCY,
    C_NEW_MAX_SEATS,
    C_NEW_MAX_PROJECTS,
    C_NEW_JSON,
    C_PERIOD_START,
    C_PERIOD_END,
    C_TODAY,
};

static const lc_db_stmt change_state_read = {CHANGE_STATE_SQL, 1};
static const lc_db_stmt change_state_lock = {
    CHANGE_STATE_SQL " FOR UPDATE OF s", 1};

/* $1 plan, $2 version, $3 state, $4 period start, $5 period end, $6 seats.
 * A change to the free plan ends a trial. */
static const lc_db_stmt subscription_update = {
    "UPDATE billing.subscriptions SET plan_code = $1, plan_version = $2,"
    " state = $3, trial_ends_at = CASE WHEN $3 = 'trialing'"
    "   THEN trial_ends_at END,"
    " period_start = $4, period_end = $5, seats = $6::int, updated_at = now(),"
    " version = version + 1",
    6};

static const lc_db_stmt charge_insert = {
    "INSERT INTO billing.pending_charges (tenant_id, description,"
    " amount_minor, currency, period_start, period_end)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, $2, $3, $4, $5)",
    5};

/* --- reading ---------------------------------------------------------------*/

static void
subscription_show(lc_req *req)
{
    lc_caller caller;
    PGresult *res;

    if (lc_caller_get(req, "admin", &caller) != 0) {
        return;
    }
    res = lc_req_read(req, caller.tenant_id, &subscription_get, NULL);
    if (res == NULL) {
        return;
    }
    if (PQntuples(res) == 0) {
        lc_req_error(req, 404, "not_found", "this tenant has no subscription");
    } else {
        lc_etag_respond(req, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    }
    PQclear(res);
}

/* --- a plan change -------------------------------------------------------- */

typedef struct {
    lc_req_fail fail; /* first: lc_req_tx answers with it */
    const lc_caller *caller;
    const char *plan;
    billing_usage usage;
    bool apply;          /* POST /subscription; false: the preview */
    const lc_idem *idem; /* apply only */
    char *body;          /* the answer, JSON text (malloc'd) */
    char version[16];    /* apply: the subscription's version after it */
    bool unknown_plan;   /* refused: no such plan */
    const char *over;    /* refused: the limit the usage exceeds */
    uint32_t over_usage, over_max;
} change_ctx;

/* One line of the proration, both in the answer and as a pending charge. */
typedef struct {
    char description[200];
    int64_t amount;
    char start[11], end[11];
} change_line;

typedef struct {
    const char *state_after;
    billing_date start, end; /* the period the change falls in */
    char start_s[11], end_s[11], today_s[11];
    change_line lines[2];
    int nlines;
    int64_t total;
} change_plan;

/* Is `usage` over the target plan's limit in column `col`? Notes which. */
static bool
change_over(change_ctx *c, const PGresult *res, int col, const char *limit,
            uint32_t usage)
{
    uint32_t max;

    if (PQgetisnull(res, 0, col)) {
        return false;
    }
    max = (uint32_t)strtoul(PQgetvalue(res, 0, col), NULL, 10);
    if (usage <= max) {
        return false;
    }
    c->over = limit;
    c->over_usage = usage;
    c->over_max = max;
    return true;
}

/* The refusals that need no arithmetic; 0 when the change may go on. */
static int
change_refusal(change_ctx *c, const PGresult *res, lc_db_error *err)
{
    const char *state = PQgetvalue(res, 0, C_STATE);

    if (PQgetisnull(res, 0, C_NEW_PLAN)) {
        c->unknown_plan = true;
        return lc_req_fail_tx(&c->fail, err, 400, "validation_failed",
                              "plan: no such plan");
    }
    if (strcmp(state, "canceled") == 0) {
        return lc_req_fail_tx(&c->fail, err, 409, "conflict",
                              "the subscription is canceled");
    }
    if (strcmp(PQgetvalue(res, 0, C_PLAN), c->plan) == 0 &&
        strcmp(PQgetvalue(res, 0, C_PLAN_VERSION),
               PQgetvalue(res, 0, C_NEW_VERSION)) == 0) {
        return lc_req_fail_tx(&c->fail, err, 409, "conflict",
                              "the subscription is already on this plan");
    }
    if (strcmp(PQgetvalue(res, 0, C_CURRENCY),
               PQgetvalue(res, 0, C_NEW_CURRENCY)) != 0) {
        return lc_req_fail_tx(&c->fail, err, 409, "conflict",
                              "the new plan is billed in another currency");
    }
    if (change_over(c, res, C_NEW_MAX_SEATS, "seats", c->usage.seats) ||
        change_over(c, res, C_NEW_MAX_PROJECTS, "projects",
                    c->usage.projects)) {
        return lc_req_fail_tx(&c->fail, err, 409, "conflict",
                              "the usage exceeds the new plan's limit");
    }
    return 0;
}

static void
change_line_add(change_plan *p, const char *what, const char *name,
                uint32_t seats, int64_t amount)
{
    change_line *l = &p->lines[p->nlines++];

    snprintf(l->description, sizeof(l->description),
             "%s on %s (%" PRIu32 " seat%s) from %s to %s", what, name, seats,
             seats == 1 ? "" : "s", p->today_s, p->end_s);
    l->amount = amount;
    memcpy(l->start, p->today_s, sizeof(l->start));
    memcpy(l->end, p->end_s, sizeof(l->end));
    p->total += amount;
}

/* The period, the state after the change and the prorated lines. */
static int
change_compute(change_ctx *c, const PGresult *res, change_plan *p,
               lc_db_error *err)
{
    const char *state = PQgetvalue(res, 0, C_STATE);
    billing_date today;
    billing_proration pr;
    /* a paid seat count: a tenant has at least its owner */
    uint32_t seats = c->usage.seats > 0 ? c->usage.seats : 1;
    int64_t old_price, new_price;

    memset(p, 0, sizeof(*p));
    if (billing_date_parse(PQgetvalue(res, 0, C_TODAY), &today) != 0 ||
        billing_date_parse(PQgetvalue(res, 0, C_PERIOD_START), &p->start) !=
            0 ||
        billing_date_parse(PQgetvalue(res, 0, C_PERIOD_END), &p->end) != 0) {
        lc_db_error_set(err, LC_DB_BUG, "a date the database gave is bad");
        return -1;
    }
    billing_date_format(today, p->today_s);
    if (strcmp(state, "trialing") == 0) {
        /* A trial costs nothing; only the free plan ends it. */
        p->state_after = strcmp(c->plan, "free") == 0 ? "active" : "trialing";
        if (strcmp(p->state_after, "active") == 0) {
            billing_month_of(today, &p->start, &p->end);
        }
        billing_date_format(p->start, p->start_s);
        billing_date_format(p->end, p->end_s);
        return 0;
    }
    p->state_after = state;
    if (billing_date_days(today) < billing_date_days(p->start) ||
        billing_date_days(today) >= billing_date_days(p->end)) {
        /* the period has not been rolled yet: the change falls in the
         * calendar month of today, the period it is invoiced in */
        billing_month_of(today, &p->start, &p->end);
    }
    billing_date_format(p->start, p->start_s);
    billing_date_format(p->end, p->end_s);
    old_price = strtoll(PQgetvalue(res, 0, C_PRICE), NULL, 10) * seats;
    new_price = strtoll(PQgetvalue(res, 0, C_NEW_PRICE), NULL, 10) * seats;
    if (billing_prorate_change(p->start, p->end, today, old_price, new_price,
                               &pr) != 0) {
        lc_db_error_set(err, LC_DB_BUG, "proration out of range");
        return -1;
    }
    if (old_price > 0) {
        change_line_add(p, "Unused time", PQgetvalue(res, 0, C_PLAN_NAME),
                        seats, -pr.credit);
    }
    if (new_price > 0) {
        change_line_add(p, "Remaining time", PQgetvalue(res, 0, C_NEW_NAME),
                        seats, pr.charge);
    }
    return 0;
}

/* The proration as the API shows it (preview and change alike). */
static cJSON *
change_json(const change_ctx *c, const PGresult *res, const change_plan *p)
{
    cJSON *o = cJSON_CreateObject(), *from, *period, *lines, *l;
    int i;

    cJSON_AddItemToObject(o, "plan",
                          cJSON_Parse(PQgetvalue(res, 0, C_NEW_JSON)));
    from = cJSON_AddObjectToObject(o, "from_plan");
    cJSON_AddStringToObject(from, "code", PQgetvalue(res, 0, C_PLAN));
    cJSON_AddNumberToObject(from, "version",
                            atoi(PQgetvalue(res, 0, C_PLAN_VERSION)));
    cJSON_AddStringToObject(o, "state", p->state_after);
    cJSON_AddNumberToObject(o, "seats", c->usage.seats);
    cJSON_AddStringToObject(o, "effective_date", p->today_s);
    period = cJSON_AddObjectToObject(o, "period");
    cJSON_AddStringToObject(period, "start", p->start_s);
    cJSON_AddStringToObject(period, "end", p->end_s);
    cJSON_AddStringToObject(o, "currency", PQgetvalue(res, 0, C_NEW_CURRENCY));
    lines = cJSON_AddArrayToObject(o, "lines");
    for (i = 0; i < p->nlines; i++) {
        l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "description", p->lines[i].description);
        cJSON_AddNumberToObject(l, "amount_minor", (double)p->lines[i].amount);
        cJSON_AddStringToObject(l, "period_start", p->lines[i].start);
        cJSON_AddStringToObject(l, "period_end", p->lines[i].end);
        cJSON_AddItemToArray(lines, l);
    }
    cJSON_AddNumberToObject(o, "total_minor", (double)p->total);
    return o;
}

/* Writes the change: the subscription and its pending charges. */
static int
change_write(change_ctx *c, lc_db *db, const PGresult *res,
             const change_plan *p, lc_db_error *err)
{
    char amount[24], seats[16];
    const char *params[6] = {c->plan, PQgetvalue(res, 0, C_NEW_VERSION),
                             p->state_after, p->start_s, p->end_s, seats};
    PGresult *r;
    int i;

    snprintf(seats, sizeof(seats), "%" PRIu32,
             c->usage.seats > 0 ? c->usage.seats : 1);
    r = lc_db_exec(db, &subscription_update, params, err);
    if (r == NULL) {
        return -1;
    }
    PQclear(r);
    for (i = 0; i < p->nlines; i++) {
        const char *line[5] = {p->lines[i].description, amount,
                               PQgetvalue(res, 0, C_NEW_CURRENCY),
                               p->lines[i].start, p->lines[i].end};

        snprintf(amount, sizeof(amount), "%" PRId64, p->lines[i].amount);
        r = lc_db_exec(db, &charge_insert, line, err);
        if (r == NULL) {
            return -1;
        }
        PQclear(r);
    }
    return 0;
}

static int
change_tx(lc_db *db, void *arg, lc_db_error *err)
{
    change_ctx *c = arg;
    PGresult *res, *sub = NULL;
    change_plan p;
    cJSON *body, *proration;
    int rc = -1;

    free(c->body);
    c->body = NULL;
    res = lc_db_exec(db, c->apply ? &change_state_lock : &change_state_read,
                     &c->plan, err);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lc_req_fail_tx(&c->fail, err, 404, "not_found",
                              "this tenant has no subscription");
    }
    if (change_refusal(c, res, err) != 0 || change_compute(c, res, &p, err) != 0) {
        PQclear(res);
        return -1;
    }
    proration = change_json(c, res, &p);
    if (!c->apply) {
        c->body = cJSON_PrintUnformatted(proration);
        cJSON_Delete(proration);
        PQclear(res);
        return c->body != NULL ? 0 : -1;
    }
    if (change_write(c, db, res, &p, err) == 0 &&
        (sub = lc_db_exec(db, &subscription_get, NULL, err)) != NULL) {
        body = cJSON_CreateObject();
        cJSON_AddItemToObject(body, "subscription",
                              cJSON_Parse(PQgetvalue(sub, 0, 1)));
        cJSON_AddItemToObject(body, "proration", proration);
        proration = NULL;
        c->body = cJSON_PrintUnformatted(body);
        cJSON_Delete(body);
        snprintf(c->version, sizeof(c->version), "%s", PQgetvalue(sub, 0, 0));
        rc = c->body != NULL ? lc_idem_store(db, c->idem, 200, NULL,
                                             PQgetvalue(sub, 0, 0), c->body,
                                             err)
                             : -1;
    }
    cJSON_Delete(proration);
    PQclear(sub);
    PQclear(res);
    return rc;
}

static void
change_run(lc_req *req, bool apply)
{
    static const lc_body_field fields[] = {
        {.name = "plan", .kind = LC_BODY_CODE, .required = true},
    };
    lc_caller caller;
    lc_body_value v[1];
    lc_idem idem = {0};
    change_ctx c = {0};

    if (lc_caller_get(req, "owner", &caller) != 0 ||
        lc_body_read(req, fields, 1, v) != 0) {
        return;
    }
    if (apply && lc_idem_begin(req, caller.tenant_id, caller.user_id, &idem) !=
                     0) {
        return;
    }
    c.caller = &caller;
    c.plan = v[0].text;
    c.apply = apply;
    c.idem = &idem;
    if (usage_count(lc_req_app(req), lc_req_id(req), caller.tenant_id,
                    &c.usage) != 0) {
        /* the plan's limits cannot be checked without them */
        lc_req_error(req, 503, "service_unavailable",
                     "seats and projects cannot be counted now, try again "
                     "later");
        if (apply) {
            lc_idem_abort(req, &idem);
        }
        return;
    }
    if (lc_req_tx(req, caller.tenant_id, change_tx, &c) != 0) {
        if (c.unknown_plan) {
            lc_body_field_error(req, "plan", "not_found", "no such plan");
        } else if (c.over != NULL) {
            /* a downgrade below the usage: the error names what is over */
            lc_entitlement_refuse(req, 409, "conflict", c.over, c.plan,
                                  c.over_usage, c.over_max);
        }
        if (apply) {
            lc_idem_abort(req, &idem);
        }
        free(c.body);
        return;
    }
    if (apply) {
        entitlements_plan_changed(lc_req_app(req));
        /* the subscription's ETag, as a replay of the key answers too */
        lc_etag_respond(req, 200, c.version, c.body);
    } else {
        lc_req_respond(req, 200, "application/json", c.body, strlen(c.body));
    }
    free(c.body);
}

static void
subscription_preview(lc_req *req)
{
    change_run(req, false);
}

static void
subscription_change(lc_req *req)
{
    change_run(req, true);
}

int
subscriptions_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"GET", "/api/billing/subscription", subscription_show},
        {"POST", "/api/billing/subscription/preview", subscription_preview},
        {"POST", "/api/billing/subscription", subscription_change},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}

/* --- the platform's view ---------------------------------------------------*/

#define DIRECTORY_LIST(after)                                                  \
    "SELECT d.tenant_id::text, d.tenant_id, json_build_object("                \
    " 'tenant_id', d.tenant_id, 'plan', json_build_object("                    \
    "   'code', d.plan_code, 'version', d.plan_version),"                      \
    " 'state', d.state, 'seats', d.seats, 'mrr_minor', d.mrr_minor,"          \
    " 'currency', d.currency,"                                                 \
    " 'updated_at', " BILLING_RFC3339("d.updated_at") ")::text"               \
    " FROM billing.subscription_directory d"                                   \
    " WHERE ($1::text IS NULL OR d.state = $1)" after                          \
    " ORDER BY d.tenant_id LIMIT $2"

static const lc_page_order directory_orders[] = {
    {"tenant_id",
     {DIRECTORY_LIST(""), 2},
     {DIRECTORY_LIST(" AND d.tenant_id > $4::uuid"), 4}},
};

static void
subscriptions_admin_list(lc_req *req)
{
    static const char *const allowed[] = {"limit", "cursor", "state", NULL};
    static const char *const states[] = {"trialing", "active", "past_due",
                                         "canceled", NULL};
    lc_page page;
    PGresult *res;
    char limit[16], state_buf[16];
    const char *state, *params[4];
    size_t i;

    if (lc_caller_platform_admin(req) != 0 ||
        lc_page_parse_orders(req, allowed, directory_orders, 1, &page) != 0 ||
        lc_page_filter(req, "state", state_buf, sizeof(state_buf), &state) !=
            0) {
        return;
    }
    for (i = 0; state != NULL && states[i] != NULL &&
                strcmp(state, states[i]) != 0;
         i++) {
    }
    if (state != NULL && states[i] == NULL) {
        lc_body_field_error(req, "state", "invalid_choice",
                            "state: not a subscription state");
        return;
    }
    snprintf(limit, sizeof(limit), "%d", page.limit + 1);
    params[0] = state;
    params[1] = limit;
    params[2] = page.after_key;
    params[3] = page.after_id;
    res = lc_req_read(req, NULL, lc_page_stmt(&page), params);
    if (res != NULL) {
        lc_page_respond_rows(req, &page, res, 2);
        PQclear(res);
    }
}

int
subscriptions_admin_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"GET", "/api/admin/billing/subscriptions", subscriptions_admin_list},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
