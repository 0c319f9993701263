/*
 * lintel-users: tenants, users, roles, sessions and signing keys.
 * main.c wires configuration to the shared service skeleton (lc_service):
 * at start the signing keys are loaded (none or a bad one stops the service
 * with status 2), the events pub socket is opened and the job runner (the
 * mail sender) is started; then each resource file registers its routes.
 */
#include <stdio.h>
#include <string.h>

#include "lc_service.h"
#include "users.h"

static users_app app;
static long argon2_memory_kib, argon2_iterations, argon2_parallelism;

static const lc_config_var users_vars[] = {
    {"LINTEL_TENANT_CACHE_TTL_S", "60", LC_CFG_INT, 1, 86400,
     "how long ResolveTenant answers stay in Redis", &app.tenant_cache_ttl_s},
    {"LINTEL_TENANT_NEGATIVE_TTL_S", "10", LC_CFG_INT, 1, 3600,
     "how long an unknown slug stays cached in Redis",
     &app.tenant_negative_ttl_s},
    {"LINTEL_JWT_KEYS_DIR", "keys", LC_CFG_STRING, 0, 0,
     "folder of the RS256 signing keys, one <kid>.pem each; the newest signs",
     &app.jwt_keys_dir},
    {"LINTEL_JWT_ISSUER", "lintel", LC_CFG_STRING, 0, 0,
     "iss claim of access tokens", &app.jwt_issuer},
    {"LINTEL_JWT_AUDIENCE", "lintel-api", LC_CFG_STRING, 0, 0,
     "aud claim of access tokens", &app.jwt_audience},
    {"LINTEL_REFRESH_GRACE_S", "10", LC_CFG_INT, 0, 60,
     "seconds in which a rotated refresh token returns the same new pair",
     &app.refresh_grace_s},
    {"LINTEL_LOGIN_MAX_FAILURES", "5", LC_CFG_INT, 1, 1000,
     "failed logins of one account before back-off", &app.login_max_failures},
    {"LINTEL_LOGIN_IP_MAX_FAILURES", "100", LC_CFG_INT, 1, 1000000,
     "distinct accounts failing from one client IP in the window before "
     "its further failures answer 429",
     &app.login_ip_max_failures},
    {"LINTEL_LOGIN_BACKOFF_CAP_S", "300", LC_CFG_INT, 1, 3600,
     "longest wait of an account's back-off (2 s, 4 s, … up to this)",
     &app.login_backoff_cap_s},
    {"LINTEL_LOGIN_WINDOW_S", "900", LC_CFG_INT, 10, 86400,
     "how long a failed login (or password change) counts",
     &app.login_window_s},
    {"LINTEL_RESET_MAX_PER_ACCOUNT", "5", LC_CFG_INT, 1, 1000,
     "password-reset requests per address and hour", &app.reset_max_per_account},
    {"LINTEL_RESET_MAX_PER_IP", "20", LC_CFG_INT, 1, 1000000,
     "password-reset requests per client IP and hour", &app.reset_max_per_ip},
    {"LINTEL_SIGNUP_MAX_PER_IP", "20", LC_CFG_INT, 1, 1000000,
     "sign-ups per client IP and hour", &app.signup_max_per_ip},
    {"LINTEL_INVITE_MAX_PER_MEMBER", "50", LC_CFG_INT, 1, 100000,
     "invitations (and resends) one member sends per hour",
     &app.invite_max_per_member},
    {"LINTEL_INVITE_RESEND_INTERVAL_S", "60", LC_CFG_INT, 1, 86400,
     "shortest time between two sends of one invitation",
     &app.invite_resend_interval_s},
    {"LINTEL_ARGON2_MEMORY_KIB", "19456", LC_CFG_INT, 1024, 4194304,
     "argon2id memory per password hash (OWASP: 19456)", &argon2_memory_kib},
    {"LINTEL_ARGON2_ITERATIONS", "2", LC_CFG_INT, 1, 100,
     "argon2id iterations (OWASP: 2)", &argon2_iterations},
    {"LINTEL_ARGON2_PARALLELISM", "1", LC_CFG_INT, 1, 64,
     "argon2id lanes (OWASP: 1)", &argon2_parallelism},
    {"LINTEL_SMTP_URL", "smtp://127.0.0.1:2525", LC_CFG_URL, 0, 0,
     "SMTP relay for invitations and password resets", &app.smtp_url},
    {"LINTEL_MAIL_FROM", "no-reply@lintel.localhost", LC_CFG_STRING, 0, 0,
     "sender address of the service's mail", &app.mail_from},
    {"LINTEL_PUBLIC_URL", "http://{tenant}.lintel.localhost:8080",
     LC_CFG_STRING, 0, 0, "base of links in mail; {tenant} is the slug",
     &app.public_url},
    LC_JOBS_CONFIG_VARS(app.jobs_options),
};

/* Its events, each about one subject: a tenant, a member, an invitation
 * or a session. */
static const lc_service_outbox users_events = {
    .keys = {"subject_id"},
    .nkeys = 1,
    .pub_port = 7201,
    .outbox = &users_outbox,
};

static const lc_service_peer users_peers[] = {
    {.name = "billing",
     .what = "billing.CheckEntitlement before a member is invited; when it "
             "cannot answer within the timeout, the invitation is sent",
     .port = 7104,
     .client = &app.billing.client,
     .timeout_ms = &app.billing.timeout_ms,
     .default_timeout_ms = 200},
};

static int
users_all_routes(lc_rpc_server *s)
{
    return tenants_routes(s) != 0 || keys_routes(s) != 0 ||
                   auth_routes(s) != 0 || users_routes(s) != 0 ||
                   invitations_routes(s) != 0 ||
                   password_reset_routes(s) != 0 || roles_routes(s) != 0 ||
                   events_routes(s) != 0
               ? -1
               : 0;
}

static int
users_start(const lc_db_options *db, const lc_cache_options *cache, void *arg)
{
    users_app *a = arg;

    (void)cache;
    a->password.m_cost_kib = (uint32_t)argon2_memory_kib;
    a->password.t_cost = (uint32_t)argon2_iterations;
    a->password.parallelism = (uint32_t)argon2_parallelism;
    users_caller_start();
    users_throttles_init(a);
    if (keys_load(a) != 0) {
        keys_free(a);
        return -1;
    }
    if (mail_start(a, db) != 0) {
        fprintf(stderr, "lintel-users: cannot start the job runner\n");
        keys_free(a);
        return -1;
    }
    return 0;
}

static void
users_stop(void *arg)
{
    mail_stop(arg);
    keys_free(arg);
}

int
main(int argc, char **argv)
{
    static const lc_service_def def = {
        .name = "users",
        .rpc_port = 7101,
        .ops_port = 9101,
        .vars = users_vars,
        .nvars = sizeof(users_vars) / sizeof(users_vars[0]),
        .uses_redis = true,
        .peers = users_peers,
        .npeers = sizeof(users_peers) / sizeof(users_peers[0]),
        .outbox = &users_events,
        .routes = users_all_routes,
        .app = &app,
        .start = users_start,
        .stop = users_stop,
    };

    if (argc > 1 && strcmp(argv[1], "create-platform-admin") == 0) {
        return platform_admin_command();
    }
    return lc_service_main(argc, argv, &def);
}
