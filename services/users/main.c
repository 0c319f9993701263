/*
 * lintel-users: tenants, users, roles, sessions and signing keys.
 * main.c wires configuration to the shared service skeleton (lc_service)
 * and registers each resource's routes.
 */
#include "lc_service.h"
#include "users.h"

static users_app app;

static const lc_config_var users_vars[] = {
    {"LINTEL_TENANT_CACHE_TTL_S", "60", LC_CFG_INT, 1, 86400,
     "how long ResolveTenant answers stay in Redis",
     &app.tenant_cache_ttl_s},
    {"LINTEL_TENANT_NEGATIVE_TTL_S", "10", LC_CFG_INT, 1, 3600,
     "how long an unknown slug stays cached in Redis",
     &app.tenant_negative_ttl_s},
};

static int
users_routes(lc_rpc_server *s)
{
    return tenants_routes(s);
}

int
main(int argc, char **argv)
{
    static const lc_service_def def = {
        "users",       7101,
        9101,          users_vars,
        sizeof(users_vars) / sizeof(users_vars[0]),
        users_routes,  &app,
    };

    return lc_service_main(argc, argv, &def);
}
