/*
 * The service kit against a live PostgreSQL, on a resource that is not
 * projects': a "thing" declared as an lc_resource, served by an
 * lc_rpc_server and called over NNG like the edge calls a service. It
 * covers what lc_entity, lc_idem, lc_etag, lc_req_tx, lc_row, lc_body and
 * lc_caller do together: GET with its ETag from binary columns, create with
 * Location and Idempotency-Key (replay, reuse, a bad body claims nothing),
 * PATCH under If-Match (428, 412), soft DELETE, each change's event in the
 * same transaction, the service's rule hook and constraint table, and the
 * caller's role.
 *
 * Run from tests/e2e/test_libcommon_live.py, which makes the scratch schema
 * kit_test (owned by the migration role, LINTEL_TEST_DB_URL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lc_caller.h"
#include "lc_clock.h"
#include "lc_entity.h"
#include "lc_log.h"
#include "lc_rpc_client.h"
#include "lc_rpc_server.h"

#define TENANT "0b7c5f3e-6a1d-4c4e-9d51-1f2a3b4c5d6e"
#define USER "7e0d9c8b-1a2b-4c3d-8e4f-5a6b7c8d9e0f"
#define SESSION "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"

static const char *db_url;
static char url[128];
static lc_db *db;
static lc_outbox *outbox;
static lc_rpc_server *server;
static lc_rpc_client *client;
static const char *caller_role = "manager";

static const char *const schema_sql[] = {
    "DROP TABLE IF EXISTS kit_test.things, kit_test.idempotency_keys,"
    " kit_test.events, kit_test.event_counter",
    "CREATE TABLE kit_test.things (tenant_id uuid NOT NULL,"
    " id uuid NOT NULL DEFAULT gen_random_uuid(), name text NOT NULL,"
    " size integer, note text, created_at timestamptz NOT NULL DEFAULT now(),"
    " updated_by uuid NOT NULL, version integer NOT NULL DEFAULT 1,"
    " deleted_at timestamptz, PRIMARY KEY (tenant_id, id),"
    " CONSTRAINT things_name_key UNIQUE (tenant_id, name))",
    "CREATE TABLE kit_test.idempotency_keys (tenant_id uuid NOT NULL,"
    " user_id uuid NOT NULL, route text NOT NULL, key text NOT NULL,"
    " request_hash text NOT NULL, state text NOT NULL DEFAULT 'running',"
    " response_status integer, response_body text, response_etag text,"
    " response_location text, created_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (tenant_id, user_id, route, key))",
    "CREATE TABLE kit_test.event_counter (id boolean PRIMARY KEY"
    " DEFAULT true CHECK (id), seq bigint NOT NULL)",
    "INSERT INTO kit_test.event_counter (seq) VALUES (0)",
    "CREATE TABLE kit_test.events (seq bigint PRIMARY KEY,"
    " tenant_id uuid NOT NULL, type text NOT NULL, subject_id uuid NOT NULL,"
    " actor_id uuid, occurred_at timestamptz NOT NULL"
    " DEFAULT clock_timestamp(), data jsonb NOT NULL)",
};

/* --- the resource -----------------------------------------------------------
 */

#define THING_JSON                                                             \
    "json_build_object('id', id, 'name', name, 'size', size, 'note', note,"    \
    " 'created_at', to_char(created_at AT TIME ZONE 'UTC',"                    \
    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'version', version)::text"

static const lc_body_field thing_fields[] = {
    {.name = "name", .kind = LC_BODY_TEXT, .required = true, .max = 50},
    {.name = "size", .kind = LC_BODY_INT, .nullable = true, .max = 1000},
    {.name = "note", .kind = LC_BODY_TEXT, .nullable = true, .max = 200},
};

static const lc_db_stmt thing_get = {
    "SELECT version, id, name, size, note, created_at FROM kit_test.things"
    " WHERE id = $1 AND deleted_at IS NULL",
    1, .binary = true};

