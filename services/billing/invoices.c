/*
 * invoices.c: the monthly invoicing run and the invoices' routes.
 *
 * The run bills every subscription whose period has ended by a date, in
 * arrears, one tenant and one period per transaction: a trial that ended
 * becomes active (nothing to bill), and an active or past-due period
 * becomes a draft invoice — its plan's seats (users.CountSeats, prorated
 * by the day for a period shorter than its month) and the pending charges
 * of plan changes — finalised at once (billing.finalize_invoice gives the
 * tenant's next number), and the next period starts. Invoices are unique
 * per tenant and period and a period moves on in the transaction that
 * bills it, so a run made twice, or again after a kill -9, makes exactly
 * the invoices still missing. The run is `lintel-billing invoice --as-of
 * YYYY-MM-DD` and the job invoice.run, enqueued for the first of each
 * month.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing.h"
#include "invoice_pdf.h"
#include "lc_clock.h"
#include "lc_page.h"
#include "lc_service.h"
#include "lintel/v1/users.pb-c.h"
#include "proration.h"

/* How many periods one tenant may be billed in one run (a run long
 * overdue catches up, a date far in the future does not loop). */
#define INVOICE_MAX_PERIODS 36
/* Connections that bill tenants side by side in one run. */
#define INVOICE_WORKERS 4

/* What the invoice's credit notes take off it (<= 0; credit_notes.c). */
#define INVOICE_CREDITED                                                       \
    "(SELECT coalesce(sum(n.total_minor), 0) FROM billing.credit_notes n"      \
    " WHERE n.tenant_id = i.tenant_id AND n.invoice_id = i.id)"

#define INVOICE_JSON                                                           \
    "json_build_object('id', i.id, 'number', i.number, 'status', i.status,"   \
    " 'plan', json_build_object('code', i.plan_code,"                          \
    "   'version', i.plan_version),"                                           \
    " 'period', json_build_object('start', " BILLING_DATE("i.period_start")    \
    ", 'end', " BILLING_DATE("i.period_end") "),"                              \
    " 'currency', i.currency, 'total_minor', i.total_minor,"                   \
    " 'credited_minor', " INVOICE_CREDITED ","                                 \
    " 'amount_due_minor', CASE WHEN i.status = 'open'"                         \
    "   THEN i.total_minor + " INVOICE_CREDITED " ELSE 0 END,"                 \
    " 'created_at', " BILLING_RFC3339("i.created_at") ","                     \
    " 'finalized_at', " BILLING_RFC3339("i.finalized_at") ","                 \
    " 'paid_at', " BILLING_RFC3339("i.paid_at") ")"

/* --- the run ----------------------------------------------------------------*/

static const lc_db_stmt due_tenants = {
    "SELECT tenant_id FROM billing.invoice_schedule"
    " WHERE due_on <= $1::date AND ($2::uuid IS NULL OR tenant_id > $2::uuid)"
    " ORDER BY tenant_id LIMIT 500",
    2};

static const lc_db_stmt period_lock = {
    "SELECT s.state, " BILLING_DATE("s.period_start") ","
    " " BILLING_DATE("s.period_end") ", s.plan_code, s.plan_version,"
    " p.name, p.seat_price_minor, p.currency"
    " FROM billing.subscriptions s"
    " JOIN billing.plans p ON (p.code, p.version) = (s.plan_code, s.plan_version)"
    " WHERE s.period_end <= $1::date FOR UPDATE OF s",
    1};

enum { P_STATE, P_START, P_END, P_PLAN, P_VERSION, P_NAME, P_PRICE, P_CURRENCY };

/* $1 state, $2 period start, $3 period end, $4 seats */
static const lc_db_stmt period_roll = {
    "UPDATE billing.subscriptions SET state = $1, period_start = $2,"
    " period_end = $3, seats = $4::int, updated_at = now(),"
    " version = version + 1",
    4};

/* $1 plan, $2 version, $3 start, $4 end, $5 currency */
static const lc_db_stmt invoice_draft = {
    "INSERT INTO billing.invoices (tenant_id, plan_code, plan_version,"
    " period_start, period_end, currency)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, $2, $3, $4, $5)"
    " ON CONFLICT (tenant_id, period_start) DO NOTHING RETURNING id",
    5};

