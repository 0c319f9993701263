/*
 * webhook_signature.h: the signature of a payment provider's webhook,
 * Stripe's scheme. The header is
 *
 *   Webhook-Signature: t=<unix seconds>,v1=<hex hmac-sha256>[,v1=…]
 *
 * where each v1 is HMAC-SHA256(secret, "<t>.<raw body>") in lower-case hex;
 * several v1 are allowed (a provider rotating its secret signs with both),
 * other schemes (v0=…) are ignored. A signature is valid when some v1
 * matches (compared in constant time) and t is within the tolerance of
 * now, either way. Pure: no I/O, the time is the caller's.
 */
#ifndef BILLING_WEBHOOK_SIGNATURE_H
#define BILLING_WEBHOOK_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_TOLERANCE_S 300

typedef enum {
    WEBHOOK_SIGNATURE_OK,
    WEBHOOK_SIGNATURE_MISSING,   /* no header, or no t or no v1 in it */
    WEBHOOK_SIGNATURE_MALFORMED, /* t not a number, a v1 not 64 hex digits */
    WEBHOOK_SIGNATURE_STALE,     /* t outside the tolerance */
    WEBHOOK_SIGNATURE_MISMATCH,  /* no v1 matches: tampered or another secret */
} webhook_signature_status;

webhook_signature_status webhook_signature_check(const char *header,
                                                 const void *body, size_t len,
                                                 const char *secret,
                                                 int64_t now_s,
                                                 int64_t tolerance_s);

/* The header for `body` at time `t` with `secret` (one v1), for the stand-in
 * provider and the tests; 0, or -1 when `out` is too small. */
int webhook_signature_make(const void *body, size_t len, const char *secret,
                           int64_t t, char *out, size_t outlen);

/* What a status says, for the 400's message. */
const char *webhook_signature_text(webhook_signature_status st);

#endif