static const lc_row_column thing_columns[] = {
    {"id", 1, LC_ROW_UUID},
    {"name", 2, LC_ROW_TEXT},
    {"size", 3, LC_ROW_INT4},
    {"note", 4, LC_ROW_TEXT},
    {"created_at", 5, LC_ROW_TIMESTAMPTZ},
    {"version", 0, LC_ROW_INT4},
};

static const lc_db_stmt thing_insert = {
    "INSERT INTO kit_test.things (tenant_id, name, size, note, updated_by)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, $2, $3, $4)"
    " RETURNING id, version, " THING_JSON,
    4};

static const lc_db_stmt thing_update = {
    "UPDATE kit_test.things SET"
    " name = CASE WHEN $4::bool THEN $5 ELSE name END,"
    " size = CASE WHEN $6::bool THEN $7::int ELSE size END,"
    " note = CASE WHEN $8::bool THEN $9 ELSE note END,"
    " updated_by = $2, version = version + 1"
    " WHERE id = $1 AND deleted_at IS NULL"
    "   AND ($3::int IS NULL OR version = $3::int)"
    " RETURNING id, version, " THING_JSON,
    9};

static const lc_db_stmt thing_delete = {
    "UPDATE kit_test.things SET deleted_at = now(), updated_by = $2,"
    " version = version + 1"
    " WHERE id = $1 AND deleted_at IS NULL"
    "   AND ($3::int IS NULL OR version = $3::int)"
    " RETURNING id, version, " THING_JSON,
    3};

/* The service's own rule: a thing's note never names its size. */
static int
thing_check(lc_req *req, const lc_caller *caller, const lc_body_value *vals,
            bool create)
{
    (void)caller;
    (void)create;
    if (vals[2].text != NULL && strstr(vals[2].text, "size") != NULL) {
        lc_body_field_error(req, "note", "invalid_format",
                            "note: may not speak of size");
        return -1;
    }
    return 0;
}

static const lc_resource thing = {
    .entity = {.min_role = "viewer",
               .get = &thing_get,
               .cols = thing_columns,
               .ncols = sizeof(thing_columns) / sizeof(thing_columns[0]),
               .missing = "no such thing",
               .changed = "the thing has changed"},
    .write_role = "manager",
    .fields = thing_fields,
    .nfields = 3,
    .insert = &thing_insert,
    .location = "/api/things/",
    .update = &thing_update,
    .remove = &thing_delete,
    .outbox = &outbox,
    .events = {"thing.created", "thing.updated", "thing.deleted"},
    .key_cols = {0, -1},
    .check = thing_check,
};

static const lc_req_constraint constraints[] = {
    {.constraint = "things_name_key",
     .status = 409,
     .code = "conflict",
     .field = "name",
     .field_code = "taken",
     .message = "another thing has this name"},
};

static void
thing_get_route(lc_req *req)
{
    lc_entity_get(req, &thing.entity);
}

static void
thing_create_route(lc_req *req)
{
    lc_resource_create(req, &thing);
}

static void
thing_patch_route(lc_req *req)
{
    lc_resource_patch(req, &thing);
}

static void
thing_delete_route(lc_req *req)
{
    lc_resource_delete(req, &thing);
}

/* The caller policy's source of truth: an active member of `caller_role`. */
static lc_caller_fetch_status
fetch_caller(lc_req *req, const char *tenant_id, const char *user_id,
             const char *session_id, lc_caller_tenant *t, lc_caller_member *m,
             void *arg)
{
    (void)req, (void)tenant_id, (void)user_id, (void)session_id, (void)arg;
    memset(t, 0, sizeof(*t));
    memset(m, 0, sizeof(*m));
    t->found = t->active = true;
    m->found = m->active = true;
    snprintf(m->role, sizeof(m->role), "%s", caller_role);
    return LC_CALLER_FETCH_OK;
}

/* A new role for the caller, seen at once (as users sees its own change). */
static void
set_role(const char *role)
{
    caller_role = role;
    lc_caller_fence(NULL, TENANT, USER, 1);
}

/* --- calls --------------------------------------------------------------- */

typedef struct {
    int status;
    char body[2048];
    char etag[32], location[128], replayed[8];
} reply;

