/*
 * request.c: what every route of the service does before and after its
 * own work (who is calling is lc_caller's) — transactions whose body may
 * decide an API error, path ids and entity responses with their ETag.
 * Request bodies are lc_body's.
 */

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
        lc_etag_respond(req, 200, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    }
    PQclear(res);
}
