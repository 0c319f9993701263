/*
 * lc_query: reading parameters from a raw query string ("a=1&b=x%20y"),
 * as the envelope carries it: percent-decoding, '+' as a space, and a
 * bounded output so that a hostile query cannot grow a buffer.
 */
#ifndef LC_QUERY_H
#define LC_QUERY_H

#include <stddef.h>

typedef enum {
    LC_QUERY_OK = 0,
    LC_QUERY_MISSING,
    LC_QUERY_INVALID, /* bad percent-escape, NUL, repeated, or too long */
} lc_query_status;

/* The decoded value of the first `name` in `query` (may be NULL) into
 * `out`. A parameter present twice is LC_QUERY_INVALID: which one would
 * win is ambiguous, and ambiguity is how filters get bypassed. */
lc_query_status lc_query_get(const char *query, const char *name, char *out,
                             size_t outlen);

/* The first parameter name of `query` not in the NULL-terminated
 * `allowed`, into `out`; 1 when there is one, 0 when all are allowed. */
int lc_query_unknown(const char *query, const char *const *allowed, char *out,
                     size_t outlen);

#endif
