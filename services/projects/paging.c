/*
 * paging.c: lists of projects and tasks. lc_page reads the grammar of
 * API.md (limit, sort, cursor); here each order is tied to its two
 * statements, and a page's rows (JSON built by PostgreSQL) are joined into
 * the response without parsing them again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "projects.h"

int
projects_page_args(lc_req *req, const char *const *allowed,
                   const projects_sort *sorts, size_t nsorts, projects_page *p)
{
    const char *names[PROJECTS_MAX_SORTS + 1];
    size_t i;

    for (i = 0; i < nsorts && i < PROJECTS_MAX_SORTS; i++) {
        names[i] = sorts[i].name;
    }
    names[i] = NULL;
    if (lc_page_parse(req, allowed, names, &p->base) != 0) {
        return -1;
    }
    p->sort = &sorts[p->base.sort];
    return 0;
}

const lc_db_stmt *
projects_page_stmt(const projects_page *p)
{
    return p->base.has_cursor ? &p->sort->after : &p->sort->first;
}

void
projects_page_respond(lc_req *req, const projects_page *p, const PGresult *res,
                      int json_col)
{
    int n = PQntuples(res), i, shown = n < p->base.limit ? n : p->base.limit;
    size_t len = 64, off = 0;
    char enc[2 * (LC_PAGE_KEY_MAX + 128)], *body;

    for (i = 0; i < shown; i++) {
        len += (size_t)PQgetlength(res, i, json_col) + 1;
    }
    enc[0] = '\0';
    if (n > p->base.limit && shown > 0 &&
        lc_page_cursor(&p->base, PQgetvalue(res, shown - 1, 0),
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
