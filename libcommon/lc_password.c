/*
 * lc_password.c: argon2id hashing, verification and the rehash test.
 */
#include "lc_password.h"

#include <argon2.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define LC_PASSWORD_SALT_LEN 16
#define LC_PASSWORD_TAG_LEN 32

const lc_password_params lc_password_owasp = {2, 19456, 1};

static const lc_password_params *
lc_password_params_or_default(const lc_password_params *p)
{
    return p ? p : &lc_password_owasp;
}

lc_password_policy
lc_password_check(const char *pw, size_t len)
{
    size_t i = 0, chars = 0;
    unsigned char c;
    int extra, k;

    while (i < len) {
        c = (unsigned char)pw[i];
        if (c == 0) {
            return LC_PASSWORD_BAD_UTF8;
        }
        if (c < 0x80) {
            extra = 0;
        } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
            extra = 1;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
        } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
            extra = 3;
        } else {
            return LC_PASSWORD_BAD_UTF8;
        }
        for (k = 1; k <= extra; k++) {
            if (i + (size_t)k >= len ||
                ((unsigned char)pw[i + (size_t)k] & 0xc0) != 0x80) {
                return LC_PASSWORD_BAD_UTF8;
            }
        }
        i += (size_t)extra + 1;
        chars++;
    }
    if (chars < LC_PASSWORD_MIN_CHARS) {
        return LC_PASSWORD_TOO_SHORT;
    }
    if (chars > LC_PASSWORD_MAX_CHARS) {
        return LC_PASSWORD_TOO_LONG;
    }
    return LC_PASSWORD_OK;
}

int
lc_password_hash(const lc_password_params *params, const char *pw, char *out,
                 size_t outlen)
{
    const lc_password_params *p = lc_password_params_or_default(params);
    unsigned char salt[LC_PASSWORD_SALT_LEN];

    if (RAND_bytes(salt, sizeof(salt)) != 1) {
        return -1;
    }
    if (argon2id_hash_encoded(p->t_cost, p->m_cost_kib, p->parallelism, pw,
                              strlen(pw), salt, sizeof(salt),
                              LC_PASSWORD_TAG_LEN, out, outlen) != ARGON2_OK) {
        return -1;
    }
    return 0;
}

int
lc_password_verify(const char *encoded, const char *pw)
{
    int rc;

    if (encoded == NULL || strncmp(encoded, "$argon2id$", 10) != 0) {
        return -1;
    }
    rc = argon2id_verify(encoded, pw, strlen(pw));
    if (rc == ARGON2_OK) {
        return 1;
    }
    return rc == ARGON2_VERIFY_MISMATCH ? 0 : -1;
}

bool
lc_password_needs_rehash(const lc_password_params *params, const char *encoded)
{
    const lc_password_params *p = lc_password_params_or_default(params);
    char prefix[96];
    int n;

    n = snprintf(prefix, sizeof(prefix), "$argon2id$v=%d$m=%u,t=%u,p=%u$",
                 ARGON2_VERSION_NUMBER, p->m_cost_kib, p->t_cost,
                 p->parallelism);
    return encoded == NULL || strncmp(encoded, prefix, (size_t)n) != 0;
}

/* One hash per process made with the current parameters, of a random
 * password nobody knows; verified against to burn the time of a check. */
static char lc_password_dummy[LC_PASSWORD_HASH_MAX];
static pthread_once_t lc_password_dummy_once = PTHREAD_ONCE_INIT;
static const lc_password_params *lc_password_dummy_params;

static void
lc_password_dummy_init(void)
{
    unsigned char raw[24];
    char pw[49];
    int i;

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        memset(raw, 0x5a, sizeof(raw));
    }
    for (i = 0; i < 24; i++) {
        snprintf(pw + 2 * i, 3, "%02x", raw[i]);
    }
    if (lc_password_hash(lc_password_dummy_params, pw, lc_password_dummy,
                         sizeof(lc_password_dummy)) != 0) {
        lc_password_dummy[0] = '\0';
    }
}

void
lc_password_burn(const lc_password_params *params, const char *pw)
{
    lc_password_dummy_params = params;
    pthread_once(&lc_password_dummy_once, lc_password_dummy_init);
    if (lc_password_dummy[0] != '\0') {
        (void)lc_password_verify(lc_password_dummy, pw);
    }
}
