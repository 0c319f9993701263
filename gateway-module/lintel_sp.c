/*
 * lintel_sp: the SP handshake and frame header of NNG's TCP transport, the
 * key of Request.body, and the parser that finds the head and the body of
 * a lintel.v1.Response in a reply as it arrives (see lintel_sp.h).
 *
 * The parser never unpacks: it walks the protobuf fields of the payload,
 * skipping every field but the body (4), until it reaches the body's key
 * and length.  Positions inside the message are uint64_t counts from the
 * first byte of the payload, compared only against what is left of the
 * message and of the bytes received, so that no length from the wire can
 * overflow anything.
 */

#include <stddef.h>
#include <stdint.h>

#include "lintel_sp.h"


#define LINTEL_SP_VARINT_MAX  10

#define LINTEL_SP_WIRE_VARINT   0
#define LINTEL_SP_WIRE_FIXED64  1
#define LINTEL_SP_WIRE_BYTES    2
#define LINTEL_SP_WIRE_FIXED32  5

#define LINTEL_SP_FIELD_BODY         4      /* Response.body */
#define LINTEL_SP_REQUEST_BODY_KEY   0x62   /* Request.body: 12 << 3 | 2 */


static lintel_sp_rc_e lintel_sp_parse_handshake(const uint8_t *buf,
    size_t size);
static lintel_sp_rc_e lintel_sp_varint(const uint8_t *p, uint64_t avail,
    uint64_t left, uint64_t *value, uint64_t *len);
static lintel_sp_rc_e lintel_sp_again(lintel_sp_rc_e rc, int full);
static uint64_t lintel_sp_get_u64(const uint8_t *p);
static uint32_t lintel_sp_get_u32(const uint8_t *p);


static uint64_t
lintel_sp_get_u64(const uint8_t *p)
{
    uint64_t  v;
    size_t    i;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


static uint32_t
lintel_sp_get_u32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}


/* a head that cannot complete in a full buffer never will */

static lintel_sp_rc_e
lintel_sp_again(lintel_sp_rc_e rc, int full)
{
    if (rc == LINTEL_SP_AGAIN && full) {
        return LINTEL_SP_HEAD_TOO_LARGE;
    }

    return rc;
}


/*
 * The first "size" bytes of the peer's handshake (all 8 when size >= 8):
 * a wrong magic or reserved byte fails as soon as it is there, the
 * protocol is judged only once the whole header has been seen valid.
 */

static lintel_sp_rc_e
lintel_sp_parse_handshake(const uint8_t *buf, size_t size)
{
    size_t    i, n;
    uint32_t  proto;

    static const uint8_t  magic[4] = { 0x00, 'S', 'P', 0x00 };

    n = size < LINTEL_SP_HANDSHAKE_LEN ? size : LINTEL_SP_HANDSHAKE_LEN;

    for (i = 0; i < n; i++) {
        if (i < 4 && buf[i] != magic[i]) {
            return LINTEL_SP_BAD_HANDSHAKE;
        }

        if (i >= 6 && buf[i] != 0) {
            return LINTEL_SP_BAD_HANDSHAKE;
        }
    }

    if (n < LINTEL_SP_HANDSHAKE_LEN) {
        return LINTEL_SP_AGAIN;
    }

    proto = ((uint32_t) buf[4] << 8) | buf[5];

    return proto == LINTEL_SP_PROTO_REP0 ? LINTEL_SP_OK
                                         : LINTEL_SP_BAD_PROTOCOL;
}


/*
 * A varint at "p", with "avail" bytes received from "p" on and "left"
 * bytes of the message from "p" to its end.  LINTEL_SP_MALFORMED when it
 * runs past the end of the message, is longer than 10 bytes or does not
 * fit 64 bits; LINTEL_SP_AGAIN when it runs past the bytes received only.
 */

