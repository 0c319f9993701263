/*
 * libFuzzer harness: token splitting, header checks, RS256 verification and
 * claim checks (gateway-module/lintel_jwt.c).  The first byte chooses the
 * mode: an odd byte makes the rest a raw JSON document used as both header
 * and payload, to reach the JSON checks without guessing base64url.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "lintel_jwt.h"
#include "lc_b64url.h"

static EVP_PKEY *key;

static void check(const char *tok, size_t len)
{
    lintel_jwt_parts_t parts;
    lintel_jwt_claims_t claims;
    lintel_jwt_policy_t policy = {"https://auth.example.test", "lintel-api",
                                  30};
    char kid[LINTEL_JWT_KID_MAX + 1];

    if (lintel_jwt_split(tok, len, &parts) != LINTEL_JWT_OK)
        return;
    if (lintel_jwt_check_header(&parts, kid) == LINTEL_JWT_OK &&
        strlen(kid) == 0)
        abort();
    /* a random signature must never verify */
    if (lintel_jwt_verify_rs256(&parts, key) == LINTEL_JWT_OK)
        abort();
    if (lintel_jwt_check_claims(&parts, &policy, 1800000000, &claims) ==
        LINTEL_JWT_OK) {
        if (claims.sub[0] == '\0' || claims.role[0] == '\0')
            abort();
        (void)lintel_jwt_check_scope(&claims, "t", 1);
        (void)lintel_jwt_check_scope(&claims, NULL, 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf;
    size_t n, cap;

    if (key == NULL)
        key = EVP_RSA_gen(2048);
    if (size == 0 || size > 6000)
        return 0;

    if (data[0] & 1) {
        cap = 2 * (size * 4 / 3 + 4) + 8;
        buf = malloc(cap);
        n = (size_t)lc_b64url_encode(data + 1, size - 1, buf, cap);
        buf[n++] = '.';
        n += (size_t)lc_b64url_encode(data + 1, size - 1, buf + n, cap - n);
        memcpy(buf + n, ".AAAA", 5);
        check(buf, n + 5);
    } else {
        buf = malloc(size - 1 ? size - 1 : 1);
        memcpy(buf, data + 1, size - 1);
        check(buf, size - 1);
    }
    free(buf);
    return 0;
}
