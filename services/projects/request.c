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

/* --- concurrency and ids ---------------------------------------------------*/

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
    res = lc_req_read(req, caller.tenant_id, get, &id);
    if (res == NULL) {
        return;
    }
    if (PQntuples(res) == 0) {
        lc_req_error(req, 404, "not_found", missing);
    } else {
        lc_etag_respond(req, 200, PQgetvalue(res, 0, 0),
                                PQgetvalue(res, 0, 1));
    }
    PQclear(res);
}
