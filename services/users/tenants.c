/*
 * tenants.c: the tenant registry. The internal ResolveTenant RPC the edge
 * calls on a cold tenant-cache miss (Redis first, PostgreSQL on a miss,
 * the answer, found or not, cached back); sign-up, which creates a tenant
 * and its owner; and the platform admin's tenant routes. A change to a
 * tenant deletes its cache entry, so the edge sees it within its own
 * cache's TTL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_log.h"
#include "lintel/v1/users.pb-c.h"
#include "users.h"

typedef Lintel__V1__Users__ResolveTenantRequest resolve_request;
typedef Lintel__V1__Users__ResolveTenantResponse resolve_response;

/* The cache key carries a format version: changing what is cached means
 * bumping it, and old entries simply expire. */
#define TENANTS_CACHE_KEY "users:tenant:v1:"

#define TENANT_COLUMNS                                                         \
    "id, slug, name, status, " USERS_RFC3339("created_at") ", " USERS_RFC3339( \
        "updated_at") ", created_at"

static const lc_db_stmt tenants_by_slug = {
    "SELECT id, slug, name, status FROM users.tenants WHERE slug = $1", 1};

static const lc_db_stmt tenants_insert = {
    "INSERT INTO users.tenants (slug, name) VALUES ($1, $2)"
    " ON CONFLICT (slug) DO NOTHING RETURNING " TENANT_COLUMNS,
    2};

/* Sign-up: the owner is created in the new tenant, under its RLS. */
static const lc_db_stmt tenants_enter = {
    "SELECT set_config('app.tenant_id', $1, true)", 1};

static const lc_db_stmt tenants_insert_owner = {
    "INSERT INTO users.users (tenant_id, email, name, role, password_hash)"
    " VALUES ($1, $2, $3, 'owner', $4)"
    " RETURNING id, email, name, role, status, " USERS_RFC3339(
        "created_at") ", " USERS_RFC3339("updated_at"),
    4};

static const lc_db_stmt tenants_page = {
    "SELECT " TENANT_COLUMNS " FROM users.tenants"
    " WHERE ($1::text IS NULL OR status = $1)"
    "   AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))"
    " ORDER BY created_at, id LIMIT $4",
    4};

static const lc_db_stmt tenants_update = {
    "UPDATE users.tenants SET status = coalesce($2, status),"
    " name = coalesce($3, name), updated_at = now()"
    " WHERE id = $1 RETURNING " TENANT_COLUMNS,
    3};

/* --- ResolveTenant ------------------------------------------------------ */

