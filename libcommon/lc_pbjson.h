/*
 * lc_pbjson: any protobuf-c message to and from JSON, driven by its
 * descriptor, so that tools (lintel-call) and tests can speak every internal
 * RPC without hand-written glue per message.
 *
 * Mapping (the usual proto3 JSON mapping, restricted to what Lintel uses):
 * field names as in the .proto (snake_case); strings; bytes as standard
 * base64; bool; int32/uint32/sint32/fixed32 and float/double as numbers;
 * 64-bit integers as decimal strings on output, accepted as strings or
 * integral numbers on input; enums by value name on output, name or number
 * on input; sub-messages as objects; repeated fields as arrays. Fields equal
 * to their default are omitted on output. Unknown JSON keys are refused.
 */
#ifndef LC_PBJSON_H
#define LC_PBJSON_H

#include <cjson/cJSON.h>
#include <protobuf-c/protobuf-c.h>

/*
 * Builds a message of type `desc` from `json` (an object). Returns the
 * message (free with protobuf_c_message_free_unpacked(msg, NULL)) or NULL
 * with a one-line reason in `err`, naming the offending field.
 */
ProtobufCMessage *lc_pbjson_from_json(const ProtobufCMessageDescriptor *desc,
                                      const cJSON *json, char *err,
                                      size_t errlen);

/* Renders `msg` as a new cJSON object; NULL only when out of memory. */
cJSON *lc_pbjson_to_json(const ProtobufCMessage *msg);

#endif
