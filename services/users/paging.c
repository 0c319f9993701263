/*
 * paging.c: the list grammar of API.md — `limit` (default 25, at most 100)
 * and an opaque keyset `cursor` (base64url of the last row's sort key and
 * id), validated before any query runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_query.h"
#include "lc_token.h"
#include "users.h"

int
users_page_args(lc_req *req, const char *const *allowed, users_page *p)
{
    const char *query = lc_req_envelope(req)->query;
    lc_json_field_errors errs = {0};
    char buf[256], raw[256], *end, *sep;
    long v;
    int n;

    memset(p, 0, sizeof(*p));
    p->limit = 25;
    if (lc_query_unknown(query, allowed, buf, sizeof(buf))) {
        lc_json_field_error_add(&errs, buf, "unknown");
    }
    switch (lc_query_get(query, "limit", buf, sizeof(buf))) {
    case LC_QUERY_OK:
        v = strtol(buf, &end, 10);
        if (buf[0] == '\0' || *end != '\0' || v < 1 || v > 100) {
            lc_json_field_error_add(&errs, "limit", "out_of_range");
        } else {
            p->limit = (int)v;
        }
        break;
    case LC_QUERY_MISSING:
        break;
    default:
        lc_json_field_error_add(&errs, "limit", "invalid");
    }
    switch (lc_query_get(query, "cursor", buf, sizeof(buf))) {
    case LC_QUERY_OK:
        n = lc_base64url_decode(buf, strlen(buf), raw, sizeof(raw) - 1);
        if (n <= 0) {
            lc_json_field_error_add(&errs, "cursor", "invalid");
            break;
        }
        raw[n] = '\0';
        sep = strchr(raw, '|');
        if (sep == NULL || !lc_db_is_uuid(sep + 1) ||
            (size_t)(sep - raw) >= sizeof(p->after_key)) {
            lc_json_field_error_add(&errs, "cursor", "invalid");
            break;
        }
        *sep = '\0';
        memcpy(p->after_key, raw, (size_t)(sep - raw) + 1);
        memcpy(p->after_id, sep + 1, sizeof(p->after_id));
        p->has_cursor = true;
        break;
    case LC_QUERY_MISSING:
        break;
    default:
        lc_json_field_error_add(&errs, "cursor", "invalid");
    }
    if (errs.count > 0) {
        snprintf(buf, sizeof(buf), "%s: %s", errs.items[0].field,
                 errs.items[0].code);
        lc_req_error_fields(req, 400, "validation_failed", buf, &errs);
        return -1;
    }
    return 0;
}

int
users_page_filter(lc_req *req, const char *name, char *out, size_t outlen,
                  const char **value)
{
    lc_json_field_errors errs = {0};

    *value = NULL;
    switch (lc_query_get(lc_req_envelope(req)->query, name, out, outlen)) {
    case LC_QUERY_OK:
        *value = out;
        return 0;
    case LC_QUERY_MISSING:
        return 0;
    default:
        lc_json_field_error_add(&errs, name, "invalid");
        lc_req_error_fields(req, 400, "validation_failed", name, &errs);
        return -1;
    }
}

cJSON *
users_page_json(cJSON *data, const char *last_key, const char *last_id,
                bool more)
{
    cJSON *o = cJSON_CreateObject();
    char raw[256], enc[400];

    cJSON_AddItemToObject(o, "data", data);
    if (more && last_key != NULL) {
        snprintf(raw, sizeof(raw), "%s|%s", last_key, last_id);
        lc_base64url_encode(raw, strlen(raw), enc, sizeof(enc));
        cJSON_AddStringToObject(o, "next_cursor", enc);
    } else {
        cJSON_AddNullToObject(o, "next_cursor");
    }
    return o;
}
