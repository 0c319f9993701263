/*
 * invitations.c: an admin invites someone by email, with a role no higher
 * than their own; the mail carries a single-use token (stored as SHA-256,
 * valid 72 hours) that the invitee redeems, on the tenant's host, for an
 * account and a first login.
 *
 * An invitation speaks for its sender, so it lives no longer than the
 * sender's right to grant it: admins list, revoke and resend (a new token,
 * the old link dies) pending invitations; deactivating a member, or
 * demoting them below an invitation's role (or below admin), revokes their
 * pending invitations in the same transaction (invitations_revoke_by);
 * and an acceptance checks the sender's CURRENT role and status, refusing
 * (409, never capping the role silently) when the sender may no longer
 * grant it. Sends and resends are throttled per member, and one
 * invitation is resent at most once per LINTEL_INVITE_RESEND_INTERVAL_S.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_entity.h"
#include "lc_token.h"
#include "users.h"

/* An invitation's state, in SQL (the row's columns). */
#define INVITATION_STATUS                                                      \
    "CASE WHEN accepted_at IS NOT NULL THEN 'accepted'"                        \
    " WHEN revoked_at IS NOT NULL THEN 'revoked'"                              \
    " WHEN expires_at <= now() THEN 'expired' ELSE 'pending' END"

/* What the API shows of one, in the order invitations_json reads. */
#define INVITATION_COLUMNS                                                     \
    "id, email, role, " INVITATION_STATUS ", invited_by, " USERS_RFC3339(      \
        "created_at") ", " USERS_RFC3339("expires_at")

/* A role's rank in SQL, as lc_caller_role_rank ranks it. */
#define INVITATION_RANK(x)                                                     \
    "coalesce(array_position(ARRAY['viewer','member','manager','admin',"       \
    "'owner'], " x "), 0)"

static const lc_db_stmt invitations_member_exists = {
    "SELECT 1 FROM users.users WHERE lower(email) = lower($1)", 1};

static const lc_db_stmt invitations_insert = {
    "INSERT INTO users.invitations (tenant_id, email, role, token_hash,"
    " invited_by, expires_at)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, $2, $3, $4,"
    " now() + make_interval(secs => $5))"
    " RETURNING " INVITATION_COLUMNS,
    5};

/* FOR UPDATE: two redemptions of one token take turns; the second finds
 * it accepted. */
static const lc_db_stmt invitations_by_token = {
    "SELECT id, email, role, invited_by FROM users.invitations"
    " WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL"
    "   AND expires_at > now()"
    " FOR UPDATE",
    1};

/* The sender as stored now; FOR SHARE: a demotion waits for the
 * acceptance, or the acceptance sees it. */
static const lc_db_stmt invitations_sender_now = {
    "SELECT role FROM users.users WHERE id = $1 AND status = 'active'"
    " FOR SHARE",
    1};

/* Newest first, keyset-paged on (created_at, id) (lc_page's cursor). */
static const lc_db_stmt invitations_page = {
    "SELECT " INVITATION_COLUMNS ", created_at FROM users.invitations"
    " WHERE ($1::text IS NULL OR " INVITATION_STATUS " = $1)"
    "   AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))"
    " ORDER BY created_at DESC, id DESC LIMIT $4",
    4};

static const lc_db_stmt invitations_lock = {
    "SELECT role, " INVITATION_STATUS " FROM users.invitations WHERE id = $1"
    " FOR UPDATE",
    1};

static const lc_db_stmt invitations_revoke = {
    "UPDATE users.invitations SET revoked_at = now(), revoked_reason = $2"
    " WHERE id = $1 RETURNING " INVITATION_COLUMNS,
    2};

/* A sender's pending invitations they may no longer grant: all of them when
 * deactivated ($2 NULL) or no longer an admin, else those above the new
 * role. */