/* $1 invoice, $2 description, $3 quantity, $4 unit price, $5 amount,
 * $6 start, $7 end: the first line, the plan's seats. */
static const lc_db_stmt invoice_seats_line = {
    "INSERT INTO billing.invoice_lines (tenant_id, invoice_id, position,"
    " description, quantity, unit_price_minor, amount_minor, period_start,"
    " period_end)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, 1, $2, $3, $4, $5,"
    " $6, $7)",
    7};

/* $1 invoice, $2 period end: the pending charges of the period, after the
 * seats line, then marked as billed. */
static const lc_db_stmt invoice_charge_lines = {
    "WITH c AS (UPDATE billing.pending_charges SET invoice_id = $1"
    "   WHERE invoice_id IS NULL AND period_start < $2::date"
    "   RETURNING id, description, amount_minor, period_start, period_end,"
    "   created_at)"
    " INSERT INTO billing.invoice_lines (tenant_id, invoice_id, position,"
    " description, quantity, unit_price_minor, amount_minor, period_start,"
    " period_end)"
    " SELECT current_setting('app.tenant_id')::uuid, $1,"
    " 1 + row_number() OVER (ORDER BY created_at, id), description, 1,"
    " amount_minor, amount_minor, period_start, period_end FROM c",
    2};

static const lc_db_stmt invoice_finalize = {
    "SELECT billing.finalize_invoice($1)", 1};

typedef struct {
    const char *as_of;
    uint32_t seats;
    bool billed;    /* an invoice was made */
    bool more;      /* a period moved on: the next may be due too */
} period_ctx;

/* The seats line of a period inside one calendar month: the seat price
 * times the seats, prorated by the day when the period is not the whole
 * month (the rounding rule of proration.h). */
static int
period_seats_line(lc_db *db, const PGresult *s, const char *invoice,
                  uint32_t seats, billing_date start, billing_date end,
                  lc_db_error *err)
{
    int64_t unit = strtoll(PQgetvalue(s, 0, P_PRICE), NULL, 10);
    int64_t from = start.day - 1;
    int64_t to = from + billing_date_days(end) - billing_date_days(start);
    int64_t amount = billing_prorate(unit * seats,
                                     billing_month_days(start.year, start.month),
                                     from, to);
    char desc[200], qty[16], unit_s[24], amount_s[24], a[11], b[11];
    const char *params[7] = {invoice, desc, qty, unit_s, amount_s, a, b};
    PGresult *r;

    if (amount < 0) {
        lc_db_error_set(err, LC_DB_BUG, "a period outside its month");
        return -1;
    }
    billing_date_format(start, a);
    billing_date_format(end, b);
    snprintf(desc, sizeof(desc), "%s plan, %" PRIu32 " seat%s, %s to %s",
             PQgetvalue(s, 0, P_NAME), seats, seats == 1 ? "" : "s", a, b);
    snprintf(qty, sizeof(qty), "%" PRIu32, seats);
    snprintf(unit_s, sizeof(unit_s), "%" PRId64, unit);
    snprintf(amount_s, sizeof(amount_s), "%" PRId64, amount);
    r = lc_db_exec(db, &invoice_seats_line, params, err);
    PQclear(r);
    return r ? 0 : -1;
}

/* Bills the ended period of `s` (an invoice, finalised). */
static int
period_invoice(lc_db *db, period_ctx *c, const PGresult *s, billing_date start,
               billing_date end, lc_db_error *err)
{
    const char *params[5] = {PQgetvalue(s, 0, P_PLAN),
                             PQgetvalue(s, 0, P_VERSION),
                             PQgetvalue(s, 0, P_START), PQgetvalue(s, 0, P_END),
                             PQgetvalue(s, 0, P_CURRENCY)};
    const char *lines[2];
    char id[37];
    PGresult *r;
    int rc;

    rc = lc_db_value(db, &invoice_draft, params, id, sizeof(id), err);
    if (rc <= 0) {
        return rc; /* 0: this period is billed already */
    }
    if (period_seats_line(db, s, id, c->seats, start, end, err) != 0) {
        return -1;
    }
    lines[0] = id;
    lines[1] = PQgetvalue(s, 0, P_END);
    r = lc_db_exec(db, &invoice_charge_lines, lines, err);
    if (r == NULL) {
        return -1;
    }
    PQclear(r);
    r = lc_db_exec(db, &invoice_finalize, lines, err);
    if (r == NULL) {
        return -1;
    }
    PQclear(r);
    c->billed = true;
    return 0;
}

