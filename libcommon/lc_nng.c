/*
 * lc_nng.c: nng_close on a thread of its own, waited for with a bound
 * (see lc_nng.h).
 */
#include "lc_nng.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "lc_log.h"

/* Set once a close has hung: NNG's reaper is stuck for good. */
static atomic_bool nng_stuck;

typedef struct {
    nng_socket sock;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    bool abandoned; /* the waiter gave up: the thread frees this */
} lc_nng_closer;

static void
lc_nng_closer_free(lc_nng_closer *c)
{
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void *
lc_nng_closer_main(void *arg)
{
    lc_nng_closer *c = arg;
    bool abandoned;

    nng_close(c->sock);
    pthread_mutex_lock(&c->mu);
    c->done = true;
    abandoned = c->abandoned;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (abandoned) {
        lc_nng_closer_free(c);
    }
    return NULL;
}

bool
lc_nng_close(nng_socket sock)
{
    lc_nng_closer *c = calloc(1, sizeof(*c));
    struct timespec until;
    pthread_t t;
    bool done;

    if (c == NULL) {
        nng_close(sock);
        return true;
    }
    c->sock = sock;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&t, NULL, lc_nng_closer_main, c) != 0) {
        lc_nng_closer_free(c);
        nng_close(sock);
        return true;
    }
    clock_gettime(CLOCK_REALTIME, &until);
    if (!atomic_load(&nng_stuck)) {
        until.tv_sec += LC_NNG_CLOSE_WAIT_MS / 1000;
        until.tv_nsec += (long)(LC_NNG_CLOSE_WAIT_MS % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
    }
    pthread_mutex_lock(&c->mu);
    while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0) {
    }
    done = c->done;
    c->abandoned = !done;
    pthread_mutex_unlock(&c->mu);
    if (done) {
        pthread_join(t, NULL);
        lc_nng_closer_free(c);
        return true;
    }
    pthread_detach(t);
    if (!atomic_exchange(&nng_stuck, true)) {
        lc_log(LC_LOG_WARN, NULL, NULL,
               "NNG did not close a socket in %d ms (NNG 1.5.2's close hang,"
               " nanomsg/nng#1543): the stop goes on without it",
               LC_NNG_CLOSE_WAIT_MS);
    }
    return false;
}
