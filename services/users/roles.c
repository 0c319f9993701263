/*
 * roles.c: the users service's side of the caller policy (lc_caller.h).
 * users is the source of truth of a caller's facts: it reads them from its
 * database when a snapshot is missing (for its own routes, and for the
 * other services through users.GetCaller), and it fences and stamps the
 * snapshots in Redis around every change of a role, a status or a session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_clock.h"
#include "lc_log.h"
#include "lintel/v1/users.pb-c.h"
#include "users.h"

/* A revocation older than an access token's life (plus a minute of clock
 * skew) has no live token left to refuse. */
#define USERS_REVOKED_WINDOW_S (USERS_ACCESS_TTL_S + 60)
/* Room for one more than a snapshot lists: then it says "ask". */
#define USERS_REVOKED_LIMIT 33
/* A fence outlives the transaction it covers by this much. */
#define USERS_FENCE_SLACK_MS 5000

#define USERS_STR_(x) #x
#define USERS_STR(x) USERS_STR_(x)

/* One round trip: the tenant, the member ($1, may be NULL), whether the
 * session $2 (may be NULL) is live, and the recent revocations. */
static const lc_db_stmt users_caller_facts = {
    "SELECT t.status, t.caller_version, u.status, u.role, u.caller_version,"
    " EXISTS (SELECT 1 FROM users.sessions s WHERE s.id = $2::uuid"
    "         AND s.user_id = $1::uuid AND s.revoked_at IS NULL),"
    " (SELECT string_agg(r.id::text, ',') FROM"
    "   (SELECT s.id FROM users.sessions s WHERE s.user_id = $1::uuid"
    "     AND s.revoked_at > now() - make_interval(secs => "
    USERS_STR(USERS_REVOKED_WINDOW_S) ")"
    "    ORDER BY s.revoked_at DESC LIMIT " USERS_STR(USERS_REVOKED_LIMIT)
    "   ) r)"
    " FROM users.tenants t"
    " LEFT JOIN users.users u ON u.tenant_id = t.id AND u.id = $1::uuid"
    " WHERE t.id = current_setting('app.tenant_id')::uuid",
    2};

/* A platform admin (no tenant): whether they exist, and whether session
 * $2 is one of theirs and live. */
static const lc_db_stmt users_platform_caller_facts = {
    "SELECT EXISTS (SELECT 1 FROM users.platform_admins WHERE id = $1::uuid),"
    " EXISTS (SELECT 1 FROM users.platform_sessions s WHERE s.id = $2::uuid"
    "         AND s.admin_id = $1::uuid AND s.revoked_at IS NULL)",
    2};

/* The facts as a snapshot would hold them, and whether the session lives. */
typedef struct {
    lc_caller_tenant tenant;
    lc_caller_member member;
    bool session_live;
} users_caller_facts_row;

static void
users_caller_revoked(const char *list, lc_caller_member *m)
{
    char buf[USERS_REVOKED_LIMIT * (LC_CALLER_UUID_LEN + 1) + 1];
    char *sid, *save = NULL;

    snprintf(buf, sizeof(buf), "%s", list);
    for (sid = strtok_r(buf, ",", &save); sid != NULL;
         sid = strtok_r(NULL, ",", &save)) {
        if (m->nrevoked == LC_CALLER_MAX_REVOKED) {
            m->overflow = true;
            return;
        }
        snprintf(m->revoked[m->nrevoked++], sizeof(m->revoked[0]), "%s", sid);
    }
}

/* Reads the facts of a tenant and member; -1 when the database fails. */
static int
users_caller_read(lc_req *req, const char *tenant_id, const char *user_id,
                  const char *session_id, users_caller_facts_row *f)
{
    const char *params[2] = {user_id, session_id};
    lc_db_error err;
    PGresult *res;

    memset(f, 0, sizeof(*f));
    res = lc_db_tenant_read(lc_req_db(req), tenant_id, lc_req_deadline_ms(req),
                            &users_caller_facts, params, &err);
    if (res == NULL) {
        lc_log(LC_LOG_WARN, lc_req_id(req), tenant_id,
               "caller facts: %s", err.message);
        return -1;
    }
    if (PQntuples(res) == 1) {
        f->tenant.found = true;
        f->tenant.active = strcmp(PQgetvalue(res, 0, 0), "active") == 0;
        f->tenant.version = atoll(PQgetvalue(res, 0, 1));
        if (!PQgetisnull(res, 0, 2)) {
            f->member.found = true;
            f->member.active = strcmp(PQgetvalue(res, 0, 2), "active") == 0;
            snprintf(f->member.role, sizeof(f->member.role), "%s",
                     PQgetvalue(res, 0, 3));
            f->member.version = atoll(PQgetvalue(res, 0, 4));
            users_caller_revoked(PQgetvalue(res, 0, 6), &f->member);
        }
        f->session_live = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
    }
    PQclear(res);
    return 0;
}

/* The member as it answers for one session: exact, never "ask". */
static void
users_caller_for_session(const users_caller_facts_row *f,
                         const char *session_id, lc_caller_member *m)
{
    *m = f->member;
    m->overflow = false;
    m->nrevoked = 0;
    if (!f->session_live) {
        snprintf(m->revoked[0], sizeof(m->revoked[0]), "%s", session_id);
        m->nrevoked = 1;
    }
}

