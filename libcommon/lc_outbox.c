/*
 * lc_outbox.c: the outbox described in lc_outbox.h. Its statements are
 * written once, at open, from the schema and key column names the service
 * declares (plain identifiers, checked: never request input).
 */
#include "lc_outbox.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lintel/v1/events.pb-c.h"

#define OUTBOX_SQL_MAX 1024

struct lc_outbox {
    size_t nkeys;
    char keys[LC_OUTBOX_MAX_KEYS][64]; /* the key columns' names */
    bool has_pub;
    nng_socket pub;
    atomic_llong announced; /* highest seq published */
    char append_sql[OUTBOX_SQL_MAX];
    char since_sql[OUTBOX_SQL_MAX];
    char last_sql[OUTBOX_SQL_MAX];
    lc_db_stmt append, since, last;
};

/* Appends to `buf` (of OUTBOX_SQL_MAX); -1 when it would not fit. */
static int
outbox_catf(char *buf, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf + used, OUTBOX_SQL_MAX - used, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= OUTBOX_SQL_MAX - used ? -1 : 0;
}

/* The row's tenant is $1 or, when NULL, the transaction's (its RLS scope);
 * then type, actor, data and the keys. */
static int
outbox_build(lc_outbox *o, const lc_outbox_options *opts)
{
    const char *s = opts->schema;
    size_t i;
    int rv = 0;

    rv |= outbox_catf(o->append_sql,
                      "WITH s AS (UPDATE %s.event_counter SET seq = seq + 1"
                      " RETURNING seq) INSERT INTO %s.events"
                      " (seq, tenant_id, type, actor_id, data",
                      s, s);
    for (i = 0; i < o->nkeys; i++) {
        rv |= outbox_catf(o->append_sql, ", %s", opts->keys[i]);
    }
    rv |= outbox_catf(o->append_sql, ") SELECT s.seq, coalesce($1::uuid,"
                                     " current_setting('app.tenant_id')::uuid),"
                                     " $2, $3::uuid, $4::jsonb");
    for (i = 0; i < o->nkeys; i++) {
        rv |= outbox_catf(o->append_sql, ", $%zu::uuid", 5 + i);
    }
    rv |= outbox_catf(o->append_sql, " FROM s RETURNING seq");

    rv |= outbox_catf(o->since_sql,
                      "SELECT seq, tenant_id, type,"
                      " coalesce(actor_id::text, ''),"
                      " to_char(occurred_at AT TIME ZONE 'UTC',"
                      " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), data::text");
    for (i = 0; i < o->nkeys; i++) {
        rv |= outbox_catf(o->since_sql, ", coalesce(%s::text, '')",
                          opts->keys[i]);
    }
    rv |=
        outbox_catf(o->since_sql,
                    " FROM %s.events WHERE seq > $1 ORDER BY seq LIMIT $2", s);
    rv |= outbox_catf(o->last_sql, "SELECT seq FROM %s.event_counter", s);
    if (rv != 0) {
        return -1;
    }
    o->append = (lc_db_stmt){o->append_sql, 4 + (int)o->nkeys};
    o->since = (lc_db_stmt){o->since_sql, 2};
    o->last = (lc_db_stmt){o->last_sql, 0};
    return 0;
}

