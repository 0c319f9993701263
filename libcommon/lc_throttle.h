/*
 * lc_throttle: sliding-window limits in Redis, for throttles that slow an
 * attacker and not the user (login, password change and reset, sign-up,
 * invitation sends).
 *
 * A subject (an account, a client IP, a member) has a window: a sorted set
 * of events scored by the time they happened, on Redis's clock (one clock
 * for every replica). Events older than the window fall out of it, so a
 * limit never resets all at once at a fixed boundary. An event may name a
 * member: events of the same member count once (the distinct accounts that
 * failed from one IP), a NULL member is a new one each time.
 *
 * Two shapes of limit:
 *   - a count: at most `limit` events in the window; past it, wait until
 *     the oldest one leaves (Retry-After);
 *   - a back-off (backoff_cap_s > 0): from the limit-th event on, wait 2 s,
 *     4 s, 8 s … after the newest one, never more than the cap, so whoever
 *     knows the password gets in by waiting minutes at most.
 *
 * Redis holds copies and hints (DESIGN §7): when it is down every call says
 * LC_THROTTLE_UNKNOWN and the caller decides (users lets the request
 * through: argon2's cost and the edge's per-IP limit_req still bound an
 * attacker, while refusing would lock every user out).
 */
#ifndef LC_THROTTLE_H
#define LC_THROTTLE_H

#include <stdint.h>

#include "lc_cache.h"

typedef struct {
    const char *name;    /* in the key: "users:login:acct" */
    long window_s;       /* how long an event counts */
    long limit;          /* events (distinct members) before it refuses */
    long backoff_cap_s;  /* > 0: a capped back-off instead of a count */
} lc_throttle_rule;

typedef enum {
    LC_THROTTLE_ALLOW,
    LC_THROTTLE_LIMITED, /* *retry_after_s says how long to wait (>= 1) */
    LC_THROTTLE_UNKNOWN, /* Redis is down: the caller decides */
} lc_throttle_verdict;

/* Would one more event of `member` be refused now? Records nothing. A
 * member already in the window never is, for a count. */
lc_throttle_verdict lc_throttle_check(lc_cache *c, const lc_throttle_rule *r,
                                      const char *subject, const char *member,
                                      long *retry_after_s);

/* Check and, when allowed, record, in one step (no race between them). */
lc_throttle_verdict lc_throttle_hit(lc_cache *c, const lc_throttle_rule *r,
                                    const char *subject, const char *member,
                                    long *retry_after_s);

/* Records an event whatever the window holds; *count (may be NULL): the
 * events (distinct members) in the window after it. */
lc_cache_status lc_throttle_record(lc_cache *c, const lc_throttle_rule *r,
                                   const char *subject, const char *member,
                                   int64_t *count);

/* Events (distinct members) in the window now. */
lc_cache_status lc_throttle_count(lc_cache *c, const lc_throttle_rule *r,
                                  const char *subject, int64_t *count);

/* Forgets the subject's window (a successful login). */
lc_cache_status lc_throttle_clear(lc_cache *c, const lc_throttle_rule *r,
                                  const char *subject);

#endif
