/*
 * libFuzzer harness: the reply parser of gateway-module/lintel_sp.c, fed
 * what a service (or anything listening on its port) may send.
 *
 * Input: one byte of flags (bit 0: a handshake precedes the frame, bit 1:
 * the buffer is full), the request id (4 bytes, big-endian), then the
 * bytes received.  Checked:
 *   - on LINTEL_SP_OK, the offsets are within the bytes and consistent
 *     with the frame, and the head is a Response without a body;
 *   - "full" only turns LINTEL_SP_AGAIN into LINTEL_SP_HEAD_TOO_LARGE;
 *   - a prefix of the bytes gives LINTEL_SP_AGAIN or the very result of
 *     the whole (same error, or OK with the same offsets): the answer
 *     never depends on how the bytes were split.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lintel_envelope.h"
#include "lintel_sp.h"

#define MAX_LEN (1u << 20)

#define CHECK(c)                                                          \
    do {                                                                  \
        if (!(c))                                                         \
            abort();                                                      \
    } while (0)

static int same_reply(const lintel_sp_reply_t *a, const lintel_sp_reply_t *b)
{
    return a->head_start == b->head_start && a->head_len == b->head_len &&
           a->body_start == b->body_start && a->body_len == b->body_len &&
           a->message_len == b->message_len;
}

static void check_ok(const uint8_t *buf, size_t size, int handshake,
                     uint32_t id, const lintel_sp_reply_t *r)
{
    Lintel__V1__Response *res, *whole;
    lintel_sp_reply_t again;
    size_t head_end, gap, start, n;
    uint64_t payload;
    uint8_t *copy;

    start = (handshake ? LINTEL_SP_HANDSHAKE_LEN : 0) + LINTEL_SP_FRAME_LEN;
    CHECK(r->head_start == start);
    CHECK(r->message_len >= 4 && r->message_len <= MAX_LEN);
    payload = r->message_len - 4;

    /* the id is ours */
    CHECK(buf[start - 4] == (uint8_t)((id | LINTEL_SP_ID_BIT) >> 24));
    CHECK(buf[start - 1] == (uint8_t)id);

    /* head, key and length of the body were all received... */
    CHECK(r->head_len <= size - start);
    head_end = start + r->head_len;
    CHECK(head_end <= r->body_start && r->body_start <= size);

    /* ...and the body ends the message, wherever that is */
    CHECK(r->body_len <= payload);
    CHECK(r->body_start - start == payload - r->body_len);

    /* between head and body: nothing (no body field) or its key+length */
    gap = r->body_start - head_end;
    if (gap == 0) {
        CHECK(r->body_len == 0);
        CHECK(r->head_len == payload);
    } else {
        CHECK(gap >= 2 && gap <= 20);
        CHECK((buf[head_end] & 7) == 2);
    }

    /* the head alone, framed as a whole message, is a body-less reply */
    n = r->head_len + LINTEL_SP_FRAME_LEN;
    copy = malloc(n);
    CHECK(copy != NULL);
    lintel_sp_frame(copy, r->head_len, id);
    memcpy(copy + LINTEL_SP_FRAME_LEN, buf + start, r->head_len);
    CHECK(lintel_sp_parse_reply(copy, n, 0, 0, id, MAX_LEN, &again) ==
          LINTEL_SP_OK);
    CHECK(again.head_start == LINTEL_SP_FRAME_LEN);
    CHECK(again.head_len == r->head_len && again.body_len == 0);
    CHECK(again.body_start == n);
    free(copy);

    /*
     * The head unpacks on its own (when its fields are valid protobuf:
     * the parser only delimits them) and never carries a body.
     */
    res = lintel_envelope_unpack_response(buf + start, r->head_len);
    if (res == NULL)
        return;
    CHECK(res->body.len == 0);

    /*
     * With the whole body received and a key protobuf-c reads (one-byte
     * tag, length prefix of at most 5 bytes), head + body unpack too and
     * the body is where the parser said.
     */
    if (gap > 0 && buf[head_end] == 0x22 && gap <= 6 &&
        r->body_len <= size - r->body_start) {
        whole = lintel_envelope_unpack_response(buf + start, (size_t)payload);
        CHECK(whole != NULL);
        CHECK(whole->body.len == r->body_len);
        CHECK(r->body_len == 0 ||
              memcmp(whole->body.data, buf + r->body_start, r->body_len) ==
                  0);
        lintel_envelope_free_response(whole);
    }

    lintel_envelope_free_response(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lintel_sp_reply_t r, rf, rp;
    lintel_sp_rc_e rc, rcf, rcp;
    int handshake, full;
    uint32_t id;
    uint8_t *buf;
    size_t i, step;

    if (size < 5)
        return 0;
    handshake = data[0] & 1;
    full = (data[0] >> 1) & 1;
    id = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
         (uint32_t)data[3] << 8 | data[4];
    size -= 5;

    /* an exact copy, so that ASan catches a read past "size" */
    buf = malloc(size ? size : 1);
    CHECK(buf != NULL);
    memcpy(buf, data + 5, size);

    rc = lintel_sp_parse_reply(buf, size, 0, handshake, id, MAX_LEN, &r);
    CHECK(rc >= LINTEL_SP_AGAIN && rc <= LINTEL_SP_HEAD_TOO_LARGE);
    CHECK(rc != LINTEL_SP_HEAD_TOO_LARGE);
    CHECK(lintel_sp_strerror(rc) != NULL);
    if (rc == LINTEL_SP_OK)
        check_ok(buf, size, handshake, id, &r);

    /* "full" changes AGAIN and nothing else */
    if (full) {
        rcf = lintel_sp_parse_reply(buf, size, 1, handshake, id, MAX_LEN,
                                    &rf);
        CHECK(rcf == (rc == LINTEL_SP_AGAIN ? LINTEL_SP_HEAD_TOO_LARGE : rc));
        if (rc == LINTEL_SP_OK)
            CHECK(same_reply(&rf, &r));
    }

    /* prefixes: all of them for short inputs, 64 spread ones otherwise */
    step = size <= 256 ? 1 : size / 64;
    for (i = 0; i < size; i += step) {
        memset(&rp, 0, sizeof(rp));
        rcp = lintel_sp_parse_reply(buf, i, 0, handshake, id, MAX_LEN, &rp);
        if (rcp == LINTEL_SP_AGAIN)
            continue;
        CHECK(rcp == rc);
        if (rc == LINTEL_SP_OK)
            CHECK(same_reply(&rp, &r));
    }

    free(buf);
    return 0;
}
