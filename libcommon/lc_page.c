/*
 * lc_page.c: parsing and making list cursors (see lc_page.h).
 */
#include "lc_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_b64url.h"
#include "lc_body.h"
#include "lc_query.h"

/* A cursor's text: the sort name, the key and the id, with separators. */
#define LC_PAGE_RAW_MAX (64 + LC_PAGE_KEY_MAX + 40)

/* A parameter's problems carry the codes of lc_body, like a body's. */
static int
lc_page_fail(lc_req *req, const lc_json_field_errors *errs)
{
    lc_body_fail(req, errs);
    return -1;
}

/* "<sort>|<key>|<id>" for the page's order, or a field error. */
static void
lc_page_parse_cursor(const char *text, lc_page *p, lc_json_field_errors *errs)
{
    char raw[LC_PAGE_RAW_MAX];
    char *first, *last;
    long n;

    n = lc_b64url_decode(text, strlen(text), raw, sizeof(raw) - 1);
    if (n <= 0 || memchr(raw, '\0', (size_t)n) != NULL) {
        lc_json_field_error_add(errs, "cursor", "invalid_format");
        return;
    }
    raw[n] = '\0';
    first = strchr(raw, '|');
    last = strrchr(raw, '|');
    if (first == NULL || last == first || !lc_db_is_uuid(last + 1) ||
        (size_t)(last - first - 1) >= sizeof(p->after_key)) {
        lc_json_field_error_add(errs, "cursor", "invalid_format");
        return;
    }
    *first = '\0';
    if (strcmp(raw, p->sort_name) != 0) {
        /* A rule across cursor and sort: its own code. */
        lc_json_field_error_add(errs, "cursor", "other_sort");
        return;
    }
    *last = '\0';
    memcpy(p->after_key, first + 1, (size_t)(last - first));
    memcpy(p->after_id, last + 1, sizeof(p->after_id));
    p->has_cursor = true;
}

int
lc_page_parse(lc_req *req, const char *const *allowed, const char *const *sorts,
              lc_page *p)
{
    const char *query = lc_req_envelope(req)->query;
    lc_json_field_errors errs = {0};
    char buf[2 * LC_PAGE_RAW_MAX], *end;
    long v;
    int i;

    memset(p, 0, sizeof(*p));
    p->limit = 25;
    p->sort_name = sorts != NULL ? sorts[0] : "";
    if (lc_query_unknown(query, allowed, buf, 64)) {
        lc_json_field_error_add(&errs, buf, "unknown_field");
    }
    switch (lc_query_get(query, "limit", buf, sizeof(buf))) {
    case LC_QUERY_OK:
        v = strtol(buf, &end, 10);
        if (buf[0] == '\0' || *end != '\0') {
            lc_json_field_error_add(&errs, "limit", "invalid_format");
        } else if (v < 1 || v > 100) {
            lc_json_field_error_add(&errs, "limit", "out_of_range");
        } else {
            p->limit = (int)v;
        }
        break;
    case LC_QUERY_MISSING:
        break;
    default:
        lc_json_field_error_add(&errs, "limit", "invalid_format");
    }
    if (sorts != NULL) {
        switch (lc_query_get(query, "sort", buf, sizeof(buf))) {
        case LC_QUERY_OK:
            for (i = 0; sorts[i] != NULL && strcmp(buf, sorts[i]) != 0; i++) {
            }
            if (sorts[i] == NULL) {
                lc_json_field_error_add(&errs, "sort", "invalid_choice");
            } else {
                p->sort = i;
                p->sort_name = sorts[i];
            }
            break;
        case LC_QUERY_MISSING:
            break;
        default:
            lc_json_field_error_add(&errs, "sort", "invalid_format");
        }
    }
    switch (lc_query_get(query, "cursor", buf, sizeof(buf))) {
    case LC_QUERY_OK:
        lc_page_parse_cursor(buf, p, &errs);
        break;
    case LC_QUERY_MISSING:
        break;
    default:
        lc_json_field_error_add(&errs, "cursor", "invalid_format");
    }
    return errs.count > 0 ? lc_page_fail(req, &errs) : 0;
}

int
lc_page_filter(lc_req *req, const char *name, char *out, size_t outlen,
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
        lc_json_field_error_add(&errs, name, "invalid_format");
        return lc_page_fail(req, &errs);
    }
}

int
lc_page_cursor(const lc_page *p, const char *key, const char *id, char *out,
               size_t outlen)
{
    char raw[LC_PAGE_RAW_MAX];
    int n;

    n = snprintf(raw, sizeof(raw), "%s|%s|%s", p->sort_name, key, id);
    if (n < 0 || (size_t)n >= sizeof(raw)) {
        return -1;
    }
    return lc_b64url_encode(raw, (size_t)n, out, outlen) < 0 ? -1 : 0;
}

cJSON *
lc_page_json(const lc_page *p, cJSON *data, const char *last_key,
             const char *last_id, bool more)
{
    cJSON *o = cJSON_CreateObject();
    char cursor[2 * LC_PAGE_RAW_MAX];

    cJSON_AddItemToObject(o, "data", data);
    if (more && last_key != NULL &&
        lc_page_cursor(p, last_key, last_id, cursor, sizeof(cursor)) == 0) {
        cJSON_AddStringToObject(o, "next_cursor", cursor);
    } else {
        cJSON_AddNullToObject(o, "next_cursor");
    }
    return o;
}

int
lc_page_parse_orders(lc_req *req, const char *const *allowed,
                     const lc_page_order *orders, size_t n, lc_page *p)
{
    const char *names[LC_PAGE_MAX_ORDERS + 1];
    size_t i;

    for (i = 0; i < n && i < LC_PAGE_MAX_ORDERS; i++) {
        names[i] = orders[i].name;
    }
    names[i] = NULL;
    if (lc_page_parse(req, allowed, names, p) != 0) {
        return -1;
    }
    p->order = &orders[p->sort];
    return 0;
}

const lc_db_stmt *
lc_page_stmt(const lc_page *p)
{
    return p->has_cursor ? &p->order->after : &p->order->first;
}

void
lc_page_respond_rows(lc_req *req, const lc_page *p, const PGresult *res,
                     int json_col)
{
    int n = PQntuples(res), i, shown = n < p->limit ? n : p->limit;
    size_t len = 64, off = 0;
    char enc[2 * LC_PAGE_RAW_MAX], *body;

    for (i = 0; i < shown; i++) {
        len += (size_t)PQgetlength(res, i, json_col) + 1;
    }
    enc[0] = '\0';
    if (n > p->limit && shown > 0 &&
        lc_page_cursor(p, PQgetvalue(res, shown - 1, 0),
                       PQgetvalue(res, shown - 1, 1), enc, sizeof(enc)) != 0) {
        lc_req_error(req, 500, "internal", "internal error");
        return;
    }
    len += strlen(enc);
    body = malloc(len);
    if (body == NULL) {
        lc_req_error(req, 500, "internal", "internal error");
        return;
    }
    off += (size_t)sprintf(body, "{\"data\":[");
    for (i = 0; i < shown; i++) {
        if (i > 0) {
            body[off++] = ',';
        }
        memcpy(body + off, PQgetvalue(res, i, json_col),
               (size_t)PQgetlength(res, i, json_col));
        off += (size_t)PQgetlength(res, i, json_col);
    }
    if (enc[0] != '\0') {
        off += (size_t)sprintf(body + off, "],\"next_cursor\":\"%s\"}", enc);
    } else {
        off += (size_t)sprintf(body + off, "],\"next_cursor\":null}");
    }
    lc_req_respond(req, 200, "application/json", body, off);
    free(body);
}
