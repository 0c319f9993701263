/*
 * users.c: the members of a tenant. The caller's own account (me), the
 * admin's list, role and status changes under two guards — nobody grants
 * or edits above their own role, and a tenant never loses its last active
 * owner — and the internal GetUser and CountSeats RPCs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lintel/v1/users.pb-c.h"
#include "users.h"

#define USER_COLUMNS                                                           \
    "id, email, name, role, status, " USERS_RFC3339(                           \
        "created_at") ", " USERS_RFC3339("updated_at")

static const lc_db_stmt users_by_id = {
    "SELECT " USER_COLUMNS ", password_hash FROM users.users WHERE id = $1", 1};

static const lc_db_stmt users_rename = {
    "UPDATE users.users SET name = coalesce($2, name), updated_at = now()"
    " WHERE id = $1 RETURNING " USER_COLUMNS,
    2};

static const lc_db_stmt users_set_password = {
    "UPDATE users.users SET password_hash = $2, updated_at = now()"
    " WHERE id = $1",
    2};

static const lc_db_stmt users_page_stmt = {
    "SELECT " USER_COLUMNS ", created_at FROM users.users"
    " WHERE ($1::text IS NULL OR role = $1)"
    "   AND ($2::text IS NULL OR status = $2)"
    "   AND ($3::text IS NULL OR starts_with(lower(email), lower($3)))"
    "   AND ($4::timestamptz IS NULL OR (created_at, id) > ($4, $5::uuid))"
    " ORDER BY created_at, id LIMIT $6",
    6};

static const lc_db_stmt users_lock_target = {
    "SELECT role, status FROM users.users WHERE id = $1 FOR UPDATE", 1};

/* The actor's role as stored now, in the transaction that uses it: the
 * caller policy's snapshot may be up to 5 s old, and two admins demoting
 * each other at once must not both win (the row lock serialises them). */
static const lc_db_stmt users_actor_role = {
    "SELECT role FROM users.users WHERE id = $1 AND status = 'active'"
    " FOR SHARE",
    1};

/* Every active owner, locked in one order so that two owners demoting
 * each other take turns instead of both succeeding. */
static const lc_db_stmt users_lock_owners = {
    "SELECT id FROM users.users WHERE role = 'owner' AND status = 'active'"
    " ORDER BY id FOR UPDATE",
    0};

static const lc_db_stmt users_update_role_status = {
    "UPDATE users.users SET role = coalesce($2, role),"
    " status = coalesce($3, status), updated_at = now()"
    " WHERE id = $1 RETURNING " USER_COLUMNS,
    3};

static const lc_db_stmt users_count_seats = {
    "SELECT count(*) FILTER (WHERE status = 'active'),"
    " count(*) FILTER (WHERE status = 'deactivated') FROM users.users",
    0};

/* --- one statement, one result ------------------------------------------ */

/* --- me ----------------------------------------------------------------- */

static void
users_me(lc_req *req)
{
    users_caller caller;
    lc_req_query c = {0};
    const char *params[1];

    if (lc_caller_get(req, "viewer", &caller) != 0) {
        return;
    }
    params[0] = caller.user_id;
    c.stmt = &users_by_id;
    c.params = params;
    if (lc_req_tx(req, caller.tenant_id, lc_req_query_tx, &c) != 0) {
        return;
    }
    lc_req_respond_json(req, 200, users_user_json(c.res, 0, 0));
    PQclear(c.res);
}

static void
users_me_patch(lc_req *req)
{
    users_caller caller;
    lc_req_query c = {0};
    const char *params[2];
    /* Only what a member may change about themselves: "role", "status",
     * "email" or "tenant_id" in this body are unknown fields, a 400. */
    static const lc_body_field fields[] = {
        {.name = "name", .kind = LC_BODY_NAME},
    };
    lc_body_value v[1];

    if (lc_caller_get(req, "viewer", &caller) != 0 ||
        lc_body_read_patch(req, fields, 1, v) != 0) {
        return;
    }
    params[0] = caller.user_id;
    params[1] = v[0].text;
    c.stmt = &users_rename;
    c.params = params;
    if (lc_req_tx(req, caller.tenant_id, lc_req_query_tx, &c) != 0) {
        return;
    }
    lc_req_respond_json(req, 200, users_user_json(c.res, 0, 0));
    PQclear(c.res);
}