/* `headers`: name, value, … NULL. */
static reply
call(const char *method, const char *path, const char *body, ...)
{
    Lintel__V1__Tenant tenant = LINTEL__V1__TENANT__INIT;
    Lintel__V1__Principal principal = LINTEL__V1__PRINCIPAL__INIT;
    Lintel__V1__Header h[4], *hp[4];
    lc_request req = LINTEL__V1__REQUEST__INIT;
    lc_response *res = NULL;
    reply r = {0};
    const char *name;
    va_list ap;
    size_t i, n = 0;

    tenant.id = TENANT;
    tenant.slug = "kit";
    principal.user_id = USER;
    principal.session_id = SESSION;
    principal.role = "viewer"; /* the token's: never what counts */
    req.request_id = "kit-1";
    req.origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
    req.tenant = &tenant;
    req.principal = &principal;
    req.method = (char *)method;
    req.path = (char *)path;
    va_start(ap, body);
    while ((name = va_arg(ap, const char *)) != NULL && n < 3) {
        lintel__v1__header__init(&h[n]);
        h[n].name = (char *)name;
        h[n].value = va_arg(ap, char *);
        hp[n] = &h[n];
        n++;
    }
    va_end(ap);
    if (body != NULL) {
        lintel__v1__header__init(&h[n]);
        h[n].name = "content-type";
        h[n].value = "application/json";
        hp[n] = &h[n];
        n++;
        req.body.data = (uint8_t *)body;
        req.body.len = strlen(body);
    }
    req.n_headers = n;
    req.headers = hp;
    assert_int_equal(lc_rpc_call(client, &req, lc_clock_mono_ms() + 5000, &res),
                     LC_RPC_OK);
    r.status = (int)res->status;
    snprintf(r.body, sizeof(r.body), "%.*s", (int)res->body.len,
             (const char *)res->body.data);
    for (i = 0; i < res->n_headers; i++) {
        if (strcmp(res->headers[i]->name, "etag") == 0) {
            snprintf(r.etag, sizeof(r.etag), "%s", res->headers[i]->value);
        } else if (strcmp(res->headers[i]->name, "location") == 0) {
            snprintf(r.location, sizeof(r.location), "%s",
                     res->headers[i]->value);
        } else if (strcmp(res->headers[i]->name, "idempotent-replayed") == 0) {
            snprintf(r.replayed, sizeof(r.replayed), "%s",
                     res->headers[i]->value);
        }
    }
    lc_envelope_free_response(res);
    return r;
}

/* A string member of a JSON object text ("" when absent). */
static const char *
member(const char *json, const char *name)
{
    static char out[256];
    cJSON *o = cJSON_Parse(json);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    snprintf(out, sizeof(out), "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(o);
    return out;
}

/* The error code of an error answer, or its first field's code. */
static const char *
error_code(const char *json, bool field)
{
    static char out[64];
    cJSON *o = cJSON_Parse(json);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "code");

    if (field) {
        v = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "fields"),
                               0),
            "code");
    }
    snprintf(out, sizeof(out), "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(o);
    return out;
}

