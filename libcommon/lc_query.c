/*
 * lc_query.c: query-string parameters.
 */
#include "lc_query.h"

#include <string.h>

static int
lc_query_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes [s, s+len) into out; 0 or -1. */
static int
lc_query_decode(const char *s, size_t len, char *out, size_t outlen)
{
    size_t i, o = 0;
    int hi, lo;
    char c;

    for (i = 0; i < len; i++) {
        c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= len) {
                return -1;
            }
            hi = lc_query_hex(s[i + 1]);
            lo = lc_query_hex(s[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= outlen) {
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

lc_query_status
lc_query_get(const char *query, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = query, *end, *eq;
    int found = 0;

    while (p != NULL && *p != '\0') {
        end = strchr(p, '&');
        if (end == NULL) {
            end = p + strlen(p);
        }
        eq = memchr(p, '=', (size_t)(end - p));
        if ((size_t)((eq ? eq : end) - p) == nlen &&
            memcmp(p, name, nlen) == 0) {
            if (found) {
                return LC_QUERY_INVALID;
            }
            found = 1;
            if (eq == NULL) {
                if (outlen == 0) {
                    return LC_QUERY_INVALID;
                }
                out[0] = '\0';
            } else if (lc_query_decode(eq + 1, (size_t)(end - eq - 1), out,
                                       outlen) != 0) {
                return LC_QUERY_INVALID;
            }
        }
        p = *end ? end + 1 : end;
    }
    return found ? LC_QUERY_OK : LC_QUERY_MISSING;
}

int
lc_query_unknown(const char *query, const char *const *allowed, char *out,
                 size_t outlen)
{
    const char *p = query, *end, *eq;
    size_t klen, i;
    int ok;

    while (p != NULL && *p != '\0') {
        end = strchr(p, '&');
        if (end == NULL) {
            end = p + strlen(p);
        }
        eq = memchr(p, '=', (size_t)(end - p));
        klen = (size_t)((eq ? eq : end) - p);
        ok = klen == 0;
        for (i = 0; !ok && allowed[i] != NULL; i++) {
            ok = strlen(allowed[i]) == klen && memcmp(allowed[i], p, klen) == 0;
        }
        if (!ok) {
            if (lc_query_decode(p, klen, out, outlen) != 0 && outlen > 0) {
                out[0] = '\0';
            }
            return 1;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}
