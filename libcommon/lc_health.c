/*
 * lc_health.c: <service>.Ready, and GET /api/health from it.
 */
#include "lc_health.h"

#include <stdbool.h>
#include <stdio.h>

#include "lc_clock.h"
#include "lintel/v1/health.pb-c.h"

#define LC_HEALTH_METHOD_MAX 96

/* This worker's own connections: the ones requests use. */
static bool
lc_health_ready(lc_req *req, bool *redis_ok)
{
    lc_db_error err;
    lc_cache *cache = lc_req_cache(req);

    *redis_ok = cache == NULL || lc_cache_ping(cache) == LC_CACHE_OK;
    return lc_db_ping(lc_req_db(req), &err) == 0;
}

static void
lc_health_ready_rpc(lc_req *req)
{
    Lintel__V1__ReadyReply reply = LINTEL__V1__READY_REPLY__INIT;
    bool redis_ok;

    reply.database_ok = lc_health_ready(req, &redis_ok);
    reply.redis_ok = redis_ok;
    lc_req_respond_pb(req, &reply.base);
}

int
lc_health_route(lc_rpc_server *s, const char *service)
{
    char pattern[LC_HEALTH_METHOD_MAX];

    if (snprintf(pattern, sizeof(pattern), "/rpc/%s.Ready", service) >=
        (int)sizeof(pattern))
        return -1;
    return lc_rpc_server_route(s, "RPC", pattern, lc_health_ready_rpc);
}

/* A peer is up when it answers Ready in time with its database. */
static bool
lc_health_peer_up(lc_req *req, const lc_health_peer *p)
{
    Lintel__V1__ReadyRequest in = LINTEL__V1__READY_REQUEST__INIT;
    ProtobufCMessage *out = NULL;
    char method[LC_HEALTH_METHOD_MAX];
    int64_t deadline = lc_clock_mono_ms() + *p->timeout_ms;
    int status = 0;
    bool up;

    if (*p->client == NULL)
        return false;
    if (deadline > lc_req_deadline_ms(req))
        deadline = lc_req_deadline_ms(req);
    snprintf(method, sizeof(method), "%s.Ready", p->name);
    if (lc_rpc_call_method(*p->client, method, lc_req_id(req), NULL, &in.base,
                           &lintel__v1__ready_reply__descriptor, deadline,
                           &out, &status) != LC_RPC_OK)
        return false;
    up = ((Lintel__V1__ReadyReply *)out)->database_ok;
    lc_envelope_free_message(out);
    return up;
}

void
lc_health_answer(lc_req *req, const lc_health_peer *peers, size_t npeers)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *services = cJSON_CreateObject();
    bool redis_ok, up, all_up;
    size_t i;

    if (body == NULL || services == NULL) {
        cJSON_Delete(body);
        cJSON_Delete(services);
        lc_req_error(req, 500, "internal", "out of memory");
        return;
    }
    all_up = lc_health_ready(req, &redis_ok);
    cJSON_AddStringToObject(services, lc_req_service(req),
                            all_up ? "up" : "down");
    for (i = 0; i < npeers; i++) {
        up = lc_health_peer_up(req, &peers[i]);
        all_up = all_up && up;
        cJSON_AddStringToObject(services, peers[i].name, up ? "up" : "down");
    }
    cJSON_AddStringToObject(body, "status", all_up ? "ok" : "degraded");
    cJSON_AddItemToObject(body, "services", services);
    if (!all_up)
        lc_req_header(req, "retry-after", "5");
    lc_req_respond_json(req, all_up ? 200 : 503, body);
}