static const lc_db_stmt invitations_revoke_by_sender = {
    "UPDATE users.invitations SET revoked_at = now(), revoked_reason = $3"
    " WHERE invited_by = $1 AND accepted_at IS NULL AND revoked_at IS NULL"
    "   AND ($2::text IS NULL OR " INVITATION_RANK("$2::text") " < 4"
    "        OR " INVITATION_RANK("role") " > " INVITATION_RANK("$2::text") ")"
    " RETURNING " INVITATION_COLUMNS,
    3};

/* A resend: a new token (the old link dies) and a new 72 hours. */
static const lc_db_stmt invitations_renew = {
    "UPDATE users.invitations SET token_hash = $2, sent_at = now(),"
    " expires_at = now() + make_interval(secs => $3)"
    " WHERE id = $1 RETURNING " INVITATION_COLUMNS,
    3};

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
    "     WHERE accepted_at IS NULL AND revoked_at IS NULL"
    "       AND expires_at > now())",
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

/* Sends (and resends) per member: 0, or -1 with the 429 answered. */
static int
invitations_throttle_member(lc_req *req, const users_caller *caller)
{
    const users_app *app = lc_req_app(req);
    char subject[80];

    snprintf(subject, sizeof(subject), "%s:%s", caller->tenant_id,
             caller->user_id);
    return users_throttle_hit(req, &app->throttles.invite_member, subject,
                              "too many invitations sent; try again after "
                              "Retry-After seconds");
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
static int invitations_mail(invitations_create_ctx *c, lc_db *db,
                            lc_db_error *err);

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
    char hash[LC_TOKEN_HASH_LEN + 1], ttl[16];
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
    if (c->res == NULL || invitations_mail(c, db, err) != 0) {
        return -1;
    }
    return invitations_event_invited(db, c, err);
}

/* The invitation's mail with c->token, to c->email, as c->role. */
static int
invitations_mail(invitations_create_ctx *c, lc_db *db, lc_db_error *err)
{
    char link[512], body[1024], subject[160];

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
    return mail_enqueue(c->app, db, c->email, subject, body, err);
}

static cJSON *
invitations_row_json(const PGresult *res, int row)
{
    static const char *const names[] = {"id",         "email",
                                        "role",       "status",
                                        "invited_by", "created_at",
                                        "expires_at"};
    cJSON *o = cJSON_CreateObject();
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        cJSON_AddStringToObject(o, names[i], PQgetvalue(res, row, (int)i));
    }
    return o;
}

static cJSON *
invitations_json(const PGresult *res)
{
    return invitations_row_json(res, 0);
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
    if (invitations_throttle_member(req, &caller) != 0 ||
        invitations_entitled(req, app, &caller) != 0) {
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
    char hash[LC_TOKEN_HASH_LEN + 1], id[37], sender_role[LC_CALLER_ROLE_MAX];
    const char *params[4];
    PGresult *inv, *res;
    int found, sender;

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
    /* The sender must still be able to grant this role, now. */
    params[0] = PQgetvalue(inv, 0, 3);
    found = lc_db_value(db, &invitations_sender_now, params, sender_role,
                        sizeof(sender_role), err);
    if (found < 0) {
        PQclear(inv);
        return -1;
    }
    sender = found ? users_role_rank(sender_role) : 0;
    if (sender < users_role_rank("admin") ||
        sender < users_role_rank(PQgetvalue(inv, 0, 2))) {
        PQclear(inv);
        return lc_req_fail_tx(&c->fail, err, 409, "conflict",
                              "the invitation's sender may no longer grant "
                              "this role; ask an admin for a new invitation");
    }
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
        lc_req_respond_json(req, 201, out);
        lc_req_header(req, "cache-control", "no-store");
    }
    PQclear(c.user);
}

/* --- the admin's list ---------------------------------------------------- */

