/*
 * auth.c: logins, sessions and refresh tokens (DESIGN §9).
 *
 * A login opens a session and hands out an access token (RS256, 15 min)
 * and a refresh token (opaque, 256 bits, stored as SHA-256, 7 days). Each
 * refresh spends its token and hands out a child; presenting a spent token
 * again means it was copied, so the whole session is revoked — except
 * within a few seconds of the rotation, when it is a second tab racing the
 * first: that one gets the same child, derived again from the parent and
 * the child's stored salt (lc_token_derive), never stored in clear.
 *
 * Login failures are throttled so that they slow an attacker, not the
 * user (lc_throttle's sliding windows in Redis):
 *   - per account: from the LINTEL_LOGIN_MAX_FAILURES-th failure in the
 *     window on, every attempt waits a back-off (2 s, 4 s, … capped at
 *     LINTEL_LOGIN_BACKOFF_CAP_S), so the owner gets in by waiting minutes;
 *     a successful login clears it; the owner is mailed once a window when
 *     it starts (a tenant's member: a platform admin has no tenant mail);
 *   - per client IP: the DISTINCT accounts that failed from it. Past the
 *     limit, an account that has failed itself is refused (429) without a
 *     guess, and a wrong password answers 429 instead of 401; a correct
 *     password of an account that did not fail always gets in, so a NAT
 *     under attack does not lock out the people behind it.
 * An unknown email costs the same argon2 time as a wrong password and gets
 * the same answer.
 *
 * A platform admin logs in on the apex host and gets a session of the same
 * kind, in the platform's tables (auth_store): refresh, logout and
 * logout-all work there as on a tenant host, and every platform request
 * checks the session (lc_caller_platform_admin).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_log.h"
#include "lc_token.h"
#include "users.h"

/* The tenant's status is read, not filtered on: a suspended tenant is
 * told so, but only to whoever proves the password (login) or holds a
 * valid refresh token (refresh). */
static const lc_db_stmt auth_user_by_email = {
    "SELECT u.id, u.role, u.password_hash, t.status = 'active', u.email"
    " FROM users.users u JOIN users.tenants t ON t.id = u.tenant_id"
    " WHERE lower(u.email) = lower($1) AND u.status = 'active'",
    1};

static const lc_db_stmt auth_admin_by_email = {
    "SELECT id, 'platform_admin', password_hash, true, email"
    " FROM users.platform_admins WHERE lower(email) = lower($1)",
    1};

static const lc_db_stmt auth_user_rehash = {
    "UPDATE users.users SET password_hash = $2 WHERE id = $1", 2};

static const lc_db_stmt auth_admin_rehash = {
    "UPDATE users.platform_admins SET password_hash = $2 WHERE id = $1", 2};

static const lc_db_stmt auth_session_insert = {
    "INSERT INTO users.sessions (tenant_id, user_id, user_agent, client_ip)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1,"
    " left($2, 512), left($3, 64)) RETURNING id",
    3};

static const lc_db_stmt auth_refresh_insert = {
    "INSERT INTO users.refresh_tokens (tenant_id, session_id, token_hash,"
    " parent_id, derive_salt, access_jti, access_iat, expires_at)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, $2, $3, $4,"
    " gen_random_uuid(), extract(epoch FROM now())::bigint,"
    " now() + make_interval(secs => $5))"
    " RETURNING access_jti, access_iat",
    5};

/* FOR UPDATE: two racing refreshes of one token take turns, and the
 * second sees the first one's rotation. */
static const lc_db_stmt auth_refresh_lookup = {
    "SELECT rt.id, rt.session_id, rt.used_at IS NOT NULL,"
    " coalesce(extract(epoch FROM now() - rt.used_at), 0)::float8,"
    " rt.expires_at <= now(), s.revoked_at IS NOT NULL, s.user_id, u.role,"
    " u.status = 'active', t.status = 'active'"
    " FROM users.refresh_tokens rt"
    " JOIN users.sessions s ON s.tenant_id = rt.tenant_id"
    "  AND s.id = rt.session_id"
    " JOIN users.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id"
    " JOIN users.tenants t ON t.id = s.tenant_id"
    " WHERE rt.token_hash = $1 FOR UPDATE OF rt",
    1};

static const lc_db_stmt auth_refresh_child = {
    "SELECT derive_salt, access_jti, access_iat FROM users.refresh_tokens"
    " WHERE parent_id = $1 AND used_at IS NULL AND expires_at > now()",
    1};

static const lc_db_stmt auth_refresh_spend = {
    "UPDATE users.refresh_tokens SET used_at = now() WHERE id = $1", 1};

