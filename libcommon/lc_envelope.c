/*
 * lc_envelope.c: unpacking envelopes under an allocation budget.
 */
#include "lc_envelope.h"

#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

/* Each allocation is prefixed with its size so that free can credit it
 * back; the prefix keeps max_align_t alignment. */
typedef union {
    size_t size;
    max_align_t align;
} lc_envelope_prefix;

typedef struct {
    size_t used;
    size_t budget;
} lc_envelope_counter;

static void *
lc_envelope_alloc(void *data, size_t size)
{
    lc_envelope_counter *c = data;
    lc_envelope_prefix *p;

    if (c != NULL) {
        if (size > c->budget - c->used) {
            return NULL;
        }
        c->used += size;
    }
    p = malloc(sizeof(*p) + size);
    if (p == NULL) {
        return NULL;
    }
    p->size = size;
    return p + 1;
}

static void
lc_envelope_free(void *data, void *ptr)
{
    lc_envelope_counter *c = data;
    lc_envelope_prefix *p;

    if (ptr == NULL) {
        return;
    }
    p = (lc_envelope_prefix *)ptr - 1;
    if (c != NULL) {
        c->used -= p->size;
    }
    free(p);
}

/* Frees what a budgeted unpack allocated, after the budget is gone. */
static ProtobufCAllocator lc_envelope_release = {lc_envelope_alloc,
                                                 lc_envelope_free, NULL};

size_t
lc_envelope_budget(size_t len)
{
    /* Small repeated sub-messages expand most: a 4-byte header entry
     * becomes a 48-byte struct plus two strings. */
    return 16 * len + 64 * 1024;
}

ProtobufCMessage *
lc_envelope_unpack_message(const ProtobufCMessageDescriptor *desc,
                           const void *buf, size_t len)
{
    lc_envelope_counter counter = {0, lc_envelope_budget(len)};
    ProtobufCAllocator alloc = {lc_envelope_alloc, lc_envelope_free, &counter};

    return protobuf_c_message_unpack(desc, &alloc, len, buf);
}

lc_request *
lc_envelope_unpack_request(const void *buf, size_t len)
{
    return (lc_request *)lc_envelope_unpack_message(
        &lintel__v1__request__descriptor, buf, len);
}

void
lc_envelope_free_message(ProtobufCMessage *msg)
{
    if (msg != NULL) {
        protobuf_c_message_free_unpacked(msg, &lc_envelope_release);
    }
}

void
lc_envelope_free_request(lc_request *req)
{
    if (req != NULL) {
        lc_envelope_free_message(&req->base);
    }
}

lc_response *
lc_envelope_unpack_response(const void *buf, size_t len)
{
    return (lc_response *)lc_envelope_unpack_message(
        &lintel__v1__response__descriptor, buf, len);
}

void
lc_envelope_free_response(lc_response *res)
{
    if (res != NULL) {
        lc_envelope_free_message(&res->base);
    }
}

const char *
lc_envelope_header(const lc_request *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->n_headers; i++) {
        if (req->headers[i]->name != NULL &&
            strcasecmp(req->headers[i]->name, name) == 0) {
            return req->headers[i]->value;
        }
    }
    return NULL;
}