typedef struct {
    lc_req_fail fail;
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
tenants_cache_forget(lc_req *req, const char *slug)
{
    char key[96];

    snprintf(key, sizeof(key), TENANTS_CACHE_KEY "%s", slug);
    if (lc_cache_del(lc_req_cache(req), key) != LC_CACHE_OK) {
        /* The entry expires on its own within the cache TTL. */
        lc_log(LC_LOG_WARN, lc_req_id(req), NULL,
               "could not drop the cached tenant %s", slug);
    }
}

static void
tenants_resolve(lc_req *req)
{
    users_app *app = lc_req_app(req);
    const resolve_request *in;
    resolve_response out = LINTEL__V1__USERS__RESOLVE_TENANT_RESPONSE__INIT;
    tenants_lookup lookup = {0};
    char key[96];
    char *cached = NULL;
    size_t cached_len = 0;
    resolve_response *hit;

    in = (const resolve_request *)lc_req_pb(
        req, &lintel__v1__users__resolve_tenant_request__descriptor);
    if (in == NULL) {
        return;
    }
    /* Slugs the registry cannot hold are answered without a lookup. */
    if (!tenant_slug_valid(in->slug)) {
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
    if (lc_req_tx(req, NULL, tenants_lookup_tx, &lookup) != 0) {
        return;
    }
    if (PQntuples(lookup.row) == 1) {
        out.found = 1;
        out.tenant_id = PQgetvalue(lookup.row, 0, 0);
        out.slug = PQgetvalue(lookup.row, 0, 1);
        out.name = PQgetvalue(lookup.row, 0, 2);
        out.status =
            strcmp(PQgetvalue(lookup.row, 0, 3), "active") == 0
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

/* --- tenants as JSON ---------------------------------------------------- */

static cJSON *
tenants_json(const PGresult *res, int row)
{
    static const char *const names[] = {"id",     "slug",       "name",
                                        "status", "created_at", "updated_at"};
    cJSON *o = cJSON_CreateObject();
    int i;

    for (i = 0; i < 6; i++) {
        cJSON_AddStringToObject(o, names[i], PQgetvalue(res, row, i));
    }
    return o;
}

/* A slug for a new tenant: 400 naming `field` when it cannot be one. */
static int
tenants_check_new_slug(lc_req *req, const char *field, const char *slug)
{
    const char *code = NULL;
    char message[96];

    if (!tenant_slug_valid(slug)) {
        code = "invalid_format";
    } else if (tenant_slug_reserved(slug)) {
        code = "reserved"; /* the rule of names the platform keeps */
    }
    if (code == NULL) {
        return 0;
    }
    snprintf(message, sizeof(message), "%s: %s", field, code);
    lc_body_field_error(req, field, code, message);
    return -1;
}

/* --- events ------------------------------------------------------------- */

/* Sign-up: the tenant is created, and its owner joins it. */
static int
tenants_events_signup(lc_db *db, const PGresult *tenant, const PGresult *owner,
                      int64_t *seq, lc_db_error *err)
{
    const char *tenant_id = PQgetvalue(tenant, 0, 0);
    const char *owner_id = PQgetvalue(owner, 0, 0);
    const users_event created = {.tenant_id = tenant_id,
                                 .type = "tenant.created",
                                 .subject_id = tenant_id,
                                 .actor_id = owner_id};
    const users_event joined = {.tenant_id = tenant_id,
                                .type = "member.joined",
                                .subject_id = owner_id,
                                .actor_id = owner_id};

    return users_event_add(db, &created, tenants_json(tenant, 0), seq, err) ||
                   users_event_add(db, &joined, users_user_json(owner, 0, 0),
                                   seq, err)
               ? -1
               : 0;
}

/* A platform admin's change to the registry (tenant and subject: the row). */
static users_event
tenants_admin_event(lc_req *req, const char *type)
{
    return (users_event){.type = type,
                         .actor_id =
                             lc_req_envelope(req)->principal->user_id};
}

/* --- sign-up ------------------------------------------------------------ */

typedef struct {
    lc_req_fail fail;
    const char *slug, *tenant_name, *name, *email;
    char hash[LC_PASSWORD_HASH_MAX];
    PGresult *tenant, *owner;
    int64_t seq;
} tenants_signup_ctx;

static int
tenants_signup_tx(lc_db *db, void *arg, lc_db_error *err)
{
    tenants_signup_ctx *c = arg;
    const char *p1[2] = {c->slug, c->tenant_name};
    const char *p3[4];
    PGresult *res;

    PQclear(c->tenant);
    PQclear(c->owner);
    c->tenant = c->owner = NULL;
    c->tenant = lc_db_exec(db, &tenants_insert, p1, err);
    if (c->tenant == NULL) {
        return -1;
    }
    if (PQntuples(c->tenant) == 0) {
        return lc_req_fail_tx(&c->fail, err, 409, "conflict",
                             "this tenant slug is taken");
    }
    p3[0] = PQgetvalue(c->tenant, 0, 0);
    res = lc_db_exec(db, &tenants_enter, p3, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    p3[1] = c->email;
    p3[2] = c->name;
    p3[3] = c->hash;
    c->owner = lc_db_exec(db, &tenants_insert_owner, p3, err);
    if (c->owner == NULL) {
        return -1;
    }
    return tenants_events_signup(db, c->tenant, c->owner, &c->seq, err);
}

static void
tenants_signup(lc_req *req)
{
    users_app *app = lc_req_app(req);
    tenants_signup_ctx c = {0};
    const char *password;
    static const lc_body_field fields[] = {
        {.name = "tenant_slug",
         .kind = LC_BODY_TEXT,
         .required = true,
         .max = 64},
        {.name = "tenant_name", .kind = LC_BODY_NAME, .required = true},
        {.name = "name", .kind = LC_BODY_NAME, .required = true},
        {.name = "email", .kind = LC_BODY_EMAIL, .required = true},
        {.name = "password", .kind = LC_BODY_PASSWORD, .required = true},
    };
    lc_body_value v[5];
    cJSON *out;

    if (users_scope(req, false) != 0 || lc_body_read(req, fields, 5, v) != 0) {
        return;
    }
    c.slug = v[0].text;
    c.tenant_name = v[1].text;
    c.name = v[2].text;
    c.email = v[3].text;
    password = v[4].text;
    /* Counted once the body is valid: every real attempt, taken slugs and
     * emails included (probing them is what the limit slows). */
    if (tenants_check_new_slug(req, "tenant_slug", c.slug) != 0 ||
        users_throttle_hit(req, &app->throttles.signup_ip, users_client_ip(req),
                           "too many sign-ups from this address; try again "
                           "after Retry-After seconds") != 0) {
        return;
    }
    if (lc_password_hash(&app->password, password, c.hash, sizeof(c.hash)) !=
        0) {
        lc_req_error(req, 500, "internal", "internal error");
        return;
    }
    if (lc_req_tx(req, NULL, tenants_signup_tx, &c) == 0) {
        users_events_announce(c.seq);
        out = cJSON_CreateObject();
        cJSON_AddItemToObject(out, "tenant", tenants_json(c.tenant, 0));
        cJSON_AddItemToObject(out, "user", users_user_json(c.owner, 0, 0));
        lc_req_respond_json(req, 201, out);
    }
    PQclear(c.tenant);
    PQclear(c.owner);
}

/* --- platform admin: the registry --------------------------------------- */

typedef struct {
    lc_req_fail fail;
    const char *const *params;
    const lc_db_stmt *stmt;
    PGresult *res;
    users_event event; /* type NULL: a read */
    int64_t seq;
} tenants_query_ctx;

/* A change to the registry appends its event for the tenant it returns. */
static int
tenants_query_tx(lc_db *db, void *arg, lc_db_error *err)
{
    tenants_query_ctx *c = arg;

    PQclear(c->res);
    c->res = lc_db_exec(db, c->stmt, c->params, err);
    if (c->res == NULL) {
        return -1;
    }
    if (c->event.type == NULL || PQntuples(c->res) == 0) {
        return 0;
    }
    c->event.tenant_id = c->event.subject_id = PQgetvalue(c->res, 0, 0);
    return users_event_add(db, &c->event, tenants_json(c->res, 0), &c->seq,
                           err);
}

static void
tenants_list(lc_req *req)
{
    static const char *const allowed[] = {"limit", "cursor", "status", NULL};
    tenants_query_ctx c = {0};
    lc_page page;
    char status_buf[16], limit[16];
    const char *status, *params[4];
    cJSON *data;
    int i, n;

    if (lc_caller_platform_admin(req) != 0 ||
        lc_page_parse(req, allowed, NULL, &page) != 0 ||
        lc_page_filter(req, "status", status_buf, sizeof(status_buf),
                       &status) != 0) {
        return;
    }
    if (status != NULL && strcmp(status, "active") != 0 &&
        strcmp(status, "suspended") != 0) {
        lc_req_error(req, 400, "validation_failed",
                     "status: must be active or suspended");
        return;
    }
    snprintf(limit, sizeof(limit), "%d", page.limit + 1);
    params[0] = status;
    params[1] = page.has_cursor ? page.after_key : NULL;
    params[2] = page.has_cursor ? page.after_id : NULL;
    params[3] = limit;
    c.stmt = &tenants_page;
    c.params = params;
    if (lc_req_tx(req, NULL, tenants_query_tx, &c) != 0) {
        return;
    }
    n = PQntuples(c.res);
    data = cJSON_CreateArray();
    for (i = 0; i < n && i < page.limit; i++) {
        cJSON_AddItemToArray(data, tenants_json(c.res, i));
    }
    lc_req_respond_json(req, 200,
                        lc_page_json(&page, data,
                                     i > 0 ? PQgetvalue(c.res, i - 1, 6) : NULL,
                                     i > 0 ? PQgetvalue(c.res, i - 1, 0) : NULL,
                                     n > page.limit));
    PQclear(c.res);
}

static void
tenants_create(lc_req *req)
{
    tenants_query_ctx c = {0};
    const char *params[2];
    static const lc_body_field fields[] = {
        {.name = "slug", .kind = LC_BODY_TEXT, .required = true, .max = 64},
        {.name = "name", .kind = LC_BODY_NAME, .required = true},
    };
    lc_body_value v[2];

    if (lc_caller_platform_admin(req) != 0 ||
        lc_body_read(req, fields, 2, v) != 0 ||
        tenants_check_new_slug(req, "slug", v[0].text) != 0) {
        return;
    }
    params[0] = v[0].text;
    params[1] = v[1].text;
    c.stmt = &tenants_insert;
    c.params = params;
    c.event = tenants_admin_event(req, "tenant.created");
    if (lc_req_tx(req, NULL, tenants_query_tx, &c) != 0) {
        return;
    }
    users_events_announce(c.seq);
    if (PQntuples(c.res) == 0) {
        lc_req_error(req, 409, "conflict", "this tenant slug is taken");
    } else {
        /* A negative answer for this slug may be cached: drop it. */
        tenants_cache_forget(req, v[0].text);
        lc_req_respond_json(req, 201, tenants_json(c.res, 0));
    }
    PQclear(c.res);
}

static void
tenants_patch(lc_req *req)
{
    tenants_query_ctx c = {0};
    static const char *const statuses[] = {"active", "suspended", NULL};
    static const lc_body_field fields[] = {
        {.name = "status", .kind = LC_BODY_ENUM, .choices = statuses},
        {.name = "name", .kind = LC_BODY_NAME},
    };
    const char *id = lc_req_param(req, "id"), *params[3];
    lc_body_value v[2];

    if (lc_caller_platform_admin(req) != 0) {
        return;
    }
    if (!lc_db_is_path_uuid(id)) {
        lc_req_error(req, 404, "not_found", "no such tenant");
        return;
    }
    if (lc_body_read_patch(req, fields, 2, v) != 0) {
        return;
    }
    params[0] = id;
    params[1] = v[0].text;
    params[2] = v[1].text;
    c.stmt = &tenants_update;
    c.params = params;
    c.event = tenants_admin_event(req, "tenant.updated");
    users_caller_fence(req, id, NULL);
    if (lc_req_tx(req, NULL, tenants_query_tx, &c) != 0) {
        users_caller_stamp(req, id, NULL);
        return;
    }
    users_caller_stamp(req, id, NULL);
    users_events_announce(c.seq);
    if (PQntuples(c.res) == 0) {
        lc_req_error(req, 404, "not_found", "no such tenant");
    } else {
        tenants_cache_forget(req, PQgetvalue(c.res, 0, 1));
        lc_req_respond_json(req, 200, tenants_json(c.res, 0));
    }
    PQclear(c.res);
}

/* users.SetTenantStatus: the platform's own change of a tenant's status
 * (billing's dunning), made as tenants_patch makes an admin's. */
static void
tenants_set_status_rpc(lc_req *req)
{
    const Lintel__V1__Users__SetTenantStatusRequest *in;
    Lintel__V1__Users__SetTenantStatusResponse out =
        LINTEL__V1__USERS__SET_TENANT_STATUS_RESPONSE__INIT;
    tenants_query_ctx c = {0};
    const char *params[3];

    in = (const Lintel__V1__Users__SetTenantStatusRequest *)lc_req_pb(
        req, &lintel__v1__users__set_tenant_status_request__descriptor);
    if (in == NULL) {
        return;
    }
    if (!lc_db_is_uuid(in->tenant_id) ||
        (strcmp(in->status, "active") != 0 &&
         strcmp(in->status, "suspended") != 0)) {
        lc_req_error(req, 400, "validation_failed",
                     "tenant_id must be a uuid and status active or suspended");
        return;
    }
    params[0] = in->tenant_id;
    params[1] = in->status;
    params[2] = NULL;
    c.stmt = &tenants_update;
    c.params = params;
    c.event = (users_event){.type = "tenant.updated"}; /* the platform's */
    users_caller_fence(req, in->tenant_id, NULL);
    if (lc_req_tx(req, NULL, tenants_query_tx, &c) != 0) {
        users_caller_stamp(req, in->tenant_id, NULL);
        return;
    }
    users_caller_stamp(req, in->tenant_id, NULL);
    users_events_announce(c.seq);
    out.found = PQntuples(c.res) > 0;
    out.status = "";
    if (out.found) {
        tenants_cache_forget(req, PQgetvalue(c.res, 0, 1));
        out.status = in->status;
    }
    lc_req_respond_pb(req, &out.base);
    PQclear(c.res);
}

int
tenants_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"RPC", "/rpc/users.ResolveTenant", tenants_resolve},
        {"POST", "/api/signup", tenants_signup},
        {"GET", "/api/admin/tenants", tenants_list},
        {"POST", "/api/admin/tenants", tenants_create},
        {"PATCH", "/api/admin/tenants/:id", tenants_patch},
        {"RPC", "/rpc/users.SetTenantStatus", tenants_set_status_rpc},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
