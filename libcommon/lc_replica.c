/*
 * lc_replica.c: the shared verdict of lc_replica.h and its check.
 */
#include "lc_replica.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "lc_clock.h"
#include "lc_metrics.h"

/* The check's own deadline: a replica slower than this counts as down. */
#define REPLICA_CHECK_DEADLINE_MS 1000

typedef enum {
    REPLICA_USABLE,
    REPLICA_LAGGING,
    REPLICA_DOWN,
} replica_state;

struct lc_replica {
    long max_lag_ms;
    _Atomic int64_t checked_at; /* lc_clock_mono_ms() of the last check */
    _Atomic int state;          /* replica_state */
    atomic_ulong to_replica, lagging, down;
};

/* Replayed everything it received (or is no standby at all): no lag;
 * else the age of its last replayed commit (none yet: as bad as can be). */
static const lc_db_stmt replica_lag = {
    "SELECT CASE WHEN NOT pg_is_in_recovery()"
    " OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE coalesce((extract(epoch FROM clock_timestamp()"
    " - pg_last_xact_replay_timestamp()) * 1000)::bigint, 2147483647) END",
    0};

lc_replica *
lc_replica_new(long max_lag_ms)
{
    lc_replica *r = calloc(1, sizeof(*r));

    if (r != NULL) {
        r->max_lag_ms = max_lag_ms;
        /* checked long ago: the first read checks */
        atomic_store(&r->checked_at, INT64_MIN / 2);
        atomic_store(&r->state, REPLICA_DOWN);
    }
    return r;
}

void
lc_replica_free(lc_replica *r)
{
    free(r);
}

static void
replica_count(atomic_ulong *counter, const char *labels)
{
    lc_metrics_gauge_set("lintel_db_reads", labels,
                         "request reads by where they went, since start",
                         (double)(atomic_fetch_add(counter, 1) + 1));
}

static void
replica_check(lc_replica *r, lc_db *db)
{
    lc_db_error err;
    PGresult *res = lc_db_tenant_read(
        db, NULL, lc_clock_mono_ms() + REPLICA_CHECK_DEADLINE_MS, &replica_lag,
        NULL, &err);
    long long lag;

    if (res == NULL) {
        atomic_store(&r->state, REPLICA_DOWN);
        return;
    }
    lag = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    lc_metrics_gauge_set("lintel_db_replica_lag_ms", "",
                         "the read replica's lag at its last check",
                         (double)lag);
    atomic_store(&r->state,
                 lag <= r->max_lag_ms ? REPLICA_USABLE : REPLICA_LAGGING);
}

bool
lc_replica_pick(lc_replica *r, lc_db *db)
{
    int64_t now = lc_clock_mono_ms(), last = atomic_load(&r->checked_at);

    /* One worker checks; the others keep the verdict until it is done. */
    if (now - last >= LC_REPLICA_CHECK_MS &&
        atomic_compare_exchange_strong(&r->checked_at, &last, now)) {
        replica_check(r, db);
    }
    switch (atomic_load(&r->state)) {
    case REPLICA_USABLE:
        replica_count(&r->to_replica, "to=\"replica\"");
        return true;
    case REPLICA_LAGGING:
        replica_count(&r->lagging, "to=\"primary\",reason=\"replica_lag\"");
        return false;
    default:
        replica_count(&r->down, "to=\"primary\",reason=\"replica_down\"");
        return false;
    }
}

void
lc_replica_failed(lc_replica *r)
{
    atomic_store(&r->state, REPLICA_DOWN);
    replica_count(&r->down, "to=\"primary\",reason=\"replica_down\"");
}
