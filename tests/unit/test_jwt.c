/* lc_jwt: key loading, RS256 signatures a verifier accepts, public parts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "lc_jwt.h"
#include "lc_b64url.h"

static char key_path[64];
static lc_jwt_key key;

static int
write_key(const char *path, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    int ok = f && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;

    if (f) {
        fclose(f);
    }
    return ok ? 0 : -1;
}

static int
setup(void **state)
{
    EVP_PKEY *gen = EVP_RSA_gen(2048);
    char err[256];
    int fd;

    (void)state;
    snprintf(key_path, sizeof(key_path), "/tmp/lc_jwt_test_XXXXXX");
    fd = mkstemp(key_path);
    close(fd);
    if (gen == NULL || write_key(key_path, gen) != 0) {
        return -1;
    }
    EVP_PKEY_free(gen);
    return lc_jwt_key_load(&key, key_path, err, sizeof(err));
}

static int
teardown(void **state)
{
    (void)state;
    lc_jwt_key_free(&key);
    unlink(key_path);
    return 0;
}

static size_t
b64d(const char *s, size_t n, unsigned char *out, size_t cap)
{
    long len = lc_b64url_decode(s, n, out, cap);

    assert_true(len >= 0);
    return (size_t)len;
}

/* `json` (n bytes) is an object with exactly the members of `want`. */
static void
assert_json_members(const unsigned char *json, size_t n, const char *want)
{
    cJSON *got = cJSON_ParseWithLength((const char *)json, n);
    cJSON *exp = cJSON_Parse(want);

    assert_non_null(got);
    assert_non_null(exp);
    assert_true(cJSON_Compare(got, exp, 1));
    cJSON_Delete(got);
    cJSON_Delete(exp);
}

static void
test_sign_produces_a_verifiable_rs256_token(void **state)
{
    const char *claims = "{\"sub\":\"u\",\"typ\":\"access\"}";
    char *token = lc_jwt_sign_rs256(&key, "k1", claims);
    char *dot1, *dot2;
    unsigned char part[1024];
    size_t n;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    (void)state;
    assert_non_null(token);
    dot1 = strchr(token, '.');
    dot2 = strrchr(token, '.');
    assert_true(dot1 != NULL && dot2 != dot1);
    n = b64d(token, (size_t)(dot1 - token), part, sizeof(part));
    assert_json_members(part, n, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}");
    n = b64d(dot1 + 1, (size_t)(dot2 - dot1 - 1), part, sizeof(part));
    assert_json_members(part, n, claims);
    n = b64d(dot2 + 1, strlen(dot2 + 1), part, sizeof(part));
    assert_int_equal(n, 256);
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key.pkey),
                     1);
    assert_int_equal(EVP_DigestVerify(md, part, n, (unsigned char *)token,
                                      (size_t)(dot2 - token)),
                     1);
    /* A changed claim no longer verifies. */
    token[(dot1 - token) + 3] ^= 1;
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key.pkey),
                     1);
    assert_int_not_equal(EVP_DigestVerify(md, part, n, (unsigned char *)token,
                                          (size_t)(dot2 - token)),
                         1);
    EVP_MD_CTX_free(md);
    free(token);
}

static void
test_signing_is_deterministic(void **state)
{
    char *a = lc_jwt_sign_rs256(&key, "k1", "{\"a\":1}");
    char *b = lc_jwt_sign_rs256(&key, "k1", "{\"a\":1}");

    (void)state;
    /* PKCS#1 v1.5: the same claims, the same token (the refresh race
     * hands out the same pair twice). */
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void
test_public_parts_match_the_key(void **state)
{
    char *n, *e, *pem;
    unsigned char raw[512];
    BIGNUM *bn = NULL;
    size_t len;

    (void)state;
    assert_int_equal(lc_jwt_public_parts(key.pkey, &n, &e, &pem), 0);
    assert_string_equal(e, "AQAB");
    assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
    len = b64d(n, strlen(n), raw, sizeof(raw));
    assert_int_equal(len, 256);
    assert_int_equal(EVP_PKEY_get_bn_param(key.pkey, OSSL_PKEY_PARAM_RSA_N, &bn), 1);
    assert_int_equal(BN_num_bytes(bn), 256);
    {
        unsigned char want[256];

        BN_bn2bin(bn, want);
        assert_memory_equal(raw, want, 256);
    }
    BN_free(bn);
    free(n);
    free(e);
    free(pem);
}

static void
test_loading_refuses_what_cannot_sign(void **state)
{
    char err[256], path[64];
    lc_jwt_key bad;
    EVP_PKEY *k;
    FILE *f;
    int fd;

    (void)state;
    assert_int_equal(
        lc_jwt_key_load(&bad, "/nonexistent/k.pem", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot open"));

    snprintf(path, sizeof(path), "/tmp/lc_jwt_bad_XXXXXX");
    fd = mkstemp(path);
    close(fd);
    f = fopen(path, "w");
    fputs("not a key\n", f);
    fclose(f);
    assert_int_equal(lc_jwt_key_load(&bad, path, err, sizeof(err)), -1);
    assert_null(bad.pkey);
    assert_non_null(strstr(err, "not a PEM private key"));

    k = EVP_EC_gen("P-256");
    write_key(path, k);
    EVP_PKEY_free(k);
    assert_int_equal(lc_jwt_key_load(&bad, path, err, sizeof(err)), -1);
    assert_null(bad.pkey);
    assert_non_null(strstr(err, "not an RSA key"));

    k = EVP_RSA_gen(1024);
    write_key(path, k);
    EVP_PKEY_free(k);
    assert_int_equal(lc_jwt_key_load(&bad, path, err, sizeof(err)), -1);
    assert_null(bad.pkey);
    assert_non_null(strstr(err, "shorter than 2048"));
    unlink(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_produces_a_verifiable_rs256_token),
        cmocka_unit_test(test_signing_is_deterministic),
        cmocka_unit_test(test_public_parts_match_the_key),
        cmocka_unit_test(test_loading_refuses_what_cannot_sign),
    };

    return cmocka_run_group_tests_name("jwt", tests, setup, teardown);
}
