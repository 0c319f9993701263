/*
 * lc_outbox: a service's domain events (DESIGN §8), written once for every
 * service that publishes them.
 *
 *   - lc_outbox_append(), inside the transaction that makes a change, adds
 *     its event row to <schema>.events. The seq comes from the single row
 *     of <schema>.event_counter, whose lock is held until COMMIT, so the
 *     next writer gets its number only after this one committed: whoever
 *     sees seq n sees every seq below it, and a rollback leaves no gap.
 *     (A sequence could commit 11 before 10, and a consumer reading "seq >
 *     cursor" would skip 10 for ever.) Append last in the transaction, to
 *     hold that lock briefly.
 *   - lc_outbox_announce(), after COMMIT, publishes the highest committed
 *     seq on an NNG pub socket: a hint, so that consumers need not poll. A
 *     consumer that missed it catches up from its own cursor.
 *   - lc_outbox_read() and lc_outbox_serve() answer <service>.EventsSince:
 *     the events after a seq, in seq order, across tenants.
 *
 * The tables a migration creates (see migrations/users/0004_events.sql):
 *   <schema>.event_counter (id boolean PRIMARY KEY DEFAULT true CHECK (id),
 *                           seq bigint NOT NULL) with one row, seq 0;
 *   <schema>.events (seq bigint PRIMARY KEY, tenant_id uuid NOT NULL,
 *                    type text NOT NULL, actor_id uuid,
 *                    occurred_at timestamptz NOT NULL
 *                        DEFAULT clock_timestamp(),
 *                    data jsonb NOT NULL, <keys>: uuid columns naming
 *                    what changed, one or two, the service's own).
 * They have no row-level security: EventsSince reads every tenant's, and
 * only the service's own role can reach its schema (DESIGN §6).
 */
#ifndef LC_OUTBOX_H
#define LC_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "lc_db.h"
#include "lc_rpc_server.h"

/* The most key columns an outbox has (projects: project_id, task_id). */
#define LC_OUTBOX_MAX_KEYS 2

/* EventsSince: a request's limit when it sends none, and the most. */
#define LC_OUTBOX_DEFAULT_LIMIT 100
#define LC_OUTBOX_MAX_LIMIT 1000

typedef struct lc_outbox lc_outbox;

typedef struct {
    const char *schema;                   /* "users": <schema>.events */
    const char *keys[LC_OUTBOX_MAX_KEYS]; /* key columns, e.g. "subject_id" */
    size_t nkeys;
    const char *pub_url; /* NNG pub socket of the hints; NULL: none */
} lc_outbox_options;

/* Builds the statements and listens on pub_url. NULL with `err` set when a
 * name is not a plain SQL identifier or the socket cannot listen. */
lc_outbox *lc_outbox_open(const lc_outbox_options *opts, char *err,
                          size_t errlen);
void lc_outbox_close(lc_outbox *o);

typedef struct {
    const char *tenant_id; /* NULL: the transaction's app.tenant_id */
    const char *type;      /* "member.invited" */
    const char *keys[LC_OUTBOX_MAX_KEYS]; /* NULL: SQL NULL */
    const char *actor_id;                 /* NULL: the platform itself */
    const char *data_json;                /* a JSON object */
} lc_outbox_event;

/* Inside the writing transaction, as its last statements: appends `ev` and
 * stores its seq in *seq. 0, or -1 with `err` set. */
int lc_outbox_append(lc_db *db, const lc_outbox *o, const lc_outbox_event *ev,
                     int64_t *seq, lc_db_error *err);

/* After COMMIT: tells subscribers that events up to `seq` exist. Only a
 * new maximum is sent (seq n implies every seq below it); never blocks. */
void lc_outbox_announce(lc_outbox *o, int64_t seq);

/* The columns of lc_outbox_page's rows, as text. */
typedef enum {
    LC_OUTBOX_COL_SEQ,
    LC_OUTBOX_COL_TENANT_ID,
    LC_OUTBOX_COL_TYPE,
    LC_OUTBOX_COL_ACTOR_ID,    /* "" for the platform */
    LC_OUTBOX_COL_OCCURRED_AT, /* RFC 3339 UTC, microseconds */
    LC_OUTBOX_COL_DATA_JSON,
    LC_OUTBOX_COL_KEY0, /* then each key column in order, "" for NULL */
} lc_outbox_column;

typedef struct {
    PGresult *rows;    /* lc_outbox_column columns, in seq order */
    uint64_t last_seq; /* the highest seq committed when read */
} lc_outbox_page;

/*
 * EventsSince's reading: the events after `after_seq`, at most `limit` (0:
 * LC_OUTBOX_DEFAULT_LIMIT). A limit over LC_OUTBOX_MAX_LIMIT or an
 * after_seq past INT64_MAX is a 400. Returns 0 with `page` filled (free it
 * with lc_outbox_page_clear), or -1 with the response set.
 */
int lc_outbox_read(lc_req *req, const lc_outbox *o, uint64_t after_seq,
                   uint32_t limit, lc_outbox_page *page);
void lc_outbox_page_clear(lc_outbox_page *page);

/* The whole EventsSince RPC with the shared messages of
 * proto/lintel/v1/events.proto; an event's subject_id is key 0. */
void lc_outbox_serve(lc_req *req, const lc_outbox *o);

/* The same with a service's own reply message (`reply_desc`), filled by
 * field name: repeated `events` and `last_seq`; in each event seq,
 * tenant_id, type, actor_id, occurred_at, data_json and one string field
 * per key column, named as the column (projects.Event: project_id,
 * task_id). The request must be wire-compatible with
 * lintel.v1.EventsSinceRequest (after_seq = 1, limit = 2). */
void lc_outbox_serve_as(lc_req *req, const lc_outbox *o,
                        const ProtobufCMessageDescriptor *reply_desc);

#endif
