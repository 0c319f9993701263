/*
 * invitations.c: an admin invites someone by email, with a role no higher
 * than their own; the mail carries a single-use token (stored as SHA-256,
 * valid 72 hours) that the invitee redeems, on the tenant's host, for an
 * account and a first login.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_token.h"
#include "users.h"

static const lc_db_stmt invitations_member_exists = {
    "SELECT 1 FROM users.users WHERE lower(email) = lower($1)", 1};

static const lc_db_stmt invitations_insert = {
    "INSERT INTO users.invitations (tenant_id, email, role, token_hash,"
    " invited_by, expires_at)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, $2, $3, $4,"
    " now() + make_interval(secs => $5))"
    " RETURNING id, email, role, " USERS_RFC3339(
        "created_at") ", " USERS_RFC3339("expires_at"),
    5};

/* FOR UPDATE: two redemptions of one token take turns; the second finds
 * it accepted. */
static const lc_db_stmt invitations_by_token = {
    "SELECT id, email, role FROM users.invitations"
    " WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > now()"
    " FOR UPDATE",
    1};

static const lc_db_stmt invitations_create_user = {
    "INSERT INTO users.users (tenant_id, email, name, role, password_hash)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, $2, $3, $4)"
    " ON CONFLICT (tenant_id, lower(email)) DO NOTHING"
    " RETURNING id, email, name, role, status, " USERS_RFC3339(
        "created_at") ", " USERS_RFC3339("updated_at"),
    4};

static const lc_db_stmt invitations_accepted = {
    "UPDATE users.invitations SET accepted_at = now(), accepted_user_id = $2"
    " WHERE id = $1",
    2};

/* --- invite ------------------------------------------------------------- */

/* Seats a plan limits: active members and the invitations still open
 * (each may become one). */
static const lc_db_stmt invitations_seats = {
    "SELECT (SELECT count(*) FROM users.users WHERE status = 'active')"
    " + (SELECT count(*) FROM users.invitations"
    "     WHERE accepted_at IS NULL AND expires_at > now())",
    0};

/* May the tenant's plan have one more seat (billing)? 0, or -1 with the
 * response set (402, or the count's failure). */
static int
invitations_entitled(lc_req *req, const users_app *app,
                     const users_caller *caller)
{
    PGresult *res;
    uint32_t seats;

    res = lc_req_read(req, caller->tenant_id, &invitations_seats, NULL);
    if (res == NULL) {
        return -1;
    }
    seats = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return lc_entitlement_check(req, &app->billing, caller->tenant_id, "seats",
                                seats);
}

typedef struct {
    lc_req_fail fail;
    const users_app *app;
    const users_caller *caller;
    const char *email, *role;
    char token[LC_TOKEN_LEN + 1];
    PGresult *res;
    int64_t seq;
} invitations_create_ctx;

static cJSON *invitations_json(const PGresult *res);

/* The invitation is the subject: no member exists yet. */
static int
invitations_event_invited(lc_db *db, invitations_create_ctx *c,
                          lc_db_error *err)
{
    const users_event ev = {.type = "member.invited",
                            .subject_id = PQgetvalue(c->res, 0, 0),
                            .actor_id = c->caller->user_id};

    return users_event_add(db, &ev, invitations_json(c->res), &c->seq, err);
}

static int
invitations_create_tx(lc_db *db, void *arg, lc_db_error *err)
{
    invitations_create_ctx *c = arg;
    char hash[LC_TOKEN_HASH_LEN + 1], ttl[16], link[512], body[1024],
        subject[160];
    const char *params[5] = {c->email, c->role, hash, c->caller->user_id, ttl};
    int exists;

    PQclear(c->res);
    c->res = NULL;
    exists =
        lc_db_value(db, &invitations_member_exists, params, NULL, 0, err);
    if (exists < 0) {
        return -1;
    }
    if (exists) {
        return lc_req_fail_tx(&c->fail, err, 409, "conflict",
                             "this email already belongs to a member");
    }
    if (lc_token_new(c->token) != 0) {
        lc_db_error_set(err, LC_DB_BUG, "no entropy");
        return -1;
    }
    lc_token_hash(c->token, hash);
    snprintf(ttl, sizeof(ttl), "%d", USERS_INVITATION_TTL_S);
    c->res = lc_db_exec(db, &invitations_insert, params, err);
    if (c->res == NULL) {
        return -1;
    }
    if (mail_link(c->app, c->caller->tenant_slug, "/accept-invitation",
                  c->token, link, sizeof(link)) != 0) {
        lc_db_error_set(err, LC_DB_BUG, "link too long");
        return -1;
    }
    snprintf(subject, sizeof(subject), "You are invited to %s on Lintel",
             c->caller->tenant_slug);
    snprintf(body, sizeof(body),
             "Hello,\n\nYou have been invited to join %s on Lintel as %s.\n"
             "Accept the invitation within 72 hours:\n\n%s\n\n"
             "If you did not expect this, ignore this message.\n",
             c->caller->tenant_slug, c->role, link);
    if (mail_enqueue(c->app, db, c->email, subject, body, err) != 0) {
        return -1;
    }
    return invitations_event_invited(db, c, err);
}

static cJSON *
invitations_json(const PGresult *res)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "id", PQgetvalue(res, 0, 0));
    cJSON_AddStringToObject(o, "email", PQgetvalue(res, 0, 1));
    cJSON_AddStringToObject(o, "role", PQgetvalue(res, 0, 2));
    cJSON_AddStringToObject(o, "created_at", PQgetvalue(res, 0, 3));
    cJSON_AddStringToObject(o, "expires_at", PQgetvalue(res, 0, 4));
    return o;
}

