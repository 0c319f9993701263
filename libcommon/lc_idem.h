/*
 * lc_idem: POST requests with an Idempotency-Key (API.md). A client that
 * lost a response retries with the same key and gets the first response
 * again (status, body, ETag, Location) instead of a second resource.
 *
 * The key is claimed in its own short transaction, so that a concurrent
 * repeat sees "running" and gets a 409 instead of waiting; the response is
 * stored in the same transaction as the change it reports, so a stored
 * response always means the change committed; a failed request frees its
 * key again. Keys are scoped to tenant + user + route and live 24 h; the
 * same key with another body is a 422 idempotency_key_reused.
 *
 * Order of a POST: caller, body (validated first: a bad body claims
 * nothing), lc_idem_begin, the transaction with lc_idem_store, and
 * lc_idem_abort when the transaction failed.
 *
 * The table is <service>.idempotency_keys in the service's own schema
 * (the schema is the service's name), created by its migration as in
 * migrations/projects/0001_init.sql and 0003_idempotency_location.sql:
 *   tenant_id uuid, user_id uuid, route text, key text, request_hash text,
 *   state text ('running' | 'done'), response_status int,
 *   response_body text, response_etag text, response_location text,
 *   created_at timestamptz, primary key (tenant_id, user_id, route, key),
 *   with the tenant RLS policy (lintel.enable_tenant_rls).
 */
#ifndef LC_IDEM_H
#define LC_IDEM_H

#include <stdbool.h>

#include "lc_rpc_server.h"

typedef struct {
    bool active; /* an Idempotency-Key was sent and claimed */
    char key[256];
    char route[320];
    char hash[65];
    const char *schema; /* the service's: <schema>.idempotency_keys */
    const char *tenant_id, *user_id;
} lc_idem;

/*
 * For a POST: with no Idempotency-Key returns 0 and leaves `idem` inactive.
 * Otherwise claims the key; returns 1 when the response is already set (a
 * replay, 409 while the first runs, 422 for another body, 400 for a bad
 * key) and 0 when the request should run.
 */
int lc_idem_begin(lc_req *req, const char *tenant_id, const char *user_id,
                  lc_idem *idem);

/* Inside the request's transaction: records its response (status, Location
 * or NULL, ETag version or NULL, body) with the key, for a replay. */
int lc_idem_store(lc_db *db, const lc_idem *idem, int status,
                  const char *location, const char *version, const char *body,
                  lc_db_error *err);

/* After a failed request: frees the key so that a retry runs again. */
void lc_idem_abort(lc_req *req, const lc_idem *idem);

/* After a refusal that is the request's answer, decided after the key was
 * claimed (a 402 plan_limit_reached): kept with the key as its response,
 * so that a retry gets the same answer; a failure of ours (5xx) frees the
 * key instead, as lc_idem_abort does. */
void lc_idem_keep_refusal(lc_req *req, const lc_idem *idem);

#endif
