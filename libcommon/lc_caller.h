/*
 * lc_caller: who is calling a tenant route, and may they. One policy for
 * every service (DESIGN §9): the edge proves who the caller is (a token
 * signed by users, for this tenant, not expired); what the caller may do
 * now is decided here from the CURRENT facts, never from the token's role:
 *
 *   - the tenant is active           (suspended: 403 tenant_suspended)
 *   - the member exists and is active (removed/deactivated: 401)
 *   - the token's session is not revoked (logout, logout-all, revoke: 401)
 *   - the stored role ranks at least the route's minimum (else 403)
 *
 * Where the facts come from, fastest first:
 *
 *   0. What this process read in the last LC_CALLER_LOCAL_TTL_MS (1 s)
 *      for this caller; in the users service, only since its last fence
 *      or stamp.
 *   1. Redis, one MGET: a snapshot per tenant
 *      ("lc:caller:t:<tenant>") and per member ("lc:caller:u:<tenant>:
 *      <user>"), written only by the users service, from the database.
 *   2. When a snapshot is missing or fenced, or Redis is down: the
 *      service's fetch function (lc_caller_configure): users reads the
 *      database itself; every other service calls users.GetCaller
 *      (lc_caller_fetch_rpc), which answers from the database and writes
 *      the snapshots back to Redis.
 *   3. Neither: 503 auth_unavailable with Retry-After. Never the token.
 *
 * How a change reaches every service within 5 seconds. In the database
 * every change that matters to a caller (a role or status change, a session
 * revoked, a tenant's status) bumps a version in the same transaction
 * (triggers, migrations/users/0005_caller_version.sql). users, around each
 * such change:
 *   - before the transaction, FENCES the snapshot (lc_caller_fence): the key
 *     then says "ask users", so readers take path 2, which reads the
 *     database and is right whatever the transaction does;
 *   - after the commit, STAMPS it (lc_caller_store, LC_CALLER_STAMP): the
 *     new facts with their version replace the fence.
 * A write of facts is a compare-and-set in one Lua script: a snapshot of a
 * lower version never replaces a higher one, and a FILL (the write-back of
 * path 2, from a read that may predate the commit) never replaces a fence.
 * So a slow writer cannot bring an old snapshot back. If the stamp is lost
 * (Redis blip after the commit, users killed), the fence stays until it
 * expires, which is after the transaction's own deadline; until then, and
 * after it (no key), readers ask users, which reads the database. What
 * remains: if users cannot reach Redis for the fence AND the stamp while
 * the readers can, the old snapshot stays until its TTL (60 s); a Redis
 * restart loses every snapshot, which only costs speed.
 *
 * Revoked sessions: a snapshot lists the member's sessions revoked within
 * the life of an access token (plus a minute of clock skew); an older
 * revocation cannot have a live token (a revoked session refreshes
 * nothing). Past LC_CALLER_MAX_REVOKED the snapshot says "ask" for
 * sessions it does not list, and users answers for the one session.
 */
#ifndef LC_CALLER_H
#define LC_CALLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lc_cache.h"
#include "lc_rpc_client.h"
#include "lc_rpc_server.h"

#define LC_CALLER_ROLE_MAX 16
#define LC_CALLER_UUID_LEN 36
#define LC_CALLER_MAX_REVOKED 32
/* How long a process answers a caller from the facts it read last, and
 * how many callers it keeps (see lc_caller.c). */
#define LC_CALLER_LOCAL_TTL_MS 1000
#define LC_CALLER_LOCAL_SLOTS 1024
/* Snapshots expire (a bound on memory and on the case above). */
#define LC_CALLER_SNAPSHOT_TTL_MS 60000
/* The longest encoded snapshot, with room to spare. */
#define LC_CALLER_SNAPSHOT_MAX 1600

/* The verified caller of a tenant route. */
typedef struct {
    const char *tenant_id;
    const char *tenant_slug;
    const char *user_id;
    const char *session_id;
    char role[LC_CALLER_ROLE_MAX]; /* as stored now */
} lc_caller;

/* owner 5, admin 4, manager 3, member 2, viewer 1; anything else 0
 * (platform_admin too: it is no tenant role, see lc_caller_platform_admin). */
int lc_caller_role_rank(const char *role);

/* --- the facts ----------------------------------------------------------- */

typedef struct {
    bool found;
    bool active; /* false: suspended */
    int64_t version;
} lc_caller_tenant;

