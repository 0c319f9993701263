/*
 * lc_rpc_server: a service's NNG endpoint.
 *
 * One REP socket, N worker threads; each worker owns a database connection
 * and a Redis connection, and handles one request at a time, so handlers
 * may block on I/O without holding up NNG's own small thread pool (DESIGN
 * §13). Requests are received on NNG's threads (one nng_ctx per worker, an
 * aio callback each) and handed to the next free worker; a route may also
 * have an inline handler that answers on NNG's thread, with no hand-off,
 * when it can do so without blocking (lc_rpc_server_route_inline). Every
 * request gets, in order:
 *   - the envelope unpacked under a size budget (garbage → 400);
 *   - a local deadline from the envelope's time budget;
 *   - the caller's identity, from the listener the message came through
 *     (lc_rpc_listener): a request its caller may not make → 403, and no
 *     handler runs;
 *   - paths under /rpc/ refused unless the origin is INTERNAL (→ 404, as if
 * absent);
 *   - routing by method and path pattern (→ 404 / 405 with Allow);
 *   - the handler, unless the deadline has already passed (→ 504);
 *   - one JSON log line and the /metrics counters.
 */
#ifndef LC_RPC_SERVER_H
#define LC_RPC_SERVER_H

#include <cjson/cJSON.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lc_cache.h"
#include "lc_db.h"
#include "lc_envelope.h"
#include "lc_json.h"

typedef struct lc_rpc_server lc_rpc_server;
typedef struct lc_req lc_req;
typedef void (*lc_rpc_handler)(lc_req *req);

/* A named constraint whose violation is the client's mistake, not a bug:
 * lc_req_db_error answers it with this error, naming `field` (a body
 * member) with `field_code` when `field` is set. */
typedef struct {
    const char *constraint; /* "projects_tenant_code_key" */
    int status;             /* 409, 400, … */
    const char *code;       /* "conflict", "validation_failed" */
    const char *field;      /* NULL: no fields[] entry */
    const char *field_code; /* "taken", "before_start" */
    const char *message;
} lc_req_constraint;

/*
 * Who calls through a listener. NNG 1.5.2 cannot tell a handler whose
 * certificate a TLS peer presented, only that it was verified; so a
 * service listens once per caller, each listener trusting only the CA
 * that issues that caller's certificates, and the listener a message came
 * through is its caller (README, "Internal calls").
 */
typedef enum {
    LC_RPC_CALLER_OPERATOR, /* lintel-call, an operator's tool: anything */
    LC_RPC_CALLER_EDGE,     /* the edge: origin EDGE, plus its `rpcs` */
    LC_RPC_CALLER_SERVICE,  /* another service: origin INTERNAL, /rpc/ only */
} lc_rpc_caller_kind;

typedef struct {
    const char *caller; /* "edge", "operator", "projects": logs */
    lc_rpc_caller_kind kind;
    const char *url; /* tls+tcp://… (or tcp://, ipc:// without TLS) */
    /* the internal RPCs ("users.GetJwks") it may call, NULL-terminated;
     * NULL: none for the edge, every one for a service */
    const char *const *rpcs;
    const char *ca_file; /* tls+tcp: the CAs of this caller's certificates */
} lc_rpc_listener;

typedef struct {
    const char *service;    /* "users": logs and metrics */
    /* where it listens when `listeners` is empty, trusting every caller
     * (tests and tools) */
    const char *url;        /* "tcp://127.0.0.1:7101" */
    const lc_rpc_listener *listeners;
    size_t nlisteners;
    /* tls+tcp listeners: the service's own certificate and key (PEM) */
    const char *cert_key_file;
    int workers;            /* threads, each with its own ctx and db */
    size_t max_message;     /* NNG_OPT_RECVMAXSZ, bytes */
    int default_timeout_ms; /* when the envelope carries no budget */
    int max_timeout_ms;     /* a larger budget is cut to this */
    size_t max_json_bytes;  /* request body limit for lc_req_json() */
    lc_db_options db;
    /* a streaming replica for lc_req_read (conninfo NULL: none), used
     * while its lag is at most read_max_lag_ms (lc_replica.h) */
    lc_db_options read_db;
    long read_max_lag_ms;
    bool use_cache; /* false: no Redis, lc_req_cache() is NULL */
    lc_cache_options cache;
    void *app; /* the service's state, for handlers */
    const lc_req_constraint *constraints; /* for lc_req_db_error */
    size_t nconstraints;
} lc_rpc_server_options;

lc_rpc_server *lc_rpc_server_new(const lc_rpc_server_options *opts);

/* Registers a handler; `method` is an HTTP method or "RPC". 0 or -1. */
int lc_rpc_server_route(lc_rpc_server *s, const char *method,
                        const char *pattern, lc_rpc_handler fn);

/*
 * An inline handler runs on NNG's callback thread as soon as the request is
 * routed: it must not block (no database, no Redis, no RPC, no long lock;
 * lc_req_db and lc_req_cache are NULL there). It answers and returns true,
 * or sets no response and returns false, and the request goes to a worker
 * and `fn` as any other. For the hot read that a cache in memory answers.
 */