lc_outbox *
lc_outbox_open(const lc_outbox_options *opts, char *err, size_t errlen)
{
    lc_outbox *o;
    size_t i;
    int rv;

    if (!lc_db_is_identifier(opts->schema) || opts->nkeys < 1 ||
        opts->nkeys > LC_OUTBOX_MAX_KEYS) {
        snprintf(err, errlen, "outbox: a schema and 1..%d keys",
                 LC_OUTBOX_MAX_KEYS);
        return NULL;
    }
    for (i = 0; i < opts->nkeys; i++) {
        if (!lc_db_is_identifier(opts->keys[i])) {
            snprintf(err, errlen, "outbox: bad key column name");
            return NULL;
        }
    }
    o = calloc(1, sizeof(*o));
    if (o == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->nkeys = opts->nkeys;
    for (i = 0; i < opts->nkeys; i++) {
        snprintf(o->keys[i], sizeof(o->keys[i]), "%s", opts->keys[i]);
    }
    if (outbox_build(o, opts) != 0) {
        snprintf(err, errlen, "outbox: names too long");
        free(o);
        return NULL;
    }
    if (opts->pub_url != NULL) {
        if ((rv = nng_pub0_open(&o->pub)) != 0 ||
            (rv = nng_listen(o->pub, opts->pub_url, NULL, 0)) != 0) {
            snprintf(err, errlen, "%s: %s", opts->pub_url, nng_strerror(rv));
            nng_close(o->pub);
            free(o);
            return NULL;
        }
        o->has_pub = true;
    }
    return o;
}

void
lc_outbox_close(lc_outbox *o)
{
    if (o == NULL) {
        return;
    }
    if (o->has_pub) {
        nng_close(o->pub);
    }
    free(o);
}

int
lc_outbox_append(lc_db *db, const lc_outbox *o, const lc_outbox_event *ev,
                 int64_t *seq, lc_db_error *err)
{
    const char *params[4 + LC_OUTBOX_MAX_KEYS];
    PGresult *res;
    size_t i;

    params[0] = ev->tenant_id;
    params[1] = ev->type;
    params[2] = ev->actor_id;
    params[3] = ev->data_json;
    for (i = 0; i < o->nkeys; i++) {
        params[4 + i] = ev->keys[i];
    }
    res = lc_db_exec(db, &o->append, params, err);
    if (res == NULL) {
        return -1;
    }
    *seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

void
lc_outbox_announce(lc_outbox *o, int64_t seq)
{
    long long prev;
    char msg[24];
    int len;

    if (o == NULL || !o->has_pub || seq <= 0) {
        return;
    }
    prev = atomic_load(&o->announced);
    do {
        if (prev >= seq) {
            return;
        }
    } while (!atomic_compare_exchange_weak(&o->announced, &prev, seq));
    len = snprintf(msg, sizeof(msg), "%lld", (long long)seq);
    /* pub0 never blocks: a slow subscriber loses hints, not the service. */
    nng_send(o->pub, msg, (size_t)len, NNG_FLAG_NONBLOCK);
}

/* --- EventsSince ---------------------------------------------------------- */

typedef struct {
    const lc_outbox *o;
    const char *params[2];
    lc_outbox_page *page;
} outbox_read_ctx;

/* The events, then the counter: read in this order, last_seq is never
 * below the events returned. */
static int
outbox_read_tx(lc_db *db, void *arg, lc_db_error *err)
{
    outbox_read_ctx *c = arg;
    PGresult *last;

    lc_outbox_page_clear(c->page);
    c->page->rows = lc_db_exec(db, &c->o->since, c->params, err);
    if (c->page->rows == NULL) {
        return -1;
    }
    last = lc_db_exec(db, &c->o->last, NULL, err);
    if (last == NULL) {
        return -1;
    }
    c->page->last_seq = strtoull(PQgetvalue(last, 0, 0), NULL, 10);
    PQclear(last);
    return 0;
}

int
lc_outbox_read(lc_req *req, const lc_outbox *o, uint64_t after_seq,
               uint32_t limit, lc_outbox_page *page)
{
    outbox_read_ctx c = {.o = o, .page = page};
    char after[24], lim[16];
    lc_db_error err;

    page->rows = NULL;
    page->last_seq = 0;
    if (limit > LC_OUTBOX_MAX_LIMIT || after_seq > INT64_MAX) {
        lc_req_error(req, 400, "validation_failed",
                     "limit is at most 1000; after_seq a valid seq");
        return -1;
    }
    snprintf(after, sizeof(after), "%llu", (unsigned long long)after_seq);
    snprintf(lim, sizeof(lim), "%u", limit ? limit : LC_OUTBOX_DEFAULT_LIMIT);
    c.params[0] = after;
    c.params[1] = lim;
    /* Platform scope (no tenant): the outbox is read across tenants. */
    if (lc_db_tenant_tx(lc_req_db(req), NULL, lc_req_deadline_ms(req),
                        outbox_read_tx, &c, &err) != 0) {
        lc_outbox_page_clear(page);
        lc_req_db_error(req, &err);
        return -1;
    }
    return 0;
}

void
lc_outbox_page_clear(lc_outbox_page *page)
{
    PQclear(page->rows);
    page->rows = NULL;
}

/* Sets the field `name` of `msg`, when its message has one, to the row's
 * text (a string field) or number (a uint64 field). */
static void
outbox_set(ProtobufCMessage *msg, const char *name, const char *value)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
    char *at;

    if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED) {
        return;
    }
    at = (char *)msg + f->offset;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        *(const char **)at = value;
    } else if (f->type == PROTOBUF_C_TYPE_UINT64) {
        *(uint64_t *)at = strtoull(value, NULL, 10);
    }
}

