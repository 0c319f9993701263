/*
 * lintel_sp: NNG's scalability-protocol wire format over TCP, as a REQ0
 * peer speaks it, and the head of a lintel.v1.Response read off that
 * wire.  Pure C, no nginx: the upstream glue (ngx_http_lintel_upstream.c)
 * and the module's own lookups (ngx_http_lintel_peer.c) both use it, and
 * tests/gateway/test_lintel_sp.c and tests/fuzz/fuzz_sp.c test it.
 *
 * The bytes, as NNG 1.5.2 writes them (src/sp/transport/tcp/tcp.c,
 * src/sp/protocol/reqrep0/):
 *
 *   handshake, each side, once per connection:
 *       00 53 50 00 | protocol u16 BE | 00 00      REQ0 = 0x0030, REP0 = 0x0031
 *   each message:
 *       length u64 BE | request id u32 BE, high bit set | payload
 *   where length counts the id and the payload.  REP echoes the id.
 *
 * The payload of a reply is a lintel.v1.Response: status (1), content type
 * (2), headers (3) and body (4), which senders pack last.  The parser finds
 * where the head ends and the body begins without unpacking anything, so
 * that the body can be streamed to the client as it arrives.
 */

#ifndef _LINTEL_SP_H_INCLUDED_
#define _LINTEL_SP_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>


#define LINTEL_SP_HANDSHAKE_LEN   8
#define LINTEL_SP_FRAME_LEN       12     /* u64 length + u32 request id */
#define LINTEL_SP_PROTO_REQ0      0x0030
#define LINTEL_SP_PROTO_REP0      0x0031
#define LINTEL_SP_ID_BIT          0x80000000u

/* tag (1 byte) + length varint (at most 10 bytes) of Request.body (12) */
#define LINTEL_SP_BODY_KEY_MAX    11


typedef enum {
    LINTEL_SP_AGAIN = 0,          /* not enough bytes yet */
    LINTEL_SP_OK,                 /* the head is complete */
    LINTEL_SP_BAD_HANDSHAKE,      /* not "\0SP\0...\0\0" */
    LINTEL_SP_BAD_PROTOCOL,       /* an SP peer, but not REP0 */
    LINTEL_SP_BAD_LENGTH,         /* length < 4 (no room for the id) */
    LINTEL_SP_TOO_LARGE,          /* length over the caller's maximum */
    LINTEL_SP_BAD_ID,             /* not the id of our request */
    LINTEL_SP_MALFORMED,          /* not a protobuf Response head */
    LINTEL_SP_BODY_NOT_LAST,      /* bytes follow the body in the message */
    LINTEL_SP_HEAD_TOO_LARGE      /* the head does not fit the buffer */
} lintel_sp_rc_e;


/* Where the head and the body of a reply are, relative to the bytes given. */
typedef struct {
    size_t              head_start;   /* first byte of the Response fields */
    size_t              head_len;     /* fields before the body (1..3, ...) */
    size_t              body_start;   /* first body byte; == end when none */
    uint64_t            body_len;     /* 0 when the Response has no body */
    uint64_t            message_len;  /* the frame's length field */
} lintel_sp_reply_t;


/* The 8 bytes this side sends first: REQ0. */
void lintel_sp_handshake(uint8_t out[LINTEL_SP_HANDSHAKE_LEN]);

/*
 * Checks the 8 bytes the peer sent: LINTEL_SP_OK for REP0,
 * LINTEL_SP_BAD_PROTOCOL for any other SP protocol (REQ0 talking to REQ0,
 * say), LINTEL_SP_BAD_HANDSHAKE for anything that is not SP at all.
 */
lintel_sp_rc_e lintel_sp_check_handshake(const uint8_t in[LINTEL_SP_HANDSHAKE_LEN]);

/* u64 BE length (id + payload) and u32 BE id; "id" gets the high bit. */
void lintel_sp_frame(uint8_t out[LINTEL_SP_FRAME_LEN], uint64_t payload_len,
    uint32_t id);

/*
 * The key of Request.body (field 12, length-delimited) followed by the
 * varint "body_len", written to "out"; returns the number of bytes.
 */
size_t lintel_sp_body_key(uint8_t out[LINTEL_SP_BODY_KEY_MAX],
    uint64_t body_len);

/*
 * Parses the start of a reply in "buf" (all the bytes received so far on
 * this request, from the first): the peer's handshake when "handshake" is
 * set, the frame (its id must be "id" with the high bit set, its length at
 * most "max_len"), then the Response fields up to the body.  The head must
 * lie in "buf" whole, so a head larger than "size" bytes can never
 * complete: when "size" is also the capacity of the caller's buffer, pass
 * "full" = 1 once it is full and get LINTEL_SP_HEAD_TOO_LARGE instead of
 * LINTEL_SP_AGAIN.  The body need not be there yet.
 *
 * LINTEL_SP_OK fills "reply": the head is buf[head_start, head_start +
 * head_len), a Response without its body that protobuf-c unpacks as is;
 * body_len bytes of body follow from body_start, and the message ends with
 * them (a body that is not the last field is LINTEL_SP_BODY_NOT_LAST).
 */
lintel_sp_rc_e lintel_sp_parse_reply(const uint8_t *buf, size_t size,
    int full, int handshake, uint32_t id, uint64_t max_len,
    lintel_sp_reply_t *reply);

const char *lintel_sp_strerror(lintel_sp_rc_e rc);


#endif /* _LINTEL_SP_H_INCLUDED_ */
