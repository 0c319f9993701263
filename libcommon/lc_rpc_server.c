/*
 * lc_rpc_server.c: the REP socket, its worker threads and the request
 * pipeline described in lc_rpc_server.h.
 */
#include "lc_rpc_server.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lc_clock.h"
#include "lc_log.h"
#include "lc_metrics.h"
#include "lc_nng.h"
#include "lc_replica.h"
#include "lc_router.h"

#define LC_REQ_MAX_HEADERS 16

/* Contexts receiving at once beyond one per worker, when a route has an
 * inline handler: requests answered inline never wait for a worker, so
 * they may be many more in flight than workers. */
#define LC_RPC_INLINE_SLOTS 64

typedef struct lc_rpc_worker lc_rpc_worker;
typedef struct lc_rpc_slot lc_rpc_slot;

/* What a route runs (the router's data for it). */
typedef struct lc_rpc_entry {
    lc_rpc_handler fn;
    lc_rpc_inline_handler inline_fn; /* NULL: always a worker */
    struct lc_rpc_entry *next;       /* all of the server's, to free */
} lc_rpc_entry;

struct lc_rpc_server {
    lc_rpc_server_options opts;
    lc_router *router;
    lc_rpc_entry *entries;
    bool has_inline;
    nng_socket sock;
    /* listeners[i] accepts the callers of specs[i] */
    const lc_rpc_listener *specs;
    size_t nlisteners;
    lc_rpc_listener any; /* `url`, trusting every caller */
    nng_listener *listeners;
    bool open;
    lc_rpc_worker *workers;
    int nworkers;
    lc_replica *replica; /* NULL: no read replica */
    lc_rpc_slot *slots;
    int nslots;
    atomic_int busy; /* requests received and not yet answered */

    /* requests waiting for a worker, oldest first */
    pthread_mutex_t lock;
    pthread_cond_t ready;
    lc_rpc_slot *queue_head, *queue_tail;
    bool stopping;
    /* nng_close did not return in time (lc_nng_close): what NNG may
     * still touch is never freed */
    bool close_hung;
};

struct lc_rpc_worker {
    lc_rpc_server *server;
    pthread_t thread;
    bool started;
    lc_db *db;
    lc_db *read_db; /* NULL: no read replica */
    lc_cache *cache;
};

struct lc_req {
    lc_rpc_server *server;
    lc_rpc_worker *worker; /* NULL in an inline handler */
    const lc_rpc_listener *via; /* who called; NULL: unknown (refused) */
    lc_request *env;
    lc_route_match match;
    int64_t deadline_ms;
    char request_id[64];

    int status;
    const char *content_type;
    char *body;
    size_t body_len;
    Lintel__V1__Header headers[LC_REQ_MAX_HEADERS];
    Lintel__V1__Header *header_ptrs[LC_REQ_MAX_HEADERS];
    char *header_storage[LC_REQ_MAX_HEADERS];
    size_t nheaders;
    const char *challenge; /* WWW-Authenticate of a 401 error, else NULL */
    char *cursor;          /* lc_req_continue(): the next part's, or NULL */
    uint64_t total_length;

    cJSON *json;
    ProtobufCMessage *pb;
};

/*
 * One REP context and the request it holds, a small state machine driven
 * by its aio's callback: receiving → (answered inline, or queued until a
 * worker answers) → sending → receiving. The request lives in the slot from
 * receipt to reply, so it moves from NNG's thread to a worker without a
 * copy.
 */
struct lc_rpc_slot {
    lc_rpc_server *server;
    nng_ctx ctx;
    nng_aio *aio;
    bool sending;
    lc_req req;
    const char *route; /* for logs and metrics */
    double t0;
    lc_rpc_slot *next; /* in the server's queue */
};

/* --- handler API -------------------------------------------------------- */

const char *
lc_req_service(const lc_req *req)
{
    return req->server->opts.service;
}

const lc_request *
lc_req_envelope(const lc_req *req)
{
    return req->env;
}

const char *
lc_req_param(const lc_req *req, const char *name)
{
    return lc_route_param(&req->match, name);
}

const char *
lc_req_tenant_id(const lc_req *req)
{
    if (req->env->tenant == NULL || req->env->tenant->id[0] == '\0') {
        return NULL;
    }
    return req->env->tenant->id;
}

const char *
lc_req_id(const lc_req *req)
{
    return req->request_id;
}