static void
invitations_list(lc_req *req)
{
    static const char *const allowed[] = {"limit", "cursor", "status", NULL};
    static const char *const statuses[] = {"pending", "accepted", "revoked",
                                           "expired", NULL};
    users_caller caller;
    lc_req_query c = {0};
    lc_page page;
    char status_buf[16], limit[16];
    const char *status, *params[4];
    cJSON *data;
    int i, n;

    if (lc_caller_get(req, "admin", &caller) != 0 ||
        lc_page_parse(req, allowed, NULL, &page) != 0 ||
        lc_page_filter(req, "status", status_buf, sizeof(status_buf),
                       &status) != 0) {
        return;
    }
    for (i = 0; status != NULL && statuses[i] != NULL; i++) {
        if (strcmp(status, statuses[i]) == 0) {
            break;
        }
    }
    if (status != NULL && statuses[i] == NULL) {
        lc_body_field_error(req, "status", "invalid_choice",
                            "status: one of pending, accepted, revoked, "
                            "expired");
        return;
    }
    snprintf(limit, sizeof(limit), "%d", page.limit + 1);
    params[0] = status;
    params[1] = page.has_cursor ? page.after_key : NULL;
    params[2] = page.has_cursor ? page.after_id : NULL;
    params[3] = limit;
    c.stmt = &invitations_page;
    c.params = params;
    if (lc_req_tx(req, caller.tenant_id, lc_req_query_tx, &c) != 0) {
        return;
    }
    n = PQntuples(c.res);
    data = cJSON_CreateArray();
    for (i = 0; i < n && i < page.limit; i++) {
        cJSON_AddItemToArray(data, invitations_row_json(c.res, i));
    }
    lc_req_respond_json(req, 200,
                        lc_page_json(&page, data,
                                     i > 0 ? PQgetvalue(c.res, i - 1, 7) : NULL,
                                     i > 0 ? PQgetvalue(c.res, i - 1, 0) : NULL,
                                     n > page.limit));
    PQclear(c.res);
}

/* --- revoke and resend ---------------------------------------------------- */

/* One member.invitation_revoked event per invitation of `res`. */
static int
invitations_events_revoked(lc_db *db, const PGresult *res, const char *reason,
                           const char *actor_id, int64_t *seq,
                           lc_db_error *err)
{
    users_event ev = {.type = "member.invitation_revoked",
                      .actor_id = actor_id};
    cJSON *data;
    int i;

    for (i = 0; i < PQntuples(res); i++) {
        ev.subject_id = PQgetvalue(res, i, 0);
        data = invitations_row_json(res, i);
        cJSON_AddStringToObject(data, "reason", reason);
        if (users_event_add(db, &ev, data, seq, err) != 0) {
            return -1;
        }
    }
    return 0;
}

int
invitations_revoke_by(lc_db *db, const char *sender_id, const char *new_role,
                      const char *actor_id, int64_t *seq, lc_db_error *err)
{
    const char *reason =
        new_role == NULL ? "inviter_deactivated" : "inviter_demoted";
    const char *params[3] = {sender_id, new_role, reason};
    PGresult *res = lc_db_exec(db, &invitations_revoke_by_sender, params, err);
    int rc;

    if (res == NULL) {
        return -1;
    }
    rc = invitations_events_revoked(db, res, reason, actor_id, seq, err);
    PQclear(res);
    return rc;
}

typedef enum {
    INVITATION_REVOKE,
    INVITATION_RESEND,
} invitations_action;

typedef struct {
    lc_req_fail fail;
    const users_app *app;
    const users_caller *caller;
    invitations_action action;
    const char *id;
    PGresult *res; /* the invitation after the change; NULL: unchanged */
    int64_t seq;
} invitations_change_ctx;

/* Locks the invitation and checks the caller may act on it: its role, then
 * its status. Writes the role into `role`. */
static int
invitations_lock_for(lc_db *db, invitations_change_ctx *c, char *role,
                     size_t rolelen, char *status, size_t statuslen,
                     lc_db_error *err)
{
    const char *params[1] = {c->id};
    PGresult *res = lc_db_exec(db, &invitations_lock, params, err);

    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lc_req_fail_tx(&c->fail, err, 404, "not_found",
                              "no such invitation");
    }
    snprintf(role, rolelen, "%s", PQgetvalue(res, 0, 0));
    snprintf(status, statuslen, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    if (users_role_rank(role) > users_role_rank(c->caller->role)) {
        return lc_req_fail_tx(&c->fail, err, 403, "forbidden",
                              "the invitation's role is above your own");
    }
    if (strcmp(status, "accepted") == 0) {
        return lc_req_fail_tx(&c->fail, err, 409, "conflict",
                              "the invitation was accepted already");
    }
    return 0;
}

