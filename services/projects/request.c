/*
 * request.c: what every route of the service does before and after its
 * own work (who is calling is lc_caller's) — the typed request body,
 * transactions whose body may decide an API error, If-Match, path ids and
 * entity responses with their ETag.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "projects.h"

/* --- bodies ----------------------------------------------------------------*/

bool
projects_date_valid(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d, i, last;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
        return false;
    }
    for (i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) {
            return false;
        }
    }
    y = atoi(s);
    m = atoi(s + 5);
    d = atoi(s + 8);
    if (y < 1900 || y > 2999 || m < 1 || m > 12 || d < 1) {
        return false;
    }
    last = days[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        last = 29;
    }
    return d <= last;
}

static bool
field_code_valid(const char *s)
{
    size_t i, n = strlen(s);

    if (n < 1 || n > 32 || !isalnum((unsigned char)s[0])) {
        return false;
    }
    for (i = 1; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' &&
            s[i] != '-') {
            return false;
        }
    }
    return true;
}

static bool
field_blank(const char *s)
{
    for (; *s != '\0'; s++) {
        if (!isspace((unsigned char)*s)) {
            return false;
        }
    }
    return true;
}

/* One field's value; returns NULL when fine, else the error code. */
static const char *
field_read(const projects_field *f, const cJSON *item, projects_value *v)
{
    const char *s;
    size_t i;
    double d;

    v->present = true;
    v->text = NULL;
    if (cJSON_IsNull(item)) {
        return f->nullable ? NULL : (f->required ? "required" : "not_nullable");
    }
    if (f->kind == PF_INT) {
        if (!cJSON_IsNumber(item)) {
            return "invalid_type";
        }
        d = item->valuedouble;
        if (!isfinite(d) || d < (double)f->min || d > (double)f->lmax) {
            return "out_of_range";
        }
        if (d != (double)(long long)d) {
            return "invalid_type";
        }
        snprintf(v->buf, sizeof(v->buf), "%.0f", d);
        v->text = v->buf;
        return NULL;
    }
    if (f->kind == PF_NUMBER) {
        if (!cJSON_IsNumber(item)) {
            return "invalid_type";
        }
        d = item->valuedouble;
        if (!isfinite(d) || d < (double)f->min || d > (double)f->lmax) {
            return "out_of_range";
        }
        /* at most two decimals: hundredths are whole (d >= 0 here) */
        if (fabs(d * 100 - (double)(long long)(d * 100 + 0.5)) > 1e-6) {
            return "too_precise";
        }
        snprintf(v->buf, sizeof(v->buf), "%.2f", d);
        v->text = v->buf;
        return NULL;
    }
    if (!cJSON_IsString(item)) {
        return "invalid_type";
    }
    s = item->valuestring;
    v->text = s;
    switch (f->kind) {
    case PF_TEXT:
        if (strlen(s) > f->max) {
            return "too_long";
        }
        return field_blank(s) && !f->nullable ? "blank" : NULL;
    case PF_ENUM:
        for (i = 0; f->choices[i] != NULL; i++) {
            if (strcmp(s, f->choices[i]) == 0) {
                return NULL;
            }
        }
        return "invalid_choice";
    case PF_DATE:
        return projects_date_valid(s) ? NULL : "invalid_date";
    case PF_UUID:
        return lc_db_is_uuid(s) ? NULL : "invalid_uuid";
    case PF_CURRENCY:
        return strlen(s) == 3 && isupper((unsigned char)s[0]) &&
                       isupper((unsigned char)s[1]) &&
                       isupper((unsigned char)s[2])
                   ? NULL
                   : "invalid_currency";
    case PF_CODE:
        return field_code_valid(s) ? NULL : "invalid_code";
    default:
        return "invalid";
    }
}

int
projects_body(lc_req *req, const projects_field *spec, size_t n,
              projects_value *vals)
{
    lc_json_field_errors errs = {0};
    const cJSON *body = lc_req_json(req), *item;
    const char *code;
    char message[160];
    size_t i;

    if (body == NULL) {
        return -1;
    }
    if (!cJSON_IsObject(body)) {
        lc_req_error(req, 400, "validation_failed",
                     "the body must be a JSON object");
        return -1;
    }
    for (item = body->child; item != NULL; item = item->next) {
        for (i = 0; i < n && strcmp(item->string, spec[i].name) != 0; i++) {
        }
        if (i == n) {
            lc_json_field_error_add(&errs, item->string, "unknown");
        }
    }
    for (i = 0; i < n; i++) {
        memset(&vals[i], 0, sizeof(vals[i]));
        item = cJSON_GetObjectItemCaseSensitive(body, spec[i].name);
        if (item == NULL) {
            if (spec[i].required) {
                lc_json_field_error_add(&errs, spec[i].name, "required");
            }
            continue;
        }
        code = field_read(&spec[i], item, &vals[i]);
        if (code != NULL) {
            lc_json_field_error_add(&errs, spec[i].name, code);
        }
    }
    if (errs.count > 0) {
        snprintf(message, sizeof(message), "%s: %s", errs.items[0].field,
                 errs.items[0].code);
        lc_req_error_fields(req, 400, "validation_failed", message, &errs);
        return -1;
    }
    return 0;
}