int64_t
lc_req_deadline_ms(const lc_req *req)
{
    return req->deadline_ms;
}

lc_db *
lc_req_db(lc_req *req)
{
    return req->worker != NULL ? req->worker->db : NULL;
}

lc_db *
lc_req_replica_db(lc_req *req)
{
    lc_rpc_worker *w = req->worker;

    return w != NULL && w->read_db != NULL &&
                   lc_replica_pick(w->server->replica, w->read_db)
               ? w->read_db
               : NULL;
}

void
lc_req_replica_failed(lc_req *req)
{
    lc_replica_failed(req->server->replica);
}

lc_cache *
lc_req_cache(lc_req *req)
{
    return req->worker != NULL ? req->worker->cache : NULL;
}

void *
lc_req_app(lc_req *req)
{
    return req->server->opts.app;
}

static void
lc_req_drop_continuation(lc_req *req)
{
    free(req->cursor);
    req->cursor = NULL;
    req->total_length = 0;
}

const char *
lc_req_continuation(const lc_req *req)
{
    return req->env->continuation[0] != '\0' ? req->env->continuation : NULL;
}

void
lc_req_continue(lc_req *req, const char *cursor, uint64_t total_length)
{
    char *copy = strdup(cursor);

    if (copy == NULL) {
        lc_req_error(req, 500, "internal", "out of memory");
        return;
    }
    free(req->cursor);
    req->cursor = copy;
    req->total_length = total_length;
}

void
lc_req_respond(lc_req *req, int status, const char *content_type,
               const void *body, size_t len)
{
    char *copy = NULL;

    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL) {
            status = 500;
            content_type = NULL;
            len = 0;
        } else {
            memcpy(copy, body, len);
        }
    }
    lc_req_drop_continuation(req);
    free(req->body);
    req->status = status;
    req->content_type = content_type;
    req->body = copy;
    req->body_len = len;
}

void
lc_req_respond_json(lc_req *req, int status, cJSON *body)
{
    char *text = cJSON_PrintUnformatted(body);

    cJSON_Delete(body);
    if (text == NULL) {
        lc_req_error(req, 500, "internal", "out of memory");
        return;
    }
    lc_req_drop_continuation(req);
    free(req->body);
    req->status = status;
    req->content_type = "application/json";
    req->body = text;
    req->body_len = strlen(text);
}

void
lc_req_respond_pb(lc_req *req, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);

    if (buf == NULL) {
        lc_req_error(req, 500, "internal", "out of memory");
        return;
    }
    protobuf_c_message_pack(msg, buf);
    lc_req_drop_continuation(req);
    free(req->body);
    req->status = 200;
    req->content_type = "application/x-protobuf";
    req->body = (char *)buf;
    req->body_len = len;
}

void
lc_req_error_fields(lc_req *req, int status, const char *code,
                    const char *message, const lc_json_field_errors *fields)
{
    char *text = lc_json_error_body(code, message, req->request_id, fields);

    /* Every 401 carries a challenge (RFC 9110 §11.6.1, API.md), whichever
     * handler refused: only a token that was presented can be invalid. */
    req->challenge = status != 401 ? NULL
                     : strcmp(code, "invalid_token") == 0
                         ? "Bearer error=\"invalid_token\""
                         : "Bearer";
    lc_req_drop_continuation(req);
    free(req->body);
    req->status = status;
    req->content_type = "application/json";
    req->body = text;
    req->body_len = text ? strlen(text) : 0;
}

void
lc_req_error(lc_req *req, int status, const char *code, const char *message)
{
    lc_req_error_fields(req, status, code, message, NULL);
}

/* The answer to each kind of database failure (lc_db_fault's order). */
static const struct {
    int status;
    const char *code, *message;
} lc_req_db_answers[] = {
    [LC_DB_UNAVAILABLE] = {503, "service_unavailable",
                           "a dependency is unavailable, try again later"},
    [LC_DB_TIMEOUT] = {504, "gateway_timeout", "the request took too long"},
    [LC_DB_CONFLICT] = {409, "conflict",
                        "the request conflicts with the current state"},
    [LC_DB_REFUSED] = {422, "validation_failed",
                       "the request refers to something that does not exist "
                       "or is not allowed"},
    [LC_DB_BAD_VALUE] = {400, "validation_failed",
                         "a value is out of range or malformed"},
};

