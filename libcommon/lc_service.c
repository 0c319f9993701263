/*
 * lc_service.c: subcommands, the common configuration table, signals and
 * the orderly start and stop of a service.
 */
#include "lc_service.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_log.h"
#include "lc_migrate.h"
#include "lc_ops.h"

#define LC_SERVICE_MAX_VARS 64

typedef struct {
    const char *rpc_url, *ops_url, *db_url, *migrate_db_url, *redis_host;
    const char *log_level, *migrations_dir;
    long redis_port, workers, max_message, timeout_ms, max_timeout_ms;
    long json_max_bytes, grace_ms, redis_timeout_ms;
    bool db_prepared;
} lc_service_config;

/* Defaults that depend on the service's name and ports. */
typedef struct {
    char rpc_url[64], ops_url[64], db_url[128], migrations_dir[128];
} lc_service_defaults;

static size_t
lc_service_vars(const lc_service_def *def, lc_service_config *c,
                lc_service_defaults *d, lc_config_var *vars)
{
    size_t n = 0, i;

    snprintf(d->rpc_url, sizeof(d->rpc_url), "tcp://127.0.0.1:%d",
             def->rpc_port);
    snprintf(d->ops_url, sizeof(d->ops_url), "http://127.0.0.1:%d",
             def->ops_port);
    snprintf(d->db_url, sizeof(d->db_url),
             "postgresql://lintel_%s@127.0.0.1:55432/lintel", def->name);
    snprintf(d->migrations_dir, sizeof(d->migrations_dir), "migrations/%s",
             def->name);
#define V(name_, def_, kind_, min_, max_, help_, target_)                      \
    vars[n++] = (lc_config_var){name_, def_, kind_, min_, max_, help_, target_}
    V("LINTEL_RPC_URL", d->rpc_url, LC_CFG_URL, 0, 0,
      "NNG URL the service listens on", &c->rpc_url);
    V("LINTEL_OPS_URL", d->ops_url, LC_CFG_URL, 0, 0,
      "HTTP URL of /healthz, /readyz and /metrics", &c->ops_url);
    V("LINTEL_DB_URL", d->db_url, LC_CFG_STRING, 0, 0,
      "PostgreSQL connection string of the service's own role", &c->db_url);
    V("LINTEL_MIGRATE_DB_URL",
      "postgresql://lintel_migrator@127.0.0.1:55432/lintel", LC_CFG_STRING, 0,
      0, "PostgreSQL connection string of the migration owner (migrate)",
      &c->migrate_db_url);
    V("LINTEL_DB_PREPARED", "true", LC_CFG_BOOL, 0, 0,
      "use server-side prepared statements (false behind PgBouncer < 1.21)",
      &c->db_prepared);
    V("LINTEL_REDIS_HOST", "127.0.0.1", LC_CFG_STRING, 0, 0, "Redis host",
      &c->redis_host);
    V("LINTEL_REDIS_PORT", "56379", LC_CFG_INT, 1, 65535, "Redis port",
      &c->redis_port);
    V("LINTEL_REDIS_TIMEOUT_MS", "200", LC_CFG_INT, 1, 10000,
      "Redis connect and command timeout", &c->redis_timeout_ms);
    V("LINTEL_WORKERS", "8", LC_CFG_INT, 1, 256,
      "worker threads, each with its own database connection", &c->workers);
    V("LINTEL_RPC_MAX_MESSAGE", "4194304", LC_CFG_INT, 1024, 67108864,
      "largest NNG message accepted, in bytes", &c->max_message);
    V("LINTEL_RPC_TIMEOUT_MS", "5000", LC_CFG_INT, 1, 600000,
      "deadline of a request whose envelope carries none", &c->timeout_ms);
    V("LINTEL_RPC_MAX_TIMEOUT_MS", "30000", LC_CFG_INT, 1, 600000,
      "longest deadline a caller may ask for", &c->max_timeout_ms);
    V("LINTEL_JSON_MAX_BYTES", "1048576", LC_CFG_INT, 1, 67108864,
      "largest JSON request body, in bytes", &c->json_max_bytes);
    V("LINTEL_SHUTDOWN_GRACE_MS", "10000", LC_CFG_INT, 0, 600000,
      "how long in-flight requests may finish after SIGTERM", &c->grace_ms);
    V("LINTEL_LOG_LEVEL", "info", LC_CFG_STRING, 0, 0,
      "debug, info, warn or error", &c->log_level);
    V("LINTEL_MIGRATIONS_DIR", d->migrations_dir, LC_CFG_STRING, 0, 0,
      "folder of the service's NNNN_name.sql files (migrate)",
      &c->migrations_dir);
#undef V
    for (i = 0; i < def->nvars && n < LC_SERVICE_MAX_VARS; i++) {
        vars[n++] = def->vars[i];
    }
    return n;
}

