/*
 * lc_ops.c: the three ops endpoints and the readiness thread.
 */
#include "lc_ops.h"

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_log.h"
#include "lc_metrics.h"

#define LC_OPS_QUEUE 64

struct lc_ops {
    lc_ops_options opts;
    nng_http_server *server;
    nng_url *url;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    nng_aio *queue[LC_OPS_QUEUE];
    int head, count;
    lc_db *db;
    lc_cache *cache;
};

static void
lc_ops_reply(nng_aio *aio, uint16_t status, const char *type, const char *body,
             size_t len)
{
    nng_http_res *res;

    if (nng_http_res_alloc(&res) != 0) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    nng_http_res_set_status(res, status);
    nng_http_res_set_header(res, "Content-Type", type);
    nng_http_res_set_header(res, "Cache-Control", "no-store");
    if (nng_http_res_copy_data(res, body, len) != 0) {
        nng_http_res_free(res);
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static void
lc_ops_healthz(nng_aio *aio)
{
    static const char body[] = "{\"status\":\"ok\"}";

    lc_ops_reply(aio, 200, "application/json", body, sizeof(body) - 1);
}

static void
lc_ops_metrics(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    lc_ops *ops = nng_http_handler_get_data(h);
    size_t len = 0;
    char *text = lc_metrics_render(ops->opts.service, &len);

    if (text == NULL) {
        lc_ops_reply(aio, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    lc_ops_reply(aio, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

/* Hands the request to the readiness thread; answers 503 when too many
 * checks are already waiting (a probe storm must not grow memory). */
static void
lc_ops_readyz(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    lc_ops *ops = nng_http_handler_get_data(h);
    static const char busy[] = "{\"status\":\"busy\"}";

    pthread_mutex_lock(&ops->lock);
    if (ops->stopping || ops->count == LC_OPS_QUEUE) {
        pthread_mutex_unlock(&ops->lock);
        lc_ops_reply(aio, 503, "application/json", busy, sizeof(busy) - 1);
        return;
    }
    ops->queue[(ops->head + ops->count) % LC_OPS_QUEUE] = aio;
    ops->count++;
    pthread_cond_signal(&ops->wake);
    pthread_mutex_unlock(&ops->lock);
}

static void
lc_ops_check(lc_ops *ops, nng_aio *aio)
{
    lc_db_error dberr;
    bool db_ok = lc_db_ping(ops->db, &dberr) == 0;
    bool redis_ok = !ops->opts.use_cache ||
                    lc_cache_ping(ops->cache) == LC_CACHE_OK;
    char body[160];
    int n;

    /* Only the database decides readiness: without Redis the service is
     * slower, not unavailable (DESIGN §7). */
    n = snprintf(body, sizeof(body),
                 "{\"status\":\"%s\",\"checks\":{\"db\":\"%s\"%s%s}}",
                 !db_ok ? "unavailable" : redis_ok ? "ready" : "degraded",
                 db_ok ? "ok" : "down",
                 ops->opts.use_cache ? ",\"redis\":" : "",
                 !ops->opts.use_cache ? "" : redis_ok ? "\"ok\"" : "\"down\"");
    if (!db_ok) {
        lc_log(LC_LOG_WARN, NULL, NULL, "readyz: database: %s", dberr.message);
    }
    lc_ops_reply(aio, db_ok ? 200 : 503, "application/json", body, (size_t)n);
}

static void *
lc_ops_main(void *arg)
{
    lc_ops *ops = arg;
    nng_aio *aio;

    for (;;) {
        pthread_mutex_lock(&ops->lock);
        while (ops->count == 0 && !ops->stopping) {
            pthread_cond_wait(&ops->wake, &ops->lock);
        }
        if (ops->count == 0) {
            pthread_mutex_unlock(&ops->lock);
            return NULL;
        }
        aio = ops->queue[ops->head];
        ops->head = (ops->head + 1) % LC_OPS_QUEUE;
        ops->count--;
        pthread_mutex_unlock(&ops->lock);
        lc_ops_check(ops, aio);
    }
}

static int
lc_ops_add(lc_ops *ops, const char *path, void (*cb)(nng_aio *))
{
    nng_http_handler *h;
    int rv;

    if ((rv = nng_http_handler_alloc(&h, path, cb)) != 0) {
        return rv;
    }
    if ((rv = nng_http_handler_set_data(h, ops, NULL)) != 0 ||
        (rv = nng_http_server_add_handler(ops->server, h)) != 0) {
        nng_http_handler_free(h);
    }
    return rv;
}

lc_ops *
lc_ops_start(const lc_ops_options *opts, char *err, size_t errlen)
{
    lc_ops *ops = calloc(1, sizeof(*ops));
    int rv;

    if (ops == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ops->opts = *opts;
    pthread_mutex_init(&ops->lock, NULL);
    pthread_cond_init(&ops->wake, NULL);
    ops->db = lc_db_open(&opts->db);
    ops->cache = opts->use_cache ? lc_cache_open(&opts->cache) : NULL;
    if (ops->db == NULL || (opts->use_cache && ops->cache == NULL)) {
        snprintf(err, errlen, "out of memory");
        lc_ops_stop(ops);
        return NULL;
    }
    if ((rv = nng_url_parse(&ops->url, opts->url)) != 0 ||
        (rv = nng_http_server_hold(&ops->server, ops->url)) != 0 ||
        (rv = lc_ops_add(ops, "/healthz", lc_ops_healthz)) != 0 ||
        (rv = lc_ops_add(ops, "/readyz", lc_ops_readyz)) != 0 ||
        (rv = lc_ops_add(ops, "/metrics", lc_ops_metrics)) != 0 ||
        (rv = nng_http_server_start(ops->server)) != 0) {
        snprintf(err, errlen, "ops server on %s: %s", opts->url,
                 nng_strerror(rv));
        lc_ops_stop(ops);
        return NULL;
    }
    if (pthread_create(&ops->thread, NULL, lc_ops_main, ops) != 0) {
        snprintf(err, errlen, "cannot start the readiness thread");
        lc_ops_stop(ops);
        return NULL;
    }
    ops->thread_started = true;
    return ops;
}

void
lc_ops_stop(lc_ops *ops)
{
    if (ops == NULL) {
        return;
    }
    /* Drain the pending checks first: their aios belong to the server. */
    pthread_mutex_lock(&ops->lock);
    ops->stopping = true;
    pthread_cond_signal(&ops->wake);
    pthread_mutex_unlock(&ops->lock);
    if (ops->thread_started) {
        pthread_join(ops->thread, NULL);
    }
    if (ops->server != NULL) {
        nng_http_server_stop(ops->server);
        nng_http_server_release(ops->server);
    }
    if (ops->url != NULL) {
        nng_url_free(ops->url);
    }
    lc_db_close(ops->db);
    lc_cache_close(ops->cache);
    pthread_cond_destroy(&ops->wake);
    pthread_mutex_destroy(&ops->lock);
    free(ops);
}
