/*
 * lc_idem.c: claiming, replaying and releasing Idempotency-Keys.
 */
#include "lc_idem.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_body.h"
#include "lc_req_tx.h"

/* A key claimed by a request that died (the service crashed) would block
 * its retries for 24 h; a claim this old is taken over instead. It is far
 * longer than the longest deadline a request may have. */
#define IDEM_ABANDONED "'60 seconds'"

/* The statements, with @T for the table: the schema is the service's. */
enum {
    IDEM_INSERT,
    IDEM_LOCK,
    IDEM_RECLAIM,
    IDEM_DONE,
    IDEM_DELETE,
    IDEM_PURGE,
    IDEM_STATEMENTS
};

static const struct {
    const char *sql;
    int nparams;
} idem_templates[IDEM_STATEMENTS] = {
    [IDEM_INSERT] = {"INSERT INTO @T"
    " (tenant_id, user_id, route, key, request_hash)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
        5},
    [IDEM_LOCK] = {"SELECT request_hash, state, response_status, response_body,"
    " response_etag, created_at < now() - interval '24 hours'"
    "  OR (state = 'running' AND created_at < now() - interval " IDEM_ABANDONED
    "), response_location"
    " FROM @T"
    " WHERE tenant_id = $1 AND user_id = $2 AND route = $3 AND key = $4"
    " FOR UPDATE",
        4},
    [IDEM_RECLAIM] = {"UPDATE @T SET request_hash = $5,"
    " state = 'running', response_status = NULL, response_body = NULL,"
    " response_etag = NULL, response_location = NULL, created_at = now()"
    " WHERE tenant_id = $1 AND user_id = $2 AND route = $3 AND key = $4",
        5},
    [IDEM_DONE] = {"UPDATE @T SET state = 'done',"
    " response_status = $5, response_body = $6, response_etag = $7,"
    " response_location = $8"
    " WHERE tenant_id = $1 AND user_id = $2 AND route = $3 AND key = $4",
        8},
    [IDEM_DELETE] = {"DELETE FROM @T"
    " WHERE tenant_id = $1 AND user_id = $2 AND route = $3 AND key = $4"
    "   AND state = 'running'",
        4},
    /* Keys live 24 h (API.md). A claim purges up to 100 of its tenant's
     * expired keys: bounded work per request, and a tenant that keeps
     * posting keeps its table small; SKIP LOCKED never waits for a key
     * being reclaimed. */
    [IDEM_PURGE] = {"DELETE FROM @T WHERE ctid = ANY (ARRAY("
    " SELECT ctid FROM @T"
    " WHERE tenant_id = $1 AND created_at < now() - interval '24 hours'"
    " LIMIT 100 FOR UPDATE SKIP LOCKED))",
        1},
};

/* A statement of this service's table into `sql` (the schema is the
 * service's name). Built per call, which costs next to nothing beside the
 * round trips, and needs no process-wide state: lc_db prepares by text. */
typedef struct {
    lc_db_stmt st;
    char sql[512];
} idem_sql;

static const lc_db_stmt *
idem_stmt(const char *schema, int which, idem_sql *out)
{
    const char *t, *at;
    size_t o = 0;

    for (t = idem_templates[which].sql; (at = strstr(t, "@T")) != NULL;
         t = at + 2) {
        o += (size_t)snprintf(out->sql + o, sizeof(out->sql) - o,
                              "%.*s%s.idempotency_keys", (int)(at - t), t,
                              schema);
    }
    snprintf(out->sql + o, sizeof(out->sql) - o, "%s", t);
    out->st = (lc_db_stmt){out->sql, idem_templates[which].nparams};
    return &out->st;
}

typedef struct {
    lc_req_fail fail;
    const lc_idem *idem;
    int outcome; /* 0 claimed, 1 replay, 2 running, 3 other body */
    PGresult *res;
} idem_claim_ctx;

