/*
 * throttle.c: the users service's limits (lc_throttle's sliding windows),
 * set from its configuration at start, and how a refusal is answered:
 * 429 rate_limited with Retry-After (API.md).
 *
 * When Redis is down a limit cannot be known and the request goes on: a
 * throttle that fails closed would lock every user out of a running
 * service, while an attacker still pays argon2's cost per guess, meets
 * the edge's per-IP limit_req, and cannot get more than
 * RESET_MAILS_PER_HOUR reset mails per account (checked in PostgreSQL by
 * the reset job). Each such pass is logged.
 *
 * Per-IP limits need the client's address, which the edge always sends (the
 * TCP peer's). A request without one comes from an internal caller
 * (lintel-call, the stack's seed), not from the internet: it has none.
 */
#include <stdio.h>
#include <string.h>

#include "lc_log.h"
#include "lc_token.h"
#include "users.h"

void
users_throttles_init(users_app *app)
{
    users_throttles *t = &app->throttles;

    t->login_account = (lc_throttle_rule){
        .name = "users:login:acct",
        .window_s = app->login_window_s,
        .limit = app->login_max_failures,
        .backoff_cap_s = app->login_backoff_cap_s,
    };
    t->login_ip = (lc_throttle_rule){
        .name = "users:login:ip",
        .window_s = app->login_window_s,
        .limit = app->login_ip_max_failures,
    };
    t->login_alert = (lc_throttle_rule){
        .name = "users:login:alert",
        .window_s = app->login_window_s,
        .limit = 1,
    };
    t->password_change = (lc_throttle_rule){
        .name = "users:password:member",
        .window_s = app->login_window_s,
        .limit = app->login_max_failures,
        .backoff_cap_s = app->login_backoff_cap_s,
    };
    t->reset_account = (lc_throttle_rule){
        .name = "users:reset:acct",
        .window_s = 3600,
        .limit = app->reset_max_per_account,
    };
    t->reset_ip = (lc_throttle_rule){
        .name = "users:reset:ip",
        .window_s = 3600,
        .limit = app->reset_max_per_ip,
    };
    t->signup_ip = (lc_throttle_rule){
        .name = "users:signup:ip",
        .window_s = 3600,
        .limit = app->signup_max_per_ip,
    };
    t->invite_member = (lc_throttle_rule){
        .name = "users:invite:member",
        .window_s = 3600,
        .limit = app->invite_max_per_member,
    };
    t->invite_resend = (lc_throttle_rule){
        .name = "users:invite:resend",
        .window_s = app->invite_resend_interval_s,
        .limit = 1,
    };
}

void
users_too_many(lc_req *req, long retry_after_s, const char *message)
{
    char secs[24];

    snprintf(secs, sizeof(secs), "%ld", retry_after_s > 0 ? retry_after_s : 1);
    lc_req_error(req, 429, "rate_limited", message);
    lc_req_header(req, "retry-after", secs);
}

void
users_throttle_unknown(lc_req *req, const lc_throttle_rule *rule)
{
    lc_log(LC_LOG_WARN, lc_req_id(req), lc_req_tenant_id(req),
           "throttle %s unknown (Redis down): request let through",
           rule->name);
}

int
users_throttle_hit(lc_req *req, const lc_throttle_rule *rule,
                   const char *subject, const char *message)
{
    long wait = 0;

    if (subject == NULL) {
        return 0;
    }
    switch (lc_throttle_hit(lc_req_cache(req), rule, subject, NULL, &wait)) {
    case LC_THROTTLE_ALLOW:
        return 0;
    case LC_THROTTLE_UNKNOWN:
        users_throttle_unknown(req, rule);
        return 0;
    case LC_THROTTLE_LIMITED:
        break;
    }
    users_too_many(req, wait, message);
    return -1;
}

const char *
users_client_ip(lc_req *req)
{
    const char *ip = lc_req_envelope(req)->client_ip;

    return ip != NULL && ip[0] != '\0' ? ip : NULL;
}

void
users_email_key(const char *scope, const char *email, char *out, size_t len)
{
    char lower[USERS_EMAIL_MAX + 1], hash[LC_TOKEN_HASH_LEN + 1];
    size_t i;

    for (i = 0; email[i] != '\0' && i < USERS_EMAIL_MAX; i++) {
        lower[i] = (char)(email[i] >= 'A' && email[i] <= 'Z' ? email[i] + 32
                                                             : email[i]);
    }
    lower[i] = '\0';
    lc_token_hash(lower, hash);
    snprintf(out, len, "%s:%s", scope, hash);
}
