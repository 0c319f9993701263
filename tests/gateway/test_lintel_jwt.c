/* Unit tests of gateway-module/lintel_jwt.c: header, signature, claims. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "lintel_jwt.h"
#include "lc_b64url.h"

#define NOW 1800000000L
#define TID "0b9f7d3e-1111-4c3a-9a51-acme00000001"

static EVP_PKEY *key, *other_key, *small_key;

static const lintel_jwt_policy_t policy = {"https://auth.example.test",
                                           "lintel-api", 30};

/* header "." payload "." RS256 signature with k (no signature if k NULL) */
static char *token(const char *header, const char *payload, EVP_PKEY *k)
{
    static char buf[16384];
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *md;
    size_t n;

    assert_true(lc_b64url_encode(header, strlen(header), buf, sizeof(buf)) >
                0);
    strcat(buf, ".");
    n = strlen(buf);
    assert_true(lc_b64url_encode(payload, strlen(payload), buf + n,
                                 sizeof(buf) - n) >= 0);
    n = strlen(buf);
    buf[n++] = '.';
    buf[n] = '\0';
    if (k) {
        md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k),
                         1);
        assert_int_equal(EVP_DigestSign(md, sig, &siglen,
                                        (const unsigned char *)buf, n - 1),
                         1);
        EVP_MD_CTX_free(md);
        assert_true(lc_b64url_encode(sig, siglen, buf + n, sizeof(buf) - n) >
                    0);
    }
    return buf;
}

static const char *HDR = "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}";

static const char *claims(const char *extra)
{
    static char buf[4096];

    snprintf(buf, sizeof(buf),
             "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
             "\"sub\":\"u-1\",\"tid\":\"" TID "\",\"role\":\"member\","
             "\"sid\":\"s-1\",\"jti\":\"j-1\",\"iat\":%ld,\"exp\":%ld,"
             "\"typ\":\"access\"%s}",
             NOW - 10, NOW + 900, extra ? extra : "");
    return buf;
}

/* the whole pipeline, as the gateway runs it */
static lintel_jwt_rc_e verify(const char *tok, lintel_jwt_claims_t *c)
{
    lintel_jwt_parts_t parts;
    lintel_jwt_claims_t local;
    char kid[LINTEL_JWT_KID_MAX + 1];
    lintel_jwt_rc_e rc;

    if (c == NULL)
        c = &local;
    rc = lintel_jwt_split(tok, strlen(tok), &parts);
    if (rc != LINTEL_JWT_OK)
        return rc;
    rc = lintel_jwt_check_header(&parts, kid);
    if (rc != LINTEL_JWT_OK)
        return rc;
    if (strcmp(kid, "k1") != 0)
        return LINTEL_JWT_BAD_KID;
    rc = lintel_jwt_verify_rs256(&parts, key);
    if (rc != LINTEL_JWT_OK)
        return rc;
    return lintel_jwt_check_claims(&parts, &policy, NOW, c);
}

static char *raw_claims(const char *json)
{
    return token(HDR, json, key);
}

static int setup(void **state)
{
    (void)state;
    key = EVP_RSA_gen(2048);
    other_key = EVP_RSA_gen(2048);
    small_key = EVP_RSA_gen(1024);
    return key && other_key && small_key ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(small_key);
    return 0;
}

static void test_valid_token(void **state)
{
    lintel_jwt_claims_t c;

    (void)state;
    assert_int_equal(verify(token(HDR, claims(NULL), key), &c), LINTEL_JWT_OK);
    assert_string_equal(c.sub, "u-1");
    assert_string_equal(c.tid, TID);
    assert_string_equal(c.role, "member");
    assert_string_equal(c.sid, "s-1");
    assert_string_equal(c.jti, "j-1");
    assert_int_equal(c.exp, NOW + 900);
}

static void test_header_without_typ_is_accepted(void **state)
{
    (void)state;
    assert_int_equal(verify(token("{\"alg\":\"RS256\",\"kid\":\"k1\"}",
                                  claims(NULL), key),
                            NULL),
                     LINTEL_JWT_OK);
}