static int
idem_claim_tx(lc_db *db, void *arg, lc_db_error *err)
{
    idem_claim_ctx *c = arg;
    const lc_idem *i = c->idem;
    const char *params[5] = {i->tenant_id, i->user_id, i->route, i->key,
                             i->hash};
    idem_sql sql;
    PGresult *res;
    int inserted;

    PQclear(c->res);
    c->res = NULL;
    res = lc_db_exec(db, idem_stmt(i->schema, IDEM_INSERT, &sql), params, err);
    if (res == NULL) {
        return -1;
    }
    inserted = PQntuples(res);
    PQclear(res);
    if (inserted == 1) {
        res = lc_db_exec(db, idem_stmt(i->schema, IDEM_PURGE, &sql), params,
                         err);
        if (res == NULL) {
            return -1;
        }
        PQclear(res);
        c->outcome = 0;
        return 0;
    }
    res = lc_db_exec(db, idem_stmt(i->schema, IDEM_LOCK, &sql), params, err);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 5), "t") == 0) {
        /* Expired or abandoned (or deleted by a failed first request
         * between our INSERT and SELECT): this request starts afresh. */
        int which = PQntuples(res) == 0 ? IDEM_INSERT : IDEM_RECLAIM;

        PQclear(res);
        res = lc_db_exec(db, idem_stmt(i->schema, which, &sql), params, err);
        if (res == NULL) {
            return -1;
        }
        PQclear(res);
        c->outcome = 0;
        return 0;
    }
    if (strcmp(PQgetvalue(res, 0, 0), i->hash) != 0) {
        c->outcome = 3;
    } else if (strcmp(PQgetvalue(res, 0, 1), "running") == 0) {
        c->outcome = 2;
    } else {
        c->outcome = 1;
    }
    c->res = res;
    return 0;
}

static void
idem_hash(const lc_request *env, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, env->path, strlen(env->path) + 1) == 1 &&
        EVP_DigestUpdate(ctx, env->body.data, env->body.len) == 1) {
        EVP_DigestFinal_ex(ctx, md, &mdlen);
    }
    EVP_MD_CTX_free(ctx);
    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[i < mdlen ? md[i] >> 4 : 0];
        out[2 * i + 1] = hex[i < mdlen ? md[i] & 15 : 0];
    }
    out[64] = '\0';
}

/* The stored answer again. A kept error (lc_idem_keep_refusal) names this
 * request, as every error does (its request_id is the X-Request-Id). */
static void
idem_replay(lc_req *req, int status, const char *body)
{
    cJSON *json = status >= 400 ? cJSON_Parse(body) : NULL;
    cJSON *error = cJSON_GetObjectItemCaseSensitive(json, "error");

    if (cJSON_IsObject(error)) {
        cJSON_DeleteItemFromObjectCaseSensitive(error, "request_id");
        cJSON_AddStringToObject(error, "request_id", lc_req_id(req));
        lc_req_respond_json(req, status, json);
        return;
    }
    cJSON_Delete(json);
    lc_req_respond(req, status, "application/json", body, strlen(body));
}

