/*
 * lc_jwt: issuing RS256 JSON Web Tokens (RFC 7519) and publishing the key
 * that verifies them (RFC 7517).
 *
 * Signing is OpenSSL's EVP_DigestSign with SHA-256 over
 * base64url(header) "." base64url(claims); the header is always
 * {"alg":"RS256","typ":"JWT","kid":…}. Keys are parsed once (DESIGN §13:
 * OpenSSL 3 key loading is slow) and the EVP_PKEY is reused; EVP_PKEY
 * signing is safe from several threads at once.
 */
#ifndef LC_JWT_H
#define LC_JWT_H

#include <openssl/evp.h>
#include <stddef.h>

/* Reads a PEM private key from `path`; it must be RSA of at least 2048
 * bits. NULL with a one-line reason in `err`. */
EVP_PKEY *lc_jwt_load_private_pem(const char *path, char *err, size_t errlen);

/* Signs `claims_json` (an object's JSON text) with `key` under `kid`.
 * Returns the compact token (malloc'd) or NULL. */
char *lc_jwt_sign_rs256(EVP_PKEY *key, const char *kid,
                        const char *claims_json);

/* The public half of an RSA key: modulus and exponent as base64url
 * (malloc'd, no padding) and the SubjectPublicKeyInfo PEM (malloc'd). */
int lc_jwt_public_parts(EVP_PKEY *key, char **n, char **e, char **pem);

#endif
