/*
 * lc_replica: whether a request's read may go to a streaming replica of
 * the service's database (LINTEL_DB_READ_URL), or must go to the primary.
 *
 * One verdict per process, renewed at most every LC_REPLICA_CHECK_MS by
 * whichever worker finds it stale, on that worker's own connection to the
 * replica: the replica answers, and what it received it has replayed, or
 * its last replayed commit is at most `max_lag_ms` old. A read that fails
 * on the replica marks it down until the next check. Every read counts
 * where it went, on /metrics:
 *   lintel_db_reads{to="replica"}
 *   lintel_db_reads{to="primary",reason="replica_lag"|"replica_down"}
 * (a read that failed on the replica counts once more, as replica_down),
 * and lintel_db_replica_lag_ms is the lag the last check saw.
 */
#ifndef LC_REPLICA_H
#define LC_REPLICA_H

#include <stdbool.h>

#include "lc_db.h"

#define LC_REPLICA_CHECK_MS 200

typedef struct lc_replica lc_replica;

/* NULL when out of memory. */
lc_replica *lc_replica_new(long max_lag_ms);
void lc_replica_free(lc_replica *r);

/* Whether this read goes to the replica through `db` (the calling
 * worker's connection to it), checking it first when the verdict is
 * stale; the read is counted where it goes. */
bool lc_replica_pick(lc_replica *r, lc_db *db);

/* The read failed on the replica and goes to the primary instead: counted
 * so, and the replica is down until its next check. */
void lc_replica_failed(lc_replica *r);

#endif
