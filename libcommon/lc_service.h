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
 *
 * How to write a service with the kit: README.md, "Writing a service".
 *
 * A service is declared, not wired: its lc_service_def names its routes,
 * its own settings, whether it uses Redis, the peers it calls and the
 * database constraints that are its clients' mistakes. lc_service builds
 * the settings, opens and closes the connections and clients, runs the
 * migrations and the ops port (/healthz, /readyz, /metrics), and answers
 * <name>.Ready over NNG (lc_health).
 */
#ifndef LC_SERVICE_H
#define LC_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "lc_config.h"
#include "lc_outbox.h"
#include "lc_rpc_client.h"
#include "lc_rpc_server.h"

/*
 * Another service this one calls over NNG. lc_service gives it three
 * settings, LINTEL_<NAME>_RPC_URL (default tcp://127.0.0.1:<port>, the
 * callee's own LINTEL_RPC_URL: the client dials the listener of its slot
 * there, lc_service_caller_url),
 * LINTEL_<NAME>_TIMEOUT_MS and LINTEL_<NAME>_RPC_MAX_MESSAGE (NAME the
 * upper-case name), opens its client before `start` and closes it after
 * `stop`. A peer is never a readiness check: a service whose peer is down
 * answers what it can without it (one failing service must not take its
 * callers out of their load balancers).
 */
typedef struct {
    const char *name;       /* "users" */
    const char *what;       /* what it is called for, for `config` */
    int port;               /* its default NNG port on 127.0.0.1 */
    lc_rpc_client **client; /* where the opened client goes */
    long *timeout_ms;       /* where LINTEL_<NAME>_TIMEOUT_MS goes */
    int default_timeout_ms; /* its default; 0: 1000 */
    /* where LINTEL_<NAME>_RPC_URL goes, for a follower of the peer's
     * events (lc_consumer opens its own socket); NULL: not needed */
    const char **url;
} lc_service_peer;

#define LC_SERVICE_MAX_PEERS 4

/*
 * A caller this service lets in besides the operator (lintel-call) and,
 * for origin EDGE, the edge: a service that calls its internal RPCs, or
 * "edge" for the internal RPCs the edge itself calls. It gets a listener
 * of its own (README, "Internal calls"), which trusts only the CA of its
 * certificates; a caller that is not declared reaches no handler.
 */
typedef struct {
    const char *name; /* "projects", or "edge" */
    /* the internal RPCs it may call ("users.GetCaller"), NULL-terminated;
     * NULL: every one (a service), none (the edge) */
    const char *const *rpcs;
} lc_service_caller;

#define LC_SERVICE_MAX_CALLERS 4

/*
 * How a process of the kit authenticates its NNG calls: mutual TLS with
 * the certificates of LINTEL_TLS_DIR, and the port of each caller's
 * listener (its slot: edge 0, operator 1, users 2, projects 3, reporting 4,
 * billing 5) at the service's RPC port + slot × LINTEL_RPC_CALLER_PORT_STEP.
 */
typedef struct {
    bool tls;        /* LINTEL_RPC_TLS */
    const char *dir; /* LINTEL_TLS_DIR */
    long port_step;  /* LINTEL_RPC_CALLER_PORT_STEP */
} lc_service_identity;

#define LC_SERVICE_IDENTITY_VARS 3

/* Fills `vars` with the three settings of `id`; returns their number. */
size_t lc_service_identity_vars(lc_service_identity *id, lc_config_var *vars);

/* Makes `self` ("billing") the identity of this process's clients
 * (lc_rpc_client_tls); nothing without TLS. 0, or -1 with `err`. */
int lc_service_identity_use(const lc_service_identity *id, const char *self,
                            char *err, size_t errlen);

/* The URL at which `caller` reaches the service whose RPC URL is `base`:
 * the port of its slot, tls+tcp:// with TLS (ipc://: "<path>.<caller>",
 * never TLS). 0, or -1 for an unknown caller or a URL without a port. */
int lc_service_caller_url(const lc_service_identity *id, const char *base,
                          const char *caller, char *out, size_t outlen);

/*
 * A service's domain events (lc_outbox) in <name>.events. lc_service gives
 * it the setting LINTEL_EVENTS_URL (its pub socket of "new events" hints,
 * default tcp://127.0.0.1:<pub_port>), opens it before `start` and closes
 * it after `stop`.
 */
typedef struct {
    const char *keys[2]; /* its key columns: "subject_id", … */
    size_t nkeys;
    int pub_port;
    lc_outbox **outbox; /* where the opened outbox goes */
} lc_service_outbox;

typedef struct {
    const char *name;          /* "users": schema, role, log service */
    int rpc_port;              /* default NNG port, 7101… */
    int ops_port;              /* default ops HTTP port, 9101… */
    const lc_config_var *vars; /* the service's own variables */
    size_t nvars;
    /* Redis: a service that does not use it neither opens it nor lists its
     * settings; for one that does, losing it costs speed, not availability
     * (DESIGN §7): /readyz says "degraded" and stays 200. */
    bool uses_redis;
    /* Its request reads (lc_req_read) may go to a streaming replica: it
     * lists LINTEL_DB_READ_URL and LINTEL_DB_READ_MAX_LAG_MS (lc_replica.h);
     * its writes, jobs and consumers stay on the primary. */
    bool read_replica;
    const lc_service_peer *peers; /* the services it calls */
    size_t npeers;
    const lc_service_caller *callers; /* the services that call it */
    size_t ncallers;
    const lc_service_outbox *outbox; /* NULL: it publishes no events */
    int (*routes)(lc_rpc_server *s); /* registers handlers; 0 or -1 */
    void *app;                       /* passed to handlers (lc_req_app) */
    /* constraints whose violation is the client's mistake (lc_req_db_error) */
    const lc_req_constraint *constraints;
    size_t nconstraints;
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
