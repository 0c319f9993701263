/*
 * The users service: the tenant registry, users and roles, sessions and
 * signing keys (DESIGN §2). This header wires main.c to the resource files.
 */
#ifndef USERS_H
#define USERS_H

#include "lc_rpc_server.h"

typedef struct {
    long tenant_cache_ttl_s;     /* a found tenant, in Redis */
    long tenant_negative_ttl_s;  /* an unknown slug, in Redis */
} users_app;

/* tenants.c */
int tenants_routes(lc_rpc_server *s);

#endif