void
lc_outbox_serve_as(lc_req *req, const lc_outbox *o,
                   const ProtobufCMessageDescriptor *reply_desc)
{
    static const struct {
        const char *name;
        int column;
    } fixed[] = {
        {"seq", LC_OUTBOX_COL_SEQ},
        {"tenant_id", LC_OUTBOX_COL_TENANT_ID},
        {"type", LC_OUTBOX_COL_TYPE},
        {"actor_id", LC_OUTBOX_COL_ACTOR_ID},
        {"occurred_at", LC_OUTBOX_COL_OCCURRED_AT},
        {"data_json", LC_OUTBOX_COL_DATA_JSON},
    };
    const ProtobufCFieldDescriptor *events_f =
        protobuf_c_message_descriptor_get_field_by_name(reply_desc, "events");
    const ProtobufCFieldDescriptor *last_f =
        protobuf_c_message_descriptor_get_field_by_name(reply_desc, "last_seq");
    const ProtobufCMessageDescriptor *event_desc;
    const Lintel__V1__EventsSinceRequest *in;
    ProtobufCMessage *reply = NULL, **ptrs = NULL;
    char *events = NULL;
    lc_outbox_page page = {0};
    size_t i, k, n = 0;

    if (events_f == NULL || last_f == NULL ||
        events_f->type != PROTOBUF_C_TYPE_MESSAGE ||
        events_f->label != PROTOBUF_C_LABEL_REPEATED) {
        lc_req_error(req, 500, "internal", "internal error");
        return;
    }
    event_desc = events_f->descriptor;
    /* Every EventsSince request has these two fields, by number. */
    in = (const Lintel__V1__EventsSinceRequest *)lc_req_pb(
        req, &lintel__v1__events_since_request__descriptor);
    if (in == NULL ||
        lc_outbox_read(req, o, in->after_seq, in->limit, &page) != 0) {
        return;
    }
    n = (size_t)PQntuples(page.rows);
    reply = calloc(1, reply_desc->sizeof_message);
    events = calloc(n ? n : 1, event_desc->sizeof_message);
    ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (reply == NULL || events == NULL || ptrs == NULL) {
        lc_req_error(req, 500, "internal", "internal error");
        goto done;
    }
    protobuf_c_message_init(reply_desc, reply);
    for (i = 0; i < n; i++) {
        ptrs[i] = (ProtobufCMessage *)(events + i * event_desc->sizeof_message);
        protobuf_c_message_init(event_desc, ptrs[i]);
        for (k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++) {
            outbox_set(ptrs[i], fixed[k].name,
                       PQgetvalue(page.rows, (int)i, fixed[k].column));
        }
        for (k = 0; k < o->nkeys; k++) {
            outbox_set(
                ptrs[i], o->keys[k],
                PQgetvalue(page.rows, (int)i, LC_OUTBOX_COL_KEY0 + (int)k));
        }
    }
    *(size_t *)((char *)reply + events_f->quantifier_offset) = n;
    *(ProtobufCMessage ***)((char *)reply + events_f->offset) = ptrs;
    *(uint64_t *)((char *)reply + last_f->offset) = page.last_seq;
    lc_req_respond_pb(req, reply);
done:
    free(reply);
    free(events);
    free(ptrs);
    lc_outbox_page_clear(&page);
}

void
lc_outbox_serve(lc_req *req, const lc_outbox *o)
{
    lc_outbox_serve_as(req, o, &lintel__v1__events_since_response__descriptor);
}