static void test_alg_must_be_exactly_rs256(void **state)
{
    static const char *hdrs[] = {
        "{\"alg\":\"none\",\"kid\":\"k1\"}",
        "{\"alg\":\"None\",\"kid\":\"k1\"}",
        "{\"alg\":\"HS256\",\"kid\":\"k1\"}",
        "{\"alg\":\"rs256\",\"kid\":\"k1\"}",
        "{\"alg\":\"RS256 \",\"kid\":\"k1\"}",
        "{\"alg\":\"RS512\",\"kid\":\"k1\"}",
        "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
        "{\"alg\":[\"RS256\"],\"kid\":\"k1\"}",
        "{\"ALG\":\"RS256\",\"kid\":\"k1\"}",
        "{\"kid\":\"k1\"}",
        NULL};
    const char **h;

    (void)state;
    for (h = hdrs; *h; h++)
        assert_int_equal(verify(token(*h, claims(NULL), key), NULL),
                         LINTEL_JWT_BAD_ALG);
}

static void test_alg_none_without_signature(void **state)
{
    (void)state;
    assert_int_equal(
        verify(token("{\"alg\":\"none\",\"kid\":\"k1\"}", claims(NULL), NULL),
               NULL),
        LINTEL_JWT_MALFORMED);
}

static void test_duplicate_header_member(void **state)
{
    (void)state;
    assert_int_equal(
        verify(token("{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"k1\"}",
                     claims(NULL), key),
               NULL),
        LINTEL_JWT_BAD_HEADER);
}

static void test_forbidden_header_members(void **state)
{
    static const char *hdrs[] = {
        "{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"exp\"]}",
        "{\"alg\":\"RS256\",\"kid\":\"k1\",\"jku\":\"https://evil\"}",
        "{\"alg\":\"RS256\",\"kid\":\"k1\",\"jwk\":{}}",
        "{\"alg\":\"RS256\",\"kid\":\"k1\",\"x5u\":\"https://evil\"}",
        "{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JOSE+JSON\"}",
        "{\"alg\":\"RS256\",\"kid\":\"k1\"} trailing",
        "[\"alg\",\"RS256\"]",
        NULL};
    const char **h;

    (void)state;
    for (h = hdrs; *h; h++)
        assert_int_equal(verify(token(*h, claims(NULL), key), NULL),
                         LINTEL_JWT_BAD_HEADER);
}

static void test_kid_must_be_a_plain_name(void **state)
{
    static const char *hdrs[] = {
        "{\"alg\":\"RS256\",\"kid\":\"../../etc/passwd\"}",
        "{\"alg\":\"RS256\",\"kid\":\"/dev/null\"}",
        "{\"alg\":\"RS256\",\"kid\":\"..\"}",
        "{\"alg\":\"RS256\",\"kid\":\"k1\\u0000x\"}",
        "{\"alg\":\"RS256\",\"kid\":\"\"}",
        "{\"alg\":\"RS256\",\"kid\":1}",
        "{\"alg\":\"RS256\",\"kid\":\"k 1\"}",
        "{\"alg\":\"RS256\",\"kid\":\"x' OR 1=1\"}",
        "{\"alg\":\"RS256\"}",
        NULL};
    const char **h;
    lintel_jwt_parts_t parts;
    char kid[LINTEL_JWT_KID_MAX + 1];
    const char *t;

    (void)state;
    for (h = hdrs; *h; h++) {
        t = token(*h, claims(NULL), key);
        assert_int_equal(lintel_jwt_split(t, strlen(t), &parts),
                         LINTEL_JWT_OK);
        assert_int_not_equal(lintel_jwt_check_header(&parts, kid),
                             LINTEL_JWT_OK);
    }
}

