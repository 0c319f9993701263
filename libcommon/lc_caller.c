/*
 * lc_caller.c: the caller policy (see lc_caller.h for what counts and how
 * a change reaches every service): the role ranking, the snapshot text,
 * the verdict, and the path from Redis to the fetch function to 503.
 */
#include "lc_caller.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_clock.h"
#include "lc_log.h"
#include "lintel/v1/users.pb-c.h"

/*
 * Compare-and-set of one snapshot. ARGV: mode (fence|fill|stamp), version,
 * value, ttl in ms. A fence replaces anything; a fill never replaces a
 * fence; neither a fill nor a stamp replaces a snapshot of a higher
 * version. Returns 1 when written, 0 when refused.
 */
static const char lc_caller_cas_script[] =
    "local cur = redis.call('GET', KEYS[1]) "
    "if ARGV[1] ~= 'fence' and cur then "
    "  if cur == 'fence' then "
    "    if ARGV[1] == 'fill' then return 0 end "
    "  else "
    "    local v = tonumber(string.match(cur, '^%a%d (%d+) ')) "
    "    if v and v > tonumber(ARGV[2]) then return 0 end "
    "  end "
    "end "
    "redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4]) "
    "return 1";

#define LC_CALLER_FENCE "fence"
#define LC_CALLER_KEY_MAX 96

static lc_caller_fetch_fn caller_fetch;
static void *caller_fetch_arg;

/*
 * The facts this process read last, per caller, for at most
 * LC_CALLER_LOCAL_TTL_MS: a request then costs no Redis round trip (five
 * system calls and a wake-up here), and an inline handler can decide
 * (lc_caller_get_inline). A change is seen by every service within that
 * time plus the stamp's (well inside the 5 s rule); in the process that
 * makes the change (users) at once, since its fences and stamps move the
 * generation every entry is checked against. Each slot has its own lock
 * (many readers at once).
 */
typedef struct {
    pthread_rwlock_t lock;
    bool used;
    char tenant_id[LC_CALLER_UUID_LEN + 1];
    char user_id[LC_CALLER_UUID_LEN + 1];
    int64_t at_ms;
    uint64_t generation;
    lc_caller_tenant t;
    lc_caller_member m;
} lc_caller_local;

static lc_caller_local caller_local[LC_CALLER_LOCAL_SLOTS];
static pthread_once_t caller_local_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t caller_generation;

static const char *const roles_by_rank[] = {"viewer", "member", "manager",
                                            "admin", "owner"};

int
lc_caller_role_rank(const char *role)
{
    size_t i;

    for (i = 0; role != NULL && i < 5; i++) {
        if (strcmp(role, roles_by_rank[i]) == 0) {
            return (int)i + 1;
        }
    }
    return 0;
}

/* --- snapshot text -------------------------------------------------------- */

int
lc_caller_tenant_encode(const lc_caller_tenant *t, char *out, size_t len)
{
    int n = snprintf(out, len, "t1 %lld %s", (long long)t->version,
                     !t->found   ? "absent"
                     : t->active ? "active"
                                 : "suspended");

    return n < 0 || (size_t)n >= len ? -1 : n;
}

/* The next space-separated word of *s, NUL-terminated in place. */
static char *
lc_caller_word(char **s)
{
    char *w = *s, *sp;

    if (w == NULL || *w == '\0') {
        return NULL;
    }
    sp = strchr(w, ' ');
    if (sp != NULL) {
        *sp = '\0';
        *s = sp + 1;
    } else {
        *s = w + strlen(w);
    }
    return w;
}

static int
lc_caller_version(const char *w, int64_t *v)
{
    char *end;
    long long n;

    if (w == NULL || *w < '0' || *w > '9') {
        return -1;
    }
    n = strtoll(w, &end, 10);
    if (*end != '\0' || n < 0) {
        return -1;
    }
    *v = (int64_t)n;
    return 0;
}

int
lc_caller_tenant_decode(const char *s, lc_caller_tenant *t)
{
    char buf[64], *p = buf, *first, *status;

    if (strlen(s) >= sizeof(buf)) {
        return -1;
    }
    strcpy(buf, s);
    memset(t, 0, sizeof(*t));
    first = lc_caller_word(&p);
    if (first == NULL || strcmp(first, "t1") != 0 ||
        lc_caller_version(lc_caller_word(&p), &t->version) != 0) {
        return -1;
    }
    status = lc_caller_word(&p);
    if (status == NULL || *p != '\0') {
        return -1;
    }
    if (strcmp(status, "absent") == 0) {
        return 0;
    }
    t->found = true;
    if (strcmp(status, "active") == 0) {
        t->active = true;
    } else if (strcmp(status, "suspended") != 0) {
        return -1;
    }
    return 0;
}

