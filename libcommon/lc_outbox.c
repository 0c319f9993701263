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
    bool has_pub;
    nng_socket pub;
    atomic_llong announced; /* highest seq published */
    char append_sql[OUTBOX_SQL_MAX];
    char since_sql[OUTBOX_SQL_MAX];
    char last_sql[OUTBOX_SQL_MAX];
    lc_db_stmt append, since, last;
};

/* [a-z_][a-z0-9_]{0,62}: what may be spliced into the statements. */
static bool
outbox_identifier(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9')) {
        return false;
    }
    for (i = 0; s[i] != '\0'; i++) {
        if (i >= 63 || !((s[i] >= 'a' && s[i] <= 'z') ||
                         (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) {
            return false;
        }
    }
    return true;
}

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

    if (!outbox_identifier(opts->schema) || opts->nkeys < 1 ||
        opts->nkeys > LC_OUTBOX_MAX_KEYS) {
        snprintf(err, errlen, "outbox: a schema and 1..%d keys",
                 LC_OUTBOX_MAX_KEYS);
        return NULL;
    }
    for (i = 0; i < opts->nkeys; i++) {
        if (!outbox_identifier(opts->keys[i])) {
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

void
lc_outbox_serve(lc_req *req, const lc_outbox *o)
{
    const Lintel__V1__EventsSinceRequest *in;
    Lintel__V1__EventsSinceResponse out =
        LINTEL__V1__EVENTS_SINCE_RESPONSE__INIT;
    Lintel__V1__Event *events = NULL, **ptrs = NULL;
    lc_outbox_page page;
    int i, n;

    in = (const Lintel__V1__EventsSinceRequest *)lc_req_pb(
        req, &lintel__v1__events_since_request__descriptor);
    if (in == NULL ||
        lc_outbox_read(req, o, in->after_seq, in->limit, &page) != 0) {
        return;
    }
    n = PQntuples(page.rows);
    if (n > 0) {
        events = calloc((size_t)n, sizeof(*events));
        ptrs = calloc((size_t)n, sizeof(*ptrs));
        if (events == NULL || ptrs == NULL) {
            lc_req_error(req, 500, "internal", "internal error");
            goto done;
        }
    }
    for (i = 0; i < n; i++) {
        lintel__v1__event__init(&events[i]);
        events[i].seq =
            strtoull(PQgetvalue(page.rows, i, LC_OUTBOX_COL_SEQ), NULL, 10);
        events[i].tenant_id = PQgetvalue(page.rows, i, LC_OUTBOX_COL_TENANT_ID);
        events[i].type = PQgetvalue(page.rows, i, LC_OUTBOX_COL_TYPE);
        events[i].subject_id = PQgetvalue(page.rows, i, LC_OUTBOX_COL_KEY0);
        events[i].actor_id = PQgetvalue(page.rows, i, LC_OUTBOX_COL_ACTOR_ID);
        events[i].occurred_at =
            PQgetvalue(page.rows, i, LC_OUTBOX_COL_OCCURRED_AT);
        events[i].data_json = PQgetvalue(page.rows, i, LC_OUTBOX_COL_DATA_JSON);
        ptrs[i] = &events[i];
    }
    out.n_events = (size_t)n;
    out.events = ptrs;
    out.last_seq = page.last_seq;
    lc_req_respond_pb(req, &out.base);
done:
    free(events);
    free(ptrs);
    lc_outbox_page_clear(&page);
}
