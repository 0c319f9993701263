/*
 * password_reset.c: "forgot my password". The request answers 202 whether
 * or not the account exists (nothing to learn from it); for an active
 * account it mails a single-use token (stored as SHA-256, valid one hour).
 * Confirming sets the new password and revokes every session of the
 * account: whoever knew the old password is signed out.
 */
#include <stdio.h>
#include <string.h>

#include "lc_token.h"
#include "users.h"

/* Reset mails per account and hour: a reset link cannot be used to flood
 * someone's mailbox. Past it the request still answers 202. */
#define RESET_MAILS_PER_HOUR 5

static const lc_db_stmt reset_user_by_email = {
    "SELECT id, email FROM users.users"
    " WHERE lower(email) = lower($1) AND status = 'active'",
    1};

static const lc_db_stmt reset_insert = {
    "INSERT INTO users.password_resets (tenant_id, user_id, token_hash,"
    " expires_at) VALUES (current_setting('app.tenant_id')::uuid, $1, $2,"
    " now() + make_interval(secs => $3))",
    3};

static const lc_db_stmt reset_by_token = {
    "SELECT r.id, r.user_id FROM users.password_resets r"
    " JOIN users.users u ON u.tenant_id = r.tenant_id AND u.id = r.user_id"
    " WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()"
    "   AND u.status = 'active'"
    " FOR UPDATE OF r",
    1};

static const lc_db_stmt reset_set_password = {
    "UPDATE users.users SET password_hash = $2, updated_at = now()"
    " WHERE id = $1",
    2};

/* Spends this token and every other outstanding one of the account. */
static const lc_db_stmt reset_spend = {
    "UPDATE users.password_resets SET used_at = now()"
    " WHERE user_id = $1 AND used_at IS NULL",
    1};

/* --- request ------------------------------------------------------------ */

typedef struct {
    lc_req_fail fail;
    const users_app *app;
    const char *email, *slug;
    bool queued;
} reset_request_ctx;