int
lc_caller_member_encode(const lc_caller_member *m, char *out, size_t len)
{
    size_t used, i;
    int n;

    n = snprintf(out, len, "u1 %lld %s %s %c ", (long long)m->version,
                 !m->found   ? "absent"
                 : m->active ? "active"
                             : "deactivated",
                 m->found ? m->role : "-", m->overflow ? '+' : '=');
    if (n < 0 || (size_t)n >= len) {
        return -1;
    }
    used = (size_t)n;
    for (i = 0; i < m->nrevoked; i++) {
        n = snprintf(out + used, len - used, "%s%s", i > 0 ? "," : "",
                     m->revoked[i]);
        if (n < 0 || (size_t)n >= len - used) {
            return -1;
        }
        used += (size_t)n;
    }
    if (m->nrevoked == 0) {
        if (used + 2 > len) {
            return -1;
        }
        out[used++] = '-';
        out[used] = '\0';
    }
    return (int)used;
}

static int
lc_caller_revoked_decode(char *list, lc_caller_member *m)
{
    char *sid, *save = NULL;

    if (strcmp(list, "-") == 0) {
        return 0;
    }
    for (sid = strtok_r(list, ",", &save); sid != NULL;
         sid = strtok_r(NULL, ",", &save)) {
        if (m->nrevoked == LC_CALLER_MAX_REVOKED || !lc_db_is_uuid(sid)) {
            return -1;
        }
        memcpy(m->revoked[m->nrevoked++], sid, LC_CALLER_UUID_LEN + 1);
    }
    return m->nrevoked > 0 ? 0 : -1;
}

int
lc_caller_member_decode(const char *s, lc_caller_member *m)
{
    char buf[LC_CALLER_SNAPSHOT_MAX], *p = buf, *first, *status, *role, *flag;
    char *list;

    if (strlen(s) >= sizeof(buf)) {
        return -1;
    }
    strcpy(buf, s);
    memset(m, 0, sizeof(*m));
    first = lc_caller_word(&p);
    if (first == NULL || strcmp(first, "u1") != 0 ||
        lc_caller_version(lc_caller_word(&p), &m->version) != 0) {
        return -1;
    }
    status = lc_caller_word(&p);
    role = lc_caller_word(&p);
    flag = lc_caller_word(&p);
    list = lc_caller_word(&p);
    if (list == NULL || *p != '\0' || strlen(flag) != 1 ||
        (flag[0] != '+' && flag[0] != '=')) {
        return -1;
    }
    m->overflow = flag[0] == '+';
    if (strcmp(status, "absent") == 0) {
        return strcmp(role, "-") == 0 ? lc_caller_revoked_decode(list, m) : -1;
    }
    m->found = true;
    if (strcmp(status, "active") == 0) {
        m->active = true;
    } else if (strcmp(status, "deactivated") != 0) {
        return -1;
    }
    if (lc_caller_role_rank(role) == 0) {
        return -1;
    }
    snprintf(m->role, sizeof(m->role), "%s", role);
    return lc_caller_revoked_decode(list, m);
}

/* --- the verdict ------------------------------------------------------------ */

lc_caller_verdict
lc_caller_decide(const lc_caller_tenant *t, const lc_caller_member *m,
                 const char *session_id, const char *min_role)
{
    size_t i;

    if (t->found && !t->active) {
        return LC_CALLER_SUSPENDED;
    }
    if (!t->found || !m->found || !m->active) {
        return LC_CALLER_ENDED;
    }
    for (i = 0; i < m->nrevoked; i++) {
        if (strcmp(m->revoked[i], session_id) == 0) {
            return LC_CALLER_ENDED;
        }
    }
    if (m->overflow) {
        return LC_CALLER_ASK;
    }
    /* An unknown min_role ranks 0 and would allow anyone: fail closed. */
    if (lc_caller_role_rank(min_role) == 0 ||
        lc_caller_role_rank(m->role) < lc_caller_role_rank(min_role)) {
        return LC_CALLER_FORBIDDEN;
    }
    return LC_CALLER_ALLOW;
}