static const lc_db_stmt auth_session_touch = {
    "UPDATE users.sessions SET last_used_at = now() WHERE id = $1", 1};

static const lc_db_stmt auth_session_revoke = {
    "UPDATE users.sessions SET revoked_at = now(), revoked_reason = $3"
    " WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id",
    3};

static const lc_db_stmt auth_user_sessions_revoke = {
    "UPDATE users.sessions SET revoked_at = now(), revoked_reason = $3"
    " WHERE user_id = $1 AND revoked_at IS NULL"
    "   AND ($2::uuid IS NULL OR id <> $2::uuid) RETURNING id",
    3};

/* Newest first, keyset-paged on (created_at, id) (lc_page's cursor). */
static const lc_db_stmt auth_sessions_list = {
    "SELECT id, " USERS_RFC3339("created_at") ", " USERS_RFC3339(
        "last_used_at") ", coalesce(user_agent, ''), coalesce(client_ip, ''),"
                        " created_at FROM users.sessions"
                        " WHERE user_id = $1 AND revoked_at IS NULL"
                        "   AND last_used_at > now() - make_interval(secs => "
                        "$2)"
                        "   AND ($3::timestamptz IS NULL"
                        "        OR (created_at, id) < ($3, $4::uuid))"
                        " ORDER BY created_at DESC, id DESC LIMIT $5",
    5};

/* A platform admin's sessions and tokens (0007_platform_sessions.sql):
 * the same statements on the platform's tables, the same columns. */
static const lc_db_stmt auth_platform_session_insert = {
    "INSERT INTO users.platform_sessions (admin_id, user_agent, client_ip)"
    " VALUES ($1, left($2, 512), left($3, 64)) RETURNING id",
    3};

static const lc_db_stmt auth_platform_refresh_insert = {
    "INSERT INTO users.platform_refresh_tokens (session_id, token_hash,"
    " parent_id, derive_salt, access_jti, access_iat, expires_at)"
    " VALUES ($1, $2, $3, $4, gen_random_uuid(),"
    " extract(epoch FROM now())::bigint, now() + make_interval(secs => $5))"
    " RETURNING access_jti, access_iat",
    5};

static const lc_db_stmt auth_platform_refresh_lookup = {
    "SELECT rt.id, rt.session_id, rt.used_at IS NOT NULL,"
    " coalesce(extract(epoch FROM now() - rt.used_at), 0)::float8,"
    " rt.expires_at <= now(), s.revoked_at IS NOT NULL, s.admin_id,"
    " 'platform_admin', true, true"
    " FROM users.platform_refresh_tokens rt"
    " JOIN users.platform_sessions s ON s.id = rt.session_id"
    " WHERE rt.token_hash = $1 FOR UPDATE OF rt",
    1};

static const lc_db_stmt auth_platform_refresh_child = {
    "SELECT derive_salt, access_jti, access_iat"
    " FROM users.platform_refresh_tokens"
    " WHERE parent_id = $1 AND used_at IS NULL AND expires_at > now()",
    1};

static const lc_db_stmt auth_platform_refresh_spend = {
    "UPDATE users.platform_refresh_tokens SET used_at = now() WHERE id = $1",
    1};

static const lc_db_stmt auth_platform_session_touch = {
    "UPDATE users.platform_sessions SET last_used_at = now() WHERE id = $1",
    1};

static const lc_db_stmt auth_platform_session_revoke = {
    "UPDATE users.platform_sessions SET revoked_at = now(),"
    " revoked_reason = $3"
    " WHERE id = $1 AND admin_id = $2 AND revoked_at IS NULL RETURNING id",
    3};

static const lc_db_stmt auth_platform_sessions_revoke = {
    "UPDATE users.platform_sessions SET revoked_at = now(),"
    " revoked_reason = $3"
    " WHERE admin_id = $1 AND revoked_at IS NULL"
    "   AND ($2::uuid IS NULL OR id <> $2::uuid) RETURNING id",
    3};

/* Where a login's session and refresh tokens live: a tenant's tables
 * (under RLS, each revocation an event) or the platform's. */
typedef struct {
    const lc_db_stmt *session_insert, *refresh_insert, *refresh_lookup,
        *refresh_child, *refresh_spend, *session_touch, *session_revoke,
        *sessions_revoke;
    bool events; /* session.revoked events: tenant sessions only */
} auth_store;

static const auth_store auth_tenant_store = {
    .session_insert = &auth_session_insert,
    .refresh_insert = &auth_refresh_insert,
    .refresh_lookup = &auth_refresh_lookup,
    .refresh_child = &auth_refresh_child,
    .refresh_spend = &auth_refresh_spend,
    .session_touch = &auth_session_touch,
    .session_revoke = &auth_session_revoke,
    .sessions_revoke = &auth_user_sessions_revoke,
    .events = true,
};