typedef struct {
    lc_req_fail fail;
    const users_caller *caller;
    const char *hash;
    int64_t seq;
} users_password_ctx;

static int
users_password_tx(lc_db *db, void *arg, lc_db_error *err)
{
    users_password_ctx *c = arg;
    const char *params[2] = {c->caller->user_id, c->hash};
    PGresult *res = lc_db_exec(db, &users_set_password, params, err);

    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    /* Whoever else holds this account's sessions is signed out. */
    return auth_revoke_user_sessions(db, c->caller->user_id,
                                     c->caller->session_id, "password_changed",
                                     c->caller->user_id, &c->seq, err);
}

static void
users_me_password(lc_req *req)
{
    users_app *app = lc_req_app(req);
    users_caller caller;
    lc_req_query q = {0};
    users_password_ctx c = {0};
    const char *current, *next, *params[1];
    char hash[LC_PASSWORD_HASH_MAX];
    static const lc_body_field fields[] = {
        {.name = "current_password",
         .kind = LC_BODY_TEXT,
         .required = true,
         .max = LC_PASSWORD_MAX_CHARS},
        {.name = "new_password", .kind = LC_BODY_PASSWORD, .required = true},
    };
    lc_body_value v[2];
    char subject[80];
    long wait;
    int ok;

    if (lc_caller_get(req, "viewer", &caller) != 0 ||
        lc_body_read(req, fields, 2, v) != 0) {
        return;
    }
    current = v[0].text;
    next = v[1].text;
    /* A stolen access token must not buy unlimited guesses of the current
     * password: the same capped back-off as a login, per member. */
    snprintf(subject, sizeof(subject), "%s:%s", caller.tenant_id,
             caller.user_id);
    switch (lc_throttle_check(lc_req_cache(req), &app->throttles.password_change,
                              subject, NULL, &wait)) {
    case LC_THROTTLE_LIMITED:
        users_too_many(req, wait,
                       "too many wrong current passwords; try again after "
                       "Retry-After seconds");
        return;
    case LC_THROTTLE_UNKNOWN:
        users_throttle_unknown(req, &app->throttles.password_change);
        break;
    case LC_THROTTLE_ALLOW:
        break;
    }
    params[0] = caller.user_id;
    q.stmt = &users_by_id;
    q.params = params;
    if (lc_req_tx(req, caller.tenant_id, lc_req_query_tx, &q) != 0) {
        return;
    }
    ok = PQntuples(q.res) == 1 &&
         lc_password_verify(PQgetvalue(q.res, 0, 7), current) == 1;
    PQclear(q.res);
    if (!ok) {
        lc_throttle_record(lc_req_cache(req), &app->throttles.password_change,
                           subject, NULL, NULL);
        lc_body_field_error(req, "current_password", "incorrect",
                            "current_password: incorrect");
        return;
    }
    lc_throttle_clear(lc_req_cache(req), &app->throttles.password_change,
                      subject);
    if (lc_password_hash(&app->password, next, hash, sizeof(hash)) != 0) {
        lc_req_error(req, 500, "internal", "internal error");
        return;
    }
    c.caller = &caller;
    c.hash = hash;
    if (lc_req_tx(req, caller.tenant_id, users_password_tx, &c) == 0) {
        users_caller_stamp(req, caller.tenant_id, caller.user_id);
        users_events_announce(c.seq);
        lc_req_respond(req, 204, NULL, NULL, 0);
    }
}

/* --- the admin's list --------------------------------------------------- */

