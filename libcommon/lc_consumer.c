/*
 * lc_consumer.c: the consumer thread described in lc_consumer.h: fetch a
 * batch after the cursor, apply it with the cursor in one transaction,
 * then fetch again at once (more is waiting) or sleep until a hint or the
 * poll interval.
 */
#include "lc_consumer.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_clock.h"
#include "lc_log.h"
#include "lc_nng.h"
#include "lc_rpc_client.h"
#include "lintel/v1/events.pb-c.h"

#define CONSUMER_SQL_MAX 256
#define CONSUMER_DEFAULT_BATCH 100
#define CONSUMER_DEFAULT_POLL_MS 1000
#define CONSUMER_DEFAULT_TIMEOUT_MS 2000
#define CONSUMER_DEFAULT_UPKEEP_MS 1000
#define CONSUMER_MAX_REPLY (64 * 1024 * 1024)

/* Where the fields lc_consumer_event names live in the source's messages. */
typedef struct {
    const ProtobufCFieldDescriptor *events, *last_seq;
    const ProtobufCFieldDescriptor *seq, *tenant_id, *type, *actor_id,
        *occurred_at, *data_json;
} consumer_layout;

typedef enum {
    STEP_MORE,   /* a full batch was applied: fetch again at once */
    STEP_IDLE,   /* up to date: wait for a hint */
    STEP_FAILED, /* the source or the database failed: wait, then retry */
} consumer_step_result;

struct lc_consumer {
    lc_consumer_options opts;
    consumer_layout layout;
    char ensure_sql[CONSUMER_SQL_MAX], lock_sql[CONSUMER_SQL_MAX],
        save_sql[CONSUMER_SQL_MAX];
    lc_db_stmt ensure, lock, save;
    lc_db *db;
    lc_rpc_client *rpc;
    nng_socket sub;
    pthread_t thread;
    atomic_bool stopping;
    bool loaded;             /* cursor read from the database */
    _Atomic uint64_t cursor; /* the last committed seq */
    int64_t upkeep_due;      /* lc_clock_mono_ms() of the next upkeep */
    char request_id[64];     /* of the calls to the source, for its logs */
};

static const lc_db_stmt consumer_set_tenant = {
    "SELECT set_config('app.tenant_id', $1, true)", 1};

/* --- the source's message layout ------------------------------------------ */

static const ProtobufCFieldDescriptor *
consumer_field(const ProtobufCMessageDescriptor *d, const char *name,
               ProtobufCType type, ProtobufCLabel label)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(d, name);

    return f != NULL && f->type == type && f->label == label ? f : NULL;
}

static int
consumer_layout_find(consumer_layout *l, const ProtobufCMessageDescriptor *resp)
{
    const ProtobufCMessageDescriptor *ev;
    const ProtobufCLabel one = PROTOBUF_C_LABEL_NONE;

    l->events = consumer_field(resp, "events", PROTOBUF_C_TYPE_MESSAGE,
                               PROTOBUF_C_LABEL_REPEATED);
    l->last_seq = consumer_field(resp, "last_seq", PROTOBUF_C_TYPE_UINT64, one);
    if (l->events == NULL || l->last_seq == NULL) {
        return -1;
    }
    ev = l->events->descriptor;
    l->seq = consumer_field(ev, "seq", PROTOBUF_C_TYPE_UINT64, one);
    l->tenant_id = consumer_field(ev, "tenant_id", PROTOBUF_C_TYPE_STRING, one);
    l->type = consumer_field(ev, "type", PROTOBUF_C_TYPE_STRING, one);
    l->actor_id = consumer_field(ev, "actor_id", PROTOBUF_C_TYPE_STRING, one);
    l->occurred_at =
        consumer_field(ev, "occurred_at", PROTOBUF_C_TYPE_STRING, one);
    l->data_json = consumer_field(ev, "data_json", PROTOBUF_C_TYPE_STRING, one);
    return l->seq && l->tenant_id && l->type && l->actor_id && l->occurred_at &&
                   l->data_json
               ? 0
               : -1;
}

#define FIELD(msg, f, type) (*(type *)((const char *)(msg) + (f)->offset))

static size_t
consumer_count(const consumer_layout *l, const ProtobufCMessage *resp)
{
    return *(const size_t *)((const char *)resp + l->events->quantifier_offset);
}

