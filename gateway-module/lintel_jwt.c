/*
 * lintel_jwt: header, signature and claim checks for RS256 access tokens
 * (see lintel_jwt.h).  Pure C over OpenSSL and cJSON: no nginx.
 *
 * cJSON is case-insensitive in cJSON_GetObjectItem and keeps the first of
 * duplicate members, so members are looked up case-sensitively and a
 * document with a duplicate member is refused: otherwise a token could say
 * "alg" twice and two parsers would disagree on which one counts.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE          /* memmem() */
#endif

#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/rsa.h>

#include "lc_b64url.h"
#include "lintel_jwt.h"


#define LINTEL_JWT_MAX_PAYLOAD  4096
#define LINTEL_JWT_MAX_MEMBERS  32
#define LINTEL_JWT_MAX_AUD      16


static cJSON *lintel_jwt_parse_object(const char *b64, size_t len,
    size_t max);
static int lintel_jwt_unique_members(const cJSON *obj);
static int lintel_jwt_get_string(const cJSON *obj, const char *name,
    char *out, size_t size);
static int lintel_jwt_get_time(const cJSON *obj, const char *name,
    int64_t *out);
static int lintel_jwt_id_valid(const char *s);
static int lintel_jwt_role_known(const char *role);


static const char  *lintel_jwt_roles[] = {
    "owner", "admin", "manager", "member", "viewer", "platform_admin", NULL
};


lintel_jwt_rc_e
lintel_jwt_split(const char *token, size_t len, lintel_jwt_parts_t *parts)
{
    const char  *p, *end, *dot1, *dot2;

    if (token == NULL || len == 0 || len > LINTEL_JWT_MAX_TOKEN) {
        return LINTEL_JWT_MALFORMED;
    }

    end = token + len;
    dot1 = memchr(token, '.', len);

    if (dot1 == NULL) {
        return LINTEL_JWT_MALFORMED;
    }

    dot2 = memchr(dot1 + 1, '.', end - dot1 - 1);

    if (dot2 == NULL || memchr(dot2 + 1, '.', end - dot2 - 1) != NULL) {
        return LINTEL_JWT_MALFORMED;
    }

    for (p = token; p < end; p++) {
        if (p != dot1 && p != dot2
            && !lc_b64url_is_char((unsigned char) *p))
        {
            return LINTEL_JWT_MALFORMED;
        }
    }

    parts->header = token;
    parts->header_len = dot1 - token;
    parts->payload = dot1 + 1;
    parts->payload_len = dot2 - dot1 - 1;
    parts->signature = dot2 + 1;
    parts->signature_len = end - dot2 - 1;
    parts->signing_input_len = dot2 - token;

    /* an empty signature is how "alg":"none" tokens look: refuse early */

    if (parts->header_len == 0 || parts->payload_len == 0
        || parts->signature_len == 0)
    {
        return LINTEL_JWT_MALFORMED;
    }

    return LINTEL_JWT_OK;
}


static cJSON *
lintel_jwt_parse_object(const char *b64, size_t len, size_t max)
{
    long            n;
    cJSON          *obj;
    unsigned char   buf[LINTEL_JWT_MAX_PAYLOAD + 4];

    if (len > max * 4 / 3 + 4 || max > LINTEL_JWT_MAX_PAYLOAD) {
        return NULL;
    }

    n = lc_b64url_decode(b64, len, buf, max);

    if (n <= 0) {
        return NULL;
    }

    /*
     * A NUL, raw or escaped, would cut a C string short: "k1\u0000x" must
     * not become the kid "k1".
     */

    if (memchr(buf, '\0', (size_t) n) != NULL
        || memmem(buf, (size_t) n, "\\u0000", 6) != NULL)
    {
        return NULL;
    }

    /* trailing bytes after the object are refused, not ignored */

    buf[n] = '\0';

    obj = cJSON_ParseWithLengthOpts((const char *) buf, (size_t) n + 1, NULL,
                                    1);
    if (obj == NULL) {
        return NULL;
    }

    if (!cJSON_IsObject(obj) || !lintel_jwt_unique_members(obj)) {
        cJSON_Delete(obj);
        return NULL;
    }

    return obj;
}


static int
lintel_jwt_unique_members(const cJSON *obj)
{
    int           n;
    const cJSON  *a, *b;

    n = 0;

    for (a = obj->child; a != NULL; a = a->next) {
        if (a->string == NULL || ++n > LINTEL_JWT_MAX_MEMBERS) {
            return 0;
        }

        for (b = obj->child; b != a; b = b->next) {
            if (strcmp(a->string, b->string) == 0) {
                return 0;
            }
        }
    }

    return 1;
}


/* 1: copied, 0: absent, -1: present but not a string or too long */

static int
lintel_jwt_get_string(const cJSON *obj, const char *name, char *out,
    size_t size)
{
    size_t        len;
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (item == NULL) {
        return 0;
    }

    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        return -1;
    }

    len = strlen(item->valuestring);

    if (len >= size) {
        return -1;
    }

    memcpy(out, item->valuestring, len + 1);

    return 1;
}


