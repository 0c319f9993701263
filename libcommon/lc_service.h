/*
 * lc_service: the main() every Lintel service shares.
 *
 *   lintel-<name> serve     run the NNG endpoint and the ops port until
 *                           SIGTERM/SIGINT, then drain and exit 0
 *   lintel-<name> migrate   apply migrations/<name>/ to schema <name>
 *   lintel-<name> jobs      list <name>.jobs, or retry one (lc_jobs_command)
 *   lintel-<name> config    print the configuration variables (Markdown)
 *   lintel-<name> routes    print the routes it answers, "METHOD PATTERN"
 *   lintel-<name> version   print "lintel-<name> <git describe> (proto
 *                           sha256:<hex>)", the hash of the contracts
 *                           (proto/lintel/v1) the binary was built from
 *
 * Configuration comes from the environment: the common variables below plus
 * the service's own; a bad value exits 2 naming the variable.
 */
#ifndef LC_SERVICE_H
#define LC_SERVICE_H

#include <stddef.h>

#include "lc_config.h"
#include "lc_rpc_server.h"

typedef struct {
    const char *name;          /* "users": schema, role, log service */
    int rpc_port;              /* default NNG port, 7101… */
    int ops_port;              /* default ops HTTP port, 9101… */
    const lc_config_var *vars; /* the service's own variables */
    size_t nvars;
    int (*routes)(lc_rpc_server *s); /* registers handlers; 0 or -1 */
    void *app;                       /* passed to handlers (lc_req_app) */
    /* serve only, after the configuration is loaded and before listening:
     * loads what the service cannot run without and starts its background
     * work (own connections from `db` and `cache`); -1 exits with status 2.
     * `stop` runs after the requests have drained. Both may be NULL. */
    int (*start)(const lc_db_options *db, const lc_cache_options *cache,
                 void *app);
    void (*stop)(void *app);
} lc_service_def;

int lc_service_main(int argc, char **argv, const lc_service_def *def);

#endif