static int
reset_request_tx(lc_db *db, void *arg, lc_db_error *err)
{
    reset_request_ctx *c = arg;
    char token[LC_TOKEN_LEN + 1], hash[LC_TOKEN_HASH_LEN + 1], ttl[16];
    char user_id[37], email[USERS_EMAIL_MAX + 1], link[512], body[1024];
    const char *params[3] = {c->email, NULL, NULL};
    PGresult *res;

    c->queued = false;
    res = lc_db_exec(db, &reset_user_by_email, params, err);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0; /* no such account: nothing to send, the same 202 */
    }
    snprintf(user_id, sizeof(user_id), "%s", PQgetvalue(res, 0, 0));
    snprintf(email, sizeof(email), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    if (lc_token_new(token) != 0) {
        lc_db_error_set(err, LC_DB_BUG, "no entropy");
        return -1;
    }
    lc_token_hash(token, hash);
    snprintf(ttl, sizeof(ttl), "%d", USERS_RESET_TTL_S);
    params[0] = user_id;
    params[1] = hash;
    params[2] = ttl;
    res = lc_db_exec(db, &reset_insert, params, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    if (mail_link(c->app, c->slug, "/reset-password", token, link,
                  sizeof(link)) != 0) {
        lc_db_error_set(err, LC_DB_BUG, "link too long");
        return -1;
    }
    snprintf(body, sizeof(body),
             "Hello,\n\nSomeone asked to reset the password of your %s "
             "account on Lintel.\nChoose a new password within one hour:\n\n"
             "%s\n\nIf it was not you, ignore this message: your password "
             "stays as it is.\n",
             c->slug, link);
    c->queued = true;
    /* To the address as the account stores it, not as typed. */
    return mail_enqueue(c->app, db, email, "Reset your Lintel password", body, err);
}

static void
reset_request(lc_req *req)
{
    users_app *app = lc_req_app(req);
    reset_request_ctx c = {0};
    static const lc_body_field fields[] = {
        {.name = "email", .kind = LC_BODY_EMAIL, .required = true},
    };
    lc_body_value v[1];
    char key[160], lower[USERS_EMAIL_MAX + 1], hash[LC_TOKEN_HASH_LEN + 1];
    int64_t sent = 0;
    size_t i;
    cJSON *out;

    if (users_scope(req, true) != 0 || lc_body_read(req, fields, 1, v) != 0) {
        return;
    }
    c.email = v[0].text;
    for (i = 0; c.email[i] != '\0'; i++) {
        lower[i] =
            (char)(c.email[i] >= 'A' && c.email[i] <= 'Z' ? c.email[i] + 32
                                                          : c.email[i]);
    }
    lower[i] = '\0';
    lc_token_hash(lower, hash);
    snprintf(key, sizeof(key), "users:reset:v1:%s:%s", lc_req_tenant_id(req),
             hash);
    if (lc_cache_incr(lc_req_cache(req), key, 3600, &sent) != LC_CACHE_OK ||
        sent <= RESET_MAILS_PER_HOUR) {
        c.app = app;
        c.slug = lc_req_envelope(req)->tenant->slug;
        if (lc_req_tx(req, lc_req_tenant_id(req), reset_request_tx, &c) != 0) {
            return;
        }
        if (c.queued) {
            mail_wake(app);
        }
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "message",
                            "if an account has this email, a reset link is "
                            "on its way");
    lc_req_respond_json(req, 202, out);
}

/* --- confirm ------------------------------------------------------------ */

typedef struct {
    lc_req_fail fail;
    const char *token, *hash;
    char user_id[37]; /* whose sessions end: their snapshot is stamped */
    int64_t seq;
} reset_confirm_ctx;

static int
reset_confirm_tx(lc_db *db, void *arg, lc_db_error *err)
{
    reset_confirm_ctx *c = arg;
    char token_hash[LC_TOKEN_HASH_LEN + 1], *user_id = c->user_id;
    const char *params[2] = {token_hash, NULL};
    PGresult *res;

    lc_token_hash(c->token, token_hash);
    res = lc_db_exec(db, &reset_by_token, params, err);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return lc_req_fail_tx(&c->fail, err, 400, "validation_failed",
                             "token: the reset link is not valid");
    }
    snprintf(user_id, sizeof(c->user_id), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    params[0] = user_id;
    params[1] = c->hash;
    res = lc_db_exec(db, &reset_set_password, params, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    res = lc_db_exec(db, &reset_spend, params, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return auth_revoke_user_sessions(db, user_id, NULL, "password_reset",
                                     user_id, &c->seq, err);
}

static void
reset_confirm(lc_req *req)
{
    users_app *app = lc_req_app(req);
    reset_confirm_ctx c = {0};
    const char *password;
    char hash[LC_PASSWORD_HASH_MAX];
    static const lc_body_field fields[] = {
        {.name = "token", .kind = LC_BODY_TOKEN, .required = true},
        {.name = "new_password", .kind = LC_BODY_PASSWORD, .required = true},
    };
    lc_body_value v[2];

    if (users_scope(req, true) != 0 || lc_body_read(req, fields, 2, v) != 0) {
        return;
    }
    c.token = v[0].text;
    password = v[1].text;
    if (lc_password_hash(&app->password, password, hash, sizeof(hash)) != 0) {
        lc_req_error(req, 500, "internal", "internal error");
        return;
    }
    c.hash = hash;
    if (lc_req_tx(req, lc_req_tenant_id(req), reset_confirm_tx, &c) == 0) {
        users_caller_stamp(req, lc_req_tenant_id(req), c.user_id);
        users_events_announce(c.seq);
        lc_req_respond(req, 204, NULL, NULL, 0);
    }
}

int
password_reset_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"POST", "/api/auth/password-reset", reset_request},
        {"POST", "/api/auth/password-reset/confirm", reset_confirm},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