/* 1: read, 0: absent, -1: not an integral number in a sane range */

static int
lintel_jwt_get_time(const cJSON *obj, const char *name, int64_t *out)
{
    double        d;
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (item == NULL) {
        return 0;
    }

    if (!cJSON_IsNumber(item)) {
        return -1;
    }

    d = item->valuedouble;

    /* 0 .. year 10000; cJSON numbers are doubles, exact up to 2^53 */

    if (!(d >= 0 && d <= 253402300800.0) || d != (double) (int64_t) d) {
        return -1;
    }

    *out = (int64_t) d;

    return 1;
}


static int
lintel_jwt_id_valid(const char *s)
{
    const char  *p;

    if (*s == '\0') {
        return 0;
    }

    for (p = s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
            || *p == '.')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


static int
lintel_jwt_role_known(const char *role)
{
    const char  **r;

    for (r = lintel_jwt_roles; *r; r++) {
        if (strcmp(*r, role) == 0) {
            return 1;
        }
    }

    return 0;
}


lintel_jwt_rc_e
lintel_jwt_check_header(const lintel_jwt_parts_t *parts,
    char kid[LINTEL_JWT_KID_MAX + 1])
{
    int              rc;
    char             buf[16];
    cJSON           *hdr;
    lintel_jwt_rc_e  ret;

    static const char  *forbidden[] = { "crit", "jku", "jwk", "x5u", "x5c",
                                        NULL };
    const char        **f;

    hdr = lintel_jwt_parse_object(parts->header, parts->header_len,
                                  LINTEL_JWT_MAX_HEADER);
    if (hdr == NULL) {
        return LINTEL_JWT_BAD_HEADER;
    }

    ret = LINTEL_JWT_BAD_ALG;

    rc = lintel_jwt_get_string(hdr, "alg", buf, sizeof(buf));

    if (rc != 1 || strcmp(buf, "RS256") != 0) {
        goto done;
    }

    ret = LINTEL_JWT_BAD_HEADER;

    rc = lintel_jwt_get_string(hdr, "typ", buf, sizeof(buf));

    if (rc == -1 || (rc == 1 && strcmp(buf, "JWT") != 0)) {
        goto done;
    }

    for (f = forbidden; *f; f++) {
        if (cJSON_GetObjectItemCaseSensitive(hdr, *f) != NULL) {
            goto done;
        }
    }

    ret = LINTEL_JWT_BAD_KID;

    rc = lintel_jwt_get_string(hdr, "kid", kid, LINTEL_JWT_KID_MAX + 1);

    if (rc != 1 || !lintel_jwt_id_valid(kid) || strstr(kid, "..") != NULL) {
        kid[0] = '\0';
        goto done;
    }

    ret = LINTEL_JWT_OK;

done:

    cJSON_Delete(hdr);

    return ret;
}


lintel_jwt_rc_e
lintel_jwt_verify_rs256(const lintel_jwt_parts_t *parts, EVP_PKEY *key)
{
    int             ok;
    long            n;
    EVP_MD_CTX     *md;
    unsigned char   sig[1024];

    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA
        || EVP_PKEY_get_bits(key) < 2048)
    {
        return LINTEL_JWT_BAD_SIGNATURE;
    }

    n = lc_b64url_decode(parts->signature, parts->signature_len,
                                 sig, sizeof(sig));

    if (n != EVP_PKEY_get_size(key)) {
        return LINTEL_JWT_BAD_SIGNATURE;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return LINTEL_JWT_BAD_SIGNATURE;
    }

    ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1
         && EVP_DigestVerify(md, sig, (size_t) n,
                             (const unsigned char *) parts->header,
                             parts->signing_input_len) == 1;

    EVP_MD_CTX_free(md);

    return ok ? LINTEL_JWT_OK : LINTEL_JWT_BAD_SIGNATURE;
}


