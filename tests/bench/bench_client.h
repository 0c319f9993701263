/*
 * bench_client: the C client of the NNG benchmarks (nng_floor.c, case (e)
 * of make bench, and entitlement_bench.c): one REQ socket, a number of
 * requests kept in flight on it, each an nng_ctx + nng_aio whose callback
 * checks the reply and sends the next request at once (no HTTP, no nginx,
 * no eventfd hop).
 */
#ifndef BENCH_CLIENT_H
#define BENCH_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* Whether a reply is the one expected; runs on NNG's threads. */
typedef int (*bench_reply_ok)(const uint8_t *reply, size_t len);

typedef struct {
    long done;      /* replies that passed reply_ok */
    long failed;    /* replies that did not, and errors */
    double seconds; /* how long it ran */
} bench_result;

/*
 * Sends `request` to `url` with `in_flight` copies outstanding, for
 * `seconds`. 0 with `out` filled, or -1 with the reason on stderr. The
 * socket is left open (see bench_client.c): exit with _exit afterwards.
 */
int bench_client_run(const char *url, const uint8_t *request, size_t len,
                     long in_flight, long seconds, bench_reply_ok reply_ok,
                     bench_result *out);

#endif
