/*
 * lc_throttle.c: one Lua script does each step atomically on a sorted set
 * per subject (member -> time of its newest event, in ms of Redis's TIME).
 * Its reply: a negative number is a refusal, minus the seconds to wait;
 * otherwise the events in the window (0 for a check).
 */
#include "lc_throttle.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static const char lc_throttle_script[] =
    "local key, op = KEYS[1], ARGV[1]\n"
    "local window, limit = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local cap, member = tonumber(ARGV[4]), ARGV[5]\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)\n"
    "local n = redis.call('ZCARD', key)\n"
    "if op == 'count' then return n end\n"
    "if op ~= 'record' then\n"
    "  local wait = 0\n"
    "  if n >= limit then\n"
    "    if cap > 0 then\n"
    "      local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')\n"
    "      local over = math.min(n - limit, 30)\n"
    "      wait = tonumber(newest[2]) + math.min(cap, 2000 * 2 ^ over) - now\n"
    "    elseif not redis.call('ZSCORE', key, member) then\n"
    "      local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')\n"
    "      wait = tonumber(oldest[2]) + window - now\n"
    "    end\n"
    "  end\n"
    "  if wait > 0 then return -math.ceil(wait / 1000) end\n"
    "  if op == 'check' then return 0 end\n"
    "end\n"
    "redis.call('ZADD', key, now, member)\n"
    "redis.call('PEXPIRE', key, window)\n"
    "return redis.call('ZCARD', key)\n";

/* Runs one step; *reply is the script's answer. */
static lc_cache_status
lc_throttle_run(lc_cache *c, const lc_throttle_rule *r, const char *op,
                const char *subject, const char *member, int64_t *reply)
{
    char key[256], window[24], limit[24], cap[24], fresh[25];
    unsigned char b[12];
    const char *args[6];
    int i;

    if (snprintf(key, sizeof(key), "lc:throttle:v1:%s:%s", r->name,
                 subject) >= (int)sizeof(key)) {
        return LC_CACHE_DOWN;
    }
    if (member == NULL) {
        /* A new event of its own: a random member never seen before. */
        if (RAND_bytes(b, sizeof(b)) != 1) {
            return LC_CACHE_DOWN;
        }
        for (i = 0; i < (int)sizeof(b); i++) {
            snprintf(fresh + 2 * i, 3, "%02x", b[i]);
        }
        member = fresh;
    }
    snprintf(window, sizeof(window), "%ld", r->window_s * 1000);
    snprintf(limit, sizeof(limit), "%ld", r->limit);
    snprintf(cap, sizeof(cap), "%ld", r->backoff_cap_s * 1000);
    args[0] = key;
    args[1] = op;
    args[2] = window;
    args[3] = limit;
    args[4] = cap;
    args[5] = member;
    return lc_cache_eval(c, lc_throttle_script, 1, args, 6, reply);
}

static lc_throttle_verdict
lc_throttle_decide(lc_cache *c, const lc_throttle_rule *r, const char *op,
                   const char *subject, const char *member,
                   long *retry_after_s)
{
    int64_t reply = 0;

    *retry_after_s = 0;
    if (lc_throttle_run(c, r, op, subject, member, &reply) != LC_CACHE_OK) {
        return LC_THROTTLE_UNKNOWN;
    }
    if (reply < 0) {
        *retry_after_s = (long)-reply;
        return LC_THROTTLE_LIMITED;
    }
    return LC_THROTTLE_ALLOW;
}

lc_throttle_verdict
lc_throttle_check(lc_cache *c, const lc_throttle_rule *r, const char *subject,
                  const char *member, long *retry_after_s)
{
    return lc_throttle_decide(c, r, "check", subject, member, retry_after_s);
}

lc_throttle_verdict
lc_throttle_hit(lc_cache *c, const lc_throttle_rule *r, const char *subject,
                const char *member, long *retry_after_s)
{
    return lc_throttle_decide(c, r, "hit", subject, member, retry_after_s);
}

lc_cache_status
lc_throttle_record(lc_cache *c, const lc_throttle_rule *r, const char *subject,
                   const char *member, int64_t *count)
{
    int64_t n = 0;
    lc_cache_status st = lc_throttle_run(c, r, "record", subject, member, &n);

    if (count != NULL) {
        *count = n;
    }
    return st;
}

lc_cache_status
lc_throttle_count(lc_cache *c, const lc_throttle_rule *r, const char *subject,
                  int64_t *count)
{
    *count = 0;
    return lc_throttle_run(c, r, "count", subject, "", count);
}

lc_cache_status
lc_throttle_clear(lc_cache *c, const lc_throttle_rule *r, const char *subject)
{
    char key[256];

    if (snprintf(key, sizeof(key), "lc:throttle:v1:%s:%s", r->name,
                 subject) >= (int)sizeof(key)) {
        return LC_CACHE_DOWN;
    }
    return lc_cache_del(c, key);
}