/* A platform admin's facts (lc_caller_fetch_fn with no tenant). */
static lc_caller_fetch_status
users_platform_caller_fetch(lc_req *req, const char *user_id,
                            const char *session_id, lc_caller_tenant *t,
                            lc_caller_member *m)
{
    const char *params[2] = {user_id, session_id};
    lc_db_error err;
    PGresult *res;

    memset(t, 0, sizeof(*t));
    memset(m, 0, sizeof(*m));
    if (!lc_db_is_uuid(user_id) || !lc_db_is_uuid(session_id)) {
        return LC_CALLER_FETCH_OK; /* not found: the session has ended */
    }
    res = lc_db_tenant_read(lc_req_db(req), NULL, lc_req_deadline_ms(req),
                            &users_platform_caller_facts, params, &err);
    if (res == NULL) {
        lc_log(LC_LOG_WARN, lc_req_id(req), NULL, "platform caller facts: %s",
               err.message);
        return LC_CALLER_FETCH_UNAVAILABLE;
    }
    m->found = m->active = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    snprintf(m->role, sizeof(m->role), "platform_admin");
    if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
        snprintf(m->revoked[0], sizeof(m->revoked[0]), "%s", session_id);
        m->nrevoked = 1;
    }
    PQclear(res);
    return LC_CALLER_FETCH_OK;
}

/* lc_caller's path 2 inside users: the database, then the snapshot back. */
static lc_caller_fetch_status
users_caller_fetch(lc_req *req, const char *tenant_id, const char *user_id,
                   const char *session_id, lc_caller_tenant *t,
                   lc_caller_member *m, void *arg)
{
    users_caller_facts_row f;

    (void)arg;
    if (tenant_id == NULL) {
        return users_platform_caller_fetch(req, user_id, session_id, t, m);
    }
    if (users_caller_read(req, tenant_id, user_id, session_id, &f) != 0) {
        return LC_CALLER_FETCH_UNAVAILABLE;
    }
    if (f.tenant.found) {
        lc_caller_store(lc_req_cache(req), LC_CALLER_FILL, tenant_id, user_id,
                        &f.tenant, &f.member);
    }
    *t = f.tenant;
    users_caller_for_session(&f, session_id, m);
    return LC_CALLER_FETCH_OK;
}

void
users_caller_start(void)
{
    lc_caller_configure(users_caller_fetch, NULL);
}

void
users_caller_fence(lc_req *req, const char *tenant_id, const char *user_id)
{
    int64_t ttl = lc_req_deadline_ms(req) - lc_clock_mono_ms() +
                  USERS_FENCE_SLACK_MS;

    if (lc_caller_fence(lc_req_cache(req), tenant_id, user_id, ttl) !=
        LC_CACHE_OK) {
        lc_log(LC_LOG_WARN, lc_req_id(req), tenant_id,
               "caller snapshot: cannot fence %s", user_id ? user_id : "tenant");
    }
}

void
users_caller_stamp(lc_req *req, const char *tenant_id, const char *user_id)
{
    users_caller_facts_row f;

    if (users_caller_read(req, tenant_id, user_id, NULL, &f) != 0 ||
        !f.tenant.found) {
        return; /* the fence, if any, sends readers to the database */
    }
    if (lc_caller_store(lc_req_cache(req), LC_CALLER_STAMP, tenant_id, user_id,
                        &f.tenant, user_id ? &f.member : NULL) !=
        LC_CACHE_OK) {
        lc_log(LC_LOG_WARN, lc_req_id(req), tenant_id,
               "caller snapshot: cannot stamp %s", user_id ? user_id : "tenant");
    }
}

/* users.GetCaller: the facts for another service, from the database. */
static void
users_get_caller(lc_req *req)
{
    const Lintel__V1__Users__GetCallerRequest *in;
    Lintel__V1__Users__GetCallerResponse out =
        LINTEL__V1__USERS__GET_CALLER_RESPONSE__INIT;
    lc_caller_tenant t;
    lc_caller_member m;

    in = (const Lintel__V1__Users__GetCallerRequest *)lc_req_pb(
        req, &lintel__v1__users__get_caller_request__descriptor);
    if (in == NULL) {
        return;
    }
    /* tenant_id "": a platform admin's session (lc_caller_platform_admin). */
    if ((in->tenant_id[0] != '\0' && !lc_db_is_uuid(in->tenant_id)) ||
        !lc_db_is_uuid(in->user_id) || !lc_db_is_uuid(in->session_id)) {
        lc_req_error(req, 400, "validation_failed",
                     "tenant_id (or \"\"), user_id and session_id must be "
                     "uuids");
        return;
    }
    if (users_caller_fetch(req, in->tenant_id[0] ? in->tenant_id : NULL,
                           in->user_id, in->session_id, &t, &m,
                           NULL) != LC_CALLER_FETCH_OK) {
        lc_req_header(req, "retry-after", "1");
        lc_req_error(req, 503, "service_unavailable", "try again shortly");
        return;
    }
    out.tenant_found = t.found;
    out.tenant_active = t.active;
    out.tenant_version = t.version;
    out.user_found = m.found;
    out.user_active = m.active;
    out.role = m.role;
    out.user_version = m.version;
    out.session_live = m.nrevoked == 0;
    lc_req_respond_pb(req, &out.base);
}

int
roles_routes(lc_rpc_server *s)
{
    return lc_rpc_server_route(s, "RPC", "/rpc/users.GetCaller",
                               users_get_caller);
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