/* --- on a request ----------------------------------------------------------- */

void
lc_caller_configure(lc_caller_fetch_fn fetch, void *arg)
{
    caller_fetch = fetch;
    caller_fetch_arg = arg;
}

static void
lc_caller_keys(const char *tenant_id, const char *user_id, char *tkey,
               char *ukey)
{
    snprintf(tkey, LC_CALLER_KEY_MAX, "lc:caller:t:%s", tenant_id);
    if (ukey != NULL) {
        snprintf(ukey, LC_CALLER_KEY_MAX, "lc:caller:u:%s:%s", tenant_id,
                 user_id);
    }
}

static void
lc_caller_local_init(void)
{
    size_t i;

    for (i = 0; i < LC_CALLER_LOCAL_SLOTS; i++) {
        pthread_rwlock_init(&caller_local[i].lock, NULL);
    }
}

/* The caller's slot, locked to read or to write. */
static lc_caller_local *
lc_caller_local_slot(const lc_caller *c, bool write)
{
    uint64_t h = 1469598103934665603ULL;
    lc_caller_local *e;
    const char *p;

    pthread_once(&caller_local_once, lc_caller_local_init);
    for (p = c->user_id; *p != '\0'; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    e = &caller_local[h % LC_CALLER_LOCAL_SLOTS];
    if (write) {
        pthread_rwlock_wrlock(&e->lock);
    } else {
        pthread_rwlock_rdlock(&e->lock);
    }
    return e;
}

/* The verdict of this process's recent facts, or LC_CALLER_ASK. */
static lc_caller_verdict
lc_caller_from_local(const lc_caller *c, const char *min_role,
                     lc_caller_member *m)
{
    lc_caller_local *e = lc_caller_local_slot(c, false);
    lc_caller_verdict v = LC_CALLER_ASK;

    if (e->used && strcmp(e->user_id, c->user_id) == 0 &&
        strcmp(e->tenant_id, c->tenant_id) == 0 &&
        e->generation == atomic_load(&caller_generation) &&
        lc_clock_mono_ms() - e->at_ms < LC_CALLER_LOCAL_TTL_MS) {
        v = lc_caller_decide(&e->t, &e->m, c->session_id, min_role);
        if (v != LC_CALLER_ASK) {
            *m = e->m;
        }
    }
    pthread_rwlock_unlock(&e->lock);
    return v;
}

static void
lc_caller_local_keep(const lc_caller *c, const lc_caller_tenant *t,
                     const lc_caller_member *m, uint64_t generation)
{
    lc_caller_local *e = lc_caller_local_slot(c, true);

    e->used = true;
    snprintf(e->tenant_id, sizeof(e->tenant_id), "%s", c->tenant_id);
    snprintf(e->user_id, sizeof(e->user_id), "%s", c->user_id);
    e->at_ms = lc_clock_mono_ms();
    e->generation = generation;
    e->t = *t;
    e->m = *m;
    pthread_rwlock_unlock(&e->lock);
}

/* The snapshots' verdict, or LC_CALLER_ASK when Redis cannot tell. */
static lc_caller_verdict
lc_caller_from_redis(lc_req *req, const lc_caller *c, const char *min_role,
                     lc_caller_member *m)
{
    char tkey[LC_CALLER_KEY_MAX], ukey[LC_CALLER_KEY_MAX], *vals[2];
    const char *keys[2] = {tkey, ukey};
    uint64_t generation = atomic_load(&caller_generation);
    lc_caller_verdict v = LC_CALLER_ASK;
    lc_caller_tenant t;

    lc_caller_keys(c->tenant_id, c->user_id, tkey, ukey);
    if (lc_cache_mget(lc_req_cache(req), keys, 2, vals) != LC_CACHE_OK) {
        return LC_CALLER_ASK;
    }
    if (vals[0] != NULL && vals[1] != NULL &&
        lc_caller_tenant_decode(vals[0], &t) == 0 &&
        lc_caller_member_decode(vals[1], m) == 0) {
        v = lc_caller_decide(&t, m, c->session_id, min_role);
        lc_caller_local_keep(c, &t, m, generation);
    }
    free(vals[0]);
    free(vals[1]);
    return v;
}

/* The source of truth's verdict; -1 with 503 set when it is down. */
static int
lc_caller_from_source(lc_req *req, const lc_caller *c, const char *min_role,
                      lc_caller_member *m, lc_caller_verdict *v)
{
    uint64_t generation = atomic_load(&caller_generation);
    lc_caller_tenant t;

    if (caller_fetch == NULL ||
        caller_fetch(req, c->tenant_id, c->user_id, c->session_id, &t, m,
                     caller_fetch_arg) != LC_CALLER_FETCH_OK) {
        lc_req_header(req, "retry-after", "1");
        lc_req_error(req, 503, "auth_unavailable",
                     "cannot check your access right now; retry shortly");
        return -1;
    }
    *v = lc_caller_decide(&t, m, c->session_id, min_role);
    lc_caller_local_keep(c, &t, m, generation);
    return 0;
}

/* The principal's ids, or -1 with 401/404 set. */
static int
lc_caller_principal(lc_req *req, lc_caller *out)
{
    const lc_request *env = lc_req_envelope(req);
    const Lintel__V1__Principal *p = env->principal;

    memset(out, 0, sizeof(*out));
    out->tenant_id = lc_req_tenant_id(req);
    if (out->tenant_id == NULL) {
        lc_req_error(req, 404, "not_found", "no such route");
        return -1;
    }
    out->tenant_slug = env->tenant != NULL ? env->tenant->slug : "";
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
    return 0;
}

/* Answers a verdict other than ALLOW; 0 for ALLOW (the role into out). */
static int
lc_caller_answer(lc_req *req, lc_caller_verdict v, const lc_caller_member *m,
                 lc_caller *out)
{
    switch (v) {
    case LC_CALLER_ALLOW:
        snprintf(out->role, sizeof(out->role), "%s", m->role);
        return 0;
    case LC_CALLER_SUSPENDED:
        lc_req_error(req, 403, "tenant_suspended", "the tenant is suspended");
        return -1;
    case LC_CALLER_ENDED:
        lc_req_error(req, 401, "invalid_token", "the session has ended");
        return -1;
    case LC_CALLER_FORBIDDEN:
        lc_req_error(req, 403, "forbidden", "your role may not do this");
        return -1;
    case LC_CALLER_ASK:
        break;
    }
    /* The source answered without settling the session: a bug there. */
    lc_req_error(req, 500, "internal", "internal error");
    return -1;
}

int
lc_caller_get_inline(lc_req *req, const char *min_role, lc_caller *out)
{
    lc_caller_member m;
    lc_caller_verdict v;

    if (lc_caller_principal(req, out) != 0) {
        return -1;
    }
    v = lc_caller_from_local(out, min_role, &m);
    return v == LC_CALLER_ASK ? 1 : lc_caller_answer(req, v, &m, out);
}

int
lc_caller_get(lc_req *req, const char *min_role, lc_caller *out)
{
    lc_caller_member m;
    lc_caller_verdict v;
    int rc = lc_caller_get_inline(req, min_role, out);

    if (rc != 1) {
        return rc;
    }
    v = lc_caller_from_redis(req, out, min_role, &m);
    if (v == LC_CALLER_ASK &&
        lc_caller_from_source(req, out, min_role, &m, &v) != 0) {
        return -1;
    }
    return lc_caller_answer(req, v, &m, out);
}

int
lc_caller_platform_admin(lc_req *req)
{
    const Lintel__V1__Principal *p = lc_req_envelope(req)->principal;
    lc_caller_tenant t;
    lc_caller_member m;

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
    /* The session, at the source every time: platform admins are few and
     * their requests rare, so no snapshot is kept for them. */
    if (caller_fetch == NULL ||
        caller_fetch(req, NULL, p->user_id, p->session_id, &t, &m,
                     caller_fetch_arg) != LC_CALLER_FETCH_OK) {
        lc_req_header(req, "retry-after", "1");
        lc_req_error(req, 503, "auth_unavailable",
                     "cannot check your access right now; retry shortly");
        return -1;
    }
    if (!m.found || !m.active || m.nrevoked > 0) {
        lc_req_error(req, 401, "invalid_token", "the session has ended");
        return -1;
    }
    return 0;
}

lc_caller_fetch_status
lc_caller_fetch_rpc(lc_req *req, const char *tenant_id, const char *user_id,
                    const char *session_id, lc_caller_tenant *t,
                    lc_caller_member *m, void *arg)
{
    const lc_caller_rpc *rpc = arg;
    Lintel__V1__Users__GetCallerRequest in =
        LINTEL__V1__USERS__GET_CALLER_REQUEST__INIT;
    Lintel__V1__Users__GetCallerResponse *out = NULL;
    int64_t deadline = lc_clock_mono_ms() + rpc->timeout_ms;
    lc_rpc_status st;
    int status = 0;

    if (deadline > lc_req_deadline_ms(req)) {
        deadline = lc_req_deadline_ms(req);
    }
    in.tenant_id = (char *)(tenant_id != NULL ? tenant_id : "");
    in.user_id = (char *)user_id;
    in.session_id = (char *)session_id;
    st = lc_rpc_call_method(
        rpc->client, "users.GetCaller", lc_req_id(req), tenant_id, &in.base,
        &lintel__v1__users__get_caller_response__descriptor, deadline,
        (ProtobufCMessage **)&out, &status);
    if (st != LC_RPC_OK) {
        lc_log(LC_LOG_WARN, lc_req_id(req), tenant_id,
               "users.GetCaller: %s (status %d)", lc_rpc_status_text(st),
               status);
        return LC_CALLER_FETCH_UNAVAILABLE;
    }
    memset(t, 0, sizeof(*t));
    memset(m, 0, sizeof(*m));
    t->found = out->tenant_found;
    t->active = out->tenant_active;
    t->version = out->tenant_version;
    m->found = out->user_found;
    m->active = out->user_active;
    m->version = out->user_version;
    snprintf(m->role, sizeof(m->role), "%s", out->role);
    if (!out->session_live) {
        snprintf(m->revoked[0], sizeof(m->revoked[0]), "%s", session_id);
        m->nrevoked = 1;
    }
    lc_envelope_free_message(&out->base);
    return LC_CALLER_FETCH_OK;
}

/* --- writes (users only) ------------------------------------------------------ */

static lc_cache_status
lc_caller_cas(lc_cache *c, const char *key, const char *mode, int64_t version,
              const char *value, int64_t ttl_ms)
{
    char v[24], ttl[24];
    const char *args[5] = {key, mode, v, value, ttl};
    int64_t written;

    snprintf(v, sizeof(v), "%lld", (long long)version);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
    return lc_cache_eval(c, lc_caller_cas_script, 1, args, 5, &written);
}

lc_cache_status
lc_caller_fence(lc_cache *c, const char *tenant_id, const char *user_id,
                int64_t ttl_ms)
{
    char key[LC_CALLER_KEY_MAX];

    atomic_fetch_add(&caller_generation, 1);
    if (user_id != NULL) {
        snprintf(key, sizeof(key), "lc:caller:u:%s:%s", tenant_id, user_id);
    } else {
        lc_caller_keys(tenant_id, NULL, key, NULL);
    }
    return lc_caller_cas(c, key, "fence", 0, LC_CALLER_FENCE, ttl_ms);
}

lc_cache_status
lc_caller_store(lc_cache *c, lc_caller_write mode, const char *tenant_id,
                const char *user_id, const lc_caller_tenant *t,
                const lc_caller_member *m)
{
    char tkey[LC_CALLER_KEY_MAX], ukey[LC_CALLER_KEY_MAX];
    char value[LC_CALLER_SNAPSHOT_MAX];
    const char *how = mode == LC_CALLER_STAMP ? "stamp" : "fill";
    lc_cache_status st;

    if (mode == LC_CALLER_STAMP) {
        atomic_fetch_add(&caller_generation, 1);
    }
    lc_caller_keys(tenant_id, user_id, tkey, ukey);
    if (lc_caller_tenant_encode(t, value, sizeof(value)) < 0) {
        return LC_CACHE_DOWN;
    }
    st = lc_caller_cas(c, tkey, how, t->version, value,
                       LC_CALLER_SNAPSHOT_TTL_MS);
    if (st != LC_CACHE_OK || m == NULL) {
        return st;
    }
    if (lc_caller_member_encode(m, value, sizeof(value)) < 0) {
        return LC_CACHE_DOWN;
    }
    return lc_caller_cas(c, ukey, how, m->version, value,
                         LC_CALLER_SNAPSHOT_TTL_MS);
}
