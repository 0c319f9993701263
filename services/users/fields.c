/*
 * fields.c: request bodies of string fields, checked the API.md way:
 * every problem is a 400 validation_failed naming the field, unknown
 * fields included, so that a typo (or a smuggled "role") never silently
 * does nothing. And the one JSON shape of a user the routes return.
 */
#include <stdio.h>
#include <string.h>

#include "lc_token.h"
#include "users.h"

bool
users_email_valid(const char *s)
{
    const char *at = strchr(s, '@');
    size_t n = strlen(s), i;

    if (n < 3 || n > USERS_EMAIL_MAX || at == NULL || at == s ||
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

/* 1..USERS_NAME_MAX characters, not blank, no control characters. */
static bool
users_name_valid(const char *s)
{
    size_t chars = 0, i;
    bool blank = true;

    for (i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f) {
            return false;
        }
        if ((c & 0xc0) != 0x80) {
            chars++;
        }
        if (c != ' ') {
            blank = false;
        }
    }
    return !blank && chars >= 1 && chars <= USERS_NAME_MAX;
}

/* The problem with `v` for a field of `f`'s kind, or NULL. */
static const char *
users_field_problem(const users_field *f, const char *v)
{
    size_t len = strlen(v);

    switch (f->kind) {
    case USERS_FIELD_STRING:
        if (len == 0) {
            return "required";
        }
        return len > f->max ? "too_long" : NULL;
    case USERS_FIELD_EMAIL:
        if (len > USERS_EMAIL_MAX) {
            return "too_long";
        }
        return users_email_valid(v) ? NULL : "invalid";
    case USERS_FIELD_NAME:
        if (len > USERS_NAME_MAX * 4) {
            return "too_long";
        }
        return users_name_valid(v) ? NULL : "invalid";
    case USERS_FIELD_PASSWORD:
        if (len > USERS_PASSWORD_MAX_BYTES) {
            return "too_long";
        }
        switch (lc_password_check(v, len)) {
        case LC_PASSWORD_OK:
            return NULL;
        case LC_PASSWORD_TOO_SHORT:
            return "too_short";
        case LC_PASSWORD_TOO_LONG:
            return "too_long";
        default:
            return "invalid";
        }
    case USERS_FIELD_ROLE:
        return users_role_rank(v) > 0 ? NULL : "invalid";
    case USERS_FIELD_TOKEN:
        if (len > 256) {
            return "too_long";
        }
        return lc_token_valid(v) ? NULL : "invalid";
    }
    return "invalid";
}

int
users_body(lc_req *req, users_field *fields, size_t n)
{
    const cJSON *json = lc_req_json(req), *item;
    lc_json_field_errors errs = {0};
    const char *v, *problem;
    char message[160];
    size_t i;
    bool known;

    if (json == NULL) {
        return -1;
    }
    if (!cJSON_IsObject(json)) {
        lc_req_error(req, 400, "validation_failed",
                     "the body must be a JSON object");
        return -1;
    }
    cJSON_ArrayForEach(item, json)
    {
        known = false;
        for (i = 0; i < n && !known; i++) {
            known = strcmp(item->string, fields[i].name) == 0;
        }
        if (!known) {
            lc_json_field_error_add(&errs, item->string, "unknown");
        }
    }
    for (i = 0; i < n; i++) {
        *fields[i].out = NULL;
        switch (lc_json_get_string(json, fields[i].name, (size_t)-1, &v)) {
        case LC_JSON_OK:
            problem = users_field_problem(&fields[i], v);
            if (problem != NULL) {
                lc_json_field_error_add(&errs, fields[i].name, problem);
            } else {
                *fields[i].out = v;
            }
            break;
        case LC_JSON_MISSING:
            if (fields[i].required) {
                lc_json_field_error_add(&errs, fields[i].name, "required");
            }
            break;
        default:
            lc_json_field_error_add(&errs, fields[i].name, "wrong_type");
            break;
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

cJSON *
users_user_json(const PGresult *res, int row, int col)
{
    static const char *const names[] = {
        "id", "email", "name", "role", "status", "created_at", "updated_at"};
    cJSON *o = cJSON_CreateObject();
    int i;

    for (i = 0; o != NULL && i < 7; i++) {
        cJSON_AddStringToObject(o, names[i], PQgetvalue(res, row, col + i));
    }
    return o;
}