static lc_consumer_event
consumer_event_at(const consumer_layout *l, const ProtobufCMessage *resp,
                  size_t i)
{
    const ProtobufCMessage *m = FIELD(resp, l->events, ProtobufCMessage **)[i];

    return (lc_consumer_event){
        .seq = FIELD(m, l->seq, uint64_t),
        .tenant_id = FIELD(m, l->tenant_id, const char *),
        .type = FIELD(m, l->type, const char *),
        .actor_id = FIELD(m, l->actor_id, const char *),
        .occurred_at = FIELD(m, l->occurred_at, const char *),
        .data_json = FIELD(m, l->data_json, const char *),
        .msg = m,
    };
}

/* --- the cursor and the batch's transaction ------------------------------- */

static void
consumer_build(lc_consumer *c)
{
    const char *s = c->opts.schema;

    snprintf(c->ensure_sql, sizeof(c->ensure_sql),
             "INSERT INTO %s.consumer_cursors (source, seq) VALUES ($1, 0)"
             " ON CONFLICT (source) DO NOTHING",
             s);
    snprintf(c->lock_sql, sizeof(c->lock_sql),
             "SELECT seq FROM %s.consumer_cursors WHERE source = $1"
             " FOR UPDATE",
             s);
    snprintf(c->save_sql, sizeof(c->save_sql),
             "UPDATE %s.consumer_cursors SET seq = $2 WHERE source = $1", s);
    c->ensure = (lc_db_stmt){c->ensure_sql, 1};
    c->lock = (lc_db_stmt){c->lock_sql, 1};
    c->save = (lc_db_stmt){c->save_sql, 2};
}

typedef struct {
    lc_consumer *c;
    const ProtobufCMessage *resp; /* NULL: only read the cursor */
    uint64_t cursor;              /* the cursor as committed */
} consumer_batch;

/* Locks the cursor row (made on first use) and reads it. */
static int
consumer_cursor_lock(lc_db *db, consumer_batch *b, lc_db_error *err)
{
    const char *params[1] = {b->c->opts.source};
    PGresult *res = lc_db_exec(db, &b->c->ensure, params, err);

    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    res = lc_db_exec(db, &b->c->lock, params, err);
    if (res == NULL) {
        return -1;
    }
    b->cursor = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

static int
consumer_scope(lc_db *db, const char *tenant_id, lc_db_error *err)
{
    const char *params[1] = {tenant_id};
    PGresult *res = lc_db_exec(db, &consumer_set_tenant, params, err);

    PQclear(res);
    return res != NULL ? 0 : -1;
}

/* apply: event by event, each in its tenant's scope. */
static int
consumer_apply_each(lc_db *db, lc_consumer *c, const lc_consumer_event *evs,
                    size_t n, lc_db_error *err)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (consumer_scope(db, evs[i].tenant_id, err) != 0 ||
            c->opts.apply(db, &evs[i], c->opts.arg, err) != 0) {
            return -1;
        }
    }
    return 0;
}

/* apply_batch: tenant by tenant, in the order of each tenant's first
 * event, each tenant's events in seq order. `group` has room for n. */
static int
consumer_apply_tenants(lc_db *db, lc_consumer *c, const lc_consumer_event *evs,
                       size_t n, bool *taken, lc_consumer_event *group,
                       lc_db_error *err)
{
    size_t i, j, g;

    for (i = 0; i < n; i++) {
        if (taken[i]) {
            continue;
        }
        for (g = 0, j = i; j < n; j++) {
            if (!taken[j] && strcmp(evs[j].tenant_id, evs[i].tenant_id) == 0) {
                taken[j] = true;
                group[g++] = evs[j];
            }
        }
        if (consumer_scope(db, evs[i].tenant_id, err) != 0 ||
            c->opts.apply_batch(db, evs[i].tenant_id, group, g, c->opts.arg,
                                err) != 0) {
            return -1;
        }
    }
    return 0;
}

/* The events past the stored cursor, by the consumer's apply or
 * apply_batch; b->cursor moves to the last of them. */
static int
consumer_apply(lc_db *db, consumer_batch *b, lc_db_error *err)
{
    lc_consumer *c = b->c;
    size_t i, n = consumer_count(&c->layout, b->resp), fresh = 0;
    lc_consumer_event *evs, *group;
    bool *taken;
    int rc = -1;

    if (n == 0) {
        return 0;
    }
    evs = calloc(n, sizeof(*evs));
    group = calloc(n, sizeof(*group));
    taken = calloc(n, sizeof(*taken));
    if (evs == NULL || group == NULL || taken == NULL) {
        lc_db_error_set(err, LC_DB_UNAVAILABLE, "out of memory");
    } else {
        for (i = 0; i < n; i++) {
            evs[fresh] = consumer_event_at(&c->layout, b->resp, i);
            if (evs[fresh].seq > b->cursor) {
                fresh++;
            }
        }
        rc = c->opts.apply_batch != NULL
                 ? consumer_apply_tenants(db, c, evs, fresh, taken, group, err)
                 : consumer_apply_each(db, c, evs, fresh, err);
        if (rc == 0 && fresh > 0) {
            b->cursor = evs[fresh - 1].seq;
        }
    }
    free(taken);
    free(group);
    free(evs);
    return rc;
}

