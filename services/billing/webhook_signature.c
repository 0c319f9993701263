/*
 * webhook_signature.c: Stripe's webhook signature scheme over OpenSSL's
 * HMAC; see webhook_signature.h.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook_signature.h"

#define WEBHOOK_MAX_V1 8

/* HMAC-SHA256(secret, "<t>.<body>") into 32 bytes. */
static int
webhook_mac(const char *t, size_t tlen, const void *body, size_t len,
            const char *secret, unsigned char mac[32])
{
    unsigned char *msg = malloc(tlen + 1 + len + 1);
    unsigned int maclen = 0;
    bool ok;

    if (msg == NULL) {
        return -1;
    }
    memcpy(msg, t, tlen);
    msg[tlen] = '.';
    if (len > 0) {
        memcpy(msg + tlen + 1, body, len);
    }
    ok = HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tlen + 1 + len,
              mac, &maclen) != NULL &&
         maclen == 32;
    free(msg);
    return ok ? 0 : -1;
}

static int
webhook_hex_decode(const char *s, size_t len, unsigned char out[32])
{
    size_t i;

    if (len != 64) {
        return -1;
    }
    for (i = 0; i < 64; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;

        if (v < 0) {
            return -1;
        }
        out[i / 2] = (unsigned char)(i % 2 == 0 ? v << 4 : out[i / 2] | v);
    }
    return 0;
}

webhook_signature_status
webhook_signature_check(const char *header, const void *body, size_t len,
                        const char *secret, int64_t now_s,
                        int64_t tolerance_s)
{
    unsigned char want[32], got[WEBHOOK_MAX_V1][32];
    const char *t = NULL, *p, *end, *eq;
    size_t tlen = 0, nv1 = 0, i;
    int64_t ts = 0, skew;
    bool match = false;

    if (header == NULL) {
        return WEBHOOK_SIGNATURE_MISSING;
    }
    for (p = header; *p != '\0'; p = *end ? end + 1 : end) {
        end = strchr(p, ',');
        end = end ? end : p + strlen(p);
        eq = memchr(p, '=', (size_t)(end - p));
        if (eq == NULL) {
            return WEBHOOK_SIGNATURE_MALFORMED;
        }
        if (eq - p == 1 && p[0] == 't') {
            if (t != NULL || eq + 1 == end || end - eq - 1 > 12) {
                return WEBHOOK_SIGNATURE_MALFORMED;
            }
            t = eq + 1;
            tlen = (size_t)(end - t);
            for (i = 0, ts = 0; i < tlen; i++) {
                if (t[i] < '0' || t[i] > '9') {
                    return WEBHOOK_SIGNATURE_MALFORMED;
                }
                ts = ts * 10 + (t[i] - '0');
            }
        } else if (eq - p == 2 && p[0] == 'v' && p[1] == '1') {
            if (nv1 == WEBHOOK_MAX_V1 ||
                webhook_hex_decode(eq + 1, (size_t)(end - eq - 1), got[nv1]) !=
                    0) {
                return WEBHOOK_SIGNATURE_MALFORMED;
            }
            nv1++;
        }
    }
    if (t == NULL || nv1 == 0) {
        return WEBHOOK_SIGNATURE_MISSING;
    }
    skew = now_s - ts;
    if (skew > tolerance_s || skew < -tolerance_s) {
        return WEBHOOK_SIGNATURE_STALE;
    }
    if (webhook_mac(t, tlen, body, len, secret, want) != 0) {
        return WEBHOOK_SIGNATURE_MISMATCH;
    }
    /* Every v1 compared in full, in constant time: how much of a guess
     * matched, or which one, leaks nothing. */
    for (i = 0; i < nv1; i++) {
        match |= CRYPTO_memcmp(want, got[i], 32) == 0;
    }
    return match ? WEBHOOK_SIGNATURE_OK : WEBHOOK_SIGNATURE_MISMATCH;
}

int
webhook_signature_make(const void *body, size_t len, const char *secret,
                       int64_t t, char *out, size_t outlen)
{
    unsigned char mac[32];
    char ts[24];
    int n, i;

    n = snprintf(ts, sizeof(ts), "%lld", (long long)t);
    if (webhook_mac(ts, (size_t)n, body, len, secret, mac) != 0 ||
        outlen < (size_t)n + 2 + 4 + 64 + 1) {
        return -1;
    }
    n = snprintf(out, outlen, "t=%s,v1=", ts);
    for (i = 0; i < 32; i++) {
        snprintf(out + n + 2 * i, 3, "%02x", mac[i]);
    }
    return 0;
}

const char *
webhook_signature_text(webhook_signature_status st)
{
    switch (st) {
    case WEBHOOK_SIGNATURE_OK:
        return "valid";
    case WEBHOOK_SIGNATURE_MISSING:
        return "no Webhook-Signature with t and v1";
    case WEBHOOK_SIGNATURE_MALFORMED:
        return "a malformed Webhook-Signature";
    case WEBHOOK_SIGNATURE_STALE:
        return "the signature's time is outside the tolerance";
    case WEBHOOK_SIGNATURE_MISMATCH:
        return "the signature does not match the body";
    }
    return "invalid";
}