int
lc_idem_begin(lc_req *req, const char *tenant_id, const char *user_id,
              lc_idem *idem)
{
    const lc_request *env = lc_req_envelope(req);
    const char *key = lc_envelope_header(env, "idempotency-key");
    idem_claim_ctx c = {0};
    size_t n, i;

    memset(idem, 0, sizeof(*idem));
    if (key == NULL) {
        return 0;
    }
    n = strlen(key);
    for (i = 0; i < n && key[i] > 0x20 && key[i] < 0x7f; i++) {
    }
    if (n == 0 || n > 255 || i != n) {
        lc_body_field_error(req, "Idempotency-Key", "invalid_format",
                            "Idempotency-Key: 1 to 255 visible ASCII "
                            "characters");
        return 1;
    }
    memcpy(idem->key, key, n + 1);
    snprintf(idem->route, sizeof(idem->route), "%s %s", env->method, env->path);
    idem_hash(env, idem->hash);
    idem->schema = lc_req_service(req);
    idem->tenant_id = tenant_id;
    idem->user_id = user_id;
    c.idem = idem;
    if (lc_req_tx(req, tenant_id, idem_claim_tx, &c) != 0) {
        return 1;
    }
    switch (c.outcome) {
    case 0:
        idem->active = true;
        return 0;
    case 1:
        if (!PQgetisnull(c.res, 0, 4)) {
            char etag[32];

            snprintf(etag, sizeof(etag), "\"%s\"", PQgetvalue(c.res, 0, 4));
            lc_req_header(req, "etag", etag);
        }
        if (!PQgetisnull(c.res, 0, 6)) {
            lc_req_header(req, "location", PQgetvalue(c.res, 0, 6));
        }
        lc_req_header(req, "idempotent-replayed", "true");
        idem_replay(req, atoi(PQgetvalue(c.res, 0, 2)),
                    PQgetvalue(c.res, 0, 3));
        break;
    case 2:
        lc_req_error(req, 409, "conflict",
                     "a request with this Idempotency-Key is still running");
        break;
    default:
        lc_req_error(req, 422, "idempotency_key_reused",
                     "this Idempotency-Key was used for another request");
    }
    PQclear(c.res);
    return 1;
}

int
lc_idem_store(lc_db *db, const lc_idem *idem, int status,
              const char *location, const char *version, const char *body,
              lc_db_error *err)
{
    idem_sql sql;
    char st[8];
    const char *params[8] = {
        idem->tenant_id, idem->user_id, idem->route, idem->key, st, body,
        version,         location};
    PGresult *res;

    if (!idem->active) {
        return 0;
    }
    snprintf(st, sizeof(st), "%d", status);
    res = lc_db_exec(db, idem_stmt(idem->schema, IDEM_DONE, &sql), params,
                     err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}

typedef struct {
    lc_req_fail fail;
    const lc_idem *idem;
} idem_abort_ctx;

static int
idem_abort_tx(lc_db *db, void *arg, lc_db_error *err)
{
    const lc_idem *i = ((idem_abort_ctx *)arg)->idem;
    const char *params[4] = {i->tenant_id, i->user_id, i->route, i->key};
    idem_sql sql;
    PGresult *res =
        lc_db_exec(db, idem_stmt(i->schema, IDEM_DELETE, &sql), params, err);

    PQclear(res);
    return res ? 0 : -1;
}

typedef struct {
    lc_req_fail fail;
    const lc_idem *idem;
    int status;
    const char *body;
} idem_keep_ctx;

static int
idem_keep_tx(lc_db *db, void *arg, lc_db_error *err)
{
    idem_keep_ctx *c = arg;

    return lc_idem_store(db, c->idem, c->status, NULL, NULL, c->body, err);
}

void
lc_idem_keep_refusal(lc_req *req, const lc_idem *idem)
{
    idem_keep_ctx c = {{0}, idem, lc_req_response_status(req), NULL};
    const char *body;
    char *copy;
    lc_db_error err;
    size_t len;

    if (!idem->active) {
        return;
    }
    body = lc_req_response_body(req, &len);
    copy = c.status >= 400 && c.status < 500 ? strndup(body ? body : "", len)
                                              : NULL;
    c.body = copy;
    if (copy == NULL ||
        lc_db_tenant_tx(lc_req_db(req), idem->tenant_id,
                        lc_req_deadline_ms(req), idem_keep_tx, &c, &err) != 0) {
        lc_idem_abort(req, idem);
    }
    free(copy);
}

void
lc_idem_abort(lc_req *req, const lc_idem *idem)
{
    idem_abort_ctx c = {{0}, idem};
    lc_db_error err;

    if (!idem->active) {
        return;
    }
    /* The response already says what went wrong; a key that stays claimed
     * is taken over after IDEM_ABANDONED anyway. */
    lc_db_tenant_tx(lc_req_db(req), idem->tenant_id, lc_req_deadline_ms(req),
                    idem_abort_tx, &c, &err);
}
