/*
 * lc_metrics.c: fixed-size tables under one mutex. An observation is a few
 * string compares and increments; a request costs a database round trip,
 * so the lock is never the bottleneck.
 */
#include "lc_metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_cache.h"
#include "lc_db.h"

#define LC_METRICS_MAX_ROUTES 128
#define LC_METRICS_MAX_STATUSES 12
#define LC_METRICS_ROUTE_LEN 96

static const double lc_metrics_buckets[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define LC_METRICS_NBUCKETS                                                    \
    (sizeof(lc_metrics_buckets) / sizeof(lc_metrics_buckets[0]))

typedef struct {
    char route[LC_METRICS_ROUTE_LEN];
    int statuses[LC_METRICS_MAX_STATUSES];
    uint64_t counts[LC_METRICS_MAX_STATUSES];
    uint64_t other_status; /* beyond LC_METRICS_MAX_STATUSES distinct ones */
    uint64_t buckets[LC_METRICS_NBUCKETS];
    uint64_t total;
    double sum;
} lc_metrics_route;

#define LC_METRICS_MAX_GAUGES 64

typedef struct {
    char name[64];
    char labels[96];
    const char *help; /* a literal of the caller's */
    double value;
} lc_metrics_gauge;

static pthread_mutex_t lc_metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static lc_metrics_route lc_metrics_routes[LC_METRICS_MAX_ROUTES];
static int lc_metrics_nroutes;
static lc_metrics_gauge lc_metrics_gauges[LC_METRICS_MAX_GAUGES];
static int lc_metrics_ngauges;

static lc_metrics_route *
lc_metrics_find(const char *route)
{
    int i;

    for (i = 0; i < lc_metrics_nroutes; i++) {
        if (strcmp(lc_metrics_routes[i].route, route) == 0) {
            return &lc_metrics_routes[i];
        }
    }
    if (lc_metrics_nroutes == LC_METRICS_MAX_ROUTES) {
        return NULL;
    }
    i = lc_metrics_nroutes++;
    snprintf(lc_metrics_routes[i].route, LC_METRICS_ROUTE_LEN, "%s", route);
    return &lc_metrics_routes[i];
}

void
lc_metrics_observe(const char *route, int status, double seconds)
{
    lc_metrics_route *m;
    size_t b;
    int i;

    pthread_mutex_lock(&lc_metrics_lock);
    m = lc_metrics_find(route);
    if (m != NULL) {
        for (i = 0; i < LC_METRICS_MAX_STATUSES; i++) {
            if (m->statuses[i] == status || m->statuses[i] == 0) {
                m->statuses[i] = status;
                m->counts[i]++;
                break;
            }
        }
        if (i == LC_METRICS_MAX_STATUSES) {
            m->other_status++;
        }
        for (b = 0; b < LC_METRICS_NBUCKETS; b++) {
            if (seconds <= lc_metrics_buckets[b]) {
                m->buckets[b]++;
            }
        }
        m->total++;
        m->sum += seconds;
    }
    pthread_mutex_unlock(&lc_metrics_lock);
}

void
lc_metrics_gauge_set(const char *name, const char *labels, const char *help,
                     double value)
{
    lc_metrics_gauge *g = NULL;
    int i;

    pthread_mutex_lock(&lc_metrics_lock);
    for (i = 0; i < lc_metrics_ngauges && g == NULL; i++) {
        if (strcmp(lc_metrics_gauges[i].name, name) == 0 &&
            strcmp(lc_metrics_gauges[i].labels, labels) == 0) {
            g = &lc_metrics_gauges[i];
        }
    }
    if (g == NULL && lc_metrics_ngauges < LC_METRICS_MAX_GAUGES) {
        g = &lc_metrics_gauges[lc_metrics_ngauges++];
        snprintf(g->name, sizeof(g->name), "%s", name);
        snprintf(g->labels, sizeof(g->labels), "%s", labels);
        g->help = help;
    }
    if (g != NULL) {
        g->value = value;
    }
    pthread_mutex_unlock(&lc_metrics_lock);
}

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} lc_metrics_out;

