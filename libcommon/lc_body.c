/*
 * lc_body.c: request bodies checked against a spec of typed fields (see
 * lc_body.h for the grammar and its codes). The JSON is already strict
 * (lc_json: valid UTF-8, no NUL, no duplicate keys), so a string here is
 * well-formed text and only its meaning is judged.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_body.h"
#include "lc_db.h"
#include "lc_password.h"
#include "lc_token.h"

/* --- the meaning of strings --------------------------------------------- */

bool
lc_body_email_valid(const char *s)
{
    const char *at = strchr(s, '@');
    size_t n = strlen(s), i;

    if (n < 3 || n > LC_BODY_EMAIL_MAX || at == NULL || at == s ||
        strchr(at + 1, '@') != NULL || (size_t)(at - s) > 64 || at[1] == '\0' ||
        at[1] == '.' || s[n - 1] == '.' || strchr(at + 1, '.') == NULL) {
        return false;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        /* Printable ASCII without what would need quoting in a header. */
        if (c <= ' ' || c >= 0x7f || strchr("\"(),:;<>[\\]", c) != NULL) {
            return false;
        }
    }
    return true;
}

bool
lc_body_date_valid(const char *s)
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
body_code_valid(const char *s)
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
body_currency_valid(const char *s)
{
    return strlen(s) == 3 && isupper((unsigned char)s[0]) &&
           isupper((unsigned char)s[1]) && isupper((unsigned char)s[2]);
}

/* Empty, or white space only. */
static bool
body_blank(const char *s)
{
    for (; *s != '\0'; s++) {
        if (!isspace((unsigned char)*s)) {
            return false;
        }
    }
    return true;
}

/* Characters (code points) of well-formed UTF-8: the bytes that do not
 * continue a sequence. PostgreSQL's length() counts the same. */
static size_t
body_chars(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++) {
        n += ((unsigned char)*s & 0xc0) != 0x80;
    }
    return n;
}

static bool
body_has_control(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return true;
        }
    }
    return false;
}