static void test_hs256_with_the_public_key_bytes(void **state)
{
    char buf[8192], mac64[128];
    unsigned char mac[32];
    unsigned maclen = sizeof(mac);
    unsigned char pem[] = "-----BEGIN PUBLIC KEY-----\nMIIB...\n";

    (void)state;
    strcpy(buf, token("{\"alg\":\"HS256\",\"kid\":\"k1\"}", claims(NULL), NULL));
    HMAC(EVP_sha256(), pem, sizeof(pem) - 1, (unsigned char *)buf,
         strlen(buf) - 1, mac, &maclen);
    assert_true(lc_b64url_encode(mac, maclen, mac64, sizeof(mac64)) > 0);
    strcat(buf, mac64);
    assert_int_equal(verify(buf, NULL), LINTEL_JWT_BAD_ALG);

    /* the same MAC under an RS256 header fails the signature check */
    strcpy(buf, token(HDR, claims(NULL), NULL));
    strcat(buf, mac64);
    assert_int_equal(verify(buf, NULL), LINTEL_JWT_BAD_SIGNATURE);
}

static void test_signature_of_another_key(void **state)
{
    (void)state;
    assert_int_equal(verify(token(HDR, claims(NULL), other_key), NULL),
                     LINTEL_JWT_BAD_SIGNATURE);
}

static void test_small_keys_are_refused(void **state)
{
    lintel_jwt_parts_t parts;
    const char *t;

    (void)state;
    t = token(HDR, claims(NULL), small_key);
    assert_int_equal(lintel_jwt_split(t, strlen(t), &parts), LINTEL_JWT_OK);
    assert_int_equal(lintel_jwt_verify_rs256(&parts, small_key),
                     LINTEL_JWT_BAD_SIGNATURE);
    assert_int_equal(lintel_jwt_verify_rs256(&parts, NULL),
                     LINTEL_JWT_BAD_SIGNATURE);
}

static void test_tampered_payload(void **state)
{
    char good[8192], forged[8192];
    char *dot1, *dot2, *fdot1, *fdot2;

    (void)state;
    strcpy(good, token(HDR, claims(NULL), key));
    strcpy(forged, token(HDR, claims(",\"x\":1"), key));
    dot1 = strchr(good, '.');
    dot2 = strchr(dot1 + 1, '.');
    fdot1 = strchr(forged, '.');
    fdot2 = strchr(fdot1 + 1, '.');
    /* forged payload + the good signature */
    strcpy(fdot2 + 1, dot2 + 1);
    assert_int_equal(verify(forged, NULL), LINTEL_JWT_BAD_SIGNATURE);
}

static void test_malformed_tokens(void **state)
{
    static const char *toks[] = {"", "a", "a.b", "a.b.c.d", ".b.c", "a..c",
                                 "a.b.", "a b.c.d", "a.b.c=", "a+b.c.d",
                                 NULL};
    const char **t;
    lintel_jwt_parts_t parts;

    (void)state;
    for (t = toks; *t; t++)
        assert_int_equal(lintel_jwt_split(*t, strlen(*t), &parts),
                         LINTEL_JWT_MALFORMED);
}

static void test_time_claims(void **state)
{
    char c[1024];

    (void)state;
    snprintf(c, sizeof(c),
             "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
             "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"member\",\"typ\":\"access\","
             "\"iat\":%ld,\"exp\":%ld}",
             NOW - 1000, NOW - 31);
    assert_int_equal(verify(raw_claims(c), NULL), LINTEL_JWT_EXPIRED);

    snprintf(c, sizeof(c),
             "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
             "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"member\",\"typ\":\"access\","
             "\"iat\":%ld,\"exp\":%ld}",
             NOW - 1000, NOW - 29);
    assert_int_equal(verify(raw_claims(c), NULL), LINTEL_JWT_OK);

    assert_int_equal(verify(raw_claims(claims(",\"nbf\":1800000100")), NULL),
                     LINTEL_JWT_NOT_YET_VALID);
    assert_int_equal(verify(raw_claims(claims(",\"nbf\":1800000020")), NULL),
                     LINTEL_JWT_OK);

    snprintf(c, sizeof(c),
             "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
             "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"member\",\"typ\":\"access\","
             "\"iat\":%ld,\"exp\":%ld}",
             NOW + 100, NOW + 900);
    assert_int_equal(verify(raw_claims(c), NULL), LINTEL_JWT_NOT_YET_VALID);
}