static void
users_list(lc_req *req)
{
    static const char *const allowed[] = {"limit",  "cursor", "role",
                                          "status", "email",  NULL};
    users_caller caller;
    lc_req_query c = {0};
    lc_page page;
    char role_buf[16], status_buf[16], email_buf[USERS_EMAIL_MAX + 1];
    char limit[16];
    const char *role, *status, *email, *params[6];
    lc_json_field_errors errs = {0};
    cJSON *data;
    int i, n;

    if (lc_caller_get(req, "admin", &caller) != 0 ||
        lc_page_parse(req, allowed, NULL, &page) != 0 ||
        lc_page_filter(req, "role", role_buf, sizeof(role_buf), &role) != 0 ||
        lc_page_filter(req, "status", status_buf, sizeof(status_buf),
                       &status) != 0 ||
        lc_page_filter(req, "email", email_buf, sizeof(email_buf), &email) !=
            0) {
        return;
    }
    if (role != NULL && users_role_rank(role) == 0) {
        lc_json_field_error_add(&errs, "role", "invalid_choice");
    }
    if (status != NULL && strcmp(status, "active") != 0 &&
        strcmp(status, "deactivated") != 0) {
        lc_json_field_error_add(&errs, "status", "invalid_choice");
    }
    if (errs.count > 0) {
        lc_body_fail(req, &errs);
        return;
    }
    snprintf(limit, sizeof(limit), "%d", page.limit + 1);
    params[0] = role;
    params[1] = status;
    params[2] = email;
    params[3] = page.has_cursor ? page.after_key : NULL;
    params[4] = page.has_cursor ? page.after_id : NULL;
    params[5] = limit;
    c.stmt = &users_page_stmt;
    c.params = params;
    if (lc_req_tx(req, caller.tenant_id, lc_req_query_tx, &c) != 0) {
        return;
    }
    n = PQntuples(c.res);
    data = cJSON_CreateArray();
    for (i = 0; i < n && i < page.limit; i++) {
        cJSON_AddItemToArray(data, users_user_json(c.res, i, 0));
    }
    lc_req_respond_json(req, 200,
                        lc_page_json(&page, data,
                                     i > 0 ? PQgetvalue(c.res, i - 1, 7) : NULL,
                                     i > 0 ? PQgetvalue(c.res, i - 1, 0) : NULL,
                                     n > page.limit));
    PQclear(c.res);
}

/* --- role and status changes -------------------------------------------- */

typedef struct {
    lc_req_fail fail;
    const users_caller *caller;
    const char *id, *role, *status;
    PGresult *res;
    char was_role[16], was_status[16]; /* before the change */
    int64_t seq;
} users_change_ctx;

/* The change's events: member.role_changed for a new role, member.removed
 * when deactivated, member.joined when active again. */
static int
users_change_events(lc_db *db, users_change_ctx *c, lc_db_error *err)
{
    const char *role = PQgetvalue(c->res, 0, 3);
    const char *status = PQgetvalue(c->res, 0, 4);
    users_event ev = {.subject_id = c->id, .actor_id = c->caller->user_id};
    cJSON *data;

    if (strcmp(role, c->was_role) != 0) {
        ev.type = "member.role_changed";
        data = users_user_json(c->res, 0, 0);
        cJSON_AddStringToObject(data, "previous_role", c->was_role);
        if (users_event_add(db, &ev, data, &c->seq, err) != 0) {
            return -1;
        }
    }
    if (strcmp(status, c->was_status) == 0) {
        return 0;
    }
    ev.type =
        strcmp(status, "deactivated") == 0 ? "member.removed" : "member.joined";
    return users_event_add(db, &ev, users_user_json(c->res, 0, 0), &c->seq,
                           err);
}

