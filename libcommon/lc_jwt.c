/*
 * lc_jwt.c: signing keys, RS256 signing through libjwt, and the public
 * parts of a key.
 */
#include "lc_jwt.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_b64url.h"

/* The whole file, for libjwt, which signs from the PEM text. */
static int
lc_jwt_read_file(const char *path, unsigned char **out, size_t *len,
                 char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    unsigned char *buf = NULL;
    long size = -1;

    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %m", path);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) == 0) {
        size = ftell(f);
    }
    if (size <= 0 || size > 65536 || fseek(f, 0, SEEK_SET) != 0 ||
        (buf = malloc((size_t)size + 1)) == NULL ||
        fread(buf, 1, (size_t)size, f) != (size_t)size) {
        snprintf(err, errlen, "%s: cannot read a key of up to 64 KiB", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[size] = '\0';
    *out = buf;
    *len = (size_t)size;
    return 0;
}

int
lc_jwt_key_load(lc_jwt_key *key, const char *path, char *err, size_t errlen)
{
    BIO *bio;

    memset(key, 0, sizeof(*key));
    if (lc_jwt_read_file(path, &key->pem, &key->pem_len, err, errlen) != 0) {
        return -1;
    }
    bio = BIO_new_mem_buf(key->pem, (int)key->pem_len);
    key->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (key->pkey == NULL) {
        snprintf(err, errlen, "%s: not a PEM private key", path);
    } else if (EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "%s: not an RSA key", path);
    } else if (EVP_PKEY_get_bits(key->pkey) < 2048) {
        snprintf(err, errlen, "%s: RSA key shorter than 2048 bits", path);
    } else {
        return 0;
    }
    lc_jwt_key_free(key);
    return -1;
}

void
lc_jwt_key_free(lc_jwt_key *key)
{
    EVP_PKEY_free(key->pkey);
    if (key->pem != NULL) {
        OPENSSL_cleanse(key->pem, key->pem_len);
        free(key->pem);
    }
    memset(key, 0, sizeof(*key));
}

char *
lc_jwt_sign_rs256(const lc_jwt_key *key, const char *kid,
                  const char *claims_json)
{
    jwt_t *jwt = NULL;
    char *token = NULL;

    if (jwt_new(&jwt) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_RS256, key->pem, (int)key->pem_len) == 0 &&
        jwt_add_header(jwt, "kid", kid) == 0 &&
        jwt_add_grants_json(jwt, claims_json) == 0) {
        token = jwt_encode_str(jwt);
    }
    jwt_free(jwt);
    return token;
}

/* base64url of `len` bytes into a new string. */
static char *
lc_jwt_b64(const void *data, size_t len)
{
    size_t cap = lc_b64url_encoded_len(len) + 1;
    char *out = malloc(cap);

    if (out != NULL && lc_b64url_encode(data, len, out, cap) < 0) {
        free(out);
        out = NULL;
    }
    return out;
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
