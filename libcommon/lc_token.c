/*
 * lc_token.c: random tokens and their hashes.
 */
#include "lc_token.h"

#include "lc_b64url.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int
lc_token_new(char *out)
{
    unsigned char raw[LC_TOKEN_BYTES];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return -1;
    }
    return lc_b64url_encode(raw, sizeof(raw), out, LC_TOKEN_LEN + 1) ==
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
        if (!lc_b64url_is_char((unsigned char)s[i])) {
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
    lc_b64url_encode(md, sizeof(md), out, LC_TOKEN_LEN + 1);
}