static int
users_change_tx(lc_db *db, void *arg, lc_db_error *err)
{
    users_change_ctx *c = arg;
    const char *params[3] = {c->id, c->role, c->status};
    char actor_role[LC_CALLER_ROLE_MAX];
    bool owner_active, stays_owner;
    int actor, target, found;
    PGresult *res;

    PQclear(c->res);
    c->res = NULL;
    found = lc_db_value(db, &users_actor_role, &c->caller->user_id, actor_role,
                        sizeof(actor_role), err);
    if (found < 0) {
        return -1;
    }
    actor = found ? users_role_rank(actor_role) : 0;
    if (actor < users_role_rank("admin")) {
        return lc_req_fail_tx(&c->fail, err, 403, "forbidden",
                              "your role may not do this");
    }
    res = lc_db_exec(db, &users_lock_target, params, err);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lc_req_fail_tx(&c->fail, err, 404, "not_found", "no such user");
    }
    target = users_role_rank(PQgetvalue(res, 0, 0));
    snprintf(c->was_role, sizeof(c->was_role), "%s", PQgetvalue(res, 0, 0));
    snprintf(c->was_status, sizeof(c->was_status), "%s", PQgetvalue(res, 0, 1));
    owner_active = strcmp(PQgetvalue(res, 0, 0), "owner") == 0 &&
                   strcmp(PQgetvalue(res, 0, 1), "active") == 0;
    PQclear(res);
    if (target > actor) {
        return lc_req_fail_tx(&c->fail, err, 403, "forbidden",
                              "you may not edit a user above your own role");
    }
    if (c->role != NULL && users_role_rank(c->role) > actor) {
        return lc_req_fail_tx(&c->fail, err, 403, "forbidden",
                              "you may not grant a role above your own");
    }
    stays_owner = (c->role == NULL || strcmp(c->role, "owner") == 0) &&
                  (c->status == NULL || strcmp(c->status, "active") == 0);
    if (owner_active && !stays_owner) {
        res = lc_db_exec(db, &users_lock_owners, NULL, err);
        if (res == NULL) {
            return -1;
        }
        if (PQntuples(res) <= 1) {
            PQclear(res);
            return lc_req_fail_tx(&c->fail, err, 409, "conflict",
                                  "the last owner cannot be demoted or "
                                  "deactivated; make another owner first");
        }
        PQclear(res);
    }
    c->res = lc_db_exec(db, &users_update_role_status, params, err);
    if (c->res == NULL || users_change_events(db, c, err) != 0) {
        return -1;
    }
    /* What they sent speaks for them: it goes when their right to grant
     * it goes, in this same transaction. */
    if (strcmp(PQgetvalue(c->res, 0, 4), "active") != 0 ||
        strcmp(PQgetvalue(c->res, 0, 3), c->was_role) != 0) {
        if (invitations_revoke_by(
                db, c->id,
                strcmp(PQgetvalue(c->res, 0, 4), "active") == 0
                    ? PQgetvalue(c->res, 0, 3)
                    : NULL,
                c->caller->user_id, &c->seq, err) != 0) {
            return -1;
        }
    }
    if (c->status != NULL && strcmp(c->status, "deactivated") == 0) {
        return auth_revoke_user_sessions(db, c->id, NULL, "deactivated",
                                         c->caller->user_id, &c->seq, err);
    }
    return 0;
}

static void
users_change(lc_req *req, const users_caller *caller, const char *role,
             const char *status, int ok_status)
{
    users_change_ctx c = {0};

    c.id = lc_req_param(req, "id");
    if (!lc_db_is_path_uuid(c.id)) {
        lc_req_error(req, 404, "not_found", "no such user");
        return;
    }
    c.caller = caller;
    c.role = role;
    c.status = status;
    users_caller_fence(req, caller->tenant_id, c.id);
    if (lc_req_tx(req, caller->tenant_id, users_change_tx, &c) != 0) {
        users_caller_stamp(req, caller->tenant_id, c.id);
        return;
    }
    users_caller_stamp(req, caller->tenant_id, c.id);
    users_events_announce(c.seq);
    if (ok_status == 204) {
        lc_req_respond(req, 204, NULL, NULL, 0);
    } else {
        lc_req_respond_json(req, 200, users_user_json(c.res, 0, 0));
    }
    PQclear(c.res);
}