static long long
count(const char *sql)
{
    const lc_db_stmt st = {sql, 0};
    lc_db_error err;
    PGresult *res = lc_db_tenant_read(db, TENANT, lc_clock_mono_ms() + 5000,
                                      &st, NULL, &err);
    long long n;

    assert_non_null(res);
    n = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

/* --- tests ------------------------------------------------------------------
 */

static void
test_a_thing_lives_and_dies_with_its_etag(void **state)
{
    char path[400], id[256];
    reply r, g;
    cJSON *a, *b;

    (void)state;
    r = call("POST", "/api/things", "{\"name\":\"lamp\",\"size\":3}", NULL);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.etag, "\"1\"");
    snprintf(id, sizeof(id), "%s", member(r.body, "id"));
    snprintf(path, sizeof(path), "/api/things/%s", id);
    assert_string_equal(r.location, path);

    /* GET builds in C from binary columns what the INSERT built in SQL */
    g = call("GET", path, NULL, NULL);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.etag, "\"1\"");
    a = cJSON_Parse(r.body);
    b = cJSON_Parse(g.body);
    assert_true(cJSON_Compare(a, b, true));
    cJSON_Delete(a);
    cJSON_Delete(b);

    r = call("PATCH", path, "{\"size\":4}", NULL);
    assert_int_equal(r.status, 428);
    r = call("PATCH", path, "{\"size\":4}", "if-match", "W/\"1\"", NULL);
    assert_int_equal(r.status, 412);
    r = call("PATCH", path, "{\"size\":4}", "if-match", "\"7\"", NULL);
    assert_int_equal(r.status, 412);
    assert_string_equal(error_code(r.body, false), "precondition_failed");
    r = call("PATCH", path, "{\"size\":4,\"note\":null}", "if-match", "\"1\"",
             NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.etag, "\"2\"");
    r = call("DELETE", path, NULL, "if-match", "\"1\"", NULL);
    assert_int_equal(r.status, 412);
    r = call("DELETE", path, NULL, NULL);
    assert_int_equal(r.status, 204);
    assert_int_equal(call("GET", path, NULL, NULL).status, 404);
    assert_int_equal(call("PATCH", path, "{}", "if-match", "\"2\"", NULL).status,
                     404);
    assert_int_equal(call("PATCH", path, "{}", "if-match", "*", NULL).status,
                     428);
    assert_int_equal(call("GET", "/api/things/not-a-uuid", NULL, NULL).status,
                     404);
    /* each change wrote its event, in order, in its own transaction */
    assert_int_equal(count("SELECT count(*) FROM kit_test.events"
                           " WHERE type = 'thing.created'"),
                     count("SELECT count(*) FROM kit_test.things"));
    assert_int_equal(count("SELECT count(*) FROM kit_test.events"
                           " WHERE type IN ('thing.updated', 'thing.deleted')"
                           " AND subject_id = (SELECT id FROM kit_test.things"
                           "  WHERE name = 'lamp')"),
                     2);
}

static void
test_an_idempotency_key_replays_and_refuses_reuse(void **state)
{
    reply first, again, other;

    (void)state;
    first = call("POST", "/api/things", "{\"name\":\"chair\"}",
                 "idempotency-key", "k-1", NULL);
    assert_int_equal(first.status, 201);
    again = call("POST", "/api/things", "{\"name\":\"chair\"}",
                 "idempotency-key", "k-1", NULL);
    assert_int_equal(again.status, 201);
    assert_string_equal(again.replayed, "true");
    assert_string_equal(again.body, first.body);
    assert_string_equal(again.location, first.location);
    other = call("POST", "/api/things", "{\"name\":\"stool\"}",
                 "idempotency-key", "k-1", NULL);
    assert_int_equal(other.status, 422);
    assert_string_equal(error_code(other.body, false),
                        "idempotency_key_reused");
    assert_int_equal(count("SELECT count(*) FROM kit_test.things"
                           " WHERE name IN ('chair', 'stool')"),
                     1);
    /* a bad body, or one the rule refuses, claims no key */
    assert_int_equal(call("POST", "/api/things", "{\"size\":2}",
                          "idempotency-key", "k-2", NULL)
                         .status,
                     400);
    assert_int_equal(call("POST", "/api/things",
                          "{\"name\":\"box\",\"note\":\"its size\"}",
                          "idempotency-key", "k-2", NULL)
                         .status,
                     400);
    assert_int_equal(count("SELECT count(*) FROM kit_test.idempotency_keys"
                           " WHERE key = 'k-2'"),
                     0);
}

