/*
 * lintel_envelope: the pure parts of forwarding an edge request as a
 * lintel.v1.Request (DESIGN §5) and of reading the lintel.v1.Response back:
 * which headers cross the edge in each direction, which paths never do,
 * a bounded unpack, and the JSON error body of API.md.  No nginx here.
 */

#ifndef _LINTEL_ENVELOPE_H_INCLUDED_
#define _LINTEL_ENVELOPE_H_INCLUDED_

#include <stddef.h>

#include "lintel/v1/envelope.pb-c.h"
#include "lintel/v1/users.pb-c.h"


#define LINTEL_REQUEST_ID_LEN  32


/*
 * 1 when a client request header may be forwarded to a service.  The list
 * is closed: identity headers (X-Tenant-Id, X-User-Id, Authorization, ...)
 * are never forwarded, whatever the client sends.
 */
int lintel_envelope_request_header_allowed(const char *name, size_t len);

/*
 * 1 when a header of a service's reply may be passed to the client: not
 * hop-by-hop or framing headers, not X-Request-Id (the edge sets it), and
 * only a name of token characters and a value without CR, LF or NUL.
 */
int lintel_envelope_response_header_allowed(const char *name,
    size_t name_len, const char *value, size_t value_len);

/* 1 for "/rpc" and "/rpc/..." in any case: internal RPCs, never edge. */
int lintel_envelope_path_is_internal(const char *path, size_t len);

/* 1 for a W3C traceparent "vv-<32 hex>-<16 hex>-ff" worth passing on. */
int lintel_envelope_traceparent_valid(const char *s, size_t len);

/* 32 lower-case hex digits from 16 random bytes. */
void lintel_envelope_request_id(const unsigned char random[16],
    char out[LINTEL_REQUEST_ID_LEN]);

/*
 * {"error":{"code":…,"message":…,"request_id":…}} into "buf"; returns the
 * length, or 0 when "size" is too small.
 */
size_t lintel_envelope_error_body(char *buf, size_t size, const char *code,
    const char *message, const char *request_id, size_t request_id_len);

/*
 * Unpacks with a counting allocator: protobuf-c may allocate many times
 * the input size for hostile input, so the budget is a small multiple of
 * "len".  NULL when invalid or over budget.
 */
Lintel__V1__Response *lintel_envelope_unpack_response(const void *buf,
    size_t len);
void lintel_envelope_free_response(Lintel__V1__Response *res);

Lintel__V1__Users__ResolveTenantResponse *lintel_envelope_unpack_tenant(
    const void *buf, size_t len);
void lintel_envelope_free_tenant(Lintel__V1__Users__ResolveTenantResponse *m);

Lintel__V1__Users__GetJwksResponse *lintel_envelope_unpack_jwks(
    const void *buf, size_t len);
void lintel_envelope_free_jwks(Lintel__V1__Users__GetJwksResponse *m);


#endif /* _LINTEL_ENVELOPE_H_INCLUDED_ */