static bool
body_choice_valid(const char *const *choices, const char *s)
{
    size_t i;

    for (i = 0; choices != NULL && choices[i] != NULL; i++) {
        if (strcmp(s, choices[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* --- one field ---------------------------------------------------------- */

/* The code for string `s` in a field of a string kind, or NULL. */
static const char *
body_string_problem(const lc_body_field *f, const char *s)
{
    int64_t max = f->max;

    switch (f->kind) {
    case LC_BODY_TEXT:
        if (body_blank(s) && !f->nullable) {
            return "required";
        }
        return max > 0 && (int64_t)body_chars(s) > max ? "too_long" : NULL;
    case LC_BODY_NAME:
        if (body_blank(s)) {
            return "required";
        }
        if ((int64_t)body_chars(s) > (max > 0 ? max : LC_BODY_NAME_MAX)) {
            return "too_long";
        }
        return body_has_control(s) ? "invalid_format" : NULL;
    case LC_BODY_EMAIL:
        if (strlen(s) > LC_BODY_EMAIL_MAX) {
            return "too_long";
        }
        return lc_body_email_valid(s) ? NULL : "invalid_format";
    case LC_BODY_PASSWORD:
        switch (lc_password_check(s, strlen(s))) {
        case LC_PASSWORD_OK:
            return NULL;
        case LC_PASSWORD_TOO_SHORT:
            return "too_short";
        case LC_PASSWORD_TOO_LONG:
            return "too_long";
        default:
            return "invalid_format";
        }
    case LC_BODY_ENUM:
        return body_choice_valid(f->choices, s) ? NULL : "invalid_choice";
    case LC_BODY_DATE:
        return lc_body_date_valid(s) ? NULL : "invalid_format";
    case LC_BODY_UUID:
        return lc_db_is_uuid(s) ? NULL : "invalid_format";
    case LC_BODY_CURRENCY:
        return body_currency_valid(s) ? NULL : "invalid_format";
    case LC_BODY_CODE:
        return body_code_valid(s) ? NULL : "invalid_format";
    case LC_BODY_TOKEN:
        return lc_token_valid(s) ? NULL : "invalid_format";
    default:
        return "invalid_type";
    }
}

/* An INT or NUMBER field's value into v; the code, or NULL. */
static const char *
body_number_read(const lc_body_field *f, const cJSON *item, lc_body_value *v)
{
    static const double scale[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    int decimals = f->decimals < 0 || f->decimals > 6 ? 0 : f->decimals;
    double d, scaled;

    if (!cJSON_IsNumber(item)) {
        return "invalid_type";
    }
    d = item->valuedouble;
    /* The range first: past 2^63 a double has no int64 to convert to. */
    if (!isfinite(d) || d < (double)f->min || d > (double)f->max ||
        fabs(d) >= 0x1p63) {
        return "out_of_range";
    }
    if (f->kind == LC_BODY_INT) {
        if (d != trunc(d)) {
            return "invalid_type";
        }
        v->integer = (int64_t)d;
        snprintf(v->buf, sizeof(v->buf), "%lld", (long long)v->integer);
    } else {
        /* 0.29 * 100 is 28.999999999999996: whole within rounding. */
        scaled = d * scale[decimals];
        if (fabs(scaled - nearbyint(scaled)) > 1e-6) {
            return "invalid_format";
        }
        snprintf(v->buf, sizeof(v->buf), "%.*f", decimals, d);
    }
    v->number = d;
    v->text = v->buf;
    return NULL;
}

/* One present member's value into v; the code, or NULL. */
static const char *
body_field_read(const lc_body_field *f, const cJSON *item, lc_body_value *v)
{
    v->present = true;
    if (cJSON_IsNull(item)) {
        v->null = true;
        return f->nullable ? NULL : "invalid_type";
    }
    switch (f->kind) {
    case LC_BODY_INT:
    case LC_BODY_NUMBER:
        return body_number_read(f, item, v);
    case LC_BODY_BOOL:
        if (!cJSON_IsBool(item)) {
            return "invalid_type";
        }
        v->boolean = cJSON_IsTrue(item);
        snprintf(v->buf, sizeof(v->buf), "%s", v->boolean ? "true" : "false");
        v->text = v->buf;
        return NULL;
    default:
        if (!cJSON_IsString(item)) {
            return "invalid_type";
        }
        v->text = item->valuestring;
        return body_string_problem(f, item->valuestring);
    }
}

/* --- the body ----------------------------------------------------------- */

lc_body_status
lc_body_parse(const cJSON *body, const lc_body_field *spec, size_t n,
              lc_body_mode mode, lc_body_value *vals,
              lc_json_field_errors *errs)
{
    const cJSON *item;
    const char *code;
    int before = errs->count;
    size_t i;

    if (n > 0) {
        memset(vals, 0, n * sizeof(*vals));
    }
    if (!cJSON_IsObject(body)) {
        return LC_BODY_NOT_OBJECT;
    }
    for (item = body->child; item != NULL; item = item->next) {
        for (i = 0; i < n && strcmp(item->string, spec[i].name) != 0; i++) {
        }
        if (i == n) {
            lc_json_field_error_add(errs, item->string, "unknown_field");
        }
    }
    for (i = 0; i < n; i++) {
        item = cJSON_GetObjectItemCaseSensitive(body, spec[i].name);
        if (item == NULL) {
            code =
                spec[i].required && mode == LC_BODY_CREATE ? "required" : NULL;
        } else {
            code = body_field_read(&spec[i], item, &vals[i]);
        }
        if (code != NULL) {
            vals[i].text = NULL; /* never half a value */
            lc_json_field_error_add(errs, spec[i].name, code);
        }
    }
    return errs->count > before ? LC_BODY_INVALID : LC_BODY_OK;
}

void
lc_body_fail(lc_req *req, const lc_json_field_errors *errs)
{
    char message[160];

    snprintf(message, sizeof(message), "%s: %s", errs->items[0].field,
             errs->items[0].code);
    lc_req_error_fields(req, 400, "validation_failed", message, errs);
}

void
lc_body_field_error(lc_req *req, const char *field, const char *code,
                    const char *message)
{
    lc_json_field_errors errs = {0};

    lc_json_field_error_add(&errs, field, code);
    lc_req_error_fields(req, 400, "validation_failed", message, &errs);
}

static int
body_read(lc_req *req, const lc_body_field *spec, size_t n, lc_body_mode mode,
          lc_body_value *vals)
{
    const cJSON *body = lc_req_json(req);
    lc_json_field_errors errs = {0};

    if (body == NULL) {
        return -1;
    }
    switch (lc_body_parse(body, spec, n, mode, vals, &errs)) {
    case LC_BODY_OK:
        return 0;
    case LC_BODY_NOT_OBJECT:
        lc_req_error(req, 400, "validation_failed",
                     "the body must be a JSON object");
        return -1;
    default:
        lc_body_fail(req, &errs);
        return -1;
    }
}

int
lc_body_read(lc_req *req, const lc_body_field *spec, size_t n,
             lc_body_value *vals)
{
    return body_read(req, spec, n, LC_BODY_CREATE, vals);
}

int
lc_body_read_patch(lc_req *req, const lc_body_field *spec, size_t n,
                   lc_body_value *vals)
{
    return body_read(req, spec, n, LC_BODY_PATCH, vals);
}
