/*
 * lc_envelope: the lintel.v1 Request/Response envelope on the wire.
 *
 * protobuf-c allocates freely while unpacking (1 MiB of hostile input made
 * it allocate 56 MiB in a test), so unpacking goes through a counting
 * allocator with a budget proportional to the message size.
 */
#ifndef LC_ENVELOPE_H
#define LC_ENVELOPE_H

#include <stddef.h>

#include "lintel/v1/envelope.pb-c.h"

typedef Lintel__V1__Request lc_request;
typedef Lintel__V1__Response lc_response;

/* NULL when the bytes are not a valid envelope or exceed the budget. */
lc_request *lc_envelope_unpack_request(const void *buf, size_t len);
void lc_envelope_free_request(lc_request *req);

lc_response *lc_envelope_unpack_response(const void *buf, size_t len);
void lc_envelope_free_response(lc_response *res);

/* Any message, under the same budget rule; free with the function below. */
ProtobufCMessage *
lc_envelope_unpack_message(const ProtobufCMessageDescriptor *desc,
                           const void *buf, size_t len);
void lc_envelope_free_message(ProtobufCMessage *msg);

/* First header of that name (compared case-insensitively), or NULL. */
const char *lc_envelope_header(const lc_request *req, const char *name);

/* Bytes a message of `len` bytes may allocate while it is unpacked. */
size_t lc_envelope_budget(size_t len);

#endif