static void test_times_must_be_integers(void **state)
{
    static const char *bad[] = {
        "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
        "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"member\",\"typ\":\"access\","
        "\"iat\":1799999990,\"exp\":\"1800000900\"}",
        "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
        "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"member\",\"typ\":\"access\","
        "\"iat\":1799999990,\"exp\":1800000900.5}",
        "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
        "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"member\",\"typ\":\"access\","
        "\"iat\":1799999990,\"exp\":1e300}",
        "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
        "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"member\",\"typ\":\"access\","
        "\"iat\":1799999990}",
        "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
        "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"member\",\"typ\":\"access\","
        "\"exp\":1800000900}",
        NULL};
    const char **b;

    (void)state;
    for (b = bad; *b; b++)
        assert_int_equal(verify(raw_claims(*b), NULL), LINTEL_JWT_BAD_CLAIMS);
}

static void test_issuer_audience_and_type(void **state)
{
    char c[1024];

    (void)state;
    snprintf(c, sizeof(c),
             "{\"iss\":\"https://evil\",\"aud\":\"lintel-api\",\"sub\":\"u\","
             "\"tid\":\"t\",\"role\":\"member\",\"typ\":\"access\","
             "\"iat\":%ld,\"exp\":%ld}",
             NOW, NOW + 60);
    assert_int_equal(verify(raw_claims(c), NULL), LINTEL_JWT_BAD_ISSUER);

    snprintf(c, sizeof(c),
             "{\"iss\":\"https://auth.example.test\",\"aud\":\"other\","
             "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"member\","
             "\"typ\":\"access\",\"iat\":%ld,\"exp\":%ld}",
             NOW, NOW + 60);
    assert_int_equal(verify(raw_claims(c), NULL), LINTEL_JWT_BAD_AUDIENCE);

    snprintf(c, sizeof(c),
             "{\"iss\":\"https://auth.example.test\",\"aud\":[\"x\","
             "\"lintel-api\"],\"sub\":\"u\",\"tid\":\"t\",\"role\":\"member\","
             "\"typ\":\"access\",\"iat\":%ld,\"exp\":%ld}",
             NOW, NOW + 60);
    assert_int_equal(verify(raw_claims(c), NULL), LINTEL_JWT_OK);

    snprintf(c, sizeof(c),
             "{\"iss\":\"https://auth.example.test\",\"aud\":[\"x\",1],"
             "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"member\","
             "\"typ\":\"access\",\"iat\":%ld,\"exp\":%ld}",
             NOW, NOW + 60);
    assert_int_equal(verify(raw_claims(c), NULL), LINTEL_JWT_BAD_AUDIENCE);

    snprintf(c, sizeof(c),
             "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
             "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"member\","
             "\"typ\":\"refresh\",\"iat\":%ld,\"exp\":%ld}",
             NOW, NOW + 60);
    assert_int_equal(verify(raw_claims(c), NULL), LINTEL_JWT_BAD_TYPE);
}

static void test_duplicate_claims_are_refused(void **state)
{
    (void)state;
    assert_int_equal(verify(raw_claims(claims(",\"tid\":\"other\"")), NULL),
                     LINTEL_JWT_MALFORMED);
    assert_int_equal(verify(raw_claims(claims(",\"exp\":1")), NULL),
                     LINTEL_JWT_MALFORMED);
}

