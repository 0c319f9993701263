/*
 * lintel_host: the Host header → tenant slug rule of DESIGN §4, without
 * nginx, so that it can be unit-tested and fuzzed on its own.
 *
 * "<base>" is the apex (platform scope), "<slug>.<base>" is tenant <slug>,
 * anything else is outside the service and answered with 404.
 */

#ifndef _LINTEL_HOST_H_INCLUDED_
#define _LINTEL_HOST_H_INCLUDED_

#include <stddef.h>


#define LINTEL_SLUG_MAX  63


typedef enum {
    LINTEL_HOST_OUTSIDE = 0,
    LINTEL_HOST_APEX,
    LINTEL_HOST_TENANT
} lintel_host_scope_e;


/*
 * Classifies "host" (port already stripped) against "base".  For a tenant
 * host, *slug and *slug_len point into "host".  Comparison ignores ASCII
 * case and one trailing dot; a slug is one DNS label of [a-z0-9-], 1 to 63
 * characters, not starting or ending with '-'.
 */
lintel_host_scope_e lintel_host_classify(const char *host, size_t host_len,
    const char *base, size_t base_len, const char **slug, size_t *slug_len);

/* 1 when "s" is an acceptable slug (the rule above), else 0. */
int lintel_host_slug_valid(const char *s, size_t len);


#endif /* _LINTEL_HOST_H_INCLUDED_ */
