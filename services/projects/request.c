/*
 * request.c: what every route of the service does before and after its
 * own work — who is calling and with which role, transactions whose body
 * may decide an API error, If-Match, path ids and entity responses with
 * their ETag. Request bodies are lc_body's.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "projects.h"

static const char *const roles_by_rank[] = {"viewer", "member", "manager",
                                            "admin", "owner"};

int
projects_role_rank(const char *role)
{
    size_t i;

    for (i = 0; role != NULL && i < 5; i++) {
        if (strcmp(role, roles_by_rank[i]) == 0) {
            return (int)i + 1;
        }
    }
    return 0;
}

/* The edge verified the token (signature, expiry, tenant) and put its
 * subject and role in the envelope; this service is the authority on what
 * that role may do (DESIGN §9). */
int
projects_caller_get(lc_req *req, const char *min_role, projects_caller *out)
{
    const Lintel__V1__Principal *p = lc_req_envelope(req)->principal;

    memset(out, 0, sizeof(*out));
    out->tenant_id = lc_req_tenant_id(req);
    if (out->tenant_id == NULL) {
        lc_req_error(req, 404, "not_found", "no such route");
        return -1;
    }
    if (p == NULL || p->user_id[0] == '\0') {
        lc_req_error(req, 401, "missing_token", "sign in first");
        return -1;
    }
    if (!lc_db_is_uuid(p->user_id) || projects_role_rank(p->role) == 0) {
        lc_req_error(req, 401, "invalid_token", "the token is not valid");
        return -1;
    }
    out->user_id = p->user_id;
    out->role = p->role;
    if (projects_role_rank(out->role) < projects_role_rank(min_role)) {
        lc_req_error(req, 403, "forbidden", "your role may not do this");
        return -1;
    }
    return 0;
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

    if (projects_caller_get(req, "viewer", &caller) != 0 ||
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