/* The batch's events past the stored cursor, in order, then the cursor.
 * An event at or below it was applied already (by another instance, or by
 * a batch whose reply was lost): skipping it is what makes the effect
 * exactly once. */
static int
consumer_batch_tx(lc_db *db, void *arg, lc_db_error *err)
{
    consumer_batch *b = arg;
    char seq[24];
    const char *params[2];
    uint64_t stored;
    PGresult *res;

    if (consumer_cursor_lock(db, b, err) != 0 || b->resp == NULL) {
        return b->resp == NULL ? 0 : -1;
    }
    stored = b->cursor;
    if (consumer_apply(db, b, err) != 0) {
        return -1;
    }
    if (b->cursor == stored) {
        return 0;
    }
    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)b->cursor);
    params[0] = b->c->opts.source;
    params[1] = seq;
    res = lc_db_exec(db, &b->c->save, params, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}

/* Runs a batch (or, resp NULL, reads the cursor); the cursor as
 * committed in c->cursor. */
static int
consumer_commit(lc_consumer *c, const ProtobufCMessage *resp)
{
    consumer_batch b = {.c = c, .resp = resp};
    lc_db_error err;
    int rc =
        lc_db_tenant_tx(c->db, NULL, lc_clock_mono_ms() + LC_CONSUMER_TX_MS,
                        consumer_batch_tx, &b, &err);

    if (resp != NULL && c->opts.after_batch != NULL) {
        c->opts.after_batch(c->opts.arg, rc == 0);
    }
    if (rc != 0) {
        lc_log(LC_LOG_WARN, c->request_id, NULL,
               "consumer %s: batch after seq %llu not applied: %s",
               c->opts.source, (unsigned long long)atomic_load(&c->cursor),
               err.message);
        return -1;
    }
    atomic_store(&c->cursor, b.cursor);
    return 0;
}

/* The options' upkeep, when it is due, in its own transaction; a failure
 * is only logged. */
static void
consumer_upkeep(lc_consumer *c)
{
    int64_t now = lc_clock_mono_ms();
    lc_db_error err;

    if (c->opts.upkeep == NULL || now < c->upkeep_due) {
        return;
    }
    c->upkeep_due = now + c->opts.upkeep_ms;
    if (lc_db_tenant_tx(c->db, NULL, now + LC_CONSUMER_TX_MS, c->opts.upkeep,
                        c->opts.arg, &err) != 0) {
        lc_log(LC_LOG_WARN, c->request_id, NULL, "consumer %s: upkeep: %s",
               c->opts.source, err.message);
    }
}

/* --- the thread ----------------------------------------------------------- */

static consumer_step_result
consumer_step(lc_consumer *c)
{
    Lintel__V1__EventsSinceRequest in = LINTEL__V1__EVENTS_SINCE_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    lc_rpc_status st;
    uint64_t last;
    size_t n;
    int status = 0;

    if (!c->loaded) {
        if (consumer_commit(c, NULL) != 0) {
            return STEP_FAILED;
        }
        c->loaded = true;
    }
    in.after_seq = atomic_load(&c->cursor);
    in.limit = c->opts.batch;
    st = lc_rpc_call_method(
        c->rpc, c->opts.method, c->request_id, NULL, &in.base, c->opts.response,
        lc_clock_mono_ms() + c->opts.timeout_ms, &resp, &status);
    if (st != LC_RPC_OK) {
        lc_log(LC_LOG_WARN, c->request_id, NULL, "consumer %s: %s: %s (%d)",
               c->opts.source, c->opts.method, lc_rpc_status_text(st), status);
        return STEP_FAILED;
    }
    n = consumer_count(&c->layout, resp);
    last = FIELD(resp, c->layout.last_seq, uint64_t);
    if (n > 0 && consumer_commit(c, resp) != 0) {
        lc_envelope_free_message(resp);
        return STEP_FAILED;
    }
    lc_envelope_free_message(resp);
    if (n > 0) {
        consumer_upkeep(c);
    }
    return n > 0 && last > atomic_load(&c->cursor) ? STEP_MORE : STEP_IDLE;
}

/* Sleeps until a hint announces a seq past the cursor, the poll interval
 * passes, or lc_consumer_stop closes the socket. */
