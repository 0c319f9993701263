/*
 * tenant_slug.c: what a tenant's slug may be. It becomes a host name
 * (<slug>.<base-domain>), so it is a DNS label of our own narrower shape,
 * and names the platform uses for its own hosts are kept back, as are
 * labels IDNA reserves (RFC 5891 §4.2.3.1: "--" in the third and fourth
 * places; "xn--" is punycode), which a browser may show as a look-alike.
 */
#include <stddef.h>
#include <string.h>

#include "users.h"

bool
tenant_slug_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0, i;

    if (n < 3 || n > 40 || s[0] == '-' || s[n - 1] == '-') {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-')) {
            return false;
        }
    }
    return true;
}

bool
tenant_slug_reserved(const char *s)
{
    static const char *const reserved[] = {
        "www",       "api",        "admin",     "app",    "mail",
        "static",    "assets",     "cdn",       "auth",   "login",
        "signup",    "account",    "billing",   "status", "docs",
        "help",      "support",    "blog",      "smtp",   "imap",
        "pop",       "ftp",        "ns1",       "ns2",    "dns",
        "root",      "system",     "platform",  "lintel", "internal",
        "api-v1",    "console",    "dashboard", "dev",    "staging",
        "test",      "localhost",  "security",  "abuse",  "postmaster",
        "webmaster", "hostmaster", "rpc",       "health", "healthz",
        "readyz",    "metrics",    "jwks",      "well-known", "ops",
        "edge",      "gateway",    "www1",      "www2",   "api2",
        "oauth",     "sso",        "id",        "accounts", "tenants",
        "users",     "projects",   "reports",   "audit",  "webhooks",
        "payments",  "files",      "media",     "download", "img",
        "ws",        "assets-cdn", NULL};
    size_t i;

    if (strlen(s) >= 4 && s[2] == '-' && s[3] == '-') {
        return true;
    }
    for (i = 0; reserved[i] != NULL; i++) {
        if (strcmp(s, reserved[i]) == 0) {
            return true;
        }
    }
    return false;
}
