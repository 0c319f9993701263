/*
 * lc_token.c: random tokens, their hashes and base64url.
 */
#include "lc_token.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char lc_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
lc_base64url_encode(const void *in, size_t len, char *out, size_t outlen)
{
    const unsigned char *p = in;
    size_t need = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0), i, o = 0;
    uint32_t v;

    if (outlen < need + 1) {
        return -1;
    }
    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = lc_b64url[v >> 18 & 63];
        out[o++] = lc_b64url[v >> 12 & 63];
        out[o++] = lc_b64url[v >> 6 & 63];
        out[o++] = lc_b64url[v & 63];
    }
    if (len - i == 1) {
        v = (uint32_t)p[i] << 16;
        out[o++] = lc_b64url[v >> 18 & 63];
        out[o++] = lc_b64url[v >> 12 & 63];
    } else if (len - i == 2) {
        v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = lc_b64url[v >> 18 & 63];
        out[o++] = lc_b64url[v >> 12 & 63];
        out[o++] = lc_b64url[v >> 6 & 63];
    }
    out[o] = '\0';
    return (int)o;
}

static int
lc_b64url_value(char c)
{
    const char *p = c ? strchr(lc_b64url, c) : NULL;

    return p ? (int)(p - lc_b64url) : -1;
}

int
lc_base64url_decode(const char *in, size_t len, void *out, size_t outlen)
{
    unsigned char *o = out;
    uint32_t acc = 0;
    size_t i, n = 0;
    int bits = 0, v;

    while (len > 0 && in[len - 1] == '=') {
        len--;
    }
    if (len % 4 == 1) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        v = lc_b64url_value(in[i]);
        if (v < 0) {
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == outlen) {
                return -1;
            }
            o[n++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    return (int)n;
}

int
lc_token_new(char *out)
{
    unsigned char raw[LC_TOKEN_BYTES];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return -1;
    }
    return lc_base64url_encode(raw, sizeof(raw), out, LC_TOKEN_LEN + 1) ==
                   LC_TOKEN_LEN
               ? 0
               : -1;
}

void
lc_token_hash(const char *token, char *out)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    int i;

    SHA256((const unsigned char *)token, strlen(token), md);
    for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

int
lc_token_valid(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != LC_TOKEN_LEN) {
        return 0;
    }
    for (i = 0; i < LC_TOKEN_LEN; i++) {
        if (lc_b64url_value(s[i]) < 0) {
            return 0;
        }
    }
    return 1;
}

void
lc_token_derive(const char *parent, const char *salt, char *out)
{
    static const char domain[] = "lintel-token-derive-v1";
    unsigned char md[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    /* The domain and the parent with their NULs: no two inputs collide. */
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, domain, sizeof(domain)) != 1 ||
        EVP_DigestUpdate(ctx, parent, strlen(parent) + 1) != 1 ||
        EVP_DigestUpdate(ctx, salt, strlen(salt)) != 1 ||
        EVP_DigestFinal_ex(ctx, md, NULL) != 1) {
        /* Out of memory: an unusable token rather than a guessable one. */
        memset(md, 0, sizeof(md));
        RAND_bytes(md, sizeof(md));
    }
    EVP_MD_CTX_free(ctx);
    lc_base64url_encode(md, sizeof(md), out, LC_TOKEN_LEN + 1);
}