static void
users_patch(lc_req *req)
{
    static const char *const statuses[] = {"active", "deactivated", NULL};
    static const lc_body_field fields[] = {
        {.name = "role", .kind = LC_BODY_ENUM, .choices = users_roles},
        {.name = "status", .kind = LC_BODY_ENUM, .choices = statuses},
    };
    lc_body_value v[2];
    users_caller caller;

    /* The role check comes first: a member learns nothing from a 400. */
    if (lc_caller_get(req, "admin", &caller) != 0 ||
        lc_body_read_patch(req, fields, 2, v) != 0) {
        return;
    }
    users_change(req, &caller, v[0].text, v[1].text, 200);
}

static void
users_delete(lc_req *req)
{
    users_caller caller;

    if (lc_caller_get(req, "admin", &caller) == 0) {
        users_change(req, &caller, NULL, "deactivated", 204);
    }
}

/* --- internal RPCs ------------------------------------------------------ */

static void
users_get_user(lc_req *req)
{
    const Lintel__V1__Users__GetUserRequest *in;
    Lintel__V1__Users__GetUserResponse out =
        LINTEL__V1__USERS__GET_USER_RESPONSE__INIT;
    Lintel__V1__Users__User user = LINTEL__V1__USERS__USER__INIT;
    lc_req_query c = {0};
    const char *params[1];

    in = (const Lintel__V1__Users__GetUserRequest *)lc_req_pb(
        req, &lintel__v1__users__get_user_request__descriptor);
    if (in == NULL) {
        return;
    }
    if (!lc_db_is_uuid(in->tenant_id) || !lc_db_is_uuid(in->user_id)) {
        lc_req_respond_pb(req, &out.base);
        return;
    }
    params[0] = in->user_id;
    c.stmt = &users_by_id;
    c.params = params;
    if (lc_req_tx(req, in->tenant_id, lc_req_query_tx, &c) != 0) {
        return;
    }
    if (PQntuples(c.res) == 1) {
        out.found = 1;
        user.id = PQgetvalue(c.res, 0, 0);
        user.email = PQgetvalue(c.res, 0, 1);
        user.name = PQgetvalue(c.res, 0, 2);
        user.role = PQgetvalue(c.res, 0, 3);
        user.status = PQgetvalue(c.res, 0, 4);
        out.user = &user;
    }
    lc_req_respond_pb(req, &out.base);
    PQclear(c.res);
}

static void
users_count_seats_rpc(lc_req *req)
{
    const Lintel__V1__Users__CountSeatsRequest *in;
    Lintel__V1__Users__CountSeatsResponse out =
        LINTEL__V1__USERS__COUNT_SEATS_RESPONSE__INIT;
    lc_req_query c = {0};

    in = (const Lintel__V1__Users__CountSeatsRequest *)lc_req_pb(
        req, &lintel__v1__users__count_seats_request__descriptor);
    if (in == NULL) {
        return;
    }
    if (!lc_db_is_uuid(in->tenant_id)) {
        lc_req_error(req, 400, "validation_failed", "tenant_id must be a uuid");
        return;
    }
    c.stmt = &users_count_seats;
    if (lc_req_tx(req, in->tenant_id, lc_req_query_tx, &c) != 0) {
        return;
    }
    out.active = (uint32_t)strtoul(PQgetvalue(c.res, 0, 0), NULL, 10);
    out.deactivated = (uint32_t)strtoul(PQgetvalue(c.res, 0, 1), NULL, 10);
    lc_req_respond_pb(req, &out.base);
    PQclear(c.res);
}

int
users_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"GET", "/api/users/me", users_me},
        {"PATCH", "/api/users/me", users_me_patch},
        {"POST", "/api/users/me/password", users_me_password},
        {"GET", "/api/users", users_list},
        {"PATCH", "/api/users/:id", users_patch},
        {"DELETE", "/api/users/:id", users_delete},
        {"RPC", "/rpc/users.GetUser", users_get_user},
        {"RPC", "/rpc/users.CountSeats", users_count_seats_rpc},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