/* One period of the transaction's tenant, if one has ended by c->as_of. */
static int
period_tx(lc_db *db, void *arg, lc_db_error *err)
{
    period_ctx *c = arg;
    PGresult *s;
    billing_date start, end, next_start, next_end, month_start;
    const char *state, *params[4];
    char a[11], b[11], seats[16];
    int rc = 0;

    c->billed = c->more = false;
    s = lc_db_exec(db, &period_lock, &c->as_of, err);
    if (s == NULL) {
        return -1;
    }
    if (PQntuples(s) == 0 || strcmp(PQgetvalue(s, 0, P_STATE), "canceled") == 0) {
        PQclear(s);
        return 0;
    }
    state = PQgetvalue(s, 0, P_STATE);
    if (billing_date_parse(PQgetvalue(s, 0, P_START), &start) != 0 ||
        billing_date_parse(PQgetvalue(s, 0, P_END), &end) != 0) {
        PQclear(s);
        lc_db_error_set(err, LC_DB_BUG, "a bad period date");
        return -1;
    }
    if (strcmp(state, "trialing") != 0) {
        rc = period_invoice(db, c, s, start, end, err);
    }
    /* The next period runs to the end of its calendar month: a trial's
     * end starts a short first one, then whole months. */
    next_start = end;
    billing_month_of(next_start, &month_start, &next_end);
    billing_date_format(next_start, a);
    billing_date_format(next_end, b);
    params[0] = strcmp(state, "trialing") == 0 ? "active" : state;
    params[1] = a;
    params[2] = b;
    snprintf(seats, sizeof(seats), "%" PRIu32, c->seats);
    params[3] = seats;
    if (rc == 0) {
        PGresult *r = lc_db_exec(db, &period_roll, params, err);

        rc = r ? 0 : -1;
        PQclear(r);
    }
    PQclear(s);
    c->more = rc == 0;
    return rc;
}

/* Active seats of a tenant (at least one: the owner pays for a seat). */
static int
period_seats(lc_rpc_client *users, long timeout_ms, const char *tenant_id,
             uint32_t *seats)
{
    Lintel__V1__Users__CountSeatsRequest in =
        LINTEL__V1__USERS__COUNT_SEATS_REQUEST__INIT;
    Lintel__V1__Users__CountSeatsResponse *out = NULL;
    int status = 0;

    in.tenant_id = (char *)tenant_id;
    if (lc_rpc_call_method(users, "users.CountSeats", "", tenant_id, &in.base,
                           &lintel__v1__users__count_seats_response__descriptor,
                           lc_clock_mono_ms() + timeout_ms,
                           (ProtobufCMessage **)&out, &status) != LC_RPC_OK) {
        return -1;
    }
    *seats = out->active > 0 ? out->active : 1;
    lc_envelope_free_message(&out->base);
    return 0;
}

typedef struct {
    const char *const *params;
    PGresult *res;
} invoice_due_ctx;

static int
invoice_due_tx(lc_db *db, void *arg, lc_db_error *err)
{
    invoice_due_ctx *c = arg;

    PQclear(c->res);
    c->res = lc_db_exec(db, &due_tenants, c->params, err);
    return c->res ? 0 : -1;
}

/* One tenant: its seats, then each ended period in its own transaction.
 * Adds to out (under the run's lock). */
typedef struct {
    lc_rpc_client *users;
    long users_timeout_ms;
    const char *as_of;
    const PGresult *due; /* this page of due tenants */
    atomic_int next;     /* the next row of `due` to take */
    pthread_mutex_t lock;
    invoice_run_result *out;
} invoice_page;

