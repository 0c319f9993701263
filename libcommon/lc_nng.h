/*
 * lc_nng: closing an NNG socket without hanging for good.
 *
 * NNG 1.5.2 (Debian 12's) can hang in nng_close when its reaper waits on
 * a task that never runs (nanomsg/nng#1543, fixed in later NNG; seen here
 * in about one stop in three right after load). lc_nng_close closes on a
 * thread of its own and waits at most LC_NNG_CLOSE_WAIT_MS; once a close
 * has hung, the reaper is stuck for the whole process, so later closes are
 * started but not waited for. A socket that did not close may still call
 * back into what it was given (aios, pipe notification arguments): its
 * owner must then leave those allocated. Only a process on its way out
 * gets there.
 */
#ifndef LC_NNG_H
#define LC_NNG_H

#include <nng/nng.h>
#include <stdbool.h>

#define LC_NNG_CLOSE_WAIT_MS 3000

/* Whether the socket closed (false: a close hung, it was logged once). */
bool lc_nng_close(nng_socket sock);

#endif