static lintel_sp_rc_e
lintel_sp_varint(const uint8_t *p, uint64_t avail, uint64_t left,
    uint64_t *value, uint64_t *len)
{
    uint8_t   b;
    uint64_t  i, n, v;

    n = left < LINTEL_SP_VARINT_MAX ? left : LINTEL_SP_VARINT_MAX;
    v = 0;

    for (i = 0; i < n; i++) {
        if (i == avail) {
            return LINTEL_SP_AGAIN;
        }

        b = p[i];

        /* the tenth byte holds bit 63 only */

        if (i == LINTEL_SP_VARINT_MAX - 1 && b > 1) {
            return LINTEL_SP_MALFORMED;
        }

        v |= (uint64_t) (b & 0x7f) << (7 * i);

        if ((b & 0x80) == 0) {
            *value = v;
            *len = i + 1;
            return LINTEL_SP_OK;
        }
    }

    return LINTEL_SP_MALFORMED;
}


void
lintel_sp_handshake(uint8_t out[LINTEL_SP_HANDSHAKE_LEN])
{
    out[0] = 0x00;
    out[1] = 'S';
    out[2] = 'P';
    out[3] = 0x00;
    out[4] = (uint8_t) (LINTEL_SP_PROTO_REQ0 >> 8);
    out[5] = (uint8_t) (LINTEL_SP_PROTO_REQ0 & 0xff);
    out[6] = 0x00;
    out[7] = 0x00;
}


lintel_sp_rc_e
lintel_sp_check_handshake(const uint8_t in[LINTEL_SP_HANDSHAKE_LEN])
{
    return lintel_sp_parse_handshake(in, LINTEL_SP_HANDSHAKE_LEN);
}


void
lintel_sp_frame(uint8_t out[LINTEL_SP_FRAME_LEN], uint64_t payload_len,
    uint32_t id)
{
    size_t    i;
    uint64_t  len;

    /* a payload over 2^64 - 5 bytes cannot be sent, let alone framed */

    len = payload_len + 4;

    for (i = 0; i < 8; i++) {
        out[i] = (uint8_t) (len >> (56 - 8 * i));
    }

    id |= LINTEL_SP_ID_BIT;

    out[8] = (uint8_t) (id >> 24);
    out[9] = (uint8_t) (id >> 16);
    out[10] = (uint8_t) (id >> 8);
    out[11] = (uint8_t) id;
}


size_t
lintel_sp_body_key(uint8_t out[LINTEL_SP_BODY_KEY_MAX], uint64_t body_len)
{
    size_t  n;

    n = 0;
    out[n++] = LINTEL_SP_REQUEST_BODY_KEY;

    while (body_len >= 0x80) {
        out[n++] = (uint8_t) (body_len | 0x80);
        body_len >>= 7;
    }

    out[n++] = (uint8_t) body_len;

    return n;
}


