/*
 * lc_jwt: issuing RS256 JSON Web Tokens (RFC 7519) and publishing the key
 * that verifies them (RFC 7517).
 *
 * Tokens are signed by libjwt (jwt_encode_str), which builds the header
 * {"alg":"RS256","typ":"JWT","kid":…} and the signature. Only signing is
 * libjwt's: its decoding has the traps of DESIGN §13, so the edge verifies
 * with its own code (gateway-module/README.md). libjwt parses the private
 * PEM on every signature: 2.7 ms a token against 1.0 ms with a key parsed
 * once, measured here on a busy machine. Only login (whose argon2 costs
 * far more) and refresh sign, so that is affordable. The key is also
 * parsed once into an EVP_PKEY, to refuse a weak key at start and to
 * export its public half.
 */
#ifndef LC_JWT_H
#define LC_JWT_H

#include <openssl/evp.h>
#include <stddef.h>

typedef struct {
    EVP_PKEY *pkey;     /* checked at load; the public parts come from it */
    unsigned char *pem; /* the private key's PEM text, for libjwt */
    size_t pem_len;
} lc_jwt_key;

/* Reads a PEM private key from `path`; it must be RSA of at least 2048
 * bits. 0, or -1 with a one-line reason in `err` (and nothing to free). */
int lc_jwt_key_load(lc_jwt_key *key, const char *path, char *err,
                    size_t errlen);
void lc_jwt_key_free(lc_jwt_key *key);

/* Signs `claims_json` (an object's JSON text) with `key` under `kid`.
 * Returns the compact token (free() it) or NULL. */
char *lc_jwt_sign_rs256(const lc_jwt_key *key, const char *kid,
                        const char *claims_json);

/* The public half of an RSA key: modulus and exponent as base64url
 * (malloc'd, no padding) and the SubjectPublicKeyInfo PEM (malloc'd). */
int lc_jwt_public_parts(EVP_PKEY *key, char **n, char **e, char **pem);

#endif