static void
invoice_tenant(lc_db *db, invoice_page *pg, const char *tenant)
{
    period_ctx c = {.as_of = pg->as_of};
    lc_db_error err;
    char why[sizeof(pg->out->error)] = "";
    int k, made = 0, failed = 0;

    if (period_seats(pg->users, pg->users_timeout_ms, tenant, &c.seats) != 0) {
        failed = 1;
        snprintf(why, sizeof(why),
                 "users.CountSeats did not answer for tenant %s", tenant);
    }
    for (k = 0; !failed && k < INVOICE_MAX_PERIODS; k++) {
        if (lc_db_tenant_tx(db, tenant, lc_clock_mono_ms() + 30000, period_tx,
                            &c, &err) != 0) {
            failed = 1;
            snprintf(why, sizeof(why), "tenant %s: %s", tenant, err.message);
            break;
        }
        made += c.billed;
        if (!c.more) {
            break;
        }
    }
    pthread_mutex_lock(&pg->lock);
    pg->out->invoices += made;
    pg->out->failed += failed;
    if (failed) {
        memcpy(pg->out->error, why, sizeof(why));
    }
    pthread_mutex_unlock(&pg->lock);
}

typedef struct {
    invoice_page *pg;
    lc_db *db;
} invoice_worker;

static void *
invoice_worker_run(void *arg)
{
    invoice_worker *w = arg;
    int n = PQntuples(w->pg->due), i;

    while ((i = atomic_fetch_add(&w->pg->next, 1)) < n) {
        invoice_tenant(w->db, w->pg, PQgetvalue(w->pg->due, i, 0));
    }
    return NULL;
}

int
invoice_run(const lc_db_options *opts, lc_db *db, lc_rpc_client *users,
            long users_timeout_ms, const char *as_of, invoice_run_result *out)
{
    invoice_worker w[INVOICE_WORKERS];
    pthread_t th[INVOICE_WORKERS];
    invoice_page pg = {.users = users,
                       .users_timeout_ms = users_timeout_ms,
                       .as_of = as_of,
                       .out = out};
    char after[37] = "";
    lc_db_error err;
    int nw, i, n;

    memset(out, 0, sizeof(*out));
    pthread_mutex_init(&pg.lock, NULL);
    /* Tenants are independent: a few connections bill them side by side
     * (the first is the caller's); without more, one does it all. */
    w[0] = (invoice_worker){.pg = &pg, .db = db};
    for (nw = 1; nw < INVOICE_WORKERS; nw++) {
        w[nw] = (invoice_worker){.pg = &pg, .db = lc_db_open(opts)};
        if (w[nw].db == NULL) {
            break;
        }
    }
    for (;;) {
        const char *params[2] = {as_of, after[0] ? after : NULL};
        invoice_due_ctx dc = {.params = params};

        if (lc_db_tenant_tx(db, NULL, lc_clock_mono_ms() + 30000,
                            invoice_due_tx, &dc, &err) != 0) {
            PQclear(dc.res);
            snprintf(out->error, sizeof(out->error), "%s", err.message);
            out->failed++;
            break;
        }
        pg.due = dc.res;
        atomic_store(&pg.next, 0);
        n = PQntuples(dc.res);
        for (i = 1; i < nw; i++) {
            pthread_create(&th[i], NULL, invoice_worker_run, &w[i]);
        }
        invoice_worker_run(&w[0]);
        for (i = 1; i < nw; i++) {
            pthread_join(th[i], NULL);
        }
        if (n > 0) {
            snprintf(after, sizeof(after), "%s", PQgetvalue(dc.res, n - 1, 0));
        }
        PQclear(dc.res);
        if (n == 0) {
            break;
        }
    }
    for (i = 1; i < nw; i++) {
        lc_db_close(w[i].db);
    }
    pthread_mutex_destroy(&pg.lock);
    return out->failed > 0 ? -1 : 0;
}

/* --- the command and the job ----------------------------------------------*/

