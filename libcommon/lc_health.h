/*
 * lc_health: a service's readiness over NNG, and the platform's in one
 * answer (GET /api/health, DESIGN §10).
 *
 * lc_service registers <service>.Ready (lintel.v1.ReadyRequest ->
 * ReadyReply) on every service: the checks of the ops port's /readyz,
 * run on the answering worker's own PostgreSQL and Redis connections, so
 * the answer is about the very connections requests use.
 *
 * One service answers GET /api/health with lc_health_answer(): itself and
 * each peer it names, asked in turn with a short deadline each (a peer
 * that is down fails at once; a hung one costs at most the deadline). The
 * answer says only "up" or "down" per service: no version, address or
 * error text, which would help an attacker and no one else. 200 when all
 * are up, else 503 naming the ones that are not.
 */
#ifndef LC_HEALTH_H
#define LC_HEALTH_H

#include <stddef.h>

#include "lc_rpc_client.h"
#include "lc_rpc_server.h"

/* Registers RPC /rpc/<service>.Ready on `s`; 0 or -1. */
int lc_health_route(lc_rpc_server *s, const char *service);

typedef struct {
    const char *name;         /* "projects": its Ready is projects.Ready */
    lc_rpc_client *const *client; /* the peer's client (lc_service_peer's) */
    const long *timeout_ms;   /* its deadline (LINTEL_<NAME>_TIMEOUT_MS) */
} lc_health_peer;

/* Answers the request with the readiness of this service and of `peers`. */
void lc_health_answer(lc_req *req, const lc_health_peer *peers,
                      size_t npeers);

#endif
