/*
 * lc_password: password hashing with argon2id (libargon2), as OWASP's
 * Password Storage Cheat Sheet recommends: m = 19 MiB, t = 2, p = 1, a
 * 16-byte random salt and a 32-byte tag, stored in argon2's PHC string
 * format ("$argon2id$v=19$m=19456,t=2,p=1$salt$tag") so that a stored hash
 * says which parameters made it, and a login can re-hash when they change.
 */
#ifndef LC_PASSWORD_H
#define LC_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length window, in characters (UTF-8 code points). */
#define LC_PASSWORD_MIN_CHARS 8
#define LC_PASSWORD_MAX_CHARS 128
/* Large enough for any encoded hash these parameters produce. */
#define LC_PASSWORD_HASH_MAX 160

typedef struct {
    uint32_t t_cost;      /* iterations */
    uint32_t m_cost_kib;  /* memory, KiB */
    uint32_t parallelism; /* lanes */
} lc_password_params;

/* OWASP's argon2id parameters; what NULL params mean below. */
extern const lc_password_params lc_password_owasp;

typedef enum {
    LC_PASSWORD_OK = 0,
    LC_PASSWORD_TOO_SHORT,
    LC_PASSWORD_TOO_LONG,
    LC_PASSWORD_BAD_UTF8, /* invalid UTF-8 or a NUL */
} lc_password_policy;

/* Checks the length window; `len` bytes of `pw`. */
lc_password_policy lc_password_check(const char *pw, size_t len);

/* Hashes `pw` into `out` (NUL-terminated PHC string); 0 or -1. */
int lc_password_hash(const lc_password_params *params, const char *pw,
                     char *out, size_t outlen);

/* 1 when `pw` matches `encoded`, 0 when not, -1 when `encoded` is unusable. */
int lc_password_verify(const char *encoded, const char *pw);

/* true when `encoded` was not made with `params` (or is not argon2id). */
bool lc_password_needs_rehash(const lc_password_params *params,
                              const char *encoded);

/*
 * Spends the time of one verification against a hash that matches nothing,
 * so that "no such account" answers as slowly as "wrong password".
 */
void lc_password_burn(const lc_password_params *params, const char *pw);

#endif
