/*
 * tenants.c: the tenant registry as the platform sees it. For now, the
 * internal ResolveTenant RPC the edge calls on a cold tenant-cache miss:
 * Redis first, PostgreSQL on a miss, the answer (found or not) cached back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lintel/v1/users.pb-c.h"
#include "lc_log.h"
#include "users.h"

typedef Lintel__V1__Users__ResolveTenantRequest resolve_request;
typedef Lintel__V1__Users__ResolveTenantResponse resolve_response;

static const lc_db_stmt tenants_by_slug = {
    "SELECT id, slug, name, status FROM users.tenants WHERE slug = $1", 1};

/* The cache key carries a format version: changing what is cached means
 * bumping it, and old entries simply expire. */
#define TENANTS_CACHE_KEY "users:tenant:v1:"

/* Slugs as the registry allows them; anything else cannot exist, so it is
 * answered without touching Redis or PostgreSQL. */
static int
tenants_valid_slug(const char *s)
{
    size_t n = strlen(s), i;

    if (n < 3 || n > 40 || s[0] == '-' || s[n - 1] == '-') {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-')) {
            return 0;
        }
    }
    return 1;
}

typedef struct {
    const char *slug;
    PGresult *row;
} tenants_lookup;

static int
tenants_lookup_tx(lc_db *db, void *arg, lc_db_error *err)
{
    tenants_lookup *l = arg;
    const char *params[1] = {l->slug};

    l->row = lc_db_exec(db, &tenants_by_slug, params, err);
    return l->row ? 0 : -1;
}

static void
tenants_resolve(lc_req *req)
{
    users_app *app = lc_req_app(req);
    const resolve_request *in;
    resolve_response out = LINTEL__V1__USERS__RESOLVE_TENANT_RESPONSE__INIT;
    tenants_lookup lookup = {0};
    lc_db_error err;
    char key[96];
    char *cached = NULL;
    size_t cached_len = 0;
    resolve_response *hit;

    in = (const resolve_request *)lc_req_pb(
        req, &lintel__v1__users__resolve_tenant_request__descriptor);
    if (in == NULL) {
        return;
    }
    if (!tenants_valid_slug(in->slug)) {
        lc_req_respond_pb(req, &out.base); /* found = false */
        return;
    }
    snprintf(key, sizeof(key), TENANTS_CACHE_KEY "%s", in->slug);
    if (lc_cache_get(lc_req_cache(req), key, &cached, &cached_len) ==
        LC_CACHE_OK) {
        hit = lintel__v1__users__resolve_tenant_response__unpack(
            NULL, cached_len, (const uint8_t *)cached);
        free(cached);
        if (hit != NULL) {
            lc_req_respond_pb(req, &hit->base);
            lintel__v1__users__resolve_tenant_response__free_unpacked(hit,
                                                                       NULL);
            return;
        }
    }

    lookup.slug = in->slug;
    if (lc_db_tenant_tx(lc_req_db(req), NULL, lc_req_deadline_ms(req),
                        tenants_lookup_tx, &lookup, &err) != 0) {
        lc_req_db_error(req, &err);
        return;
    }
    if (PQntuples(lookup.row) == 1) {
        out.found = 1;
        out.tenant_id = PQgetvalue(lookup.row, 0, 0);
        out.slug = PQgetvalue(lookup.row, 0, 1);
        out.name = PQgetvalue(lookup.row, 0, 2);
        out.status = strcmp(PQgetvalue(lookup.row, 0, 3), "active") == 0
                         ? LINTEL__V1__USERS__TENANT_STATUS__TENANT_STATUS_ACTIVE
                         : LINTEL__V1__USERS__TENANT_STATUS__TENANT_STATUS_SUSPENDED;
    }
    lc_req_respond_pb(req, &out.base);

    /* Cache what the reply said, found or not; Redis being down only
     * costs the next lookup a query. */
    {
        size_t len = protobuf_c_message_get_packed_size(&out.base);
        uint8_t *buf = malloc(len ? len : 1);

        if (buf != NULL) {
            protobuf_c_message_pack(&out.base, buf);
            lc_cache_set(lc_req_cache(req), key, (const char *)buf, len,
                         (int)(out.found ? app->tenant_cache_ttl_s
                                         : app->tenant_negative_ttl_s));
            free(buf);
        }
    }
    PQclear(lookup.row);
}

int
tenants_routes(lc_rpc_server *s)
{
    return lc_rpc_server_route(s, "RPC", "/rpc/users.ResolveTenant",
                               tenants_resolve);
}