static int
lc_service_migrate(const lc_service_def *def, const lc_service_config *c)
{
    char err[512];
    int applied = lc_migrate_run(c->migrate_db_url, def->name,
                                 c->migrations_dir, err, sizeof(err));

    if (applied < 0) {
        lc_log(LC_LOG_ERROR, NULL, NULL, "migrate: %s", err);
        fprintf(stderr, "lintel-%s migrate: %s\n", def->name, err);
        return 1;
    }
    lc_log(LC_LOG_INFO, NULL, NULL, "migrate: %d applied, schema %s is current",
           applied, def->name);
    return 0;
}

static void
lc_service_stop_app(const lc_service_def *def)
{
    if (def->stop != NULL) {
        def->stop(def->app);
    }
}

static int
lc_service_serve(const lc_service_def *def, const lc_service_config *c)
{
    lc_rpc_server_options ro = {0};
    lc_ops_options oo = {0};
    lc_rpc_server *server;
    lc_ops *ops;
    char app[64], err[256];
    sigset_t sigs;
    int sig;

    snprintf(app, sizeof(app), "lintel-%s", def->name);
    /* Every thread inherits this mask; only sigwait() below sees them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    ro.service = def->name;
    ro.url = c->rpc_url;
    ro.workers = (int)c->workers;
    ro.max_message = (size_t)c->max_message;
    ro.default_timeout_ms = (int)c->timeout_ms;
    ro.max_timeout_ms = (int)c->max_timeout_ms;
    ro.max_json_bytes = (size_t)c->json_max_bytes;
    ro.db = (lc_db_options){c->db_url, app, c->db_prepared, 3};
    ro.cache = (lc_cache_options){c->redis_host, (int)c->redis_port,
                                  (int)c->redis_timeout_ms,
                                  (int)c->redis_timeout_ms, 1000};
    ro.app = def->app;
    oo.service = def->name;
    oo.url = c->ops_url;
    oo.db = ro.db;
    oo.cache = ro.cache;

    server = lc_rpc_server_new(&ro);
    if (server == NULL || def->routes(server) != 0) {
        fprintf(stderr, "%s: cannot register routes\n", app);
        return 1;
    }
    if (def->start != NULL && def->start(&ro.db, &ro.cache, def->app) != 0) {
        lc_rpc_server_free(server);
        return 2;
    }
    if (lc_rpc_server_start(server, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", app, err);
        lc_service_stop_app(def);
        lc_rpc_server_free(server);
        return 1;
    }
    ops = lc_ops_start(&oo, err, sizeof(err));
    if (ops == NULL) {
        fprintf(stderr, "%s: %s\n", app, err);
        lc_rpc_server_free(server);
        lc_service_stop_app(def);
        return 1;
    }
    lc_log(LC_LOG_INFO, NULL, NULL, "serving on %s (ops %s, %ld workers)",
           c->rpc_url, c->ops_url, c->workers);

    sigwait(&sigs, &sig);
    lc_log(LC_LOG_INFO, NULL, NULL, "signal %d: draining", sig);
    lc_rpc_server_stop(server, (int)c->grace_ms);
    lc_ops_stop(ops);
    lc_rpc_server_free(server);
    lc_service_stop_app(def);
    lc_log(LC_LOG_INFO, NULL, NULL, "stopped");
    return 0;
}

int
lc_service_main(int argc, char **argv, const lc_service_def *def)
{
    lc_config_var vars[LC_SERVICE_MAX_VARS];
    lc_service_config c = {0};
    lc_service_defaults d;
    lc_log_level level;
    char prog[64];
    size_t n = lc_service_vars(def, &c, &d, vars);
    const char *cmd = argc > 1 ? argv[1] : "";

    snprintf(prog, sizeof(prog), "lintel-%s", def->name);
    if (strcmp(cmd, "config") == 0) {
        lc_config_print(stdout, vars, n);
        return 0;
    }
    if (strcmp(cmd, "routes") == 0) {
        lc_rpc_server_options none = {0};
        lc_rpc_server *s = lc_rpc_server_new(&none);

        if (s == NULL || def->routes(s) != 0) {
            return 1;
        }
        lc_rpc_server_print_routes(s, stdout);
        lc_rpc_server_free(s);
        return 0;
    }
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "migrate") != 0) {
        fprintf(stderr,
                "usage: %s serve | migrate | config | routes\n"
                "  serve    run the service (NNG %s, ops %s by default)\n"
                "  migrate  apply %s to schema %s\n"
                "  config   list the environment variables\n"
                "  routes   list the routes the service answers\n",
                prog, d.rpc_url, d.ops_url, d.migrations_dir, def->name);
        return 2;
    }
    lc_config_load_or_exit(prog, vars, n);
    if (lc_log_level_parse(c.log_level, &level) != 0) {
        fprintf(stderr,
                "%s: LINTEL_LOG_LEVEL: must be debug, info, warn or "
                "error (got \"%s\")\n",
                prog, c.log_level);
        return 2;
    }
    lc_log_init(def->name, level);
    if (strcmp(cmd, "migrate") == 0) {
        return lc_service_migrate(def, &c);
    }
    return lc_service_serve(def, &c);
}
