/*
 * The users service: the tenant registry, users and roles, sessions and
 * signing keys (DESIGN §2, §9). This header wires main.c to the resource
 * files and holds the few helpers they share: the caller and its role;
 * bodies are lc_body's and transactions lc_req_tx's.
 */
#ifndef USERS_H
#define USERS_H

#include <openssl/evp.h>
#include <stdbool.h>

#include "lc_body.h"
#include "lc_caller.h"
#include "lc_entitlement.h"
#include "lc_jobs.h"
#include "lc_outbox.h"
#include "lc_page.h"
#include "lc_password.h"
#include "lc_req_tx.h"
#include "lc_rpc_server.h"
#include "lc_throttle.h"

/* DESIGN §9: access tokens live 15 minutes, refresh tokens 7 days. */
#define USERS_ACCESS_TTL_S 900
#define USERS_REFRESH_TTL_S (7 * 24 * 3600)
#define USERS_INVITATION_TTL_S (72 * 3600)
#define USERS_RESET_TTL_S 3600

/* Field limits shared by handlers and the openapi schemas. */
#define USERS_EMAIL_MAX LC_BODY_EMAIL_MAX

/* A timestamptz column as RFC 3339 UTC, in SQL. */
#define USERS_RFC3339(col)                                                     \
    "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

typedef struct users_keys users_keys; /* keys.c */

/* The service's limits (throttle.c), from its configuration. */
typedef struct {
    lc_throttle_rule login_account;   /* failures of one account: back-off */
    lc_throttle_rule login_ip;        /* distinct failing accounts per IP */
    lc_throttle_rule login_alert;     /* one "under attack" mail a window */
    lc_throttle_rule password_change; /* wrong current passwords: back-off */
    lc_throttle_rule reset_account;   /* reset requests per address */
    lc_throttle_rule reset_ip;        /* reset requests per client IP */
    lc_throttle_rule signup_ip;       /* sign-ups per client IP */
    lc_throttle_rule invite_member;   /* invitations sent per member */
    lc_throttle_rule invite_resend;   /* resends of one invitation */
} users_throttles;

typedef struct {
    long tenant_cache_ttl_s;    /* a found tenant, in Redis */
    long tenant_negative_ttl_s; /* an unknown slug, in Redis */
    const char *jwt_keys_dir;   /* <kid>.pem files */
    const char *jwt_issuer;
    const char *jwt_audience;
    long refresh_grace_s;       /* a racing refresh gets the same pair */
    long login_max_failures;    /* per account, before back-off */
    long login_ip_max_failures; /* distinct failing accounts per client IP */
    long login_backoff_cap_s;   /* longest back-off */
    long login_window_s;        /* how long a failure counts */
    long reset_max_per_account; /* reset requests per address and hour */
    long reset_max_per_ip;      /* reset requests per client IP and hour */
    long signup_max_per_ip;     /* sign-ups per client IP and hour */
    long invite_max_per_member; /* invitations a member sends per hour */
    long invite_resend_interval_s; /* between two sends of one invitation */
    users_throttles throttles;
    const char *smtp_url;       /* smtp://host:port of the relay */
    const char *mail_from;
    const char *public_url; /* links in mail; {tenant} is the slug */
    lc_password_params password; /* argon2id parameters (OWASP) */
    users_keys *keys;
    lc_jobs_options jobs_options; /* LINTEL_JOBS_* */
    lc_jobs *jobs;                /* the runner: mail is its "mail.send" */
    lc_entitlement_client billing; /* plan limits on invitations */
} users_app;

/* --- roles.c: the caller policy's source of truth (lc_caller.h) ------- */

/* The ranking and the caller are the kit's (lc_caller). */
typedef lc_caller users_caller;

static inline int
users_role_rank(const char *role)
{
    return lc_caller_role_rank(role);
}

/* Sends lc_caller_get's misses to this service's database; at start. */
void users_caller_start(void);

/* Before a transaction that changes the tenant's status (user_id NULL) or
 * a member's role, status or sessions: readers ask the database until the
 * stamp. After its commit (or failure): the snapshot from the database. */
void users_caller_fence(lc_req *req, const char *tenant_id,
                        const char *user_id);
void users_caller_stamp(lc_req *req, const char *tenant_id,
                        const char *user_id);

/* users.GetCaller. */
int roles_routes(lc_rpc_server *s);

/* For anonymous routes: the tenant, or a 404 when on the wrong host
 * (`want_tenant`: tenant host only; otherwise apex only). */
int users_scope(lc_req *req, bool want_tenant);

/* --- throttle.c ------------------------------------------------------- */

/* The rules from the configuration; at start. */
void users_throttles_init(users_app *app);

/* 429 rate_limited with Retry-After. */
void users_too_many(lc_req *req, long retry_after_s, const char *message);

/* Logs a limit Redis could not tell (the request goes on). */
void users_throttle_unknown(lc_req *req, const lc_throttle_rule *rule);

/* One more event of `subject` (NULL: no limit): 0, or -1 with the 429
 * answered. Redis down lets it through (throttle.c says why). */
int users_throttle_hit(lc_req *req, const lc_throttle_rule *rule,
                       const char *subject, const char *message);

/* The client's address as the edge saw it; NULL without one (an internal
 * caller: no per-IP limit). */