typedef bool (*lc_rpc_inline_handler)(lc_req *req);

/* lc_rpc_server_route with an inline handler in front of `fn`. 0 or -1. */
int lc_rpc_server_route_inline(lc_rpc_server *s, const char *method,
                               const char *pattern,
                               lc_rpc_inline_handler inline_fn,
                               lc_rpc_handler fn);

/* A service resource's routes, registered at once. */
typedef struct {
    const char *method;
    const char *pattern;
    lc_rpc_handler fn;
} lc_rpc_route;

/* lc_rpc_server_route() for each entry; 0, or -1 at the first failure. */
int lc_rpc_server_routes(lc_rpc_server *s, const lc_rpc_route *routes,
                         size_t n);

/* Prints "METHOD PATTERN" per registered route, one a line. */
void lc_rpc_server_print_routes(const lc_rpc_server *s, FILE *out);

/* Listens and starts the workers; 0, or -1 with a reason in `err`. */
int lc_rpc_server_start(lc_rpc_server *s, char *err, size_t errlen);

/* Stops listening, lets in-flight requests finish (up to `grace_ms`), then
 * closes the socket and joins the workers. */
void lc_rpc_server_stop(lc_rpc_server *s, int grace_ms);
void lc_rpc_server_free(lc_rpc_server *s);

/* --- what a handler sees ------------------------------------------------ */

const lc_request *lc_req_envelope(const lc_req *req);
const char *lc_req_param(const lc_req *req, const char *name);
/* The tenant id (uuid) from the envelope, or NULL on the platform host. */
const char *lc_req_tenant_id(const lc_req *req);
const char *lc_req_id(const lc_req *req);
/* The service's name ("projects"), which is also its schema's. */
const char *lc_req_service(const lc_req *req);
int64_t lc_req_deadline_ms(const lc_req *req); /* lc_clock_mono_ms() scale */
/* The worker's database connection; NULL in an inline handler. */
lc_db *lc_req_db(lc_req *req);
/* The worker's connection to the read replica when this read may go there
 * (lc_replica_pick), else NULL: no replica, it lags or is down, or an
 * inline handler. */
lc_db *lc_req_replica_db(lc_req *req);
/* A read failed on that connection: it goes to the primary instead. */
void lc_req_replica_failed(lc_req *req);
/* The worker's Redis connection; NULL for a service without Redis and in an
 * inline handler (the lc_cache calls treat NULL as Redis being down). */
lc_cache *lc_req_cache(lc_req *req);
void *lc_req_app(lc_req *req);

/*
 * The body as strict JSON (lc_json limits). On failure the error response
 * (400 invalid_json, 413 payload_too_large or 415 unsupported_media_type)
 * is already set and NULL is returned. The tree is freed after the reply.
 */
const cJSON *lc_req_json(lc_req *req);

/*
 * The body of an internal RPC as a message of type `desc`, unpacked under
 * the envelope's budget. On failure a 400 is set and NULL returned. The
 * message is freed after the reply.
 */
const ProtobufCMessage *lc_req_pb(lc_req *req,
                                  const ProtobufCMessageDescriptor *desc);

/* Responses: the last call wins. */
void lc_req_respond(lc_req *req, int status, const char *content_type,
                    const void *body, size_t len);
/* Serialises and takes ownership of `body`. */
void lc_req_respond_json(lc_req *req, int status, cJSON *body);
void lc_req_respond_pb(lc_req *req, const ProtobufCMessage *msg);
/* A 401 also gets its `WWW-Authenticate: Bearer` challenge (with
 * error="invalid_token" for that code) when it is the final answer. */
void lc_req_error(lc_req *req, int status, const char *code,
                  const char *message);
void lc_req_error_fields(lc_req *req, int status, const char *code,
                         const char *message,
                         const lc_json_field_errors *fields);
/* An lc_db failure, logged with its detail; the client sees the error of
 * the service's constraint it violated, or only the kind of failure:
 * unavailable 503 (with Retry-After), timeout 504, conflict 409, refused
 * 422, bad value 400, anything else 500. */
void lc_req_db_error(lc_req *req, const lc_db_error *err);
/* The response set so far: its status (0: none yet) and body. */
int lc_req_response_status(const lc_req *req);
const char *lc_req_response_body(const lc_req *req, size_t *len);
/* Adds a response header (at most 16). */
void lc_req_header(lc_req *req, const char *name, const char *value);

/*
 * Continued replies: a body too large for one message goes in parts, one
 * request each (REQ/REP gives one reply per request). The handler answers
 * a part with lc_req_respond() and then lc_req_continue(): the sender (the
 * edge) asks for the next part with the same request and the cursor, on
 * the same connection, and streams the parts' bodies as one body of
 * `total_length` bytes (the first part's headers and status are the
 * reply's). The cursor is opaque to the sender and is all the handler
 * gets to find the next part: keep no state between parts, so any worker
 * (or instance) can serve it. A later respond or error drops it.
 */
/* The cursor of the part asked for, or NULL for the first request. */
const char *lc_req_continuation(const lc_req *req);
void lc_req_continue(lc_req *req, const char *cursor, uint64_t total_length);

#endif