void
projects_field_error(lc_req *req, const char *field, const char *code,
                     const char *message)
{
    lc_json_field_errors errs = {0};

    lc_json_field_error_add(&errs, field, code);
    lc_req_error_fields(req, 400, "validation_failed", message, &errs);
}

/* --- transactions ----------------------------------------------------------*/

int
projects_fail_tx(projects_fail *f, lc_db_error *err, int status,
                 const char *code, const char *message)
{
    f->status = status;
    f->code = code;
    f->message = message;
    lc_db_error_set(err, status, code, message);
    return -1;
}

/* Constraints whose violation is the client's mistake, not a bug. */
static const struct {
    const char *constraint;
    int status;
    const char *code, *field, *field_code, *message;
} tx_constraints[] = {
    {"projects_tenant_code_key", 409, "conflict", "code", "taken",
     "another project already has this code"},
    {"projects_dates_ordered", 400, "validation_failed", "end_date",
     "before_start", "end_date is before start_date"},
    {"projects_budget_currency", 400, "validation_failed", "currency",
     "required_with_budget", "budget_cents and currency go together"},
};

int
projects_tx(lc_req *req, const char *tenant_id, lc_db_tx_fn fn, void *ctx)
{
    projects_fail *f = ctx;
    lc_json_field_errors errs = {0};
    lc_db_error err;
    size_t i;

    f->status = 0;
    if (lc_db_tenant_tx(lc_req_db(req), tenant_id, lc_req_deadline_ms(req), fn,
                        ctx, &err) == 0) {
        return 0;
    }
    if (f->status != 0) {
        lc_req_error(req, f->status, f->code, f->message);
        return -1;
    }
    for (i = 0; i < sizeof(tx_constraints) / sizeof(tx_constraints[0]); i++) {
        if (strcmp(err.constraint, tx_constraints[i].constraint) == 0) {
            lc_json_field_error_add(&errs, tx_constraints[i].field,
                                    tx_constraints[i].field_code);
            lc_req_error_fields(req, tx_constraints[i].status,
                                tx_constraints[i].code,
                                tx_constraints[i].message, &errs);
            return -1;
        }
    }
    lc_req_db_error(req, &err);
    return -1;
}

PGresult *
projects_read(lc_req *req, const char *tenant_id, const lc_db_stmt *st,
              const char *const *params)
{
    lc_db_error err;
    PGresult *res = lc_db_tenant_read(
        lc_req_db(req), tenant_id, lc_req_deadline_ms(req), st, params, &err);

    if (res == NULL) {
        lc_req_db_error(req, &err);
    }
    return res;
}

/* --- concurrency and ids ---------------------------------------------------*/

int
projects_if_match(lc_req *req, char *version, size_t len)
{
    const char *h = lc_envelope_header(lc_req_envelope(req), "if-match");
    size_t n, i;

    if (h == NULL) {
        return 1;
    }
    while (*h == ' ') {
        h++;
    }
    n = strlen(h);
    while (n > 0 && h[n - 1] == ' ') {
        n--;
    }
    if (n == 1 && h[0] == '*') { /* any current version */
        version[0] = '\0';
        return 0;
    }
    if (n >= 3 && n - 2 < len && n - 2 <= 9 && h[0] == '"' && h[n - 1] == '"') {
        for (i = 1; i < n - 1 && isdigit((unsigned char)h[i]); i++) {
        }
        if (i == n - 1) {
            memcpy(version, h + 1, n - 2);
            version[n - 2] = '\0';
            return 0;
        }
    }
    /* Not an ETag this service issued, or a weak one (W/"2"): If-Match uses
     * the strong comparison (RFC 9110 §13.1.1), so it cannot match. */
    lc_req_error(req, 412, "precondition_failed",
                 "the resource has changed since you read it");
    return -1;
}

int
projects_path_id(lc_req *req, const char *what, const char **id)
{
    *id = lc_req_param(req, "id");
    if (!lc_db_is_uuid(*id)) {
        lc_req_error(req, 404, "not_found", what);
        return -1;
    }
    return 0;
}

void
projects_get_one(lc_req *req, const lc_db_stmt *get, const char *missing)
{
    projects_caller caller;
    PGresult *res;
    const char *id;

    if (lc_caller_get(req, "viewer", &caller) != 0 ||
        projects_path_id(req, missing, &id) != 0) {
        return;
    }
    res = projects_read(req, caller.tenant_id, get, &id);
    if (res == NULL) {
        return;
    }
    if (PQntuples(res) == 0) {
        lc_req_error(req, 404, "not_found", missing);
    } else {
        projects_respond_entity(req, 200, PQgetvalue(res, 0, 0),
                                PQgetvalue(res, 0, 1));
    }
    PQclear(res);
}

void
projects_respond_entity(lc_req *req, int status, const char *version,
                        const char *json)
{
    char etag[32];

    snprintf(etag, sizeof(etag), "\"%s\"", version);
    lc_req_header(req, "etag", etag);
    lc_req_respond(req, status, "application/json", json, strlen(json));
}
