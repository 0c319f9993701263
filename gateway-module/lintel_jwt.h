/*
 * lintel_jwt: the access token rules of DESIGN §4, without nginx.
 *
 * libjwt 1.10 takes the algorithm from the token, accepts "none" with an
 * empty key and re-reads a PEM key on every call, so the gateway does not
 * use it: the header is checked before anything else is decoded (alg
 * exactly RS256, typ JWT, a well-formed kid), the RS256 signature is
 * verified with OpenSSL against a key parsed once per worker, and every
 * claim is checked by hand.
 */

#ifndef _LINTEL_JWT_H_INCLUDED_
#define _LINTEL_JWT_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>


#define LINTEL_JWT_MAX_TOKEN    8192
#define LINTEL_JWT_MAX_HEADER   1024
#define LINTEL_JWT_KID_MAX      64
#define LINTEL_JWT_ID_MAX       64
#define LINTEL_JWT_ROLE_MAX     32
#define LINTEL_JWT_MAX_LEEWAY   60


typedef enum {
    LINTEL_JWT_OK = 0,
    LINTEL_JWT_MALFORMED,
    LINTEL_JWT_BAD_HEADER,
    LINTEL_JWT_BAD_ALG,
    LINTEL_JWT_BAD_KID,
    LINTEL_JWT_BAD_SIGNATURE,
    LINTEL_JWT_BAD_CLAIMS,
    LINTEL_JWT_EXPIRED,
    LINTEL_JWT_NOT_YET_VALID,
    LINTEL_JWT_BAD_ISSUER,
    LINTEL_JWT_BAD_AUDIENCE,
    LINTEL_JWT_BAD_TYPE,
    LINTEL_JWT_TENANT_MISMATCH
} lintel_jwt_rc_e;


/* the three dot-separated parts of a compact JWS, pointing into the token */
typedef struct {
    const char  *header;
    size_t       header_len;
    const char  *payload;
    size_t       payload_len;
    const char  *signature;
    size_t       signature_len;
    size_t       signing_input_len;   /* header "." payload */
} lintel_jwt_parts_t;


typedef struct {
    char     sub[LINTEL_JWT_ID_MAX + 1];
    char     tid[LINTEL_JWT_ID_MAX + 1];    /* "" for a platform token */
    char     role[LINTEL_JWT_ROLE_MAX + 1];
    char     sid[LINTEL_JWT_ID_MAX + 1];
    char     jti[LINTEL_JWT_ID_MAX + 1];
    int64_t  exp;
    int64_t  nbf;                           /* 0 when absent */
    int64_t  iat;
} lintel_jwt_claims_t;


typedef struct {
    const char  *issuer;
    const char  *audience;
    int          leeway;                    /* seconds, 0..60 */
} lintel_jwt_policy_t;


/* Splits "h.p.s"; every part non-empty and base64url. */
lintel_jwt_rc_e lintel_jwt_split(const char *token, size_t len,
    lintel_jwt_parts_t *parts);

/*
 * Checks the decoded-from-base64url header before anything else: a JSON
 * object without duplicate members, "alg" exactly "RS256", "typ" (when
 * present) "JWT", no "crit", "jku", "jwk", "x5u" or "x5c", and a "kid" of
 * 1..64 characters from [A-Za-z0-9._-] (so no path can be smuggled in),
 * copied NUL-terminated to "kid".
 */
lintel_jwt_rc_e lintel_jwt_check_header(const lintel_jwt_parts_t *parts,
    char kid[LINTEL_JWT_KID_MAX + 1]);

/* RSASSA-PKCS1-v1_5 with SHA-256 over header "." payload, key ≥ 2048 bits. */
lintel_jwt_rc_e lintel_jwt_verify_rs256(const lintel_jwt_parts_t *parts,
    EVP_PKEY *key);

/*
 * Decodes and checks the payload against the policy at "now": exp (required)
 * and nbf, iat (required) with the leeway, iss, aud (string or array), typ
 * "access", sub, a known role, and "tid" absent exactly for platform_admin.
 */
lintel_jwt_rc_e lintel_jwt_check_claims(const lintel_jwt_parts_t *parts,
    const lintel_jwt_policy_t *policy, time_t now,
    lintel_jwt_claims_t *claims);

/* Re-checks only the time claims, for a token taken from a cache. */
lintel_jwt_rc_e lintel_jwt_check_times(const lintel_jwt_claims_t *claims,
    int leeway, time_t now);

/*
 * A tenant token only on its own tenant's host ("tenant_id" the resolved
 * tenant), a platform token only on the apex host ("tenant_id" NULL).
 */
lintel_jwt_rc_e lintel_jwt_check_scope(const lintel_jwt_claims_t *claims,
    const char *tenant_id, size_t tenant_id_len);

const char *lintel_jwt_strerror(lintel_jwt_rc_e rc);


#endif /* _LINTEL_JWT_H_INCLUDED_ */