static void test_roles_and_platform_tokens(void **state)
{
    char c[1024];
    lintel_jwt_claims_t cl;

    (void)state;
    snprintf(c, sizeof(c),
             "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
             "\"sub\":\"u\",\"role\":\"platform_admin\",\"typ\":\"access\","
             "\"iat\":%ld,\"exp\":%ld}",
             NOW, NOW + 60);
    assert_int_equal(verify(raw_claims(c), &cl), LINTEL_JWT_OK);
    assert_string_equal(cl.tid, "");
    assert_int_equal(lintel_jwt_check_scope(&cl, NULL, 0), LINTEL_JWT_OK);
    assert_int_equal(lintel_jwt_check_scope(&cl, TID, strlen(TID)),
                     LINTEL_JWT_TENANT_MISMATCH);

    /* platform_admin with a tenant, or a tenant role without one */
    snprintf(c, sizeof(c),
             "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
             "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"platform_admin\","
             "\"typ\":\"access\",\"iat\":%ld,\"exp\":%ld}",
             NOW, NOW + 60);
    assert_int_equal(verify(raw_claims(c), NULL), LINTEL_JWT_BAD_CLAIMS);
    snprintf(c, sizeof(c),
             "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
             "\"sub\":\"u\",\"role\":\"owner\",\"typ\":\"access\","
             "\"iat\":%ld,\"exp\":%ld}",
             NOW, NOW + 60);
    assert_int_equal(verify(raw_claims(c), NULL), LINTEL_JWT_BAD_CLAIMS);
}

static void test_unknown_role(void **state)
{
    char c[1024];

    (void)state;
    snprintf(c, sizeof(c),
             "{\"iss\":\"https://auth.example.test\",\"aud\":\"lintel-api\","
             "\"sub\":\"u\",\"tid\":\"t\",\"role\":\"root\",\"typ\":\"access\","
             "\"iat\":%ld,\"exp\":%ld}",
             NOW, NOW + 60);
    assert_int_equal(verify(raw_claims(c), NULL), LINTEL_JWT_BAD_CLAIMS);
}

static void test_scope_of_tenant_tokens(void **state)
{
    lintel_jwt_claims_t cl;

    (void)state;
    assert_int_equal(verify(raw_claims(claims(NULL)), &cl), LINTEL_JWT_OK);
    assert_int_equal(lintel_jwt_check_scope(&cl, TID, strlen(TID)),
                     LINTEL_JWT_OK);
    assert_int_equal(lintel_jwt_check_scope(&cl, TID, strlen(TID) - 1),
                     LINTEL_JWT_TENANT_MISMATCH);
    assert_int_equal(lintel_jwt_check_scope(&cl, "other", 5),
                     LINTEL_JWT_TENANT_MISMATCH);
    assert_int_equal(lintel_jwt_check_scope(&cl, NULL, 0),
                     LINTEL_JWT_TENANT_MISMATCH);
}

static void test_cached_claims_still_expire(void **state)
{
    lintel_jwt_claims_t cl;

    (void)state;
    assert_int_equal(verify(raw_claims(claims(NULL)), &cl), LINTEL_JWT_OK);
    assert_int_equal(lintel_jwt_check_times(&cl, 30, NOW + 900 + 29),
                     LINTEL_JWT_OK);
    assert_int_equal(lintel_jwt_check_times(&cl, 30, NOW + 900 + 30),
                     LINTEL_JWT_EXPIRED);
    /* the leeway never exceeds 60 s, whatever the caller asks */
    assert_int_equal(lintel_jwt_check_times(&cl, 3600, NOW + 900 + 61),
                     LINTEL_JWT_EXPIRED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_token),
        cmocka_unit_test(test_header_without_typ_is_accepted),
        cmocka_unit_test(test_alg_must_be_exactly_rs256),
        cmocka_unit_test(test_alg_none_without_signature),
        cmocka_unit_test(test_duplicate_header_member),
        cmocka_unit_test(test_forbidden_header_members),
        cmocka_unit_test(test_kid_must_be_a_plain_name),
        cmocka_unit_test(test_hs256_with_the_public_key_bytes),
        cmocka_unit_test(test_signature_of_another_key),
        cmocka_unit_test(test_small_keys_are_refused),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_malformed_tokens),
        cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_times_must_be_integers),
        cmocka_unit_test(test_issuer_audience_and_type),
        cmocka_unit_test(test_duplicate_claims_are_refused),
        cmocka_unit_test(test_roles_and_platform_tokens),
        cmocka_unit_test(test_unknown_role),
        cmocka_unit_test(test_scope_of_tenant_tokens),
        cmocka_unit_test(test_cached_claims_still_expire),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