static void
invitations_create(lc_req *req)
{
    users_app *app = lc_req_app(req);
    users_caller caller;
    invitations_create_ctx c = {0};
    static const lc_body_field fields[] = {
        {.name = "email", .kind = LC_BODY_EMAIL, .required = true},
        {.name = "role",
         .kind = LC_BODY_ENUM,
         .required = true,
         .choices = users_roles},
    };
    lc_body_value v[2];

    if (lc_caller_get(req, "admin", &caller) != 0 ||
        lc_body_read(req, fields, 2, v) != 0) {
        return;
    }
    c.email = v[0].text;
    c.role = v[1].text;
    if (users_role_rank(c.role) > users_role_rank(caller.role)) {
        lc_req_error(req, 403, "forbidden",
                     "you may not invite with a role above your own");
        return;
    }
    if (invitations_entitled(req, app, &caller) != 0) {
        return;
    }
    c.app = app;
    c.caller = &caller;
    if (lc_req_tx(req, caller.tenant_id, invitations_create_tx, &c) != 0) {
        return;
    }
    users_events_announce(c.seq);
    mail_wake(app);
    lc_req_respond_json(req, 201, invitations_json(c.res));
    PQclear(c.res);
}

/* --- accept ------------------------------------------------------------- */

typedef struct {
    lc_req_fail fail;
    const char *token, *name, *hash, *user_agent, *client_ip;
    auth_grant grant;
    PGresult *user;
    int64_t seq;
} invitations_accept_ctx;

/* The new member joins; it is its own actor. */
static int
invitations_event_joined(lc_db *db, invitations_accept_ctx *c,
                         const char *invitation_id, lc_db_error *err)
{
    const char *user_id = PQgetvalue(c->user, 0, 0);
    const users_event ev = {.type = "member.joined",
                            .subject_id = user_id,
                            .actor_id = user_id};
    cJSON *data = users_user_json(c->user, 0, 0);

    cJSON_AddStringToObject(data, "invitation_id", invitation_id);
    return users_event_add(db, &ev, data, &c->seq, err);
}

static int
invitations_accept_tx(lc_db *db, void *arg, lc_db_error *err)
{
    invitations_accept_ctx *c = arg;
    char hash[LC_TOKEN_HASH_LEN + 1], id[37];
    const char *params[4];
    PGresult *inv, *res;

    PQclear(c->user);
    c->user = NULL;
    lc_token_hash(c->token, hash);
    params[0] = hash;
    inv = lc_db_exec(db, &invitations_by_token, params, err);
    if (inv == NULL) {
        return -1;
    }
    if (PQntuples(inv) != 1) {
        PQclear(inv);
        return lc_req_fail_tx(&c->fail, err, 400, "validation_failed",
                             "token: the invitation is not valid");
    }
    snprintf(id, sizeof(id), "%s", PQgetvalue(inv, 0, 0));
    params[0] = PQgetvalue(inv, 0, 1);
    params[1] = c->name;
    params[2] = PQgetvalue(inv, 0, 2);
    params[3] = c->hash;
    snprintf(c->grant.role, sizeof(c->grant.role), "%s", params[2]);
    c->user = lc_db_exec(db, &invitations_create_user, params, err);
    PQclear(inv);
    if (c->user == NULL) {
        return -1;
    }
    if (PQntuples(c->user) != 1) {
        return lc_req_fail_tx(&c->fail, err, 409, "conflict",
                             "this email already belongs to a member");
    }
    params[0] = id;
    params[1] = PQgetvalue(c->user, 0, 0);
    res = lc_db_exec(db, &invitations_accepted, params, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    if (auth_session_open(db, PQgetvalue(c->user, 0, 0), c->user_agent,
                          c->client_ip, &c->grant, err) != 0) {
        return -1;
    }
    return invitations_event_joined(db, c, id, err);
}

static void
invitations_accept(lc_req *req)
{
    users_app *app = lc_req_app(req);
    const lc_request *env = lc_req_envelope(req);
    invitations_accept_ctx c = {0};
    const char *password;
    char hash[LC_PASSWORD_HASH_MAX];
    static const lc_body_field fields[] = {
        {.name = "token", .kind = LC_BODY_TOKEN, .required = true},
        {.name = "name", .kind = LC_BODY_NAME, .required = true},
        {.name = "password", .kind = LC_BODY_PASSWORD, .required = true},
    };
    lc_body_value v[3];
    cJSON *out;

    if (users_scope(req, true) != 0 || lc_body_read(req, fields, 3, v) != 0) {
        return;
    }
    c.token = v[0].text;
    c.name = v[1].text;
    password = v[2].text;
    if (lc_password_hash(&app->password, password, hash, sizeof(hash)) != 0) {
        lc_req_error(req, 500, "internal", "internal error");
        return;
    }
    c.hash = hash;
    c.user_agent = lc_envelope_header(env, "user-agent");
    c.client_ip = env->client_ip;
    if (lc_req_tx(req, lc_req_tenant_id(req), invitations_accept_tx, &c) != 0) {
        return;
    }
    users_events_announce(c.seq);
    out = auth_grant_json(app, lc_req_tenant_id(req), &c.grant);
    if (out == NULL) {
        lc_req_error(req, 500, "internal", "internal error");
    } else {
        cJSON_AddItemToObject(out, "user", users_user_json(c.user, 0, 0));
        auth_grant_respond(req, 201, out);
    }
    PQclear(c.user);
}

int
invitations_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"POST", "/api/users/invitations", invitations_create},
        {"POST", "/api/auth/invitations/accept", invitations_accept},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
