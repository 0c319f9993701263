/*
 * lintel_host: Host header → tenant slug (see lintel_host.h).
 */

#include "lintel_host.h"


static int lintel_host_equal(const char *a, const char *b, size_t len);


static int
lintel_host_equal(const char *a, const char *b, size_t len)
{
    size_t         i;
    unsigned char  ca, cb;

    for (i = 0; i < len; i++) {
        ca = (unsigned char) a[i];
        cb = (unsigned char) b[i];

        if (ca >= 'A' && ca <= 'Z') {
            ca |= 0x20;
        }

        if (cb >= 'A' && cb <= 'Z') {
            cb |= 0x20;
        }

        if (ca != cb) {
            return 0;
        }
    }

    return 1;
}


int
lintel_host_slug_valid(const char *s, size_t len)
{
    size_t  i;
    char    c;

    if (len == 0 || len > LINTEL_SLUG_MAX) {
        return 0;
    }

    if (s[0] == '-' || s[len - 1] == '-') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            continue;
        }

        return 0;
    }

    return 1;
}


lintel_host_scope_e
lintel_host_classify(const char *host, size_t host_len, const char *base,
    size_t base_len, const char **slug, size_t *slug_len)
{
    size_t  n;

    *slug = NULL;
    *slug_len = 0;

    if (host == NULL || base == NULL || base_len == 0) {
        return LINTEL_HOST_OUTSIDE;
    }

    /* "acme.example.com." names the same host as "acme.example.com" */

    if (host_len > 0 && host[host_len - 1] == '.') {
        host_len--;
    }

    if (base[base_len - 1] == '.') {
        base_len--;
    }

    if (host_len == base_len) {
        return lintel_host_equal(host, base, base_len) ? LINTEL_HOST_APEX
                                                       : LINTEL_HOST_OUTSIDE;
    }

    if (host_len < base_len + 2) {
        return LINTEL_HOST_OUTSIDE;
    }

    n = host_len - base_len;

    if (host[n - 1] != '.' || !lintel_host_equal(host + n, base, base_len)) {
        return LINTEL_HOST_OUTSIDE;
    }

    /* exactly one label: "a.b.<base>" is not a tenant */

    n--;

    if (!lintel_host_slug_valid(host, n)) {
        return LINTEL_HOST_OUTSIDE;
    }

    *slug = host;
    *slug_len = n;

    return LINTEL_HOST_TENANT;
}
