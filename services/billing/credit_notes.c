/*
 * credit_notes.c: corrections of final invoices. An invoice never changes
 * once final; a credit note takes an amount off it instead: its own lines
 * and a negative total, its own gapless number series per tenant (a
 * counter row, as invoices'), immutable once issued (triggers of
 * migrations/billing/0006_credit_notes.sql). The credit notes of an
 * invoice never add up to more than its total, and they reduce what is
 * due on it (the invoice's amount_due_minor, and what a dunning retry
 * charges).
 *
 * Routes:
 *   POST /api/admin/billing/tenants/{tenant_id}/invoices/{id}/credit-notes
 *        a platform admin on the apex issues one (Idempotency-Key);
 *        {"reason", "lines": [{"description", "amount_minor" > 0}]}: each
 *        line's amount is what it credits, stored and shown negative;
 *   GET  /api/billing/credit-notes          the tenant's, newest first,
 *                                           keyset-paged (admin and owner)
 *   GET  /api/billing/credit-notes/{id}     one, with its lines;
 *        {id}.pdf: as a PDF (invoice_pdf.h)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing.h"
#include "invoice_pdf.h"
#include "lc_page.h"

/* Lines a credit note may have. */
#define CREDIT_NOTE_MAX_LINES 20

#define CREDIT_NOTE_JSON                                                       \
    "json_build_object('id', n.id, 'number', n.number,"                        \
    " 'invoice', json_build_object('id', i.id, 'number', i.number),"           \
    " 'reason', n.reason, 'currency', n.currency,"                             \
    " 'total_minor', n.total_minor,"                                           \
    " 'created_at', " BILLING_RFC3339("n.created_at") ")"

#define CREDIT_NOTE_FROM                                                       \
    " FROM billing.credit_notes n JOIN billing.invoices i"                     \
    "   ON (i.tenant_id, i.id) = (n.tenant_id, n.invoice_id)"

static const lc_db_stmt credit_note_get = {
    "SELECT (" CREDIT_NOTE_JSON "::jsonb || jsonb_build_object('lines',"
    " (SELECT jsonb_agg(jsonb_build_object('description', l.description,"
    "   'amount_minor', l.amount_minor) ORDER BY l.position)"
    "  FROM billing.credit_note_lines l"
    "  WHERE l.tenant_id = n.tenant_id AND l.credit_note_id = n.id)))::text"
    CREDIT_NOTE_FROM " WHERE n.id = $1",
    1};

/* --- issuing ----------------------------------------------------------- */

/* The invoice, locked so that credit notes of it are issued one at a time,
 * with what its credit notes already take off. */
static const lc_db_stmt credit_invoice_lock = {
    "SELECT i.currency, i.total_minor FROM billing.invoices i"
    " WHERE i.id = $1 AND i.status <> 'draft' FOR UPDATE",
    1};
static const lc_db_stmt credit_invoice_credited = {
    "SELECT coalesce(-sum(total_minor), 0) FROM billing.credit_notes"
    " WHERE invoice_id = $1",
    1};
static const lc_db_stmt credit_note_next_number = {
    "INSERT INTO billing.credit_note_counters AS c (tenant_id, last_number)"
    " VALUES (current_setting('app.tenant_id')::uuid, 1)"
    " ON CONFLICT (tenant_id) DO UPDATE SET last_number = c.last_number + 1"
    " RETURNING last_number",
    0};
/* $1 number, $2 invoice, $3 reason, $4 currency, $5 total (negative) */
static const lc_db_stmt credit_note_insert = {
    "INSERT INTO billing.credit_notes (tenant_id, number, invoice_id, reason,"
    " currency, total_minor)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1::int, $2, $3, $4,"
    " $5::bigint) RETURNING id",
    5};
/* $1 credit note, $2 the lines as a JSON array (amounts credited, > 0) */
static const lc_db_stmt credit_note_lines_insert = {
    "INSERT INTO billing.credit_note_lines (tenant_id, credit_note_id,"
    " position, description, amount_minor)"
    " SELECT current_setting('app.tenant_id')::uuid, $1, l.n,"
    " l.v->>'description', -(l.v->>'amount_minor')::bigint"
    " FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS l(v, n)",
    2};

typedef struct {
    lc_req_fail fail; /* first: lc_req_tx answers with it */
    const char *invoice_id, *reason, *lines_json;
    int64_t amount; /* credited, > 0 */
    lc_idem *idem;
    char id[37];
    char *body;
} credit_issue_ctx;