/* The service's own answer to a violated constraint; 0 when it has none. */
static int
lc_req_constraint_error(lc_req *req, const lc_db_error *err)
{
    const lc_rpc_server_options *o = &req->server->opts;
    lc_json_field_errors errs = {0};
    const lc_req_constraint *c;
    size_t i;

    for (i = 0; err->constraint[0] != '\0' && i < o->nconstraints; i++) {
        c = &o->constraints[i];
        if (strcmp(err->constraint, c->constraint) == 0) {
            if (c->field != NULL) {
                lc_json_field_error_add(&errs, c->field, c->field_code);
            }
            lc_req_error_fields(req, c->status, c->code, c->message, &errs);
            return 1;
        }
    }
    return 0;
}

void
lc_req_db_error(lc_req *req, const lc_db_error *err)
{
    size_t n = sizeof(lc_req_db_answers) / sizeof(lc_req_db_answers[0]);
    bool known = err->fault < n && lc_req_db_answers[err->fault].status != 0;

    lc_log(known && lc_req_db_answers[err->fault].status < 500
               ? LC_LOG_INFO
               : LC_LOG_ERROR,
           req->request_id, lc_req_tenant_id(req), "database: %s [%s]",
           err->message, err->sqlstate);
    if (lc_req_constraint_error(req, err)) {
        return;
    }
    if (!known) {
        lc_req_error(req, 500, "internal", "internal error");
        return;
    }
    lc_req_error(req, lc_req_db_answers[err->fault].status,
                 lc_req_db_answers[err->fault].code,
                 lc_req_db_answers[err->fault].message);
    if (err->fault == LC_DB_UNAVAILABLE) {
        lc_req_header(req, "retry-after", "1");
    }
}

int
lc_req_response_status(const lc_req *req)
{
    return req->status;
}

const char *
lc_req_response_body(const lc_req *req, size_t *len)
{
    *len = req->body_len;
    return req->body;
}

void
lc_req_header(lc_req *req, const char *name, const char *value)
{
    size_t nlen, vlen;
    char *s;

    if (req->nheaders == LC_REQ_MAX_HEADERS) {
        return;
    }
    nlen = strlen(name);
    vlen = strlen(value);
    s = malloc(nlen + vlen + 2);
    if (s == NULL) {
        return;
    }
    memcpy(s, name, nlen + 1);
    memcpy(s + nlen + 1, value, vlen + 1);
    req->header_storage[req->nheaders] = s;
    lintel__v1__header__init(&req->headers[req->nheaders]);
    req->headers[req->nheaders].name = s;
    req->headers[req->nheaders].value = s + nlen + 1;
    req->header_ptrs[req->nheaders] = &req->headers[req->nheaders];
    req->nheaders++;
}

static bool
lc_req_is_json(const char *content_type)
{
    size_t n = strlen("application/json");

    return content_type != NULL &&
           strncasecmp(content_type, "application/json", n) == 0 &&
           (content_type[n] == '\0' || content_type[n] == ';' ||
            content_type[n] == ' ');
}

const cJSON *
lc_req_json(lc_req *req)
{
    lc_json_limits limits = {req->server->opts.max_json_bytes, 0};
    const char *why = NULL;
    lc_json_status st;
    char message[160];

    if (req->json != NULL) {
        return req->json;
    }
    if (req->env->body.len > 0 &&
        !lc_req_is_json(lc_envelope_header(req->env, "content-type"))) {
        lc_req_error(req, 415, "unsupported_media_type",
                     "the body must be application/json");
        return NULL;
    }
    st = lc_json_parse((const char *)req->env->body.data, req->env->body.len,
                       &limits, &req->json, &why);
    if (st == LC_JSON_TOO_LARGE) {
        lc_req_error(req, 413, "payload_too_large", "the body is too large");
        return NULL;
    }
    if (st != LC_JSON_OK) {
        snprintf(message, sizeof(message), "%s",
                 why ? why : lc_json_status_message(st));
        lc_req_error(req, 400, "invalid_json", message);
        return NULL;
    }
    return req->json;
}

const ProtobufCMessage *
lc_req_pb(lc_req *req, const ProtobufCMessageDescriptor *desc)
{
    lc_envelope_free_message(req->pb);
    req->pb = lc_envelope_unpack_message(desc, req->env->body.data,
                                         req->env->body.len);
    if (req->pb == NULL) {
        lc_req_error(req, 400, "invalid_message",
                     "the body is not a valid message of this RPC");
        return NULL;
    }
    return req->pb;
}