static int
invitations_change_tx(lc_db *db, void *arg, lc_db_error *err)
{
    invitations_change_ctx *c = arg;
    char role[LC_CALLER_ROLE_MAX], status[16], hash[LC_TOKEN_HASH_LEN + 1],
        ttl[16];
    const char *params[3] = {c->id, NULL, NULL};
    invitations_create_ctx send = {0};
    int rc;

    PQclear(c->res);
    c->res = NULL;
    if (invitations_lock_for(db, c, role, sizeof(role), status,
                             sizeof(status), err) != 0) {
        return -1;
    }
    if (c->action == INVITATION_REVOKE) {
        if (strcmp(status, "revoked") == 0) {
            return 0; /* already: DELETE is idempotent */
        }
        params[1] = "revoked";
        c->res = lc_db_exec(db, &invitations_revoke, params, err);
        return c->res == NULL
                   ? -1
                   : invitations_events_revoked(db, c->res, "revoked",
                                                c->caller->user_id, &c->seq,
                                                err);
    }
    if (strcmp(status, "revoked") == 0) {
        return lc_req_fail_tx(&c->fail, err, 409, "conflict",
                              "the invitation was revoked");
    }
    if (lc_token_new(send.token) != 0) {
        lc_db_error_set(err, LC_DB_BUG, "no entropy");
        return -1;
    }
    lc_token_hash(send.token, hash);
    snprintf(ttl, sizeof(ttl), "%d", USERS_INVITATION_TTL_S);
    params[1] = hash;
    params[2] = ttl;
    c->res = lc_db_exec(db, &invitations_renew, params, err);
    if (c->res == NULL) {
        return -1;
    }
    send.app = c->app;
    send.caller = c->caller;
    send.email = PQgetvalue(c->res, 0, 1);
    send.role = PQgetvalue(c->res, 0, 2);
    rc = invitations_mail(&send, db, err);
    return rc;
}

static void
invitations_change(lc_req *req, invitations_action action)
{
    users_app *app = lc_req_app(req);
    users_caller caller;
    invitations_change_ctx c = {0};

    if (lc_caller_get(req, "admin", &caller) != 0 ||
        lc_entity_path_id(req, "no such invitation", &c.id) != 0) {
        return;
    }
    if (action == INVITATION_RESEND &&
        (users_throttle_hit(req, &app->throttles.invite_resend, c.id,
                            "this invitation was sent moments ago; try again "
                            "after Retry-After seconds") != 0 ||
         invitations_throttle_member(req, &caller) != 0)) {
        return;
    }
    c.app = app;
    c.caller = &caller;
    c.action = action;
    if (lc_req_tx(req, caller.tenant_id, invitations_change_tx, &c) != 0) {
        return;
    }
    users_events_announce(c.seq);
    if (action == INVITATION_REVOKE) {
        lc_req_respond(req, 204, NULL, NULL, 0);
    } else {
        mail_wake(app);
        lc_req_respond_json(req, 200, invitations_json(c.res));
    }
    PQclear(c.res);
}

static void
invitations_delete(lc_req *req)
{
    invitations_change(req, INVITATION_REVOKE);
}

static void
invitations_resend(lc_req *req)
{
    if (lc_req_envelope(req)->body.len == 0 ||
        lc_body_read(req, NULL, 0, NULL) == 0) {
        invitations_change(req, INVITATION_RESEND);
    }
}

int
invitations_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"POST", "/api/users/invitations", invitations_create},
        {"GET", "/api/users/invitations", invitations_list},
        {"DELETE", "/api/users/invitations/:id", invitations_delete},
        {"POST", "/api/users/invitations/:id/resend", invitations_resend},
        {"POST", "/api/auth/invitations/accept", invitations_accept},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
