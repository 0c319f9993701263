/*
 * lc_token: opaque secrets handed to clients (refresh tokens, invitation
 * and password-reset tokens) and how they are stored.
 *
 * A token is 256 random bits, base64url without padding (43 characters).
 * Only its SHA-256 is stored: a copy of the database gives no usable
 * token, and a lookup by hash is an index scan that reveals nothing by its
 * timing (the secret is never compared byte by byte).
 */
#ifndef LC_TOKEN_H
#define LC_TOKEN_H

#include <stddef.h>

#define LC_TOKEN_BYTES 32
#define LC_TOKEN_LEN 43      /* base64url of 32 bytes, no padding */
#define LC_TOKEN_HASH_LEN 64 /* hex SHA-256 */

/* A fresh token into out[LC_TOKEN_LEN + 1]; 0 or -1 (no entropy). */
int lc_token_new(char *out);

/* The stored form of a token: hex SHA-256 into out[LC_TOKEN_HASH_LEN + 1]. */
void lc_token_hash(const char *token, char *out);

/*
 * A token derived from `parent` and a public `salt`: base64url of
 * SHA-256("lintel-token-derive-v1" NUL parent NUL salt). Whoever holds the
 * parent and reads the salt gets the same child again, which is how a
 * rotated refresh token can be handed out twice to two racing tabs without
 * ever storing it; the salt alone (in the database) gives nothing.
 */
void lc_token_derive(const char *parent, const char *salt, char *out);

/* 1 when `s` has the shape of a token (length and alphabet), else 0. */
int lc_token_valid(const char *s);

#endif