const char *users_client_ip(lc_req *req);

/* "<scope>:<sha256 of the lower-cased email>": an account's throttle
 * subject that keeps no address in Redis. */
void users_email_key(const char *scope, const char *email, char *out,
                     size_t len);

/* --- fields.c: what bodies and answers share --------------------------- */

/* The roles a body may name, for LC_BODY_ENUM (NULL-terminated). */
extern const char *const users_roles[];

/* A user row (id, email, name, role, status, created_at, updated_at) as
 * JSON, from `row` of `res` starting at column `col`. */
cJSON *users_user_json(const PGresult *res, int row, int col);

/* --- tenant_slug.c ----------------------------------------------------- */

/* 3–40 of [a-z0-9-], no leading or trailing hyphen. */
bool tenant_slug_valid(const char *s);
/* Names kept for the platform's own hosts (www, api, admin, rpc, …) and
 * IDNA's reserved labels (xn--…). */
bool tenant_slug_reserved(const char *s);

/* --- keys.c ------------------------------------------------------------ */

/* Loads every <kid>.pem of the folder; -1 with a reason on stderr. */
int keys_load(users_app *app);
void keys_free(users_app *app);
/* Signs an access token for these claims; malloc'd, NULL on failure.
 * `tenant_id` "" for a platform admin (whose token then has no tid). */
char *keys_sign_access(const users_app *app, const char *tenant_id,
                       const char *user_id, const char *role,
                       const char *session_id, const char *jti, long iat);
int keys_routes(lc_rpc_server *s);

/* --- auth.c ------------------------------------------------------------ */

/* What a new login (or a rotation) hands out, before signing. */
typedef struct {
    char user_id[37];
    char role[16];
    char session_id[37];
    char jti[37];
    long iat;
    char refresh[64];
} auth_grant;

/* Inside a tenant transaction: opens a session for `user_id` and its first
 * refresh token; fills `g` (role must be set by the caller). */
int auth_session_open(lc_db *db, const char *user_id, const char *user_agent,
                      const char *client_ip, auth_grant *g, lc_db_error *err);

/* {"access_token","token_type","expires_in","refresh_token"} for `g`,
 * signed now; NULL when signing failed. */
cJSON *auth_grant_json(const users_app *app, const char *tenant_id,
                       const auth_grant *g);

/* Inside a tenant transaction: revokes every live session of a user, with
 * a session.revoked event by `actor_id` for each (*seq: the last). */
int auth_revoke_user_sessions(lc_db *db, const char *user_id,
                              const char *except_session, const char *reason,
                              const char *actor_id, int64_t *seq,
                              lc_db_error *err);
int auth_routes(lc_rpc_server *s);

/* --- events.c: the outbox (lc_outbox) --------------------------------- */

/* Who changed what: an event's header. */
typedef struct {
    const char *tenant_id;  /* NULL: the transaction's tenant */
    const char *type;       /* "member.invited", ... */
    const char *subject_id; /* the tenant, member, invitation or session */
    const char *actor_id;   /* NULL: the platform itself */
} users_event;

/* Inside the changing transaction: appends `ev` with `data` (a JSON object,
 * consumed) and stores its seq in *seq. 0, or -1 with `err` set. */
int users_event_add(lc_db *db, const users_event *ev, cJSON *data, int64_t *seq,
                    lc_db_error *err);

/* After COMMIT: tells subscribers that events up to `seq` exist (0: none
 * was written). */
void users_events_announce(int64_t seq);

/* The service's outbox, opened and closed by lc_service. */
extern lc_outbox *users_outbox;
int events_routes(lc_rpc_server *s);

/* --- the resources ----------------------------------------------------- */
int tenants_routes(lc_rpc_server *s);
int users_routes(lc_rpc_server *s);
int invitations_routes(lc_rpc_server *s);
/* Inside a tenant transaction that deactivates a member (new_role NULL) or
 * gives them `new_role`: revokes their pending invitations they may no
 * longer grant, with a member.invitation_revoked event each by `actor_id`. */
int invitations_revoke_by(lc_db *db, const char *sender_id,
                          const char *new_role, const char *actor_id,
                          int64_t *seq, lc_db_error *err);
int password_reset_routes(lc_rpc_server *s);
/* The "password_reset.request" job (registered by mail_start). */
lc_job_outcome password_reset_job(lc_db *db, const lc_job *job, void *arg,
                                  char *why, size_t whylen);

/* --- platform_admins.c ------------------------------------------------- */

/* `lintel-users create-platform-admin`; the exit status. */
int platform_admin_command(void);

/* --- mail.c ------------------------------------------------------------ */

/* Inside a tenant transaction: queues a message and its "mail.send" job. */
int mail_enqueue(const users_app *app, lc_db *db, const char *to,
                 const char *subject, const char *body, lc_db_error *err);
/* Wakes the job runner (after a commit that queued mail). */
void mail_wake(users_app *app);
/* A link for mail: public_url with {tenant} replaced, plus `path`. */
int mail_link(const users_app *app, const char *slug, const char *path,
              const char *token, char *out, size_t outlen);
/* Starts the job runner, with the mail handler; stops it (drains). */
int mail_start(users_app *app, const lc_db_options *db);
void mail_stop(users_app *app);

#endif
