/*
 * lc_utf8: the one definition of well-formed UTF-8 that the JSON parser
 * and the logger share (RFC 3629; table 3-7 of the Unicode standard).
 */
#ifndef LC_UTF8_H
#define LC_UTF8_H

#include <stddef.h>

/*
 * Length of the well-formed UTF-8 sequence at p (at most n bytes), or 0.
 * Overlong forms, surrogates (U+D800..U+DFFF) and code points above
 * U+10FFFF are not well-formed.
 */
static inline size_t
lc_utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t need, k;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) {
            lo = 0xA0;
        } else if (c == 0xED) {
            hi = 0x9F;
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;
        }
    } else {
        return 0;
    }
    if (n < need + 1 || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (k = 2; k <= need; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return need + 1;
}

#endif
