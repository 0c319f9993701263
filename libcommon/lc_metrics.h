/*
 * lc_metrics: the counters a service exposes on /metrics, in Prometheus
 * text format: requests by route and status, a latency histogram by route,
 * the database and Redis error counters, and gauges that other units set
 * (lc_jobs: jobs by state, age of the oldest due job).
 *
 * Routes are the router's patterns ("GET /api/projects/:id"), never raw
 * paths, so the number of series stays bounded.
 */
#ifndef LC_METRICS_H
#define LC_METRICS_H

#include <stddef.h>

/* Records one request; safe from any thread. */
void lc_metrics_observe(const char *route, int status, double seconds);

/*
 * Sets a gauge, created on first use (up to 64 series): `name` a metric
 * name, `labels` "" or a label list such as `status="queued"` (a bounded
 * set), `help` one line. Safe from any thread.
 */
void lc_metrics_gauge_set(const char *name, const char *labels,
                          const char *help, double value);

/* Renders every metric; returns a malloc'd string and its length in *len,
 * or NULL when out of memory. `service` labels nothing: it prefixes help. */
char *lc_metrics_render(const char *service, size_t *len);

#endif