static void
consumer_wait(lc_consumer *c)
{
    int64_t deadline = lc_clock_mono_ms() + c->opts.poll_ms, left;
    char *msg, text[24];
    size_t len;

    while (!atomic_load(&c->stopping) &&
           (left = deadline - lc_clock_mono_ms()) > 0) {
        nng_socket_set_ms(c->sub, NNG_OPT_RECVTIMEO, (nng_duration)left);
        if (nng_recv(c->sub, &msg, &len, NNG_FLAG_ALLOC) != 0) {
            return; /* timed out, or closed by lc_consumer_stop */
        }
        snprintf(text, sizeof(text), "%.*s", (int)(len < 23 ? len : 23), msg);
        nng_free(msg, len);
        if (strtoull(text, NULL, 10) > atomic_load(&c->cursor)) {
            return;
        }
    }
}

static void *
consumer_main(void *arg)
{
    lc_consumer *c = arg;

    while (!atomic_load(&c->stopping)) {
        if (consumer_step(c) != STEP_MORE) {
            consumer_wait(c);
        }
    }
    return NULL;
}

/* --- start and stop ------------------------------------------------------- */

static int
consumer_open_sub(lc_consumer *c, char *err, size_t errlen)
{
    int rv;

    if ((rv = nng_sub0_open(&c->sub)) != 0 ||
        (rv = nng_socket_set(c->sub, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
        (rv = nng_socket_set_size(c->sub, NNG_OPT_RECVMAXSZ, 64)) != 0) {
        snprintf(err, errlen, "sub socket: %s", nng_strerror(rv));
        return -1;
    }
    /* Non-blocking: the source may be down now; NNG redials. */
    if (c->opts.hint_url != NULL &&
        (rv = nng_dial(c->sub, c->opts.hint_url, NULL, NNG_FLAG_NONBLOCK)) !=
            0) {
        snprintf(err, errlen, "%s: %s", c->opts.hint_url, nng_strerror(rv));
        return -1;
    }
    return 0;
}

static void
consumer_free(lc_consumer *c)
{
    nng_close(c->sub);
    lc_rpc_client_close(c->rpc);
    lc_db_close(c->db);
    free(c);
}

lc_consumer *
lc_consumer_start(const lc_consumer_options *opts, char *err, size_t errlen)
{
    lc_consumer *c;

    if (!lc_db_is_identifier(opts->schema) || opts->source == NULL ||
        opts->method == NULL || (opts->apply == NULL) ==
                                    (opts->apply_batch == NULL) ||
        opts->response == NULL) {
        snprintf(err, errlen,
                 "consumer: schema, source, method, response"
                 " and apply or apply_batch are required");
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->opts = *opts;
    c->opts.batch = opts->batch ? opts->batch : CONSUMER_DEFAULT_BATCH;
    c->opts.poll_ms = opts->poll_ms ? opts->poll_ms : CONSUMER_DEFAULT_POLL_MS;
    c->opts.timeout_ms =
        opts->timeout_ms ? opts->timeout_ms : CONSUMER_DEFAULT_TIMEOUT_MS;
    c->opts.upkeep_ms =
        opts->upkeep_ms ? opts->upkeep_ms : CONSUMER_DEFAULT_UPKEEP_MS;
    snprintf(c->request_id, sizeof(c->request_id), "consumer-%.40s",
             opts->source);
    if (consumer_layout_find(&c->layout, opts->response) != 0) {
        snprintf(err, errlen, "consumer: %s is not an EventsSince reply",
                 opts->response->name);
        free(c);
        return NULL;
    }
    consumer_build(c);
    c->db = lc_db_open(&opts->db);
    c->rpc = lc_rpc_client_open(opts->rpc_url, CONSUMER_MAX_REPLY, err, errlen);
    if (c->db == NULL || c->rpc == NULL ||
        consumer_open_sub(c, err, errlen) != 0 ||
        pthread_create(&c->thread, NULL, consumer_main, c) != 0) {
        if (c->db == NULL) {
            snprintf(err, errlen, "out of memory");
        }
        consumer_free(c);
        return NULL;
    }
    return c;
}

void
lc_consumer_stop(lc_consumer *c)
{
    if (c == NULL) {
        return;
    }
    atomic_store(&c->stopping, true);
    /* Wakes a thread asleep in nng_recv (or its receive timeout, at most
     * poll_ms, does when NNG's close hangs); a call to the source ends by
     * its own deadline. */
    lc_nng_close(c->sub);
    pthread_join(c->thread, NULL);
    consumer_free(c);
}

uint64_t
lc_consumer_cursor(const lc_consumer *c)
{
    return atomic_load(&c->cursor);
}
