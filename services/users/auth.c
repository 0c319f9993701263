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
 * A browser (AUTH_CSRF_HEADER on its request) never sees a refresh token:
 * login, refresh and accepting an invitation set it as an HttpOnly,
 * SameSite=Strict cookie scoped to /api/auth (Secure unless the public URL
 * is plain http, as on localhost), refresh reads it from the cookie when
 * the body is empty, and logout clears it. The edge passes the Cookie
 * header to these routes only (lintel_pass_cookie).
 *
 * Login failures are throttled per account and per client IP in Redis with
 * exponential back-off and a cap; an unknown email costs the same argon2
 * time as a wrong password and gets the same answer.
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lc_log.h"
#include "lc_token.h"
#include "users.h"

/* The tenant's status is read, not filtered on: a suspended tenant is
 * told so, but only to whoever proves the password (login) or holds a
 * valid refresh token (refresh). */
static const lc_db_stmt auth_user_by_email = {
    "SELECT u.id, u.role, u.password_hash, t.status = 'active'"
    " FROM users.users u JOIN users.tenants t ON t.id = u.tenant_id"
    " WHERE lower(u.email) = lower($1) AND u.status = 'active'",
    1};

static const lc_db_stmt auth_admin_by_email = {
    "SELECT id, 'platform_admin', password_hash, true"
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

/* --- sessions and grants ------------------------------------------------ */

static int
auth_refresh_row(lc_db *db, const char *session_id, const char *token,
                 const char *parent_id, const char *salt, auth_grant *g,
                 lc_db_error *err)
{
    char hash[LC_TOKEN_HASH_LEN + 1], ttl[16];
    const char *params[5] = {session_id, hash, parent_id, salt, ttl};
    PGresult *res;

    lc_token_hash(token, hash);
    snprintf(ttl, sizeof(ttl), "%d", USERS_REFRESH_TTL_S);
    res = lc_db_exec(db, &auth_refresh_insert, params, err);
    if (res == NULL) {
        return -1;
    }
    snprintf(g->jti, sizeof(g->jti), "%s", PQgetvalue(res, 0, 0));
    g->iat = atol(PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}

int
auth_session_open(lc_db *db, const char *user_id, const char *user_agent,
                  const char *client_ip, auth_grant *g, lc_db_error *err)
{
    const char *params[3] = {user_id, user_agent, client_ip};
    PGresult *res;

    snprintf(g->user_id, sizeof(g->user_id), "%s", user_id);
    res = lc_db_exec(db, &auth_session_insert, params, err);
    if (res == NULL) {
        return -1;
    }
    snprintf(g->session_id, sizeof(g->session_id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (lc_token_new(g->refresh) != 0) {
        lc_db_error_set(err, LC_DB_BUG, "no entropy");
        return -1;
    }
    return auth_refresh_row(db, g->session_id, g->refresh, NULL, NULL, g, err);
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

static bool
auth_is_browser(lc_req *req)
{
    const char *v = lc_envelope_header(lc_req_envelope(req), AUTH_CSRF_HEADER);

    return v != NULL && v[0] != '\0';
}

/* Set-Cookie for the refresh token `token`, or its removal (NULL). */
static void
auth_cookie_set(lc_req *req, const char *token)
{
    const users_app *app = lc_req_app(req);
    bool secure = strncmp(app->public_url, "http://", 7) != 0;
    char cookie[256];

    snprintf(cookie, sizeof(cookie),
             AUTH_REFRESH_COOKIE "=%s; Path=/api/auth; Max-Age=%d; HttpOnly;"
                                 " SameSite=Strict%s",
             token ? token : "", token ? USERS_REFRESH_TTL_S : 0,
             secure ? "; Secure" : "");
    lc_req_header(req, "set-cookie", cookie);
}

/* The refresh token of the Cookie header; NULL when there is none. */
static const char *
auth_cookie_token(lc_req *req, char *out, size_t outsz)
{
    const char *c = lc_envelope_header(lc_req_envelope(req), "cookie");
    const char *name = AUTH_REFRESH_COOKIE "=";
    size_t nlen = strlen(name), n;

    while (c != NULL && *c != '\0') {
        while (*c == ' ' || *c == ';') {
            c++;
        }
        n = strcspn(c, ";");
        if (n > nlen && strncmp(c, name, nlen) == 0 && n - nlen < outsz) {
            memcpy(out, c + nlen, n - nlen);
            out[n - nlen] = '\0';
            return out;
        }
        c += n;
    }
    return NULL;
}

void
auth_grant_respond(lc_req *req, int status, cJSON *o)
{
    cJSON *refresh = cJSON_GetObjectItemCaseSensitive(o, "refresh_token");

    if (auth_is_browser(req) && cJSON_IsString(refresh)) {
        auth_cookie_set(req, refresh->valuestring);
        cJSON_DeleteItemFromObjectCaseSensitive(o, "refresh_token");
    }
    lc_req_respond_json(req, status, o);
    lc_req_header(req, "cache-control", "no-store");
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
    auth_grant_respond(req, status, o);
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

/* --- login throttling --------------------------------------------------- */

/* Redis keys of one throttled subject: a failure counter and the time the
 * current back-off ends. Losing them (Redis down) only loses throttling. */
typedef struct {
    char count[160];
    char until[160];
    long max;
} auth_throttle;

static void
auth_throttle_keys(auth_throttle *t, const char *kind, const char *subject,
                   long max)
{
    snprintf(t->count, sizeof(t->count), "users:login:v1:%s:%s:n", kind,
             subject);
    snprintf(t->until, sizeof(t->until), "users:login:v1:%s:%s:until", kind,
             subject);
    t->max = max;
}

/* Seconds the subject must still wait, 0 when it may try. */
static long
auth_throttle_wait(lc_cache *cache, const auth_throttle *t)
{
    char *val = NULL;
    size_t len;
    long until, now = (long)time(NULL);

    if (lc_cache_get(cache, t->until, &val, &len) != LC_CACHE_OK) {
        return 0;
    }
    until = atol(val);
    free(val);
    return until > now ? until - now : 0;
}

/* Counts a failure; from the max-th on, backs off 2, 4, 8 … s up to cap. */
static void
auth_throttle_fail(lc_cache *cache, const auth_throttle *t, long cap)
{
    int64_t n = 0;
    long backoff, over;
    char val[32];

    if (lc_cache_incr(cache, t->count, (int)(cap > 3600 ? cap : 3600), &n) !=
            LC_CACHE_OK ||
        n < t->max) {
        return;
    }
    over = (long)(n - t->max);
    backoff = over >= 20 ? cap : 2L << over;
    if (backoff > cap) {
        backoff = cap;
    }
    snprintf(val, sizeof(val), "%ld", (long)time(NULL) + backoff);
    lc_cache_set(cache, t->until, val, strlen(val), (int)backoff);
}

/* --- login -------------------------------------------------------------- */

typedef struct {
    lc_req_fail fail;
    bool platform;
    const char *email;
    char id[37], role[16];
    char hash[LC_PASSWORD_HASH_MAX];
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
    if (c->platform) {
        return 0;
    }
    return auth_session_open(db, c->user_id, c->user_agent, c->client_ip,
                             c->grant, err);
}

static void
auth_uuid_v4(char *out)
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1) {
        memset(b, 0, sizeof(b));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}

static void
auth_too_many(lc_req *req, long wait)
{
    char secs[24];

    snprintf(secs, sizeof(secs), "%ld", wait);
    lc_req_error(req, 429, "rate_limited",
                 "too many failed logins; try again later");
    lc_req_header(req, "retry-after", secs);
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
    auth_throttle acct, ip;
    char email_lower[USERS_EMAIL_MAX + 1], email_hash[LC_TOKEN_HASH_LEN + 1];
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
    long wait_acct, wait_ip;
    size_t i;
    int ok;

    if (lc_body_read(req, fields, 2, v) != 0) {
        return;
    }
    look.email = v[0].text;
    password = v[1].text;
    look.platform = tenant_id == NULL;
    for (i = 0; look.email[i] != '\0' && i < USERS_EMAIL_MAX; i++) {
        email_lower[i] = (char)((look.email[i] >= 'A' && look.email[i] <= 'Z')
                                    ? look.email[i] + 32
                                    : look.email[i]);
    }
    email_lower[i] = '\0';
    lc_token_hash(email_lower, email_hash);
    {
        char subject[128];

        snprintf(subject, sizeof(subject), "%s:%s",
                 tenant_id ? tenant_id : "platform", email_hash);
        auth_throttle_keys(&acct, "acct", subject, app->login_max_failures);
        auth_throttle_keys(&ip, "ip",
                           env->client_ip[0] ? env->client_ip : "unknown",
                           app->login_ip_max_failures);
    }
    wait_acct = auth_throttle_wait(lc_req_cache(req), &acct);
    wait_ip = auth_throttle_wait(lc_req_cache(req), &ip);
    if (wait_acct > 0 || wait_ip > 0) {
        auth_too_many(req, wait_acct > wait_ip ? wait_acct : wait_ip);
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
        auth_throttle_fail(lc_req_cache(req), &acct, app->login_backoff_cap_s);
        auth_throttle_fail(lc_req_cache(req), &ip, app->login_backoff_cap_s);
        lc_req_error(req, 401, "invalid_credentials",
                     "the email or the password is wrong");
        return;
    }
    lc_cache_del(lc_req_cache(req), acct.count);
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
    if (look.platform) {
        /* Platform admins get an access token only: no tenant to keep a
         * session in; they sign in again after 15 minutes. */
        snprintf(grant.user_id, sizeof(grant.user_id), "%s", look.id);
        auth_uuid_v4(grant.session_id);
        auth_uuid_v4(grant.jti);
        grant.iat = (long)time(NULL);
    }
    auth_respond_grant(req, 200, tenant_id ? tenant_id : "", &grant);
}

/* --- refresh ------------------------------------------------------------ */

typedef struct {
    lc_req_fail fail;
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
    res = lc_db_exec(db, &auth_refresh_lookup, params, err);
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
                    ? lc_db_exec(db, &auth_refresh_child, params, err)
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
        res = lc_db_exec(db, &auth_session_revoke, params, err);
        if (res == NULL) {
            return -1;
        }
        PQclear(res);
        c->reused = true;
        return auth_event_revoked(db, c->grant.session_id, c->grant.user_id,
                                  "refresh_token_reuse", NULL, &c->seq, err);
    }
    params[0] = id;
    res = lc_db_exec(db, &auth_refresh_spend, params, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    if (lc_token_new(salt) != 0) {
        lc_db_error_set(err, LC_DB_BUG, "no entropy");
        return -1;
    }
    lc_token_derive(c->token, salt, c->grant.refresh);
    if (auth_refresh_row(db, c->grant.session_id, c->grant.refresh, id, salt,
                         &c->grant, err) != 0) {
        return -1;
    }
    params[0] = c->grant.session_id;
    res = lc_db_exec(db, &auth_session_touch, params, err);
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
    char cookie[128];

    if (users_scope(req, true) != 0) {
        return;
    }
    if (lc_req_envelope(req)->body.len == 0) {
        /* The browser's way: the cookie, which only a request carrying
         * the CSRF header may spend. */
        if (!auth_is_browser(req)) {
            lc_req_error(req, 403, "forbidden",
                         "a refresh by cookie needs the " AUTH_CSRF_HEADER
                         " header");
            return;
        }
        c.token = auth_cookie_token(req, cookie, sizeof(cookie));
        if (c.token == NULL) {
            lc_req_error(req, 401, "invalid_token", "no refresh token");
            return;
        }
    } else if (lc_body_read(req, fields, 1, v) != 0) {
        return;
    } else {
        c.token = v[0].text;
    }
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
        users_caller_stamp(req, lc_req_tenant_id(req), c.grant.user_id);
        lc_log(LC_LOG_WARN, lc_req_id(req), lc_req_tenant_id(req),
               "refresh token reused: session %s revoked", c.grant.session_id);
        lc_req_error(req, 401, "invalid_token",
                     "the refresh token was already used; the session is "
                     "revoked");
        return;
    }
    auth_respond_grant(req, 200, lc_req_tenant_id(req), &c.grant);
}

/* --- logout and sessions ------------------------------------------------ */

typedef struct {
    lc_req_fail fail;
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

    if (c->session_id == NULL) {
        return auth_revoke_user_sessions(db, c->caller->user_id, NULL,
                                         c->reason, c->caller->user_id,
                                         &c->seq, err);
    }
    res = lc_db_exec(db, &auth_session_revoke, params, err);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lc_req_fail_tx(&c->fail, err, 404, "not_found",
                             "no such session");
    }
    PQclear(res);
    return auth_event_revoked(db, c->session_id, c->caller->user_id, c->reason,
                              c->caller->user_id, &c->seq, err);
}

/* Which sessions of the caller a revocation ends. */
typedef enum {
    AUTH_REVOKE_CURRENT, /* logout */
    AUTH_REVOKE_ALL,     /* logout-all */
    AUTH_REVOKE_ONE,     /* DELETE /api/auth/sessions/:id */
} auth_revoke_scope;

static void
auth_revoke(lc_req *req, auth_revoke_scope scope, const char *reason)
{
    users_caller caller;
    auth_sessions_ctx c = {0};

    if (lc_caller_get(req, "viewer", &caller) != 0) {
        return;
    }
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
        if (!lc_db_is_uuid(c.session_id)) {
            lc_req_error(req, 404, "not_found", "no such session");
            return;
        }
        break;
    }
    users_caller_fence(req, caller.tenant_id, caller.user_id);
    if (lc_req_tx(req, caller.tenant_id, auth_revoke_tx, &c) == 0) {
        users_events_announce(c.seq);
        lc_req_respond(req, 204, NULL, NULL, 0);
        if (scope != AUTH_REVOKE_ONE && auth_is_browser(req)) {
            auth_cookie_set(req, NULL);
        }
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
