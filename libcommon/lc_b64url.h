/*
 * lc_b64url: base64url (RFC 4648 §5) without padding, the one encoding of
 * every opaque text Lintel hands out or reads: tokens, list cursors and
 * JWT parts. Pure C with no other dependency, so that the edge's pure files
 * (gateway-module/) compile the same unit as the services.
 *
 * Decoding is strict, so that a value has exactly one text: no padding, no
 * character outside the alphabet, and the unused bits of the last character
 * must be zero (a token that differs only there is refused, not accepted
 * as a second spelling of the same bytes).
 */
#ifndef LC_B64URL_H
#define LC_B64URL_H

#include <stddef.h>

/* The length of the encoding of `len` bytes, NUL excluded. */
size_t lc_b64url_encoded_len(size_t len);

/* Writes the encoding of in[0..len) and a NUL; returns its length, or -1
 * when `outlen` cannot hold it and the NUL. */
long lc_b64url_encode(const void *in, size_t len, char *out, size_t outlen);

/* Decodes in[0..len) into `out`; returns the number of bytes, or -1 for a
 * text that is not strict base64url or does not fit in `outlen`. */
long lc_b64url_decode(const char *in, size_t len, void *out, size_t outlen);

/* 1 when `c` is a character of the base64url alphabet, else 0. */
int lc_b64url_is_char(unsigned char c);

#endif