int
invoice_command(int argc, char **argv)
{
    static const char *db_url, *users_url;
    static long users_timeout_ms;
    static lc_service_identity identity;
    static lc_config_var vars[3 + LC_SERVICE_IDENTITY_VARS] = {
        {"LINTEL_DB_URL", "postgresql://lintel_billing@127.0.0.1:55432/lintel",
         LC_CFG_STRING, 0, 0, "PostgreSQL connection string", &db_url},
        {"LINTEL_USERS_RPC_URL", "tcp://127.0.0.1:7101", LC_CFG_URL, 0, 0,
         "NNG URL of the users service (users.CountSeats)", &users_url},
        {"LINTEL_USERS_TIMEOUT_MS", "1000", LC_CFG_INT, 1, 60000,
         "deadline of a call to the users service", &users_timeout_ms},
    };
    lc_db_options opts = {0};
    invoice_run_result res;
    billing_date d;
    lc_rpc_client *users;
    lc_db *db;
    char err[256], dial_url[256];
    int rc;

    if (argc != 4 || strcmp(argv[2], "--as-of") != 0 ||
        billing_date_parse(argv[3], &d) != 0) {
        fprintf(stderr, "usage: lintel-billing invoice --as-of YYYY-MM-DD\n");
        return 2;
    }
    lc_service_identity_vars(&identity, vars + 3);
    lc_config_load_or_exit("lintel-billing invoice", vars,
                           sizeof(vars) / sizeof(vars[0]));
    /* billing's identity and listener at users, as the service's own */
    if (lc_service_identity_use(&identity, "billing", err, sizeof(err)) != 0) {
        fprintf(stderr, "lintel-billing: LINTEL_TLS_DIR: %s\n", err);
        return 2;
    }
    if (lc_service_caller_url(&identity, users_url, "billing", dial_url,
                              sizeof(dial_url)) != 0) {
        fprintf(stderr, "lintel-billing: LINTEL_USERS_RPC_URL: no port in %s\n",
                users_url);
        return 2;
    }
    users = lc_rpc_client_open(dial_url, 1048576, err, sizeof(err));
    if (users == NULL) {
        fprintf(stderr, "lintel-billing: LINTEL_USERS_RPC_URL: %s\n", err);
        return 2;
    }
    opts.conninfo = db_url;
    opts.application = "lintel-billing-invoice";
    db = lc_db_open(&opts);
    rc = db ? invoice_run(&opts, db, users, users_timeout_ms, argv[3], &res)
            : -1;
    lc_db_close(db);
    lc_rpc_client_close(users);
    if (db == NULL) {
        fprintf(stderr, "lintel-billing: invoice: out of memory\n");
        return 1;
    }
    printf("invoices made: %d; tenants failed: %d\n", res.invoices,
           res.failed);
    if (rc != 0) {
        fprintf(stderr, "lintel-billing: invoice: %s\n", res.error);
        return 1;
    }
    return 0;
}

/* The run as of today (UTC), then the next one enqueued for the first of
 * next month, 00:05 UTC. Platform job; at least once, which the run
 * tolerates (it makes only missing invoices). */
static lc_job_outcome
invoice_job(lc_db *db, const lc_job *job, void *arg, char *why, size_t whylen)
{
    billing_app *app = arg;
    invoice_run_result res;
    billing_date today;
    char as_of[11];

    (void)job;
    today = billing_date_from_days(lc_clock_wall_ms() / 86400000);
    billing_date_format(today, as_of);
    if (invoice_run(&app->jobs_options.db, db, app->users,
                    app->users_timeout_ms, as_of, &res) != 0) {
        snprintf(why, whylen, "%d tenants failed: %s", res.failed, res.error);
        return LC_JOB_RETRY;
    }
    if (invoice_schedule_next(app, db) != 0) {
        snprintf(why, whylen, "cannot enqueue the next run");
        return LC_JOB_RETRY;
    }
    return LC_JOB_DONE;
}

static const lc_db_stmt next_run_pending = {
    "SELECT pg_advisory_xact_lock(hashtext('billing.invoice.run')),"
    " EXISTS (SELECT FROM billing.jobs WHERE kind = 'invoice.run'"
    "   AND status IN ('queued', 'failed'))",
    0};

typedef struct {
    billing_app *app;
    int64_t run_at_ms;
} next_run_ctx;

static int
next_run_tx(lc_db *db, void *arg, lc_db_error *err)
{
    next_run_ctx *c = arg;
    lc_job_new job = {.kind = "invoice.run", .run_at_ms = c->run_at_ms};
    PGresult *r = lc_db_exec(db, &next_run_pending, NULL, err);
    bool pending;

    if (r == NULL) {
        return -1;
    }
    pending = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);
    return pending ? 0 : lc_jobs_enqueue(c->app->jobs, db, &job, NULL, err);
}

