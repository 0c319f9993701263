/*
 * lc_consumer: follows another service's outbox (DESIGN §8) and applies its
 * events, exactly once in effect, in seq order.
 *
 * A thread asks the source's <service>.EventsSince for the events after its
 * cursor and applies each batch in ONE transaction of the consumer's own
 * database, which also moves the cursor: the row `source` of
 *   <schema>.consumer_cursors (source text PRIMARY KEY, seq bigint NOT NULL)
 * (the consumer's migration creates it). The row is locked first, so two
 * instances of a consumer take turns and an event at or below the stored
 * cursor is skipped: an effect and its cursor commit together or not at
 * all, and a failed batch is fetched and applied again from the same
 * cursor. After downtime the cursor says where to resume.
 *
 * Between batches the thread sleeps until the source's pub socket
 * announces a seq past its cursor, or `poll_ms` passes (the hint is only a
 * hint: a missed one costs at most one poll interval).
 *
 * Any source whose EventsSince reply has `repeated <Event> events = 1` and
 * `uint64 last_seq = 2`, with an Event of `uint64 seq` and strings
 * `tenant_id`, `type`, `actor_id`, `occurred_at`, `data_json`, can be
 * followed: lintel.v1.EventsSinceResponse (users and later services) and
 * lintel.v1.projects.EventsSinceResponse alike.
 */
#ifndef LC_CONSUMER_H
#define LC_CONSUMER_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lc_db.h"

/* The deadline of a batch's transaction (statement_timeout: the apply
 * functions' work). */
#define LC_CONSUMER_TX_MS 30000

typedef struct lc_consumer lc_consumer;

/* One event as the source sent it; `msg` is its Event message, for the
 * fields of that source's own (projects' project_id, ...). */
typedef struct {
    uint64_t seq;
    const char *tenant_id;
    const char *type;
    const char *actor_id; /* "" for the platform */
    const char *occurred_at;
    const char *data_json;
    const ProtobufCMessage *msg;
} lc_consumer_event;

/*
 * Applies one event inside the batch's transaction, with app.tenant_id set
 * to the event's tenant (its RLS scope). Returns 0, or -1 with `err` set:
 * the whole batch rolls back and the cursor stays. It may run again for
 * the same event after a rollback, so it must have no effect outside the
 * database.
 */
typedef int (*lc_consumer_apply_fn)(lc_db *db, const lc_consumer_event *ev,
                                    void *arg, lc_db_error *err);

/*
 * Or, instead, applies one tenant's events of a batch at once, so that a
 * consumer can aggregate them (one statement per table, not per event):
 * `evs` are that tenant's events past the cursor, in seq order, and
 * app.tenant_id is set to `tenant_id`. A batch that spans tenants calls it
 * once per tenant, in the order of each tenant's first event: the order
 * within a tenant is kept, not across tenants (under RLS no read model
 * spans them). The same rules as lc_consumer_apply_fn otherwise.
 */
typedef int (*lc_consumer_apply_batch_fn)(lc_db *db, const char *tenant_id,
                                          const lc_consumer_event *evs,
                                          size_t n, void *arg,
                                          lc_db_error *err);

typedef struct {
    const char *source;   /* the cursor's key, e.g. "projects" */
    const char *method;   /* "projects.EventsSince" */
    const char *rpc_url;  /* the source's NNG endpoint */
    const char *hint_url; /* the source's pub socket; NULL: poll only */
    const ProtobufCMessageDescriptor *response; /* its EventsSinceResponse */
    const char *schema; /* the consumer's: <schema>.consumer_cursors */
    lc_db_options db;   /* the consumer's database, its own connection */
    uint32_t batch;     /* events per call and transaction; 0: 100 */
    long poll_ms;       /* longest sleep without a hint; 0: 1000 */
    long timeout_ms;    /* deadline of a call to the source; 0: 2000 */
    lc_consumer_apply_fn apply;             /* one of these two */
    lc_consumer_apply_batch_fn apply_batch; /* (not both) */
    /* Optional: after each batch's transaction, on the consumer's thread,
     * with whether it committed: for effects outside the database that
     * must follow the commit (lc_vcache_writer_done). */
    void (*after_batch)(void *arg, bool committed);
    /* Optional: upkeep of the consumer's database that its batches make
     * due (fresh planner statistics of the tables they grow): after a
     * batch committed, at most once every `upkeep_ms` (0: 1000), on the
     * consumer's thread and connection, in a transaction of its own, not
     * the batch's, whose locks it would otherwise hold longer. Returns 0,
     * or -1 with `err` set, which is logged: events are applied on. */
    lc_db_tx_fn upkeep;
    long upkeep_ms;
    void *arg;
} lc_consumer_options;

/* Starts the thread. NULL with `err` set for options it cannot follow (a
 * bad schema name, a reply without those fields, a bad URL). */
lc_consumer *lc_consumer_start(const lc_consumer_options *opts, char *err,
                               size_t errlen);

/* Stops the thread and waits for it: a batch under way commits or rolls
 * back first. Then frees the consumer. */
void lc_consumer_stop(lc_consumer *c);

/* The seq of the last event whose batch committed (0 before any). */
uint64_t lc_consumer_cursor(const lc_consumer *c);

#endif
