/*
 * paging.c: the list grammar of API.md — `limit` (default 25, at most
 * 100), `sort` (a field, `-` for descending, ties broken by id) and an
 * opaque keyset `cursor`: base64url of "sort|key|id" of the last row seen.
 * The sort is part of the cursor so that a cursor from one order is never
 * read as a key of another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_query.h"
#include "lc_token.h"
#include "projects.h"

#define PAGE_CURSOR_MAX 1600

int
projects_page_args(lc_req *req, const char *const *allowed,
                   const projects_sort *sorts, size_t nsorts, projects_page *p)
{
    const char *query = lc_req_envelope(req)->query;
    lc_json_field_errors errs = {0};
    char buf[PAGE_CURSOR_MAX], raw[PAGE_CURSOR_MAX], *end, *sep, *last;
    long v;
    size_t i;
    int n;

    memset(p, 0, sizeof(*p));
    p->limit = 25;
    p->sort = &sorts[0];
    if (lc_query_unknown(query, allowed, buf, 64)) {
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
    switch (lc_query_get(query, "sort", buf, sizeof(buf))) {
    case LC_QUERY_OK:
        for (i = 0; i < nsorts && strcmp(buf, sorts[i].name) != 0; i++) {
        }
        if (i == nsorts) {
            lc_json_field_error_add(&errs, "sort", "invalid_choice");
        } else {
            p->sort = &sorts[i];
        }
        break;
    case LC_QUERY_MISSING:
        break;
    default:
        lc_json_field_error_add(&errs, "sort", "invalid");
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
        last = strrchr(raw, '|');
        if (sep == NULL || last == sep || memchr(raw, '\0', (size_t)n) ||
            !lc_db_is_uuid(last + 1) ||
            (size_t)(last - sep - 1) >= sizeof(p->after_key)) {
            lc_json_field_error_add(&errs, "cursor", "invalid");
            break;
        }
        *sep = '\0';
        if (strcmp(raw, p->sort->name) != 0) {
            lc_json_field_error_add(&errs, "cursor", "other_sort");
            break;
        }
        *last = '\0';
        memcpy(p->after_key, sep + 1, (size_t)(last - sep));
        memcpy(p->after_id, last + 1, sizeof(p->after_id));
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

const lc_db_stmt *
projects_page_stmt(const projects_page *p)
{
    return p->has_cursor ? &p->sort->after : &p->sort->first;
}

int
projects_page_filter(lc_req *req, const char *name, char *out, size_t outlen,
                     const char **value)
{
    *value = NULL;
    switch (lc_query_get(lc_req_envelope(req)->query, name, out, outlen)) {
    case LC_QUERY_OK:
        *value = out;
        return 0;
    case LC_QUERY_MISSING:
        return 0;
    default:
        projects_field_error(req, name, "invalid", name);
        return -1;
    }
}

void
projects_page_respond(lc_req *req, const projects_page *p, const PGresult *res,
                      int json_col)
{
    int n = PQntuples(res), i, shown = n < p->limit ? n : p->limit;
    size_t len = 64, off = 0;
    char raw[PAGE_CURSOR_MAX], enc[PAGE_CURSOR_MAX * 2], *body;

    for (i = 0; i < shown; i++) {
        len += (size_t)PQgetlength(res, i, json_col) + 1;
    }
    enc[0] = '\0';
    if (n > p->limit && shown > 0) {
        snprintf(raw, sizeof(raw), "%s|%s|%s", p->sort->name,
                 PQgetvalue(res, shown - 1, 0), PQgetvalue(res, shown - 1, 1));
        lc_base64url_encode(raw, strlen(raw), enc, sizeof(enc));
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