/* --- the pipeline ------------------------------------------------------- */

static void
lc_rpc_reset(lc_req *req)
{
    size_t i;

    for (i = 0; i < req->nheaders; i++) {
        free(req->header_storage[i]);
    }
    free(req->body);
    free(req->cursor);
    cJSON_Delete(req->json);
    lc_envelope_free_message(req->pb);
    lc_envelope_free_request(req->env);
}

/* Whether `name` ("users.GetJwks") is in the NULL-terminated `rpcs`. */
static bool
lc_rpc_listed(const char *const *rpcs, const char *name)
{
    for (; rpcs != NULL && *rpcs != NULL; rpcs++) {
        if (strcmp(*rpcs, name) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Whether the caller `req` came from may make this request: only the edge
 * speaks for an HTTP client (origin EDGE), and an internal RPC runs only
 * for the services its service lets call it (lc_service_def.callers).
 */
static bool
lc_rpc_caller_allowed(const lc_req *req)
{
    const lc_rpc_listener *via = req->via;
    const char *path = req->env->path;
    bool internal = req->env->origin == LINTEL__V1__ORIGIN__ORIGIN_INTERNAL;
    bool rpc = strncmp(path, "/rpc/", 5) == 0;

    if (via == NULL) {
        return false;
    }
    switch (via->kind) {
    case LC_RPC_CALLER_OPERATOR:
        return true;
    case LC_RPC_CALLER_EDGE:
        if (req->env->origin == LINTEL__V1__ORIGIN__ORIGIN_EDGE) {
            return !rpc && strcmp(req->env->method, "RPC") != 0;
        }
        return internal && rpc && lc_rpc_listed(via->rpcs, path + 5);
    case LC_RPC_CALLER_SERVICE:
        return internal && rpc &&
               (via->rpcs == NULL || lc_rpc_listed(via->rpcs, path + 5));
    }
    return false;
}

/* Routes one request: its deadline, the caller's right to make it, the
 * edge/internal rule, its route. Returns the route to run, or NULL with the
 * answer already in `req` and the request's label for logs and metrics in
 * `*label`. */
static const lc_route *
lc_rpc_route_request(lc_rpc_server *s, lc_req *req, int64_t now,
                     const char **label)
{
    const lc_rpc_server_options *o = &s->opts;
    char allow[128];
    int64_t budget;
    int st;

    budget = req->env->timeout_ms ? (int64_t)req->env->timeout_ms
                                  : o->default_timeout_ms;
    if (budget > o->max_timeout_ms) {
        budget = o->max_timeout_ms;
    }
    /* Time spent queued since the sender sent it counts against the
     * budget; a sender clock ahead of ours counts as no time at all. */
    if (req->env->sent_at_unix_ms > 0) {
        int64_t queued = lc_clock_wall_ms() - req->env->sent_at_unix_ms;

        if (queued > 0) {
            budget -= queued;
        }
    }
    req->deadline_ms = now + budget;

    if (!lc_rpc_caller_allowed(req)) {
        lc_log(LC_LOG_WARN, req->request_id, NULL,
               "caller %s may not %s %s (origin %d): refused",
               req->via ? req->via->caller : "unknown", req->env->method,
               req->env->path, (int)req->env->origin);
        lc_req_error(req, 403, "forbidden",
                     "this caller may not make this request");
        *label = "caller_refused";
        return NULL;
    }
    /* Internal RPCs exist only for other services: from the edge they are
     * answered exactly like a path that does not exist. */
    if ((strncmp(req->env->path, "/rpc/", 5) == 0 ||
         strcmp(req->env->method, "RPC") == 0) &&
        req->env->origin != LINTEL__V1__ORIGIN__ORIGIN_INTERNAL) {
        lc_req_error(req, 404, "not_found", "no such route");
        return NULL;
    }
    st = lc_router_match(s->router, req->env->method, req->env->path,
                         &req->match, allow, sizeof(allow));
    if (st == 404) {
        lc_req_error(req, 404, "not_found", "no such route");
        return NULL;
    }
    if (st == 405) {
        lc_req_error(req, 405, "method_not_allowed",
                     "this method is not allowed on this route");
        lc_req_header(req, "allow", allow);
        return NULL;
    }
    return req->match.route;
}

/* True, with a 504 set, when the deadline passed while the request waited
 * (in the socket or for a worker): its handler must not run. */
static bool
lc_rpc_expired(lc_req *req)
{
    if (lc_clock_mono_ms() < req->deadline_ms) {
        return false;
    }
    lc_req_error(req, 504, "gateway_timeout",
                 "the request's deadline passed before it ran");
    return true;
}

/* A handler that set no response has a bug: the client gets a 500. */
static void
lc_rpc_check_answered(lc_req *req)
{
    if (req->status == 0) {
        lc_log(LC_LOG_ERROR, req->request_id, lc_req_tenant_id(req),
               "handler for %s set no response", req->match.route->name);
        lc_req_error(req, 500, "internal", "internal error");
    }
}

static void
lc_rpc_run(lc_req *req, lc_rpc_handler fn)
{
    if (!lc_rpc_expired(req)) {
        fn(req);
        lc_rpc_check_answered(req);
    }
}

/* The route's inline handler; false when it leaves the request to a
 * worker. */
static bool
lc_rpc_run_inline(lc_req *req, lc_rpc_inline_handler fn)
{
    if (lc_rpc_expired(req)) {
        return true;
    }
    if (!fn(req)) {
        return false;
    }
    lc_rpc_check_answered(req);
    return true;
}

/* Packs the reply of `req` into a new message; NULL when out of memory.
 * The body goes last, after every other field (the continuation too, whose
 * number is higher): the edge streams it as it arrives (DESIGN §5), so
 * the head is packed without it and the body appended by hand. */
static nng_msg *
lc_rpc_pack(lc_req *req)
{
    lc_response res = LINTEL__V1__RESPONSE__INIT;
    Lintel__V1__Continuation cont = LINTEL__V1__CONTINUATION__INIT;
    uint8_t key[11];
    uint64_t v;
    size_t head, nkey = 0;
    nng_msg *msg;

    res.status = (uint32_t)req->status;
    res.content_type = (char *)(req->content_type ? req->content_type : "");
    res.n_headers = req->nheaders;
    res.headers = req->header_ptrs;
    if (req->cursor != NULL) {
        cont.cursor = req->cursor;
        cont.total_length = req->total_length;
        res.continuation = &cont;
    }
    head = protobuf_c_message_get_packed_size(&res.base);
    if (req->body_len > 0) {
        key[nkey++] = 0x22; /* field 4, length-delimited */
        for (v = req->body_len; v >= 0x80; v >>= 7) {
            key[nkey++] = (uint8_t)(v | 0x80);
        }
        key[nkey++] = (uint8_t)v;
    }
    if (nng_msg_alloc(&msg, head + nkey + req->body_len) != 0) {
        return NULL;
    }
    protobuf_c_message_pack(&res.base, nng_msg_body(msg));
    memcpy((uint8_t *)nng_msg_body(msg) + head, key, nkey);
    if (req->body_len > 0) {
        memcpy((uint8_t *)nng_msg_body(msg) + head + nkey, req->body,
               req->body_len);
    }
    return msg;
}

/* The listener whose pipe brought `msg`: its caller (lc_rpc_listener). */
static const lc_rpc_listener *
lc_rpc_listener_of(const lc_rpc_server *s, nng_msg *msg)
{
    nng_listener l = nng_pipe_listener(nng_msg_get_pipe(msg));
    size_t i;

    for (i = 0; i < s->nlisteners; i++) {
        if (nng_listener_id(l) > 0 &&
            nng_listener_id(l) == nng_listener_id(s->listeners[i])) {
            return &s->specs[i];
        }
    }
    return NULL;
}

static void
lc_rpc_slot_recv(lc_rpc_slot *slot)
{
    slot->sending = false;
    nng_ctx_recv(slot->ctx, slot->aio);
}

/* Sends the slot's reply (the slot receives again once it is sent), then
 * logs the request and counts it. */
static void
lc_rpc_finish(lc_rpc_slot *slot)
{
    lc_req *req = &slot->req;
    double seconds;
    lc_log_request_info info = {0};
    nng_msg *out;

    if (req->status == 401 && req->challenge != NULL) {
        lc_req_header(req, "www-authenticate", req->challenge);
    }
    out = lc_rpc_pack(req);
    seconds = lc_clock_mono_s() - slot->t0;
    lc_metrics_observe(slot->route, req->status, seconds);
    info.request_id = req->request_id;
    info.tenant = req->env ? lc_req_tenant_id(req) : NULL;
    info.user = req->env && req->env->principal &&
                        req->env->principal->user_id[0]
                    ? req->env->principal->user_id
                    : NULL;
    info.method = req->env ? req->env->method : "?";
    info.path = req->env ? req->env->path : "?";
    info.route = slot->route;
    info.status = req->status;
    info.duration_ms = seconds * 1000.0;
    lc_log_request(req->status >= 500 ? LC_LOG_WARN : LC_LOG_INFO, &info);
    lc_rpc_reset(req);

    if (out == NULL) {
        /* no reply: the REP context drops the request, the caller times
         * out, and this slot takes the next one */
        atomic_fetch_sub(&slot->server->busy, 1);
        lc_rpc_slot_recv(slot);
        return;
    }
    slot->sending = true;
    nng_aio_set_msg(slot->aio, out);
    nng_ctx_send(slot->ctx, slot->aio);
}

/* A request has arrived in `slot`: answered here when it is malformed,
 * unrouted, or its route's inline handler answers it; else queued for a
 * worker. Runs on NNG's thread: nothing here may block. */
static void
lc_rpc_received(lc_rpc_slot *slot, nng_msg *in)
{
    lc_rpc_server *s = slot->server;
    lc_req *req = &slot->req;
    const lc_route *route;
    const lc_rpc_entry *entry;

    slot->t0 = lc_clock_mono_s();
    memset(req, 0, sizeof(*req));
    req->server = s;
    req->via = lc_rpc_listener_of(s, in);
    req->env = lc_envelope_unpack_request(nng_msg_body(in), nng_msg_len(in));
    nng_msg_free(in);
    if (req->env == NULL) {
        snprintf(req->request_id, sizeof(req->request_id), "-");
        lc_req_error(req, 400, "invalid_envelope",
                     "the message is not a lintel.v1.Request");
        slot->route = "invalid_envelope";
        lc_rpc_finish(slot);
        return;
    }
    snprintf(req->request_id, sizeof(req->request_id), "%s",
             req->env->request_id[0] ? req->env->request_id : "-");
    slot->route = "unmatched";
    route = lc_rpc_route_request(s, req, lc_clock_mono_ms(), &slot->route);
    if (route == NULL) {
        lc_rpc_finish(slot);
        return;
    }
    slot->route = route->name;
    entry = route->data;
    if (entry->inline_fn != NULL && lc_rpc_run_inline(req, entry->inline_fn)) {
        lc_rpc_finish(slot);
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (s->stopping) { /* the workers are gone: the reply cannot go out */
        pthread_mutex_unlock(&s->lock);
        lc_req_error(req, 503, "service_unavailable", "the service is stopping");
        lc_rpc_finish(slot);
        return;
    }
    slot->next = NULL;
    if (s->queue_tail != NULL) {
        s->queue_tail->next = slot;
    } else {
        s->queue_head = slot;
    }
    s->queue_tail = slot;
    pthread_cond_signal(&s->ready);
    pthread_mutex_unlock(&s->lock);
}

/* The slot's aio completed: a request arrived, or its reply went out. */
static void
lc_rpc_slot_done(void *arg)
{
    lc_rpc_slot *slot = arg;
    int rv = nng_aio_result(slot->aio);

    if (slot->sending) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(slot->aio)); /* the caller is gone */
        }
        atomic_fetch_sub(&slot->server->busy, 1);
        if (rv != NNG_ECLOSED) {
            lc_rpc_slot_recv(slot);
        }
        return;
    }
    if (rv == NNG_ECLOSED) {
        return;
    }
    if (rv != 0) {
        lc_rpc_slot_recv(slot);
        return;
    }
    atomic_fetch_add(&slot->server->busy, 1);
    lc_rpc_received(slot, nng_aio_get_msg(slot->aio));
}

/* The next queued request, or NULL once the server stops. */
static lc_rpc_slot *
lc_rpc_next(lc_rpc_server *s)
{
    lc_rpc_slot *slot;

    pthread_mutex_lock(&s->lock);
    while (s->queue_head == NULL && !s->stopping) {
        pthread_cond_wait(&s->ready, &s->lock);
    }
    slot = s->queue_head;
    if (slot != NULL) {
        s->queue_head = slot->next;
        if (s->queue_head == NULL) {
            s->queue_tail = NULL;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return slot;
}

static void *
lc_rpc_worker_main(void *arg)
{
    lc_rpc_worker *w = arg;
    lc_rpc_slot *slot;

    while ((slot = lc_rpc_next(w->server)) != NULL) {
        const lc_rpc_entry *entry = slot->req.match.route->data;

        slot->req.worker = w;
        lc_rpc_run(&slot->req, entry->fn);
        lc_rpc_finish(slot);
    }
    return NULL;
}

/* --- lifecycle ---------------------------------------------------------- */

lc_rpc_server *
lc_rpc_server_new(const lc_rpc_server_options *opts)
{
    lc_rpc_server *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->opts = *opts;
    s->router = lc_router_new();
    if (s->router == NULL) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->ready, NULL);
    return s;
}

int
lc_rpc_server_route_inline(lc_rpc_server *s, const char *method,
                           const char *pattern, lc_rpc_inline_handler inline_fn,
                           lc_rpc_handler fn)
{
    lc_rpc_entry *e = calloc(1, sizeof(*e));

    if (e == NULL) {
        return -1;
    }
    e->fn = fn;
    e->inline_fn = inline_fn;
    e->next = s->entries;
    s->entries = e;
    if (lc_router_add(s->router, method, pattern, e) != 0) {
        return -1;
    }
    s->has_inline = s->has_inline || inline_fn != NULL;
    return 0;
}

int
lc_rpc_server_route(lc_rpc_server *s, const char *method, const char *pattern,
                    lc_rpc_handler fn)
{
    return lc_rpc_server_route_inline(s, method, pattern, NULL, fn);
}

int
lc_rpc_server_routes(lc_rpc_server *s, const lc_rpc_route *routes, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (lc_rpc_server_route(s, routes[i].method, routes[i].pattern,
                                routes[i].fn) != 0) {
            return -1;
        }
    }
    return 0;
}

static void
lc_rpc_server_print_route(const lc_route *route, void *arg)
{
    fprintf(arg, "%s\n", route->name);
}

void
lc_rpc_server_print_routes(const lc_rpc_server *s, FILE *out)
{
    lc_router_each(s->router, lc_rpc_server_print_route, out);
}

/* Mutual TLS on a tls+tcp:// listener: the service's certificate, and a
 * peer must present one issued by the CA of this listener's caller. */
static int
lc_rpc_listen_tls(const lc_rpc_server *s, const lc_rpc_listener *spec,
                  nng_listener l)
{
    nng_tls_config *cfg;
    int rv;

    if (spec->ca_file == NULL || s->opts.cert_key_file == NULL) {
        return NNG_EINVAL;
    }
    if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0) {
        return rv;
    }
    if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) == 0 &&
        (rv = nng_tls_config_ca_file(cfg, spec->ca_file)) == 0 &&
        (rv = nng_tls_config_cert_key_file(cfg, s->opts.cert_key_file,
                                           NULL)) == 0) {
        rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
    }
    nng_tls_config_free(cfg); /* the listener holds it */
    return rv;
}