int
invoice_schedule_next(billing_app *app, lc_db *db)
{
    billing_date today, start, end;
    next_run_ctx c = {.app = app};
    lc_db_error err;

    today = billing_date_from_days(lc_clock_wall_ms() / 86400000);
    billing_month_of(today, &start, &end);
    c.run_at_ms = (billing_date_days(end) * 86400 + 300) * 1000;
    return lc_db_tenant_tx(db, NULL, lc_clock_mono_ms() + 10000, next_run_tx,
                           &c, &err);
}

int
invoice_jobs_register(billing_app *app)
{
    return lc_jobs_handle(app->jobs, "invoice.run", invoice_job, app);
}

/* --- the routes ------------------------------------------------------------*/

#define INVOICES_LIST(after)                                                   \
    "SELECT i.created_at::text, i.id, " INVOICE_JSON "::text"                  \
    " FROM billing.invoices i WHERE i.status <> 'draft'" after                 \
    " ORDER BY i.created_at DESC, i.id DESC LIMIT $1"

static const lc_page_order invoice_orders[] = {
    {"-created_at",
     {INVOICES_LIST(""), 1},
     {INVOICES_LIST(" AND (i.created_at, i.id) < ($2::timestamptz, $3::uuid)"),
      3}},
};

static void
invoices_list(lc_req *req)
{
    static const char *const allowed[] = {"limit", "cursor", NULL};
    lc_caller caller;
    lc_page page;
    PGresult *res;
    char limit[16];
    const char *params[3];

    if (lc_caller_get(req, "admin", &caller) != 0 ||
        lc_page_parse_orders(req, allowed, invoice_orders, 1, &page) != 0) {
        return;
    }
    snprintf(limit, sizeof(limit), "%d", page.limit + 1);
    params[0] = limit;
    params[1] = page.after_key;
    params[2] = page.after_id;
    res = lc_req_read(req, caller.tenant_id, lc_page_stmt(&page), params);
    if (res != NULL) {
        lc_page_respond_rows(req, &page, res, 2);
        PQclear(res);
    }
}

static const lc_db_stmt invoice_get = {
    "SELECT (" INVOICE_JSON "::jsonb || jsonb_build_object('lines',"
    " (SELECT coalesce(jsonb_agg(jsonb_build_object("
    "   'description', l.description, 'quantity', l.quantity,"
    "   'unit_price_minor', l.unit_price_minor,"
    "   'amount_minor', l.amount_minor,"
    "   'period_start', " BILLING_DATE("l.period_start") ","
    "   'period_end', " BILLING_DATE("l.period_end") ")"
    "   ORDER BY l.position), '[]')"
    "  FROM billing.invoice_lines l"
    "  WHERE l.tenant_id = i.tenant_id AND l.invoice_id = i.id)))::text"
    " FROM billing.invoices i WHERE i.id = $1 AND i.status <> 'draft'",
    1};

/* --- one document: GET /api/billing/invoices/{id} and {id}.pdf ----------- */

static const lc_db_stmt invoice_pdf_head = {
    "SELECT i.number, i.status, " BILLING_DATE("(i.finalized_at AT TIME ZONE 'UTC')::date")
    ", " BILLING_DATE("i.period_start") ", " BILLING_DATE("i.period_end") ","
    " p.name || ' (version ' || p.version || ')', i.currency, i.total_minor"
    " FROM billing.invoices i"
    " JOIN billing.plans p ON (p.code, p.version) = (i.plan_code, i.plan_version)"
    " WHERE i.id = $1 AND i.status <> 'draft'",
    1};

static const lc_db_stmt invoice_pdf_lines = {
    "SELECT description, quantity, unit_price_minor, amount_minor"
    " FROM billing.invoice_lines WHERE invoice_id = $1 ORDER BY position",
    1};

typedef struct {
    lc_req_fail fail; /* first: lc_req_tx answers with it */
    const billing_document *doc;
    const char *id;
    PGresult *head, *lines;
} document_pdf_ctx;

