/*
 * lc_jwt.c: RS256 signing and the public parts of a signing key.
 */
#include "lc_jwt.h"

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_token.h"

EVP_PKEY *
lc_jwt_load_private_pem(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *key;

    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %m", path);
        return NULL;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL) {
        snprintf(err, errlen, "%s: not a PEM private key", path);
        return NULL;
    }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "%s: not an RSA key", path);
        EVP_PKEY_free(key);
        return NULL;
    }
    if (EVP_PKEY_get_bits(key) < 2048) {
        snprintf(err, errlen, "%s: RSA key shorter than 2048 bits", path);
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

/* base64url of `len` bytes into a new string. */
static char *
lc_jwt_b64(const void *data, size_t len)
{
    size_t cap = len / 3 * 4 + 5;
    char *out = malloc(cap);

    if (out != NULL && lc_base64url_encode(data, len, out, cap) < 0) {
        free(out);
        out = NULL;
    }
    return out;
}

char *
lc_jwt_sign_rs256(EVP_PKEY *key, const char *kid, const char *claims_json)
{
    cJSON *hdr = cJSON_CreateObject();
    char *hdr_json = NULL, *h64 = NULL, *c64 = NULL, *input = NULL;
    char *s64 = NULL, *token = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0, inlen;
    EVP_MD_CTX *md = NULL;

    if (hdr == NULL || !cJSON_AddStringToObject(hdr, "alg", "RS256") ||
        !cJSON_AddStringToObject(hdr, "typ", "JWT") ||
        !cJSON_AddStringToObject(hdr, "kid", kid) ||
        (hdr_json = cJSON_PrintUnformatted(hdr)) == NULL ||
        (h64 = lc_jwt_b64(hdr_json, strlen(hdr_json))) == NULL ||
        (c64 = lc_jwt_b64(claims_json, strlen(claims_json))) == NULL) {
        goto done;
    }
    inlen = strlen(h64) + 1 + strlen(c64);
    input = malloc(inlen + 1);
    if (input == NULL) {
        goto done;
    }
    snprintf(input, inlen + 1, "%s.%s", h64, c64);
    md = EVP_MD_CTX_new();
    if (md == NULL ||
        EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (unsigned char *)input, inlen) != 1 ||
        (sig = malloc(siglen)) == NULL ||
        EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, inlen) != 1 ||
        (s64 = lc_jwt_b64(sig, siglen)) == NULL) {
        goto done;
    }
    token = malloc(inlen + 1 + strlen(s64) + 1);
    if (token != NULL) {
        sprintf(token, "%s.%s", input, s64);
    }
done:
    EVP_MD_CTX_free(md);
    cJSON_Delete(hdr);
    free(hdr_json);
    free(h64);
    free(c64);
    free(input);
    free(sig);
    free(s64);
    return token;
}

/* A big number as unsigned big-endian bytes, base64url. */
static char *
lc_jwt_bn_b64(EVP_PKEY *key, const char *param)
{
    BIGNUM *bn = NULL;
    unsigned char *buf;
    char *out = NULL;
    int len;

    if (EVP_PKEY_get_bn_param(key, param, &bn) != 1) {
        return NULL;
    }
    len = BN_num_bytes(bn);
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf != NULL) {
        BN_bn2bin(bn, buf);
        out = lc_jwt_b64(buf, (size_t)len);
        free(buf);
    }
    BN_free(bn);
    return out;
}

int
lc_jwt_public_parts(EVP_PKEY *key, char **n, char **e, char **pem)
{
    BIO *bio = NULL;
    char *data;
    long len;

    *n = lc_jwt_bn_b64(key, OSSL_PKEY_PARAM_RSA_N);
    *e = lc_jwt_bn_b64(key, OSSL_PKEY_PARAM_RSA_E);
    *pem = NULL;
    bio = BIO_new(BIO_s_mem());
    if (bio != NULL && PEM_write_bio_PUBKEY(bio, key) == 1) {
        len = BIO_get_mem_data(bio, &data);
        *pem = malloc((size_t)len + 1);
        if (*pem != NULL) {
            memcpy(*pem, data, (size_t)len);
            (*pem)[len] = '\0';
        }
    }
    BIO_free(bio);
    if (*n == NULL || *e == NULL || *pem == NULL) {
        free(*n);
        free(*e);
        free(*pem);
        *n = *e = *pem = NULL;
        return -1;
    }
    return 0;
}
