/*
 * b64url.h: base64url without padding, for tests that build tokens
 * (tests/gateway/test_lintel_jwt.c, tests/fuzz/fuzz_jwt.c).  The gateway
 * itself only decodes (lintel_jwt_b64url_decode), so the encoder lives
 * with the tests.
 */
#ifndef LINTEL_TEST_B64URL_H
#define LINTEL_TEST_B64URL_H

#include <stddef.h>

/* Writes the encoding of in[0..len) and a NUL to out (room for
 * 4 * (len / 3 + 1) + 1 bytes); returns its length, NUL excluded. */
static size_t
b64url(const unsigned char *in, size_t len, char *out)
{
    static const char t[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i, o = 0;
    unsigned v;

    for (i = 0; i + 2 < len; i += 3) {
        v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
        out[o++] = t[v & 63];
    }
    if (len - i == 1) {
        v = (unsigned)in[i] << 16;
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
    } else if (len - i == 2) {
        v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

#endif