lintel_jwt_rc_e
lintel_jwt_check_claims(const lintel_jwt_parts_t *parts,
    const lintel_jwt_policy_t *policy, time_t now,
    lintel_jwt_claims_t *claims)
{
    int              rc, n, found;
    char             buf[256];
    cJSON           *pl;
    const cJSON     *aud, *a;
    lintel_jwt_rc_e  ret;

    memset(claims, 0, sizeof(lintel_jwt_claims_t));

    pl = lintel_jwt_parse_object(parts->payload, parts->payload_len,
                                 LINTEL_JWT_MAX_PAYLOAD);
    if (pl == NULL) {
        return LINTEL_JWT_MALFORMED;
    }

    ret = LINTEL_JWT_BAD_CLAIMS;

    if (lintel_jwt_get_time(pl, "exp", &claims->exp) != 1
        || lintel_jwt_get_time(pl, "iat", &claims->iat) != 1
        || lintel_jwt_get_time(pl, "nbf", &claims->nbf) == -1)
    {
        goto done;
    }

    ret = lintel_jwt_check_times(claims, policy->leeway, now);
    if (ret != LINTEL_JWT_OK) {
        goto done;
    }

    ret = LINTEL_JWT_BAD_ISSUER;

    if (lintel_jwt_get_string(pl, "iss", buf, sizeof(buf)) != 1
        || policy->issuer == NULL || strcmp(buf, policy->issuer) != 0)
    {
        goto done;
    }

    ret = LINTEL_JWT_BAD_AUDIENCE;

    aud = cJSON_GetObjectItemCaseSensitive(pl, "aud");

    if (aud == NULL || policy->audience == NULL) {
        goto done;
    }

    if (cJSON_IsString(aud)) {
        if (strcmp(aud->valuestring, policy->audience) != 0) {
            goto done;
        }

    } else if (cJSON_IsArray(aud)) {
        n = 0;
        found = 0;

        cJSON_ArrayForEach(a, aud) {
            if (!cJSON_IsString(a) || ++n > LINTEL_JWT_MAX_AUD) {
                goto done;
            }

            if (strcmp(a->valuestring, policy->audience) == 0) {
                found = 1;
            }
        }

        if (!found) {
            goto done;
        }

    } else {
        goto done;
    }

    ret = LINTEL_JWT_BAD_TYPE;

    if (lintel_jwt_get_string(pl, "typ", buf, sizeof(buf)) != 1
        || strcmp(buf, "access") != 0)
    {
        goto done;
    }

    ret = LINTEL_JWT_BAD_CLAIMS;

    if (lintel_jwt_get_string(pl, "sub", claims->sub, sizeof(claims->sub))
        != 1
        || !lintel_jwt_id_valid(claims->sub)
        || lintel_jwt_get_string(pl, "role", claims->role,
                                 sizeof(claims->role)) != 1
        || !lintel_jwt_role_known(claims->role)
        || lintel_jwt_get_string(pl, "sid", claims->sid, sizeof(claims->sid))
           == -1
        || lintel_jwt_get_string(pl, "jti", claims->jti, sizeof(claims->jti))
           == -1)
    {
        goto done;
    }

    rc = lintel_jwt_get_string(pl, "tid", claims->tid, sizeof(claims->tid));

    if (rc == -1 || (rc == 1 && !lintel_jwt_id_valid(claims->tid))) {
        goto done;
    }

    /* a platform token is exactly a platform_admin token without "tid" */

    if ((rc == 1) == (strcmp(claims->role, "platform_admin") == 0)) {
        goto done;
    }

    ret = LINTEL_JWT_OK;

done:

    cJSON_Delete(pl);

    return ret;
}


lintel_jwt_rc_e
lintel_jwt_check_times(const lintel_jwt_claims_t *claims, int leeway,
    time_t now)
{
    if (leeway < 0 || leeway > LINTEL_JWT_MAX_LEEWAY) {
        leeway = LINTEL_JWT_MAX_LEEWAY;
    }

    if ((int64_t) now >= claims->exp + leeway) {
        return LINTEL_JWT_EXPIRED;
    }

    if (claims->nbf != 0 && (int64_t) now + leeway < claims->nbf) {
        return LINTEL_JWT_NOT_YET_VALID;
    }

    if ((int64_t) now + leeway < claims->iat) {
        return LINTEL_JWT_NOT_YET_VALID;
    }

    return LINTEL_JWT_OK;
}


lintel_jwt_rc_e
lintel_jwt_check_scope(const lintel_jwt_claims_t *claims,
    const char *tenant_id, size_t tenant_id_len)
{
    if (tenant_id == NULL) {
        return claims->tid[0] == '\0' ? LINTEL_JWT_OK
                                      : LINTEL_JWT_TENANT_MISMATCH;
    }

    if (claims->tid[0] == '\0' || strlen(claims->tid) != tenant_id_len
        || memcmp(claims->tid, tenant_id, tenant_id_len) != 0)
    {
        return LINTEL_JWT_TENANT_MISMATCH;
    }

    return LINTEL_JWT_OK;
}


const char *
lintel_jwt_strerror(lintel_jwt_rc_e rc)
{
    switch (rc) {
    case LINTEL_JWT_OK:
        return "ok";
    case LINTEL_JWT_MALFORMED:
        return "malformed token";
    case LINTEL_JWT_BAD_HEADER:
        return "bad header";
    case LINTEL_JWT_BAD_ALG:
        return "algorithm is not RS256";
    case LINTEL_JWT_BAD_KID:
        return "bad or unknown kid";
    case LINTEL_JWT_BAD_SIGNATURE:
        return "bad signature";
    case LINTEL_JWT_BAD_CLAIMS:
        return "bad claims";
    case LINTEL_JWT_EXPIRED:
        return "expired";
    case LINTEL_JWT_NOT_YET_VALID:
        return "not yet valid";
    case LINTEL_JWT_BAD_ISSUER:
        return "wrong issuer";
    case LINTEL_JWT_BAD_AUDIENCE:
        return "wrong audience";
    case LINTEL_JWT_BAD_TYPE:
        return "not an access token";
    case LINTEL_JWT_TENANT_MISMATCH:
        return "token of another tenant";
    }

    return "unknown";
}
