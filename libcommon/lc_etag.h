/*
 * lc_etag: optimistic concurrency on a resource with an integer version
 * (API.md "Concurrency and retries").
 *
 * A resource is answered with `ETag: "<version>"`. A PATCH must send
 * If-Match with the ETag it read (428 precondition_required without it, or
 * with `*`, which would protect nothing); a DELETE may, `*` included (any
 * current version). If-Match is compared strongly (RFC 9110 §13.1.1): a
 * weak tag (W/"2") or anything this service did not issue never matches
 * (412 precondition_failed). The version itself is compared by the
 * statement that changes the row (… AND version = $n), so a stale one is
 * found in the same round trip as the change.
 */
#ifndef LC_ETAG_H
#define LC_ETAG_H

#include <stddef.h>

#include "lc_rpc_server.h"

/* The longest version If-Match may carry: 9 digits, so that it always
 * fits a PostgreSQL integer. */
#define LC_ETAG_VERSION_MAX 9

/* If-Match: 0 with `version` set ("" for `*`: any current version), 1 when
 * absent, -1 (412 set) when it is not a version this service issued.
 * `len` is at least LC_ETAG_VERSION_MAX + 1. */
int lc_etag_if_match(lc_req *req, char *version, size_t len);

/* lc_etag_if_match, with a missing If-Match or `*` a 428; 0 with
 * `version` set, or -1 (answer set). */
int lc_etag_require(lc_req *req, char *version, size_t len);

/* Answers `json` (a JSON text) with `status` and ETag "<version>". */
void lc_etag_respond(lc_req *req, int status, const char *version,
                     const char *json);

#endif