static int
document_pdf_tx(lc_db *db, void *arg, lc_db_error *err)
{
    document_pdf_ctx *c = arg;

    PQclear(c->head);
    PQclear(c->lines);
    c->lines = NULL;
    c->head = lc_db_exec(db, c->doc->pdf_head, &c->id, err);
    if (c->head == NULL) {
        return -1;
    }
    if (PQntuples(c->head) == 0) {
        return lc_req_fail_tx(&c->fail, err, 404, "not_found",
                              c->doc->missing);
    }
    c->lines = lc_db_exec(db, c->doc->pdf_lines, &c->id, err);
    return c->lines ? 0 : -1;
}

static void
document_pdf(lc_req *req, const lc_caller *caller, const billing_document *doc,
             const char *id)
{
    document_pdf_ctx c = {.doc = doc, .id = id};
    invoice_pdf out;
    invoice_pdf_line *lines;
    unsigned char *pdf;
    size_t len;
    int i, n;

    if (lc_req_tx(req, caller->tenant_id, document_pdf_tx, &c) != 0) {
        PQclear(c.head);
        PQclear(c.lines);
        return;
    }
    n = PQntuples(c.lines);
    lines = calloc((size_t)n + 1, sizeof(*lines));
    for (i = 0; lines != NULL && i < n; i++) {
        lines[i].description = PQgetvalue(c.lines, i, 0);
        lines[i].quantity = strtoll(PQgetvalue(c.lines, i, 1), NULL, 10);
        lines[i].unit_price = strtoll(PQgetvalue(c.lines, i, 2), NULL, 10);
        lines[i].amount = strtoll(PQgetvalue(c.lines, i, 3), NULL, 10);
    }
    out = (invoice_pdf){.title = doc->title,
                        .tenant = caller->tenant_slug,
                        .number = PQgetvalue(c.head, 0, 0),
                        .status = PQgetvalue(c.head, 0, 1),
                        .issued = PQgetvalue(c.head, 0, 2),
                        .period_start = PQgetvalue(c.head, 0, 3),
                        .period_end = PQgetvalue(c.head, 0, 4),
                        .plan = PQgetvalue(c.head, 0, 5),
                        .currency = PQgetvalue(c.head, 0, 6),
                        .total = strtoll(PQgetvalue(c.head, 0, 7), NULL, 10),
                        .lines = lines,
                        .nlines = (size_t)n};
    if (lines == NULL || invoice_pdf_render(&out, &pdf, &len) != 0) {
        lc_req_error(req, 500, "internal", "the PDF could not be made");
    } else {
        lc_req_respond(req, 200, "application/pdf", pdf, len);
        free(pdf);
    }
    free(lines);
    PQclear(c.head);
    PQclear(c.lines);
}

void
billing_document_get(lc_req *req, const billing_document *doc)
{
    const char *id = lc_req_param(req, "id");
    size_t n = strlen(id);
    lc_caller caller;
    PGresult *res;
    char uuid[37];

    if (lc_caller_get(req, "admin", &caller) != 0) {
        return;
    }
    /* {id}.pdf: the same document as a PDF */
    if (n == 40 && strcmp(id + 36, ".pdf") == 0) {
        memcpy(uuid, id, 36);
        uuid[36] = '\0';
        if (lc_db_is_path_uuid(uuid)) {
            document_pdf(req, &caller, doc, uuid);
            return;
        }
    }
    if (!lc_db_is_path_uuid(id)) {
        lc_req_error(req, 404, "not_found", doc->missing);
        return;
    }
    res = lc_req_read(req, caller.tenant_id, doc->json, &id);
    if (res == NULL) {
        return;
    }
    if (PQntuples(res) == 0) {
        lc_req_error(req, 404, "not_found", doc->missing);
    } else {
        lc_req_respond(req, 200, "application/json", PQgetvalue(res, 0, 0),
                       (size_t)PQgetlength(res, 0, 0));
    }
    PQclear(res);
}

static void
invoices_get(lc_req *req)
{
    static const billing_document invoice = {
        .missing = "no such invoice",
        .json = &invoice_get,
        .pdf_head = &invoice_pdf_head,
        .pdf_lines = &invoice_pdf_lines,
    };

    billing_document_get(req, &invoice);
}

int
invoices_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"GET", "/api/billing/invoices", invoices_list},
        {"GET", "/api/billing/invoices/:id", invoices_get},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
