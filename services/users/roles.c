/*
 * roles.c: who is calling, and may they. The service is the authority on
 * roles (DESIGN §9): the edge only proves who the caller is; every route
 * checks the role here, from the database, on every request.
 */
#include <stdio.h>
#include <string.h>

#include "users.h"

static const char *const roles_by_rank[] = {"viewer", "member", "manager",
                                            "admin", "owner"};

int
users_role_rank(const char *role)
{
    size_t i;

    for (i = 0; role != NULL && i < 5; i++) {
        if (strcmp(role, roles_by_rank[i]) == 0) {
            return (int)i + 1;
        }
    }
    return 0;
}

/* The session is live and the account active: a logout, a revocation or a
 * deactivation ends access here at once, not when the access token expires. */
static const lc_db_stmt caller_session = {
    "SELECT u.role FROM users.sessions s"
    " JOIN users.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id"
    " WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL"
    "   AND u.status = 'active'",
    2};

typedef struct {
    lc_req_fail fail;
    const users_caller *caller;
    char role[16];
    int found;
} caller_check;

static int
caller_check_tx(lc_db *db, void *arg, lc_db_error *err)
{
    caller_check *c = arg;
    const char *params[2] = {c->caller->session_id, c->caller->user_id};

    c->found = lc_db_value(db, &caller_session, params, c->role,
                              sizeof(c->role), err);
    return c->found < 0 ? -1 : 0;
}

int
users_caller_get(lc_req *req, const char *min_role, users_caller *out)
{
    const lc_request *env = lc_req_envelope(req);
    const Lintel__V1__Principal *p = env->principal;
    caller_check check = {0};

    memset(out, 0, sizeof(*out));
    out->tenant_id = lc_req_tenant_id(req);
    if (out->tenant_id == NULL) {
        lc_req_error(req, 404, "not_found", "no such route");
        return -1;
    }
    out->tenant_slug = env->tenant->slug;
    if (p == NULL || p->user_id[0] == '\0') {
        lc_req_error(req, 401, "missing_token", "sign in first");
        return -1;
    }
    if (!lc_db_is_uuid(p->user_id) || !lc_db_is_uuid(p->session_id)) {
        lc_req_error(req, 401, "invalid_token", "the token is not valid");
        return -1;
    }
    out->user_id = p->user_id;
    out->session_id = p->session_id;
    check.caller = out;
    if (lc_req_tx(req, out->tenant_id, caller_check_tx, &check) != 0) {
        return -1;
    }
    if (check.found == 0) {
        lc_req_error(req, 401, "invalid_token", "the session has ended");
        return -1;
    }
    snprintf(out->role, sizeof(out->role), "%s", check.role);
    if (users_role_rank(out->role) < users_role_rank(min_role)) {
        lc_req_error(req, 403, "forbidden", "your role may not do this");
        return -1;
    }
    return 0;
}

int
users_platform_admin(lc_req *req)
{
    const Lintel__V1__Principal *p = lc_req_envelope(req)->principal;

    if (lc_req_tenant_id(req) != NULL) {
        lc_req_error(req, 404, "not_found", "no such route");
        return -1;
    }
    if (p == NULL || p->user_id[0] == '\0') {
        lc_req_error(req, 401, "missing_token", "sign in first");
        return -1;
    }
    if (strcmp(p->role, "platform_admin") != 0) {
        lc_req_error(req, 403, "forbidden", "platform admins only");
        return -1;
    }
    return 0;
}

int
users_scope(lc_req *req, bool want_tenant)
{
    if ((lc_req_tenant_id(req) != NULL) != want_tenant) {
        lc_req_error(req, 404, "not_found", "no such route");
        return -1;
    }
    return 0;
}
