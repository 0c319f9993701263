/*
 * request.c: what every route of the service does before and after its
 * own work (who is calling is lc_caller's) — transactions whose body may
 * decide an API error, path ids and entity responses with their ETag.
 * Request bodies are lc_body's.
 */

#include <stdlib.h>

#include "projects.h"

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
projects_get_one(lc_req *req, const projects_entity *e)
{
    char version[40], small[4096], *json = small;
    projects_caller caller;
    PGresult *res;
    const char *id;
    size_t size;
    long len;

    if (lc_caller_get(req, "viewer", &caller) != 0 ||
        projects_path_id(req, e->missing, &id) != 0) {
        return;
    }
    res = lc_req_read(req, caller.tenant_id, e->get, &id);
    if (res == NULL) {
        return;
    }
    if (PQntuples(res) == 0) {
        lc_req_error(req, 404, "not_found", e->missing);
        PQclear(res);
        return;
    }
    size = lc_row_json_size(res, 0, e->cols, e->ncols);
    if (size > sizeof(small)) {
        json = malloc(size);
    }
    len = json ? lc_row_json(res, 0, e->cols, e->ncols, json) : -1;
    if (len < 0 || lc_row_text(res, 0, 0, LC_ROW_INT4, version) < 0) {
        lc_req_error(req, 500, "internal", "internal error");
    } else {
        lc_etag_respond(req, 200, version, json);
    }
    if (json != small) {
        free(json);
    }
    PQclear(res);
}