typedef struct {
    bool found;
    bool active; /* false: deactivated */
    char role[LC_CALLER_ROLE_MAX];
    int64_t version;
    bool overflow; /* more revoked sessions than listed: ask for others */
    size_t nrevoked;
    char revoked[LC_CALLER_MAX_REVOKED][LC_CALLER_UUID_LEN + 1];
} lc_caller_member;

/* Snapshot text ("t1 <version> active", "u1 <version> active admin <sid>,…");
 * the encoders return the length, or -1 when `out` is too small; the
 * decoders 0, or -1 for anything malformed (a fence is malformed). */
int lc_caller_tenant_encode(const lc_caller_tenant *t, char *out, size_t len);
int lc_caller_tenant_decode(const char *s, lc_caller_tenant *t);
int lc_caller_member_encode(const lc_caller_member *m, char *out, size_t len);
int lc_caller_member_decode(const char *s, lc_caller_member *m);

typedef enum {
    LC_CALLER_ALLOW,
    LC_CALLER_SUSPENDED, /* 403 tenant_suspended */
    LC_CALLER_ENDED,     /* 401 invalid_token: member or session gone */
    LC_CALLER_FORBIDDEN, /* 403 forbidden: the role ranks too low */
    LC_CALLER_ASK,       /* the snapshot cannot tell: fetch the facts */
} lc_caller_verdict;

lc_caller_verdict lc_caller_decide(const lc_caller_tenant *t,
                                   const lc_caller_member *m,
                                   const char *session_id,
                                   const char *min_role);

/* --- the policy on a request --------------------------------------------- */

typedef enum {
    LC_CALLER_FETCH_OK,
    LC_CALLER_FETCH_UNAVAILABLE, /* the source is down: 503 */
} lc_caller_fetch_status;

/* Fills the facts of one caller from the source of truth; `m` must then
 * answer for `session_id` without LC_CALLER_ASK. `tenant_id` NULL: a
 * platform admin (`t` unused; `m` found and active while the admin exists,
 * and listing `session_id` as revoked when that session has ended). */
typedef lc_caller_fetch_status (*lc_caller_fetch_fn)(
    lc_req *req, const char *tenant_id, const char *user_id,
    const char *session_id, lc_caller_tenant *t, lc_caller_member *m,
    void *arg);

/* Once, at start, before any request: where path 2 goes. */
void lc_caller_configure(lc_caller_fetch_fn fetch, void *arg);

/*
 * For a tenant-host route: a tenant, a principal, and the current facts
 * allow it with at least `min_role`. Returns 0 with `out` filled, or -1
 * with the response set (404 on the apex, 401, 403, 503).
 */
int lc_caller_get(lc_req *req, const char *min_role, lc_caller *out);

/* The same from the process's recent facts only (path 0), for an inline
 * handler, which must not block: 0 and -1 as lc_caller_get, or 1 when
 * they cannot tell (the request goes on to a worker, nothing answered). */
int lc_caller_get_inline(lc_req *req, const char *min_role, lc_caller *out);

/* For an apex route: the platform scope and a platform_admin principal
 * (whose token users signs for the apex only) whose session is live, asked
 * of the source on every call (path 2, no snapshot: 503 when it cannot
 * answer, 401 when the session was revoked); -1 with the response set. */
int lc_caller_platform_admin(lc_req *req);

/* Path 2 for services other than users: users.GetCaller over `client`. */
typedef struct {
    lc_rpc_client *client;
    int timeout_ms;
} lc_caller_rpc;

lc_caller_fetch_status lc_caller_fetch_rpc(lc_req *req, const char *tenant_id,
                                           const char *user_id,
                                           const char *session_id,
                                           lc_caller_tenant *t,
                                           lc_caller_member *m, void *arg);

/* --- what the users service writes --------------------------------------- */

typedef enum {
    LC_CALLER_FILL,  /* a read's write-back: never over a fence or newer */
    LC_CALLER_STAMP, /* after a commit: over a fence, never over newer */
} lc_caller_write;

/* Before a transaction that changes the tenant's status (user_id NULL) or
 * a member: the snapshot says "ask" for `ttl_ms`. */
lc_cache_status lc_caller_fence(lc_cache *c, const char *tenant_id,
                                const char *user_id, int64_t ttl_ms);

/* Writes the snapshots of `t` and, when not NULL, of `m`. */
lc_cache_status lc_caller_store(lc_cache *c, lc_caller_write mode,
                                const char *tenant_id, const char *user_id,
                                const lc_caller_tenant *t,
                                const lc_caller_member *m);

#endif
