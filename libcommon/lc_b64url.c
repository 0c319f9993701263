/*
 * lc_b64url.c: base64url without padding, strict when decoding.
 */
#include "lc_b64url.h"

#include <stdint.h>

static const char lc_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* One more than the value of each character of the alphabet, 0 for every
 * other byte (so that the designated initialiser leaves them out). A
 * table: the edge decodes every token's three parts on its hot path. */
static const unsigned char lc_b64url_values[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
    ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
    ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64,
};

static int
lc_b64url_value(unsigned char c)
{
    return (int)lc_b64url_values[c] - 1;
}

int
lc_b64url_is_char(unsigned char c)
{
    return lc_b64url_value(c) >= 0;
}

size_t
lc_b64url_encoded_len(size_t len)
{
    return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}

long
lc_b64url_encode(const void *in, size_t len, char *out, size_t outlen)
{
    const unsigned char *p = in;
    size_t i, o = 0;
    uint32_t v;

    if (outlen < lc_b64url_encoded_len(len) + 1) {
        return -1;
    }
    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = lc_b64url_alphabet[v >> 18 & 63];
        out[o++] = lc_b64url_alphabet[v >> 12 & 63];
        out[o++] = lc_b64url_alphabet[v >> 6 & 63];
        out[o++] = lc_b64url_alphabet[v & 63];
    }
    if (len - i > 0) {
        v = (uint32_t)p[i] << 16;
        if (len - i == 2) {
            v |= (uint32_t)p[i + 1] << 8;
        }
        out[o++] = lc_b64url_alphabet[v >> 18 & 63];
        out[o++] = lc_b64url_alphabet[v >> 12 & 63];
        if (len - i == 2) {
            out[o++] = lc_b64url_alphabet[v >> 6 & 63];
        }
    }
    out[o] = '\0';
    return (long)o;
}

long
lc_b64url_decode(const char *in, size_t len, void *out, size_t outlen)
{
    unsigned char *o = out;
    uint32_t acc = 0;
    size_t i, n = 0;
    int bits = 0, v;

    if (len % 4 == 1) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        v = lc_b64url_value((unsigned char)in[i]);
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == outlen) {
                return -1;
            }
            o[n++] = (unsigned char)(acc >> bits);
        }
    }
    /* The bits of the last character that carry no byte must be zero. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        return -1;
    }
    return (long)n;
}