static void __attribute__((format(printf, 2, 3)))
lc_metrics_printf(lc_metrics_out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->failed) {
        return;
    }
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        char *grown = realloc(o->buf, o->cap * 2 + (size_t)n);
        if (grown == NULL) {
            o->failed = 1;
            return;
        }
        o->buf = grown;
        o->cap = o->cap * 2 + (size_t)n;
    }
}

/* Each gauge family once, with its HELP and TYPE before its series. Called
 * with the lock held. */
static void
lc_metrics_render_gauges(lc_metrics_out *o)
{
    int i, k, seen;

    for (i = 0; i < lc_metrics_ngauges; i++) {
        const lc_metrics_gauge *g = &lc_metrics_gauges[i];

        for (seen = 0, k = 0; k < i && !seen; k++) {
            seen = strcmp(lc_metrics_gauges[k].name, g->name) == 0;
        }
        if (seen) {
            continue;
        }
        lc_metrics_printf(o, "# HELP %s %s\n# TYPE %s gauge\n", g->name,
                          g->help, g->name);
        for (k = i; k < lc_metrics_ngauges; k++) {
            const lc_metrics_gauge *s = &lc_metrics_gauges[k];

            if (strcmp(s->name, g->name) != 0) {
                continue;
            }
            lc_metrics_printf(o,
                              s->labels[0] ? "%s{%s} %.17g\n" : "%s%s %.17g\n",
                              s->name, s->labels, s->value);
        }
    }
}

char *
lc_metrics_render(const char *service, size_t *len)
{
    lc_metrics_out o = {malloc(4096), 0, 4096, 0};
    size_t b;
    int i, k;

    if (o.buf == NULL) {
        return NULL;
    }
    o.buf[0] = '\0';
    pthread_mutex_lock(&lc_metrics_lock);
    lc_metrics_printf(&o,
                      "# HELP lintel_requests_total Requests handled by "
                      "lintel-%s, by route and status.\n"
                      "# TYPE lintel_requests_total counter\n",
                      service);
    for (i = 0; i < lc_metrics_nroutes; i++) {
        lc_metrics_route *m = &lc_metrics_routes[i];

        for (k = 0; k < LC_METRICS_MAX_STATUSES && m->statuses[k]; k++) {
            lc_metrics_printf(
                &o, "lintel_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                m->route, m->statuses[k], (unsigned long long)m->counts[k]);
        }
        if (m->other_status) {
            lc_metrics_printf(
                &o,
                "lintel_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                m->route, (unsigned long long)m->other_status);
        }
    }
    lc_metrics_printf(&o, "# HELP lintel_request_duration_seconds Time from "
                          "receiving a request to sending its reply.\n"
                          "# TYPE lintel_request_duration_seconds histogram\n");
    for (i = 0; i < lc_metrics_nroutes; i++) {
        lc_metrics_route *m = &lc_metrics_routes[i];

        for (b = 0; b < LC_METRICS_NBUCKETS; b++) {
            lc_metrics_printf(&o,
                              "lintel_request_duration_seconds_bucket{route="
                              "\"%s\",le=\"%g\"} %llu\n",
                              m->route, lc_metrics_buckets[b],
                              (unsigned long long)m->buckets[b]);
        }
        lc_metrics_printf(&o,
                          "lintel_request_duration_seconds_bucket{route=\"%s\","
                          "le=\"+Inf\"} %llu\n"
                          "lintel_request_duration_seconds_sum{route=\"%s\"} "
                          "%.6f\n"
                          "lintel_request_duration_seconds_count{route=\"%s\"}"
                          " %llu\n",
                          m->route, (unsigned long long)m->total, m->route,
                          m->sum, m->route, (unsigned long long)m->total);
    }
    lc_metrics_render_gauges(&o);
    pthread_mutex_unlock(&lc_metrics_lock);
    lc_metrics_printf(&o,
                      "# HELP lintel_db_errors_total PostgreSQL errors.\n"
                      "# TYPE lintel_db_errors_total counter\n"
                      "lintel_db_errors_total %llu\n"
                      "# HELP lintel_redis_errors_total Redis errors.\n"
                      "# TYPE lintel_redis_errors_total counter\n"
                      "lintel_redis_errors_total %llu\n",
                      (unsigned long long)lc_db_error_count(),
                      (unsigned long long)lc_cache_error_count());
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}