static void
test_rules_constraints_and_the_body_grammar(void **state)
{
    reply r;

    (void)state;
    r = call("POST", "/api/things", "{\"name\":\"desk\",\"note\":\"size 4\"}",
             NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_code(r.body, true), "invalid_format");
    assert_int_equal(
        call("POST", "/api/things", "{\"name\":\"desk\"}", NULL).status, 201);
    r = call("POST", "/api/things", "{\"name\":\"desk\"}", NULL);
    assert_int_equal(r.status, 409);
    assert_string_equal(error_code(r.body, true), "taken");
    r = call("POST", "/api/things", "{\"name\":\"x\",\"colour\":1}", NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(error_code(r.body, true), "unknown_field");
    r = call("POST", "/api/things", "{\"name\":\"x\",\"size\":\"2\"}", NULL);
    assert_string_equal(error_code(r.body, true), "invalid_type");
}

static void
test_the_stored_role_counts_not_the_tokens(void **state)
{
    reply r;

    (void)state;
    r = call("POST", "/api/things", "{\"name\":\"bench\"}", NULL);
    assert_int_equal(r.status, 201); /* a manager, with a viewer's token */
    set_role("viewer");
    assert_int_equal(call("GET", r.location, NULL, NULL).status, 200);
    r = call("POST", "/api/things", "{\"name\":\"shelf\"}", NULL);
    assert_int_equal(r.status, 403);
    assert_string_equal(error_code(r.body, false), "forbidden");
    set_role("manager");
}

/* --- setup ---------------------------------------------------------------- */

static int
run_sql(lc_db *d, void *arg, lc_db_error *err)
{
    const lc_db_stmt st = {arg, 0};
    PGresult *res = lc_db_exec(d, &st, NULL, err);

    PQclear(res);
    return res ? 0 : -1;
}

static int
setup(void **state)
{
    const lc_db_options dbo = {db_url, "test-kit", true, 3};
    const lc_outbox_options oo = {
        .schema = "kit_test", .keys = {"subject_id"}, .nkeys = 1};
    lc_rpc_server_options so = {
        .service = "kit_test", /* the schema of its idempotency keys */
        .url = url,
        .workers = 2,
        .max_message = 1 << 20,
        .default_timeout_ms = 5000,
        .max_timeout_ms = 5000,
        .max_json_bytes = 4096,
        .db = dbo,
        .constraints = constraints,
        .nconstraints = 1,
    };
    static const lc_rpc_route routes[] = {
        {"POST", "/api/things", thing_create_route},
        {"GET", "/api/things/:id", thing_get_route},
        {"PATCH", "/api/things/:id", thing_patch_route},
        {"DELETE", "/api/things/:id", thing_delete_route},
    };
    lc_db_error dberr;
    char err[256];
    size_t i;

    (void)state;
    lc_log_init("test", LC_LOG_ERROR);
    snprintf(url, sizeof(url), "ipc:///tmp/lintel-test-kit-%d.sock",
             (int)getpid());
    db = lc_db_open(&dbo);
    for (i = 0; i < sizeof(schema_sql) / sizeof(schema_sql[0]); i++) {
        if (lc_db_tenant_tx(db, NULL, lc_clock_mono_ms() + 5000, run_sql,
                            (void *)schema_sql[i], &dberr) != 0) {
            fprintf(stderr, "%s: %s\n", schema_sql[i], dberr.message);
            return -1;
        }
    }
    lc_caller_configure(fetch_caller, NULL);
    outbox = lc_outbox_open(&oo, err, sizeof(err));
    server = lc_rpc_server_new(&so);
    if (outbox == NULL || server == NULL ||
        lc_rpc_server_routes(server, routes, 4) != 0 ||
        lc_rpc_server_start(server, err, sizeof(err)) != 0) {
        fprintf(stderr, "kit server: %s\n", err);
        return -1;
    }
    client = lc_rpc_client_open(url, 1 << 20, err, sizeof(err));
    return client ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    lc_rpc_client_close(client);
    lc_rpc_server_stop(server, 1000);
    lc_rpc_server_free(server);
    lc_outbox_close(outbox);
    lc_db_close(db);
    unlink(url + strlen("ipc://"));
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_thing_lives_and_dies_with_its_etag),
        cmocka_unit_test(test_an_idempotency_key_replays_and_refuses_reuse),
        cmocka_unit_test(test_rules_constraints_and_the_body_grammar),
        cmocka_unit_test(test_the_stored_role_counts_not_the_tokens),
    };

    db_url = getenv("LINTEL_TEST_DB_URL");
    if (db_url == NULL) {
        fprintf(stderr, "test_kit: needs LINTEL_TEST_DB_URL (run it from"
                        " tests/e2e/test_libcommon_live.py)\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