static int
lc_rpc_listen(lc_rpc_server *s, const lc_rpc_listener *spec, nng_listener *l,
              char *err, size_t errlen)
{
    int rv;

    if ((rv = nng_listener_create(l, s->sock, spec->url)) != 0 ||
        (rv = nng_listener_set_size(*l, NNG_OPT_RECVMAXSZ,
                                    s->opts.max_message)) != 0 ||
        (strncmp(spec->url, "tls+", 4) == 0 &&
         (rv = lc_rpc_listen_tls(s, spec, *l)) != 0) ||
        (rv = nng_listener_start(*l, 0)) != 0) {
        snprintf(err, errlen, "listen on %s (for %s): %s", spec->url,
                 spec->caller, nng_strerror(rv));
        return -1;
    }
    return 0;
}

/* The workers, then the slots, each of which starts receiving. */
static int
lc_rpc_workers_start(lc_rpc_server *s, char *err, size_t errlen)
{
    int i;

    s->nslots = s->opts.workers + (s->has_inline ? LC_RPC_INLINE_SLOTS : 0);
    s->workers = calloc((size_t)s->opts.workers, sizeof(lc_rpc_worker));
    s->slots = calloc((size_t)s->nslots, sizeof(lc_rpc_slot));
    if (s->opts.read_db.conninfo != NULL) {
        s->replica = lc_replica_new(s->opts.read_max_lag_ms);
    }
    if (s->workers == NULL || s->slots == NULL ||
        (s->opts.read_db.conninfo != NULL && s->replica == NULL)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < s->opts.workers; i++) {
        lc_rpc_worker *w = &s->workers[i];

        w->server = s;
        w->db = lc_db_open(&s->opts.db);
        w->read_db = s->replica != NULL ? lc_db_open(&s->opts.read_db) : NULL;
        w->cache = s->opts.use_cache ? lc_cache_open(&s->opts.cache) : NULL;
        if (w->db == NULL || (s->replica != NULL && w->read_db == NULL) ||
            (s->opts.use_cache && w->cache == NULL)) {
            snprintf(err, errlen, "worker %d: out of resources", i);
            return -1;
        }
        if (pthread_create(&w->thread, NULL, lc_rpc_worker_main, w) != 0) {
            snprintf(err, errlen, "worker %d: cannot start a thread", i);
            return -1;
        }
        w->started = true;
        s->nworkers++;
    }
    for (i = 0; i < s->nslots; i++) {
        lc_rpc_slot *slot = &s->slots[i];

        slot->server = s;
        if (nng_aio_alloc(&slot->aio, lc_rpc_slot_done, slot) != 0 ||
            nng_ctx_open(&slot->ctx, s->sock) != 0) {
            snprintf(err, errlen, "context %d: out of resources", i);
            return -1;
        }
        lc_rpc_slot_recv(slot);
    }
    return 0;
}