static const auth_store auth_platform_store = {
    .session_insert = &auth_platform_session_insert,
    .refresh_insert = &auth_platform_refresh_insert,
    .refresh_lookup = &auth_platform_refresh_lookup,
    .refresh_child = &auth_platform_refresh_child,
    .refresh_spend = &auth_platform_refresh_spend,
    .session_touch = &auth_platform_session_touch,
    .session_revoke = &auth_platform_session_revoke,
    .sessions_revoke = &auth_platform_sessions_revoke,
    .events = false,
};

/* The store of the request's scope: the tenant's, or the apex's. */
static const auth_store *
auth_store_of(lc_req *req)
{
    return lc_req_tenant_id(req) != NULL ? &auth_tenant_store
                                         : &auth_platform_store;
}

/* --- sessions and grants ------------------------------------------------ */

static int
auth_refresh_row(lc_db *db, const auth_store *st, const char *session_id,
                 const char *token, const char *parent_id, const char *salt,
                 auth_grant *g, lc_db_error *err)
{
    char hash[LC_TOKEN_HASH_LEN + 1], ttl[16];
    const char *params[5] = {session_id, hash, parent_id, salt, ttl};
    PGresult *res;

    lc_token_hash(token, hash);
    snprintf(ttl, sizeof(ttl), "%d", USERS_REFRESH_TTL_S);
    res = lc_db_exec(db, st->refresh_insert, params, err);
    if (res == NULL) {
        return -1;
    }
    snprintf(g->jti, sizeof(g->jti), "%s", PQgetvalue(res, 0, 0));
    g->iat = atol(PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}

static int
auth_session_open_in(lc_db *db, const auth_store *st, const char *user_id,
                     const char *user_agent, const char *client_ip,
                     auth_grant *g, lc_db_error *err)
{
    const char *params[3] = {user_id, user_agent, client_ip};
    PGresult *res;

    snprintf(g->user_id, sizeof(g->user_id), "%s", user_id);
    res = lc_db_exec(db, st->session_insert, params, err);
    if (res == NULL) {
        return -1;
    }
    snprintf(g->session_id, sizeof(g->session_id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (lc_token_new(g->refresh) != 0) {
        lc_db_error_set(err, LC_DB_BUG, "no entropy");
        return -1;
    }
    return auth_refresh_row(db, st, g->session_id, g->refresh, NULL, NULL, g,
                            err);
}

int
auth_session_open(lc_db *db, const char *user_id, const char *user_agent,
                  const char *client_ip, auth_grant *g, lc_db_error *err)
{
    return auth_session_open_in(db, &auth_tenant_store, user_id, user_agent,
                                client_ip, g, err);
}

cJSON *
auth_grant_json(const users_app *app, const char *tenant_id,
                const auth_grant *g)
{
    char *access = keys_sign_access(app, tenant_id, g->user_id, g->role,
                                    g->session_id, g->jti, g->iat);
    cJSON *o;

    if (access == NULL) {
        return NULL;
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "access_token", access);
    cJSON_AddStringToObject(o, "token_type", "Bearer");
    cJSON_AddNumberToObject(o, "expires_in", USERS_ACCESS_TTL_S);
    if (g->refresh[0] != '\0') {
        cJSON_AddStringToObject(o, "refresh_token", g->refresh);
    }
    free(access);
    return o;
}

static void
auth_respond_grant(lc_req *req, int status, const char *tenant_id,
                   const auth_grant *g)
{
    cJSON *o = auth_grant_json(lc_req_app(req), tenant_id, g);

    if (o == NULL) {
        lc_req_error(req, 500, "internal", "internal error");
        return;
    }
    lc_req_respond_json(req, status, o);
    lc_req_header(req, "cache-control", "no-store");
}

/* One session.revoked event per session a revocation ended. */
static int
auth_event_revoked(lc_db *db, const char *session_id, const char *user_id,
                   const char *reason, const char *actor_id, int64_t *seq,
                   lc_db_error *err)
{
    const users_event ev = {.type = "session.revoked",
                            .subject_id = session_id,
                            .actor_id = actor_id};
    cJSON *data = cJSON_CreateObject();

    cJSON_AddStringToObject(data, "session_id", session_id);
    cJSON_AddStringToObject(data, "user_id", user_id);
    cJSON_AddStringToObject(data, "reason", reason);
    return users_event_add(db, &ev, data, seq, err);
}

int
auth_revoke_user_sessions(lc_db *db, const char *user_id,
                          const char *except_session, const char *reason,
                          const char *actor_id, int64_t *seq, lc_db_error *err)
{
    const char *params[3] = {user_id, except_session, reason};
    PGresult *res = lc_db_exec(db, &auth_user_sessions_revoke, params, err);
    int i, rv = 0;

    if (res == NULL) {
        return -1;
    }
    for (i = 0; i < PQntuples(res) && rv == 0; i++) {
        rv = auth_event_revoked(db, PQgetvalue(res, i, 0), user_id, reason,
                                actor_id, seq, err);
    }
    PQclear(res);
    return rv;
}

/* --- login -------------------------------------------------------------- */

typedef struct {
    lc_req_fail fail;
    bool platform;
    const char *email;
    char id[37], role[16];
    char hash[LC_PASSWORD_HASH_MAX];
    char stored_email[USERS_EMAIL_MAX + 1];
    int found;
    bool tenant_active; /* false: suspended (never for platform admins) */
} auth_lookup_ctx;

static int
auth_lookup_tx(lc_db *db, void *arg, lc_db_error *err)
{
    auth_lookup_ctx *c = arg;
    const char *params[1] = {c->email};
    PGresult *res =
        lc_db_exec(db, c->platform ? &auth_admin_by_email : &auth_user_by_email,
                   params, err);

    if (res == NULL) {
        return -1;
    }
    c->found = PQntuples(res) == 1 && !PQgetisnull(res, 0, 2);
    if (c->found) {
        snprintf(c->id, sizeof(c->id), "%s", PQgetvalue(res, 0, 0));
        snprintf(c->role, sizeof(c->role), "%s", PQgetvalue(res, 0, 1));
        snprintf(c->hash, sizeof(c->hash), "%s", PQgetvalue(res, 0, 2));
        c->tenant_active = PQgetvalue(res, 0, 3)[0] == 't';
        snprintf(c->stored_email, sizeof(c->stored_email), "%s",
                 PQgetvalue(res, 0, 4));
    }
    PQclear(res);
    return 0;
}

typedef struct {
    lc_req_fail fail;
    bool platform;
    const char *user_id, *new_hash, *user_agent, *client_ip;
    auth_grant *grant;
} auth_login_ctx;

static int
auth_login_tx(lc_db *db, void *arg, lc_db_error *err)
{
    auth_login_ctx *c = arg;
    const char *params[2] = {c->user_id, c->new_hash};
    PGresult *res;

    if (c->new_hash != NULL) {
        res =
            lc_db_exec(db, c->platform ? &auth_admin_rehash : &auth_user_rehash,
                       params, err);
        if (res == NULL) {
            return -1;
        }
        PQclear(res);
    }
    return auth_session_open_in(
        db, c->platform ? &auth_platform_store : &auth_tenant_store,
        c->user_id, c->user_agent, c->client_ip, c->grant, err);
}

/* --- login throttling (the file's header says how) --------------------- */

typedef struct {
    lc_req_fail fail;
    const users_app *app;
    const char *to, *slug;
} auth_alert_ctx;

static int
auth_alert_tx(lc_db *db, void *arg, lc_db_error *err)
{
    auth_alert_ctx *c = arg;
    char body[1024];

    snprintf(body, sizeof(body),
             "Hello,\n\nSomeone tried to sign in to your %s account on "
             "Lintel with a wrong password %ld times in a row.\n"
             "Further attempts now wait a little longer each time (at most "
             "%ld seconds); your password still works after that wait.\n\n"
             "If it was you, nothing needs doing. If it was not, your "
             "password has held; consider changing it to a longer one.\n",
             c->slug, c->app->login_max_failures, c->app->login_backoff_cap_s);
    return mail_enqueue(c->app, db, c->to, "Failed sign-ins to your Lintel "
                        "account", body, err);
}

/* The owner of an account whose back-off just began is told, once a
 * window; best effort: the login's own answer does not depend on it. */
static void
auth_alert_owner(lc_req *req, const char *subject, const char *to)
{
    users_app *app = lc_req_app(req);
    const lc_request *env = lc_req_envelope(req);
    auth_alert_ctx c = {.app = app, .to = to};
    long wait;

    if (env->tenant == NULL ||
        lc_throttle_hit(lc_req_cache(req), &app->throttles.login_alert,
                        subject, NULL, &wait) != LC_THROTTLE_ALLOW) {
        return;
    }
    c.slug = env->tenant->slug;
    if (lc_req_tx(req, lc_req_tenant_id(req), auth_alert_tx, &c) == 0) {
        mail_wake(app);
    }
}

/* Before the password is checked: 0, or -1 with the 429 answered.
 * *ip_over: the IP is past its limit (a wrong password then answers 429). */
static int
auth_throttle_before(lc_req *req, const char *acct, const char *ip,
                     bool *ip_over, long *ip_wait)
{
    const users_throttles *t = &((users_app *)lc_req_app(req))->throttles;
    lc_cache *cache = lc_req_cache(req);
    lc_throttle_verdict v;
    int64_t failed = 0;
    long wait = 0;

    *ip_over = false;
    v = lc_throttle_check(cache, &t->login_account, acct, NULL, &wait);
    if (v == LC_THROTTLE_UNKNOWN) {
        users_throttle_unknown(req, &t->login_account);
        return 0;
    }
    if (v == LC_THROTTLE_LIMITED) {
        users_too_many(req, wait,
                       "too many failed logins for this account; try again "
                       "after Retry-After seconds");
        return -1;
    }
    /* Counting mode, any member: is the IP over its limit at all? */
    if (ip == NULL ||
        lc_throttle_check(cache, &t->login_ip, ip, NULL, ip_wait) !=
        LC_THROTTLE_LIMITED) {
        return 0;
    }
    *ip_over = true;
    if (lc_throttle_count(cache, &t->login_account, acct, &failed) ==
            LC_CACHE_OK &&
        failed > 0) {
        users_too_many(req, *ip_wait,
                       "too many failed logins from this address; try again "
                       "after Retry-After seconds");
        return -1;
    }
    return 0;
}

/* After a wrong password: counts it for the account and the IP; alerts the
 * owner when the account's back-off begins. */
static void
auth_throttle_failed(lc_req *req, const char *acct, const char *ip,
                     const char *owner_email)
{
    users_app *app = lc_req_app(req);
    lc_cache *cache = lc_req_cache(req);
    int64_t n = 0;

    if (lc_throttle_record(cache, &app->throttles.login_account, acct, NULL,
                           &n) != LC_CACHE_OK) {
        return;
    }
    if (ip != NULL) {
        lc_throttle_record(cache, &app->throttles.login_ip, ip, acct, NULL);
    }
    if (owner_email != NULL && n >= app->login_max_failures) {
        auth_alert_owner(req, acct, owner_email);
    }
}

static void
auth_login(lc_req *req)
{
    users_app *app = lc_req_app(req);
    const lc_request *env = lc_req_envelope(req);
    const char *tenant_id = lc_req_tenant_id(req), *password;
    auth_lookup_ctx look = {0};
    auth_login_ctx login = {0};
    auth_grant grant = {0};
    char acct[128];
    char new_hash[LC_PASSWORD_HASH_MAX];
    /* Any text: a login tells nothing about the password policy. */
    static const lc_body_field fields[] = {
        {.name = "email",
         .kind = LC_BODY_TEXT,
         .required = true,
         .max = USERS_EMAIL_MAX},
        {.name = "password",
         .kind = LC_BODY_TEXT,
         .required = true,
         .max = LC_PASSWORD_MAX_CHARS},
    };
    lc_body_value v[2];
    const char *ip = users_client_ip(req);
    bool ip_over;
    long ip_wait = 0;
    int ok;

    if (lc_body_read(req, fields, 2, v) != 0) {
        return;
    }
    look.email = v[0].text;
    password = v[1].text;
    look.platform = tenant_id == NULL;
    users_email_key(tenant_id ? tenant_id : "platform", look.email, acct,
                    sizeof(acct));
    if (auth_throttle_before(req, acct, ip, &ip_over, &ip_wait) != 0) {
        return;
    }
    if (lc_req_tx(req, tenant_id, auth_lookup_tx, &look) != 0) {
        return;
    }
    /* The password is checked outside any transaction: argon2 takes tens
     * of milliseconds, a connection should not wait on it. */
    if (look.found) {
        ok = lc_password_verify(look.hash, password) == 1;
    } else {
        lc_password_burn(&app->password, password);
        ok = 0;
    }
    if (!ok) {
        auth_throttle_failed(req, acct, ip,
                             look.found && !look.platform ? look.stored_email
                                                          : NULL);
        if (ip_over) {
            users_too_many(req, ip_wait,
                           "too many failed logins from this address; try "
                           "again after Retry-After seconds");
            return;
        }
        lc_req_error(req, 401, "invalid_credentials",
                     "the email or the password is wrong");
        return;
    }
    lc_throttle_clear(lc_req_cache(req), &app->throttles.login_account, acct);
    /* Defence in depth: the edge refuses a suspended tenant, but a request
     * that got past a stale cache must not get a session either. */
    if (!look.tenant_active) {
        lc_req_error(req, 403, "tenant_suspended", "the tenant is suspended");
        return;
    }

    login.platform = look.platform;
    login.user_id = look.id;
    login.user_agent = lc_envelope_header(env, "user-agent");
    login.client_ip = env->client_ip;
    login.grant = &grant;
    if (lc_password_needs_rehash(&app->password, look.hash) &&
        lc_password_hash(&app->password, password, new_hash,
                         sizeof(new_hash)) == 0) {
        login.new_hash = new_hash;
    }
    if (lc_req_tx(req, tenant_id, auth_login_tx, &login) != 0) {
        return;
    }
    snprintf(grant.role, sizeof(grant.role), "%s", look.role);
    auth_respond_grant(req, 200, tenant_id ? tenant_id : "", &grant);
}

/* --- refresh ------------------------------------------------------------ */

typedef struct {
    lc_req_fail fail;
    const auth_store *store;
    const char *token;
    long grace_s;
    bool reused;
    auth_grant grant;
    int64_t seq;
} auth_refresh_ctx;

static int
auth_refresh_tx(lc_db *db, void *arg, lc_db_error *err)
{
    auth_refresh_ctx *c = arg;
    char hash[LC_TOKEN_HASH_LEN + 1], id[37], salt[LC_TOKEN_LEN + 1];
    const char *params[3];
    PGresult *res, *child;
    bool used, expired, revoked, active, tenant_active;
    double age;

    c->reused = false;
    lc_token_hash(c->token, hash);
    params[0] = hash;
    res = lc_db_exec(db, c->store->refresh_lookup, params, err);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return lc_req_fail_tx(&c->fail, err, 401, "invalid_token",
                             "the refresh token is not valid");
    }
    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    snprintf(c->grant.session_id, sizeof(c->grant.session_id), "%s",
             PQgetvalue(res, 0, 1));
    used = PQgetvalue(res, 0, 2)[0] == 't';
    age = atof(PQgetvalue(res, 0, 3));
    expired = PQgetvalue(res, 0, 4)[0] == 't';
    revoked = PQgetvalue(res, 0, 5)[0] == 't';
    snprintf(c->grant.user_id, sizeof(c->grant.user_id), "%s",
             PQgetvalue(res, 0, 6));
    snprintf(c->grant.role, sizeof(c->grant.role), "%s", PQgetvalue(res, 0, 7));
    active = PQgetvalue(res, 0, 8)[0] == 't';
    tenant_active = PQgetvalue(res, 0, 9)[0] == 't';
    PQclear(res);
    if (revoked || expired || !active) {
        return lc_req_fail_tx(&c->fail, err, 401, "invalid_token",
                             "the refresh token is not valid");
    }
    /* Nothing is spent: the token works again once the tenant is back. */
    if (!tenant_active) {
        return lc_req_fail_tx(&c->fail, err, 403, "tenant_suspended",
                             "the tenant is suspended");
    }
    if (used) {
        params[0] = id;
        child = age <= (double)c->grace_s
                    ? lc_db_exec(db, c->store->refresh_child, params, err)
                    : NULL;
        if (age <= (double)c->grace_s && child == NULL) {
            return -1;
        }
        if (child != NULL && PQntuples(child) == 1) {
            /* Two tabs racing: the same child, the same access token. */
            lc_token_derive(c->token, PQgetvalue(child, 0, 0),
                            c->grant.refresh);
            snprintf(c->grant.jti, sizeof(c->grant.jti), "%s",
                     PQgetvalue(child, 0, 1));
            c->grant.iat = atol(PQgetvalue(child, 0, 2));
            PQclear(child);
            return 0;
        }
        PQclear(child);
        /* A spent token presented again was copied: end the session, and
         * commit that, whoever holds the token now. */
        params[0] = c->grant.session_id;
        params[1] = c->grant.user_id;
        params[2] = "refresh_token_reuse";
        res = lc_db_exec(db, c->store->session_revoke, params, err);
        if (res == NULL) {
            return -1;
        }
        PQclear(res);
        c->reused = true;
        if (!c->store->events) {
            return 0;
        }
        return auth_event_revoked(db, c->grant.session_id, c->grant.user_id,
                                  "refresh_token_reuse", NULL, &c->seq, err);
    }
    params[0] = id;
    res = lc_db_exec(db, c->store->refresh_spend, params, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    if (lc_token_new(salt) != 0) {
        lc_db_error_set(err, LC_DB_BUG, "no entropy");
        return -1;
    }
    lc_token_derive(c->token, salt, c->grant.refresh);
    if (auth_refresh_row(db, c->store, c->grant.session_id, c->grant.refresh,
                         id, salt, &c->grant, err) != 0) {
        return -1;
    }
    params[0] = c->grant.session_id;
    res = lc_db_exec(db, c->store->session_touch, params, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}

static void
auth_refresh(lc_req *req)
{
    users_app *app = lc_req_app(req);
    auth_refresh_ctx c = {0};
    /* Any text: a malformed token is a 401 like any other bad one. */
    static const lc_body_field fields[] = {
        {.name = "refresh_token",
         .kind = LC_BODY_TEXT,
         .required = true,
         .max = 256},
    };
    lc_body_value v[1];

    /* On a tenant host a member's token; on the apex a platform admin's. */
    if (lc_body_read(req, fields, 1, v) != 0) {
        return;
    }
    c.store = auth_store_of(req);
    c.token = v[0].text;
    if (!lc_token_valid(c.token)) {
        lc_req_error(req, 401, "invalid_token",
                     "the refresh token is not valid");
        return;
    }
    c.grace_s = app->refresh_grace_s;
    if (lc_req_tx(req, lc_req_tenant_id(req), auth_refresh_tx, &c) != 0) {
        return;
    }
    users_events_announce(c.seq);
    if (c.reused) {
        if (lc_req_tenant_id(req) != NULL) {
            users_caller_stamp(req, lc_req_tenant_id(req), c.grant.user_id);
        }
        lc_log(LC_LOG_WARN, lc_req_id(req), lc_req_tenant_id(req),
               "refresh token reused: session %s revoked", c.grant.session_id);
        lc_req_error(req, 401, "invalid_token",
                     "the refresh token was already used; the session is "
                     "revoked");
        return;
    }
    auth_respond_grant(req, 200,
                       lc_req_tenant_id(req) ? lc_req_tenant_id(req) : "",
                       &c.grant);
}

/* --- logout and sessions ------------------------------------------------ */

typedef struct {
    lc_req_fail fail;
    const auth_store *store;
    const users_caller *caller;
    const char *session_id; /* one session, or NULL for all */
    const char *reason;
    const lc_page *page; /* the list's page */
    PGresult *res;
    int64_t seq;
} auth_sessions_ctx;

static int
auth_revoke_tx(lc_db *db, void *arg, lc_db_error *err)
{
    auth_sessions_ctx *c = arg;
    const char *params[3] = {c->session_id, c->caller->user_id, c->reason};
    PGresult *res;

    if (c->session_id == NULL && c->store->events) {
        return auth_revoke_user_sessions(db, c->caller->user_id, NULL,
                                         c->reason, c->caller->user_id,
                                         &c->seq, err);
    }
    if (c->session_id == NULL) {
        const char *all[3] = {c->caller->user_id, NULL, c->reason};

        res = lc_db_exec(db, c->store->sessions_revoke, all, err);
        if (res == NULL) {
            return -1;
        }
        PQclear(res);
        return 0;
    }
    res = lc_db_exec(db, c->store->session_revoke, params, err);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lc_req_fail_tx(&c->fail, err, 404, "not_found",
                             "no such session");
    }
    PQclear(res);
    if (!c->store->events) {
        return 0;
    }
    return auth_event_revoked(db, c->session_id, c->caller->user_id, c->reason,
                              c->caller->user_id, &c->seq, err);
}

/* Which sessions of the caller a revocation ends. */
typedef enum {
    AUTH_REVOKE_CURRENT, /* logout */
    AUTH_REVOKE_ALL,     /* logout-all */
    AUTH_REVOKE_ONE,     /* DELETE /api/auth/sessions/:id */
} auth_revoke_scope;

/* A platform admin's logout or logout-all, on the apex host: no caller
 * snapshot to fence, every platform request checks its session in the
 * database (lc_caller_platform_admin). */
static void
auth_revoke_platform(lc_req *req, auth_revoke_scope scope, const char *reason)
{
    const Lintel__V1__Principal *p = lc_req_envelope(req)->principal;
    users_caller caller = {0};
    auth_sessions_ctx c = {0};

    if (lc_caller_platform_admin(req) != 0) {
        return;
    }
    caller.user_id = p->user_id;
    caller.session_id = p->session_id;
    c.store = &auth_platform_store;
    c.caller = &caller;
    c.reason = reason;
    c.session_id = scope == AUTH_REVOKE_CURRENT ? p->session_id : NULL;
    if (lc_req_tx(req, NULL, auth_revoke_tx, &c) == 0) {
        lc_req_respond(req, 204, NULL, NULL, 0);
    }
}

static void
auth_revoke(lc_req *req, auth_revoke_scope scope, const char *reason)
{
    users_caller caller;
    auth_sessions_ctx c = {0};

    if (lc_req_tenant_id(req) == NULL && scope != AUTH_REVOKE_ONE) {
        auth_revoke_platform(req, scope, reason);
        return;
    }
    if (lc_caller_get(req, "viewer", &caller) != 0) {
        return;
    }
    c.store = &auth_tenant_store;
    c.caller = &caller;
    c.reason = reason;
    switch (scope) {
    case AUTH_REVOKE_CURRENT:
        c.session_id = caller.session_id;
        break;
    case AUTH_REVOKE_ALL:
        c.session_id = NULL;
        break;
    case AUTH_REVOKE_ONE:
        c.session_id = lc_req_param(req, "id");
        if (!lc_db_is_path_uuid(c.session_id)) {
            lc_req_error(req, 404, "not_found", "no such session");
            return;
        }
        break;
    }
    users_caller_fence(req, caller.tenant_id, caller.user_id);
    if (lc_req_tx(req, caller.tenant_id, auth_revoke_tx, &c) == 0) {
        users_events_announce(c.seq);
        lc_req_respond(req, 204, NULL, NULL, 0);
    }
    users_caller_stamp(req, caller.tenant_id, caller.user_id);
}

static int
auth_no_body(lc_req *req)
{
    if (lc_req_envelope(req)->body.len == 0) {
        return 0;
    }
    /* An empty object is fine too; anything in it is unknown. */
    return lc_body_read(req, NULL, 0, NULL);
}

static void
auth_logout(lc_req *req)
{
    if (auth_no_body(req) == 0) {
        auth_revoke(req, AUTH_REVOKE_CURRENT, "logout");
    }
}

static void
auth_logout_all(lc_req *req)
{
    if (auth_no_body(req) == 0) {
        auth_revoke(req, AUTH_REVOKE_ALL, "logout_all");
    }
}

static void
auth_session_delete(lc_req *req)
{
    auth_revoke(req, AUTH_REVOKE_ONE, "revoked_by_user");
}

static int
auth_sessions_tx(lc_db *db, void *arg, lc_db_error *err)
{
    auth_sessions_ctx *c = arg;
    char ttl[16], limit[16];
    const char *params[5] = {c->caller->user_id, ttl,
                             c->page->has_cursor ? c->page->after_key : NULL,
                             c->page->has_cursor ? c->page->after_id : NULL,
                             limit};

    snprintf(ttl, sizeof(ttl), "%d", USERS_REFRESH_TTL_S);
    snprintf(limit, sizeof(limit), "%d", c->page->limit + 1);
    PQclear(c->res);
    c->res = lc_db_exec(db, &auth_sessions_list, params, err);
    return c->res ? 0 : -1;
}

static void
auth_sessions(lc_req *req)
{
    static const char *const allowed[] = {"limit", "cursor", NULL};
    users_caller caller;
    auth_sessions_ctx c = {0};
    lc_page page;
    cJSON *data, *o;
    int i, n;

    if (lc_caller_get(req, "viewer", &caller) != 0 ||
        lc_page_parse(req, allowed, NULL, &page) != 0) {
        return;
    }
    c.caller = &caller;
    c.page = &page;
    if (lc_req_tx(req, caller.tenant_id, auth_sessions_tx, &c) != 0) {
        return;
    }
    n = PQntuples(c.res);
    data = cJSON_CreateArray();
    for (i = 0; i < n && i < page.limit; i++) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", PQgetvalue(c.res, i, 0));
        cJSON_AddStringToObject(o, "created_at", PQgetvalue(c.res, i, 1));
        cJSON_AddStringToObject(o, "last_used_at", PQgetvalue(c.res, i, 2));
        cJSON_AddStringToObject(o, "user_agent", PQgetvalue(c.res, i, 3));
        cJSON_AddStringToObject(o, "client_ip", PQgetvalue(c.res, i, 4));
        cJSON_AddBoolToObject(
            o, "current",
            strcmp(PQgetvalue(c.res, i, 0), caller.session_id) == 0);
        cJSON_AddItemToArray(data, o);
    }
    lc_req_respond_json(req, 200,
                        lc_page_json(&page, data,
                                     i > 0 ? PQgetvalue(c.res, i - 1, 5) : NULL,
                                     i > 0 ? PQgetvalue(c.res, i - 1, 0) : NULL,
                                     n > page.limit));
    PQclear(c.res);
}

int
auth_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"POST", "/api/auth/login", auth_login},
        {"POST", "/api/auth/refresh", auth_refresh},
        {"POST", "/api/auth/logout", auth_logout},
        {"POST", "/api/auth/logout-all", auth_logout_all},
        {"GET", "/api/auth/sessions", auth_sessions},
        {"DELETE", "/api/auth/sessions/:id", auth_session_delete},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
