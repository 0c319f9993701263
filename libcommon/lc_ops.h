/*
 * lc_ops: a service's operations port, on NNG's HTTP server.
 *
 *   GET /healthz  200 while the process runs
 *   GET /readyz   200 when PostgreSQL answers, else 503; a service that
 *                 uses Redis reports it too, "degraded" but still 200 when
 *                 it is down (DESIGN §7: Redis costs speed, not
 *                 availability); the body says which check failed
 *   GET /metrics  Prometheus text (lc_metrics)
 *
 * /readyz does network I/O, so it runs on a thread of its own with its own
 * connections: NNG's HTTP callbacks run on NNG's shared task threads, which
 * must never block (DESIGN §13).
 */
#ifndef LC_OPS_H
#define LC_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "lc_cache.h"
#include "lc_db.h"

typedef struct lc_ops lc_ops;

typedef struct {
    const char *service; /* "users" */
    const char *url;     /* "http://127.0.0.1:9101" */
    lc_db_options db;
    bool use_cache; /* the service uses Redis: report it */
    lc_cache_options cache;
} lc_ops_options;

/* Starts serving; NULL with a reason in `err`. */
lc_ops *lc_ops_start(const lc_ops_options *opts, char *err, size_t errlen);
void lc_ops_stop(lc_ops *ops);

#endif