int
lc_rpc_server_start(lc_rpc_server *s, char *err, size_t errlen)
{
    size_t i;
    int rv;

    if ((rv = nng_rep0_open(&s->sock)) != 0) {
        snprintf(err, errlen, "nng_rep0_open: %s", nng_strerror(rv));
        return -1;
    }
    s->open = true;
    /* NNG's default is unlimited: a peer could announce any length. */
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, s->opts.max_message);
    if (s->opts.nlisteners > 0) {
        s->specs = s->opts.listeners;
        s->nlisteners = s->opts.nlisteners;
    } else {
        s->any = (lc_rpc_listener){.caller = "any",
                                   .kind = LC_RPC_CALLER_OPERATOR,
                                   .url = s->opts.url};
        s->specs = &s->any;
        s->nlisteners = 1;
    }
    s->listeners = calloc(s->nlisteners, sizeof(nng_listener));
    if (s->listeners == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < s->nlisteners; i++) {
        if (lc_rpc_listen(s, &s->specs[i], &s->listeners[i], err, errlen) !=
            0) {
            return -1;
        }
    }
    return lc_rpc_workers_start(s, err, errlen);
}

void
lc_rpc_server_stop(lc_rpc_server *s, int grace_ms)
{
    int64_t until = lc_clock_mono_ms() + grace_ms;
    int i;

    if (!s->open) {
        return;
    }
    for (i = 0; i < (int)s->nlisteners; i++) {
        nng_listener_close(s->listeners[i]);
    }
    while (atomic_load(&s->busy) > 0 && lc_clock_mono_ms() < until) {
        usleep(10 * 1000);
    }
    /* bounded: the service still has its jobs and consumers to stop */
    s->close_hung = !lc_nng_close(s->sock);
    s->open = false;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->ready);
    pthread_mutex_unlock(&s->lock);
    for (i = 0; i < s->nworkers; i++) {
        if (s->workers[i].started) {
            pthread_join(s->workers[i].thread, NULL);
        }
    }
}

void
lc_rpc_server_free(lc_rpc_server *s)
{
    int i;

    if (s == NULL) {
        return;
    }
    lc_rpc_server_stop(s, 0);
    if (s->close_hung) {
        return; /* the process is on its way out: NNG may still use it */
    }
    /* nng_aio_free waits for a callback still running */
    for (i = 0; s->slots != NULL && i < s->nslots; i++) {
        if (s->slots[i].aio != NULL) {
            nng_aio_free(s->slots[i].aio);
        }
    }
    for (i = 0; s->workers != NULL && i < s->opts.workers; i++) {
        lc_db_close(s->workers[i].db);
        lc_db_close(s->workers[i].read_db);
        lc_cache_close(s->workers[i].cache);
    }
    while (s->entries != NULL) {
        lc_rpc_entry *next = s->entries->next;

        free(s->entries);
        s->entries = next;
    }
    free(s->slots);
    free(s->workers);
    lc_replica_free(s->replica);
    free(s->listeners);
    lc_router_free(s->router);
    pthread_cond_destroy(&s->ready);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
