/*
 * tenant_slug.c: what a tenant's slug may be. It becomes a host name
 * (<slug>.<base-domain>), so it is a DNS label of our own narrower shape,
 * and names the platform uses for its own hosts are kept back.
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
        "webmaster", "hostmaster", NULL};
    size_t i;

    for (i = 0; reserved[i] != NULL; i++) {
        if (strcmp(s, reserved[i]) == 0) {
            return true;
        }
    }
    return false;
}