lintel_sp_rc_e
lintel_sp_parse_reply(const uint8_t *buf, size_t size, int full,
    int handshake, uint32_t id, uint64_t max_len, lintel_sp_reply_t *reply)
{
    size_t          start;
    uint64_t        len, msg, avail, pos, tag_pos, tag, field, flen, n;
    const uint8_t  *p;
    lintel_sp_rc_e  rc;

    start = 0;

    if (handshake) {
        rc = lintel_sp_parse_handshake(buf, size);

        if (rc != LINTEL_SP_OK) {
            return lintel_sp_again(rc, full);
        }

        start = LINTEL_SP_HANDSHAKE_LEN;
    }

    /* the length can be judged before the id has arrived */

    if (size - start < 8) {
        return lintel_sp_again(LINTEL_SP_AGAIN, full);
    }

    len = lintel_sp_get_u64(buf + start);

    if (len < 4) {
        return LINTEL_SP_BAD_LENGTH;
    }

    if (len > max_len) {
        return LINTEL_SP_TOO_LARGE;
    }

    if (size - start < LINTEL_SP_FRAME_LEN) {
        return lintel_sp_again(LINTEL_SP_AGAIN, full);
    }

    if (lintel_sp_get_u32(buf + start + 8) != (id | LINTEL_SP_ID_BIT)) {
        return LINTEL_SP_BAD_ID;
    }

    /*
     * From here on, every position is counted from "p" and stays within
     * both the message (pos <= msg) and the bytes received (pos <= avail).
     */

    start += LINTEL_SP_FRAME_LEN;
    p = buf + start;
    msg = len - 4;
    avail = (uint64_t) (size - start);
    pos = 0;

    while (pos < msg) {
        tag_pos = pos;

        rc = lintel_sp_varint(p + pos, avail - pos, msg - pos, &tag, &n);
        if (rc != LINTEL_SP_OK) {
            return lintel_sp_again(rc, full);
        }

        pos += n;
        field = tag >> 3;

        if (field == 0) {
            return LINTEL_SP_MALFORMED;
        }

        if (field == LINTEL_SP_FIELD_BODY) {
            if ((tag & 7) != LINTEL_SP_WIRE_BYTES) {
                return LINTEL_SP_MALFORMED;
            }

            rc = lintel_sp_varint(p + pos, avail - pos, msg - pos, &flen,
                                  &n);
            if (rc != LINTEL_SP_OK) {
                return lintel_sp_again(rc, full);
            }

            pos += n;

            if (flen < msg - pos) {
                return LINTEL_SP_BODY_NOT_LAST;
            }

            if (flen > msg - pos) {
                return LINTEL_SP_MALFORMED;
            }

            reply->head_start = start;
            reply->head_len = (size_t) tag_pos;
            reply->body_start = start + (size_t) pos;
            reply->body_len = flen;
            reply->message_len = len;

            return LINTEL_SP_OK;
        }

        switch (tag & 7) {

        case LINTEL_SP_WIRE_VARINT:
            rc = lintel_sp_varint(p + pos, avail - pos, msg - pos, &flen,
                                  &n);
            if (rc != LINTEL_SP_OK) {
                return lintel_sp_again(rc, full);
            }

            /* the varint is the whole field and it has been read */

            pos += n;
            flen = 0;
            break;

        case LINTEL_SP_WIRE_FIXED64:
            flen = 8;
            break;

        case LINTEL_SP_WIRE_FIXED32:
            flen = 4;
            break;

        case LINTEL_SP_WIRE_BYTES:
            rc = lintel_sp_varint(p + pos, avail - pos, msg - pos, &flen,
                                  &n);
            if (rc != LINTEL_SP_OK) {
                return lintel_sp_again(rc, full);
            }

            pos += n;
            break;

        default:
            /* groups (3, 4) are not proto3, 6 and 7 are not wire types */
            return LINTEL_SP_MALFORMED;
        }

        if (flen > msg - pos) {
            return LINTEL_SP_MALFORMED;
        }

        if (flen > avail - pos) {
            return lintel_sp_again(LINTEL_SP_AGAIN, full);
        }

        pos += flen;
    }

    /* no body: protobuf omits an empty one */

    reply->head_start = start;
    reply->head_len = (size_t) msg;
    reply->body_start = start + (size_t) msg;
    reply->body_len = 0;
    reply->message_len = len;

    return LINTEL_SP_OK;
}


const char *
lintel_sp_strerror(lintel_sp_rc_e rc)
{
    switch (rc) {

    case LINTEL_SP_AGAIN:
        return "incomplete reply";

    case LINTEL_SP_OK:
        return "ok";

    case LINTEL_SP_BAD_HANDSHAKE:
        return "not an SP handshake";

    case LINTEL_SP_BAD_PROTOCOL:
        return "SP peer is not a REP0 socket";

    case LINTEL_SP_BAD_LENGTH:
        return "frame length too short for a request id";

    case LINTEL_SP_TOO_LARGE:
        return "reply too large";

    case LINTEL_SP_BAD_ID:
        return "reply to another request";

    case LINTEL_SP_MALFORMED:
        return "malformed Response";

    case LINTEL_SP_BODY_NOT_LAST:
        return "Response body is not the last field";

    case LINTEL_SP_HEAD_TOO_LARGE:
        return "Response head too large for the buffer";
    }

    return "unknown error";
}