static int
credit_issue_tx(lc_db *db, void *arg, lc_db_error *err)
{
    credit_issue_ctx *c = arg;
    char currency[4], number[16], total[24], credited[24];
    const char *params[5];
    PGresult *inv, *res;
    int rc;

    inv = lc_db_exec(db, &credit_invoice_lock, &c->invoice_id, err);
    if (inv == NULL) {
        return -1;
    }
    if (PQntuples(inv) == 0) {
        PQclear(inv);
        return lc_req_fail_tx(&c->fail, err, 404, "not_found",
                              "no such invoice");
    }
    snprintf(currency, sizeof(currency), "%s", PQgetvalue(inv, 0, 0));
    snprintf(total, sizeof(total), "%s", PQgetvalue(inv, 0, 1));
    PQclear(inv);
    if (lc_db_value(db, &credit_invoice_credited, &c->invoice_id, credited,
                    sizeof(credited), err) < 0) {
        return -1;
    }
    if (strtoll(credited, NULL, 10) + c->amount > strtoll(total, NULL, 10)) {
        return lc_req_fail_tx(&c->fail, err, 409, "conflict",
                              "the invoice's credit notes would take off "
                              "more than its total");
    }
    if (lc_db_value(db, &credit_note_next_number, NULL, number,
                    sizeof(number), err) < 0) {
        return -1;
    }
    snprintf(total, sizeof(total), "%lld", -(long long)c->amount);
    params[0] = number;
    params[1] = c->invoice_id;
    params[2] = c->reason;
    params[3] = currency;
    params[4] = total;
    if (lc_db_value(db, &credit_note_insert, params, c->id, sizeof(c->id),
                    err) < 0) {
        return -1;
    }
    params[0] = c->id;
    params[1] = c->lines_json;
    res = lc_db_exec(db, &credit_note_lines_insert, params, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    params[0] = c->id;
    res = lc_db_exec(db, &credit_note_get, params, err);
    if (res == NULL) {
        return -1;
    }
    free(c->body);
    c->body = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    rc = c->body != NULL ? 0 : -1;
    if (rc == 0) {
        char location[96];

        snprintf(location, sizeof(location), "/api/billing/credit-notes/%s",
                 c->id);
        rc = lc_idem_store(db, c->idem, 201, location, NULL, c->body, err);
    }
    return rc;
}

/* The lines of the body: 1 to CREDIT_NOTE_MAX_LINES objects, each read by
 * its spec; their amounts added up into `amount`, the lines as a JSON
 * array into `out` (malloc'd). Problems go to `errs` as lines[i].field. */
static void
credit_lines_read(const cJSON *lines, lc_json_field_errors *errs,
                  int64_t *amount, char **out)
{
    static const lc_body_field spec[] = {
        {.name = "description", .kind = LC_BODY_TEXT, .required = true,
         .max = 300},
        {.name = "amount_minor", .kind = LC_BODY_INT, .required = true,
         .min = 1, .max = LC_BODY_MAX_SAFE_INT},
    };
    cJSON *copy = cJSON_CreateArray();
    const cJSON *line;
    int i = 0, k;

    *amount = 0;
    *out = NULL;
    if (!cJSON_IsArray(lines)) {
        lc_json_field_error_add(errs, "lines", lines ? "invalid_type"
                                                     : "required");
    } else if (cJSON_GetArraySize(lines) < 1) {
        lc_json_field_error_add(errs, "lines", "too_short");
    } else if (cJSON_GetArraySize(lines) > CREDIT_NOTE_MAX_LINES) {
        lc_json_field_error_add(errs, "lines", "too_long");
    } else {
        cJSON_ArrayForEach(line, lines) {
            lc_body_value v[2];
            lc_json_field_errors e = {0};
            char name[64];

            if (lc_body_parse(line, spec, 2, LC_BODY_CREATE, v, &e) ==
                LC_BODY_OK) {
                cJSON *l = cJSON_CreateObject();

                cJSON_AddStringToObject(l, "description", v[0].text);
                cJSON_AddStringToObject(l, "amount_minor", v[1].text);
                cJSON_AddItemToArray(copy, l);
                /* each at most 2^53: the sum cannot overflow */
                *amount += v[1].integer;
            } else if (e.count == 0) {
                snprintf(name, sizeof(name), "lines[%d]", i);
                lc_json_field_error_add(errs, name, "invalid_type");
            }
            for (k = 0; k < e.count; k++) {
                snprintf(name, sizeof(name), "lines[%d].%s", i,
                         e.items[k].field);
                lc_json_field_error_add(errs, name, e.items[k].code);
            }
            i++;
        }
    }
    if (errs->count == 0 && *amount > LC_BODY_MAX_SAFE_INT) {
        lc_json_field_error_add(errs, "lines", "out_of_range");
    }
    if (errs->count == 0) {
        *out = cJSON_PrintUnformatted(copy);
    }
    cJSON_Delete(copy);
}

static void
credit_notes_issue(lc_req *req)
{
    static const lc_body_field spec[] = {
        {.name = "reason", .kind = LC_BODY_TEXT, .required = true, .max = 300},
    };
    const lc_request *env = lc_req_envelope(req);
    const char *tenant_id = lc_req_param(req, "tenant_id");
    credit_issue_ctx c = {.invoice_id = lc_req_param(req, "id")};
    lc_json_field_errors errs = {0};
    lc_body_value v[1];
    const cJSON *body;
    cJSON *top = NULL;
    char *lines = NULL;
    lc_idem idem;

    if (lc_caller_platform_admin(req) != 0) {
        return;
    }
    if (!lc_db_is_path_uuid(tenant_id) ||
        !lc_db_is_path_uuid(c.invoice_id)) {
        lc_req_error(req, 404, "not_found", "no such invoice");
        return;
    }
    if ((body = lc_req_json(req)) == NULL) {
        return;
    }
    if (!cJSON_IsObject(body)) {
        lc_req_error(req, 400, "validation_failed", "the body must be an object");
        return;
    }
    /* the reason (and no unknown member) by its spec, the lines here */
    top = cJSON_Duplicate(body, true);
    cJSON_DeleteItemFromObjectCaseSensitive(top, "lines");
    lc_body_parse(top, spec, 1, LC_BODY_CREATE, v, &errs);
    credit_lines_read(cJSON_GetObjectItemCaseSensitive(body, "lines"), &errs,
                      &c.amount, &lines);
    if (errs.count > 0 || lines == NULL) {
        if (errs.count == 0) {
            lc_req_error(req, 500, "internal", "out of memory");
        } else {
            lc_body_fail(req, &errs);
        }
        cJSON_Delete(top);
        cJSON_free(lines);
        return;
    }
    c.reason = v[0].text;
    c.lines_json = lines;
    c.idem = &idem;
    if (lc_idem_begin(req, tenant_id, env->principal->user_id, &idem) == 0) {
        if (lc_req_tx(req, tenant_id, credit_issue_tx, &c) != 0) {
            lc_idem_abort(req, &idem);
        } else {
            char location[96];

            snprintf(location, sizeof(location),
                     "/api/billing/credit-notes/%s", c.id);
            lc_req_header(req, "location", location);
            lc_req_respond(req, 201, "application/json", c.body,
                           strlen(c.body));
        }
    }
    free(c.body);
    cJSON_Delete(top);
    cJSON_free(lines);
}

/* --- reading ------------------------------------------------------------ */

#define CREDIT_NOTES_LIST(after)                                               \
    "SELECT n.created_at::text, n.id, " CREDIT_NOTE_JSON "::text"              \
    CREDIT_NOTE_FROM " WHERE true" after                                       \
    " ORDER BY n.created_at DESC, n.id DESC LIMIT $1"

static const lc_page_order credit_note_orders[] = {
    {"-created_at",
     {CREDIT_NOTES_LIST(""), 1},
     {CREDIT_NOTES_LIST(
          " AND (n.created_at, n.id) < ($2::timestamptz, $3::uuid)"),
      3}},
};

static void
credit_notes_list(lc_req *req)
{
    static const char *const allowed[] = {"limit", "cursor", NULL};
    lc_caller caller;
    lc_page page;
    PGresult *res;
    char limit[16];
    const char *params[3];

    if (lc_caller_get(req, "admin", &caller) != 0 ||
        lc_page_parse_orders(req, allowed, credit_note_orders, 1, &page) !=
            0) {
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

/* --- one credit note: GET /api/billing/credit-notes/{id} and {id}.pdf --- */

static const lc_db_stmt credit_note_pdf_head = {
    "SELECT n.number, 'credits invoice ' || i.number,"
    " " BILLING_DATE("(n.created_at AT TIME ZONE 'UTC')::date") ","
    " " BILLING_DATE("i.period_start") ", " BILLING_DATE("i.period_end") ","
    " p.name || ' (version ' || p.version || '); reason: ' || n.reason,"
    " n.currency, n.total_minor"
    CREDIT_NOTE_FROM
    " JOIN billing.plans p ON (p.code, p.version) = (i.plan_code, i.plan_version)"
    " WHERE n.id = $1",
    1};

/* A credit note's lines as the PDF's: one of each, at its amount. */
static const lc_db_stmt credit_note_pdf_lines = {
    "SELECT description, 1, amount_minor, amount_minor"
    " FROM billing.credit_note_lines"
    " WHERE credit_note_id = $1 ORDER BY position",
    1};

static void
credit_notes_get(lc_req *req)
{
    static const billing_document credit_note = {
        .missing = "no such credit note",
        .title = "Credit note",
        .json = &credit_note_get,
        .pdf_head = &credit_note_pdf_head,
        .pdf_lines = &credit_note_pdf_lines,
    };

    billing_document_get(req, &credit_note);
}

int
credit_notes_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"POST",
         "/api/admin/billing/tenants/:tenant_id/invoices/:id/credit-notes",
         credit_notes_issue},
        {"GET", "/api/billing/credit-notes", credit_notes_list},
        {"GET", "/api/billing/credit-notes/:id", credit_notes_get},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
