# Sourced by the bench scripts that measure a throw-away stack
# (projects.sh, reporting.sh, entitlement.sh): `build` and `root` set by
# the caller.
#
#   bench_stack_up <name>  a run folder /tmp/lintel-<name>.XXXXXX ($run),
#                          every port free, the edge's limits far above
#                          what a bench sends (one user drives the whole
#                          load: limits are tested in the e2e suite, not
#                          measured here), the stack up, and on exit down
#                          and removed (bench_cleanup_more, when the caller
#                          defines it, runs first);
#   pgdir, pgbin, as_pg, psql_super  PostgreSQL's superuser over its socket;
#   bench_login            the demo owner's access token on stdout.

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bench_cleanup() {
    local pg
    if declare -F bench_cleanup_more >/dev/null; then bench_cleanup_more; fi
    pg=$(readlink "$run/pg" 2>/dev/null || true)
    bash "$stack" down >/dev/null 2>&1 || true
    [ -n "$pg" ] && rm -rf "$pg"
    rm -rf "$run"
}

bench_stack_up() {
    local s
    run=$(mktemp -d "/tmp/lintel-$1.XXXXXX")
    stack=$root/compose/local/stack.sh
    export LINTEL_RUN_DIR=$run LINTEL_BIN_DIR=$build/bin LINTEL_PG_FSYNC=off
    export LINTEL_NGINX_MODULE=$build/gateway/ngx_http_lintel_module.so
    export LINTEL_EDGE_USER_RATE=1000000r/s LINTEL_EDGE_USER_BURST=1000000
    export LINTEL_EDGE_TENANT_RATE=1000000r/s LINTEL_EDGE_TENANT_BURST=1000000
    export LINTEL_EDGE_IP_RATE=1000000r/s LINTEL_EDGE_IP_BURST=1000000
    export LINTEL_EDGE_CONN_PER_IP=60000
    export LINTEL_PG_PORT=$(free_port) LINTEL_REDIS_PORT=$(free_port)
    export LINTEL_HTTP_PORT=$(free_port) LINTEL_SMTP_PORT=$(free_port)
    export LINTEL_PAYMENT_PROVIDER_PORT=$(free_port)
    for s in USERS PROJECTS REPORTING BILLING; do
        export "LINTEL_${s}_RPC_PORT=$(free_port)" "LINTEL_${s}_OPS_PORT=$(free_port)"
    done
    export LINTEL_USERS_EVENTS_PORT=$(free_port) LINTEL_PROJECTS_EVENTS_PORT=$(free_port)
    trap bench_cleanup EXIT
    echo "bench: starting a throw-away stack in $run" >&2
    bash "$stack" up 2>"$run/up.log" || { tail -30 "$run/up.log" >&2; exit 1; }
    pgdir=$(readlink -f "$run/pg")
    pgbin=${LINTEL_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
}

as_pg() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
psql_super() { as_pg "$pgbin/psql" -X -qtA -v ON_ERROR_STOP=1 -h "$pgdir/sock" -p "$LINTEL_PG_PORT" -U postgres -d lintel "$@"; }

bench_login() {
    curl -fsS -H "Host: acme.lintel.localhost" -H 'Content-Type: application/json' \
        "http://127.0.0.1:$LINTEL_HTTP_PORT/api/auth/login" \
        -d "{\"email\":\"owner@acme.test\",\"password\":\"${LINTEL_DEMO_PASSWORD:-lintel-demo-pass}\"}" |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
