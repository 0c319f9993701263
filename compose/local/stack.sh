#!/usr/bin/env bash
# The local stack: PostgreSQL, Redis, every built service and (once built)
# the nginx edge, as plain local processes under $LINTEL_RUN_DIR.
#
#   stack.sh up       start what is not running; return when all are ready,
#                     or fail with the log tail of the one that is not
#   stack.sh down     stop exactly what up started (by pid), nothing else
#   stack.sh status   one line per component
#   stack.sh logs     follow every log
#   stack.sh run      up, follow the logs until Ctrl-C, then down
#   stack.sh replica up|down
#                     a streaming replica of PostgreSQL (pg_basebackup) on
#                     LINTEL_PG_REPLICA_PORT; `up` with LINTEL_PG_REPLICA=1
#                     starts it too, and reporting then reads from it
#   stack.sh rollout <service>
#                     the new build of one service on its other ports, the
#                     edge's upstream switched over to it (nginx reload), the
#                     old instance drained and stopped; nothing else restarts
#   stack.sh edge-config <dir>
#                     write <dir>/nginx.conf: the edge's config for this
#                     environment (ports, LINTEL_EDGE_* limits), in front
#                     of the running services (the tests' second edge)
#
# Every port and the run folder come from the environment (see README), so
# a second stack (the tests') can run beside a developer's.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN_DIR=${LINTEL_RUN_DIR:-$ROOT/.run}
mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
BIN_DIR=${LINTEL_BIN_DIR:-$ROOT/build/bin}
PG_PORT=${LINTEL_PG_PORT:-55432}
REDIS_PORT=${LINTEL_REDIS_PORT:-56379}
PG_BIN=${LINTEL_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
LOG_DIR=$RUN_DIR/log
PID_DIR=$RUN_DIR/pids
READY_TIMEOUT=${LINTEL_READY_TIMEOUT:-30}
HTTP_PORT=${LINTEL_HTTP_PORT:-8080}
BASE_DOMAIN=${LINTEL_BASE_DOMAIN:-lintel.localhost}
NGINX_MODULE=${LINTEL_NGINX_MODULE:-$ROOT/build/gateway/ngx_http_lintel_module.so}
# Internal calls: mutual TLS (README, "Internal calls") unless
# LINTEL_RPC_TLS=false; the private CA and certificates live in TLS_DIR.
case "${LINTEL_RPC_TLS:-true}" in
false | 0 | no | off) RPC_TLS=false ;;
*) RPC_TLS=true ;;
esac
TLS_DIR=$RUN_DIR/tls
CALLER_PORT_STEP=${LINTEL_RPC_CALLER_PORT_STEP:-300}
WEB_ROOT=${LINTEL_WEB_ROOT:-$ROOT/build/web}

# Services in start order, with their default ports (DESIGN §2).
declare -A RPC_DEFAULT=([users]=7101 [projects]=7102 [reporting]=7103 [billing]=7104)
declare -A OPS_DEFAULT=([users]=9101 [projects]=9102 [reporting]=9103 [billing]=9104)
SERVICE_ORDER=(users projects reporting billing)

say() { printf '%s\n' "$*" >&2; }
die() { say "stack: $*"; exit 1; }

services() {
    local s
    for s in "${SERVICE_ORDER[@]}"; do
        [ -x "$BIN_DIR/lintel-$s" ] && [ -d "$ROOT/services/$s" ] && echo "$s"
    done
    return 0
}

upper() { tr '[:lower:]' '[:upper:]' <<<"$1"; }
rpc_port() { local v="LINTEL_$(upper "$1")_RPC_PORT"; echo "${!v:-${RPC_DEFAULT[$1]}}"; }
ops_port() { local v="LINTEL_$(upper "$1")_OPS_PORT"; echo "${!v:-${OPS_DEFAULT[$1]}}"; }

# The ports a running service listens on: those of its $RUN_DIR/<svc>.env,
# which a rollout moves (rpc_port/ops_port are the configured ones).
env_get() { sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1; }
url_port() { sed -E 's|^.*:([0-9]+)/?$|\1|' <<<"$1"; }
cur_port() {
    local s=$1 var=$2 url
    url=$(env_get "$RUN_DIR/$s.env" "$var")
    if [ -n "$url" ] && alive "$PID_DIR/$s.pid"; then
        url_port "$url"
    elif [ "$var" = LINTEL_RPC_URL ]; then
        rpc_port "$s"
    else
        ops_port "$s"
    fi
}
cur_rpc_port() { cur_port "$1" LINTEL_RPC_URL; }
cur_ops_port() { cur_port "$1" LINTEL_OPS_URL; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

tail_log() {
    say "---- last lines of $1 ----"
    tail -n "${2:-30}" "$1" >&2 2>/dev/null || true
    say "----"
}

# --- PostgreSQL ----------------------------------------------------------
# initdb and postgres refuse to run as root: drop to the postgres user.
as_pg() {
    # From /: the postgres user may not be allowed into the checkout.
    if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_dir() {
    # The data folder must be reachable by the postgres user; a checkout
    # under a private home folder is not, so fall back to /var/tmp.
    local d=$RUN_DIR/pg
    if [ -L "$d" ]; then readlink "$d"; return; fi
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$RUN_DIR"; then
        local alt
        alt=/var/tmp/lintel-pg-$(printf '%s' "$RUN_DIR" | sha1sum | cut -c1-12)
        mkdir -p "$alt"
        ln -sfn "$alt" "$d"
        echo "$alt"
        return
    fi
    echo "$d"
}

psql_super() {
    as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGDIR/sock" -p "$PG_PORT" -U postgres "$@"
}

secret() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }

# Every password the stack needs, generated on first start; a run folder
# from before a password existed gets the missing ones added.
ensure_secrets() {
    local f=$RUN_DIR/secrets.env name s
    (umask 077; touch "$f")
    for name in LINTEL_PG_MIGRATOR_PASSWORD LINTEL_REDIS_ADMIN_PASSWORD \
        $(for s in "${SERVICE_ORDER[@]}"; do
            echo "LINTEL_PG_$(upper "$s")_PASSWORD LINTEL_REDIS_$(upper "$s")_PASSWORD"
        done); do
        grep -q "^$name=" "$f" || echo "$name=$(secret)" >>"$f"
    done
    # shellcheck disable=SC1090
    . "$f"
}

start_postgres() {
    PGDIR=$(pg_dir)
    mkdir -p "$PGDIR/sock"
    if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$PGDIR"; fi
    if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
        say "stack: initdb $PGDIR/data"
        as_pg "$PG_BIN/initdb" -D "$PGDIR/data" -U postgres --auth-local=peer \
            --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$LOG_DIR/initdb.log" 2>&1 ||
            { tail_log "$LOG_DIR/initdb.log"; die "initdb failed"; }
    fi
    if as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
        return
    fi
    as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/postgres.log" -w -t 30 \
        -o "-p $PG_PORT -k $PGDIR/sock -c listen_addresses=127.0.0.1 -c unix_socket_permissions=0700 -c fsync=${LINTEL_PG_FSYNC:-on} -c max_connections=${LINTEL_PG_MAX_CONNECTIONS:-200}" \
        start >/dev/null || { tail_log "$PGDIR/postgres.log"; die "postgres did not start"; }
    ln -sfn "$PGDIR/postgres.log" "$LOG_DIR/postgres.log"
    echo "$PGDIR/data" >"$PID_DIR/postgres.datadir"
}

bootstrap_db() {
    ensure_secrets
    if ! psql_super -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='lintel'" | grep -q 1; then
        psql_super -d postgres -c "CREATE DATABASE lintel"
    fi
    # Fed on stdin: the postgres user may not be able to read the checkout.
    psql_super -d lintel \
        -v migrator_password="$LINTEL_PG_MIGRATOR_PASSWORD" \
        -v users_password="$LINTEL_PG_USERS_PASSWORD" \
        -v projects_password="$LINTEL_PG_PROJECTS_PASSWORD" \
        -v reporting_password="$LINTEL_PG_REPORTING_PASSWORD" \
        -v billing_password="$LINTEL_PG_BILLING_PASSWORD" \
        <"$ROOT/migrations/bootstrap.sql" >"$LOG_DIR/bootstrap.log" 2>&1 ||
        { tail_log "$LOG_DIR/bootstrap.log"; die "database bootstrap failed"; }
}

# --- the read replica (LINTEL_PG_REPLICA=1, or `stack.sh replica up`) -----
# A streaming standby of the local PostgreSQL, from pg_basebackup, on its
# own port; the services that read from a replica (reporting) get it as
# LINTEL_DB_READ_URL.
REPLICA_PORT=${LINTEL_PG_REPLICA_PORT:-55433}

replica_running() {
    [ -f "$PID_DIR/replica.datadir" ] &&
        as_pg "$PG_BIN/pg_ctl" -D "$(cat "$PID_DIR/replica.datadir")" status >/dev/null 2>&1
}

start_replica() {
    local data
    PGDIR=$(pg_dir)
    data=$PGDIR/replica
    if [ ! -f "$data/PG_VERSION" ]; then
        say "stack: pg_basebackup $data"
        # -R: standby.signal and primary_conninfo (the primary's socket)
        as_pg "$PG_BIN/pg_basebackup" -h "$PGDIR/sock" -p "$PG_PORT" -U postgres \
            -D "$data" -R -X stream -c fast >"$LOG_DIR/basebackup.log" 2>&1 ||
            { tail_log "$LOG_DIR/basebackup.log"; die "pg_basebackup failed"; }
    fi
    if as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        return
    fi
    as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$PGDIR/replica.log" -w -t 30 \
        -o "-p $REPLICA_PORT -k $PGDIR/sock -c listen_addresses=127.0.0.1 -c unix_socket_permissions=0700 -c fsync=${LINTEL_PG_FSYNC:-on} -c max_connections=${LINTEL_PG_MAX_CONNECTIONS:-200} -c hot_standby=on" \
        start >/dev/null || { tail_log "$PGDIR/replica.log"; die "the replica did not start"; }
    ln -sfn "$PGDIR/replica.log" "$LOG_DIR/replica.log"
    echo "$data" >"$PID_DIR/replica.datadir"
}

stop_replica() {
    local data
    [ -f "$PID_DIR/replica.datadir" ] || return 0
    data=$(cat "$PID_DIR/replica.datadir")
    if as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null
    fi
    rm -f "$PID_DIR/replica.datadir"
}

cmd_replica() {
    mkdir -p "$LOG_DIR" "$PID_DIR"
    case "${1:-}" in
    up) start_replica; say "stack: replica up on 127.0.0.1:$REPLICA_PORT" ;;
    down) stop_replica ;;
    *) say "usage: $0 replica up | down"; exit 2 ;;
    esac
}

# --- Redis ---------------------------------------------------------------
# Redis's users (compose/redis-acl.sh): the default one off, one per
# service with only the commands it sends, lintel_admin for operators.
write_redis_acl() {
    (
        umask 077
        env LINTEL_REDIS_ADMIN_PASSWORD="$LINTEL_REDIS_ADMIN_PASSWORD" \
            LINTEL_REDIS_USERS_PASSWORD="$LINTEL_REDIS_USERS_PASSWORD" \
            LINTEL_REDIS_PROJECTS_PASSWORD="$LINTEL_REDIS_PROJECTS_PASSWORD" \
            LINTEL_REDIS_REPORTING_PASSWORD="$LINTEL_REDIS_REPORTING_PASSWORD" \
            LINTEL_REDIS_BILLING_PASSWORD="$LINTEL_REDIS_BILLING_PASSWORD" \
            bash "$ROOT/compose/redis-acl.sh" >"$RUN_DIR/redis/users.acl"
    ) || die "cannot write the Redis ACL"
}

redis_admin_cli() {
    REDISCLI_AUTH=$LINTEL_REDIS_ADMIN_PASSWORD redis-cli --user lintel_admin \
        -p "$REDIS_PORT" "$@"
}

start_redis() {
    alive "$PID_DIR/redis.pid" && return
    mkdir -p "$RUN_DIR/redis"
    ensure_secrets
    write_redis_acl
    # Redis holds copies and hints only (DESIGN §7): no persistence.
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --aclfile "$RUN_DIR/redis/users.acl" \
        --dir "$RUN_DIR/redis" --daemonize yes --pidfile "$PID_DIR/redis.pid" \
        --logfile "$LOG_DIR/redis.log" || die "redis did not start"
    local i
    for i in $(seq 1 50); do
        redis_admin_cli ping 2>/dev/null | grep -q PONG && return
        sleep 0.1
    done
    tail_log "$LOG_DIR/redis.log"
    die "redis is not answering on port $REDIS_PORT"
}

# --- internal calls: certificates, the operator's lintel-call ----------------
# The first start makes the private PKI (compose/tls.sh): a CA and a
# certificate per identity, keys 0600 (nginx's master reads the edge's as
# root, before it drops privileges).
ensure_tls() {
    [ -s "$TLS_DIR/ca/services.crt" ] && return
    bash "$ROOT/compose/tls.sh" "$TLS_DIR" >"$LOG_DIR/tls.log" 2>&1 ||
        { tail_log "$LOG_DIR/tls.log"; die "cannot make the TLS certificates"; }
    say "stack: made the private CA and certificates in $TLS_DIR"
}

# The URL of a service's operator listener (slot 1, lc_service_identity).
operator_url() {
    local scheme=tcp
    [ "$RPC_TLS" = true ] && scheme=tls+tcp
    echo "$scheme://127.0.0.1:$(( $(cur_rpc_port "$1") + CALLER_PORT_STEP ))"
}

# lintel-call as the operator: operator_url, the operator's certificate.
operator_call() {
    LINTEL_CALL_CERT=$TLS_DIR/operator.pem LINTEL_CALL_KEY=$TLS_DIR/operator.pem \
        LINTEL_CALL_CA=$TLS_DIR/ca/services.crt "$BIN_DIR/lintel-call" "$@"
}

# --- services ------------------------------------------------------------
service_env() {
    local s=$1 pwvar redis_pwvar
    pwvar="LINTEL_PG_$(upper "$s")_PASSWORD"
    echo "LINTEL_RPC_URL=tcp://127.0.0.1:$(rpc_port "$s")"
    echo "LINTEL_OPS_URL=http://127.0.0.1:$(ops_port "$s")"
    echo "LINTEL_DB_URL=postgresql://lintel_$s:${!pwvar}@127.0.0.1:$PG_PORT/lintel"
    echo "LINTEL_MIGRATE_DB_URL=postgresql://lintel_migrator:$LINTEL_PG_MIGRATOR_PASSWORD@127.0.0.1:$PG_PORT/lintel"
    echo "LINTEL_REDIS_HOST=127.0.0.1"
    echo "LINTEL_REDIS_PORT=$REDIS_PORT"
    echo "LINTEL_REDIS_USER=$s"
    redis_pwvar="LINTEL_REDIS_$(upper "$s")_PASSWORD"
    echo "LINTEL_REDIS_PASSWORD=${!redis_pwvar}"
    echo "LINTEL_MIGRATIONS_DIR=$ROOT/migrations/$s"
    echo "LINTEL_RPC_TLS=$RPC_TLS"
    echo "LINTEL_TLS_DIR=$TLS_DIR"
    echo "LINTEL_RPC_CALLER_PORT_STEP=$CALLER_PORT_STEP"
    if [ "$s" = users ]; then
        users_env
        echo "LINTEL_EVENTS_URL=tcp://127.0.0.1:${LINTEL_USERS_EVENTS_PORT:-7201}"
        # their Ready, for GET /api/health
        echo "LINTEL_PROJECTS_RPC_URL=tcp://127.0.0.1:$(rpc_port projects)"
        echo "LINTEL_REPORTING_RPC_URL=tcp://127.0.0.1:$(rpc_port reporting)"
    fi
    if [ "$s" = projects ]; then
        echo "LINTEL_USERS_RPC_URL=tcp://127.0.0.1:$(rpc_port users)"
        echo "LINTEL_EVENTS_URL=tcp://127.0.0.1:${LINTEL_PROJECTS_EVENTS_PORT:-7202}"
    fi
    if [ "$s" = reporting ]; then
        echo "LINTEL_USERS_RPC_URL=tcp://127.0.0.1:$(cur_rpc_port users)"
        echo "LINTEL_PROJECTS_RPC_URL=tcp://127.0.0.1:$(cur_rpc_port projects)"
        echo "LINTEL_USERS_EVENTS_URL=tcp://127.0.0.1:${LINTEL_USERS_EVENTS_PORT:-7201}"
        echo "LINTEL_PROJECTS_EVENTS_URL=tcp://127.0.0.1:${LINTEL_PROJECTS_EVENTS_PORT:-7202}"
        if replica_running; then
            echo "LINTEL_DB_READ_URL=postgresql://lintel_$s:${!pwvar}@127.0.0.1:$REPLICA_PORT/lintel"
        fi
    fi
    # users and projects ask billing for plan limits
    if [ "$s" = users ] || [ "$s" = projects ]; then
        echo "LINTEL_BILLING_RPC_URL=tcp://127.0.0.1:$(rpc_port billing)"
    fi
    if [ "$s" = billing ]; then
        echo "LINTEL_USERS_RPC_URL=tcp://127.0.0.1:$(rpc_port users)"
        echo "LINTEL_USERS_EVENTS_URL=tcp://127.0.0.1:${LINTEL_USERS_EVENTS_PORT:-7201}"
        echo "LINTEL_PROJECTS_RPC_URL=tcp://127.0.0.1:$(rpc_port projects)"
        echo "LINTEL_PAYMENT_WEBHOOK_SECRET=$(payment_webhook_secret)"
        echo "LINTEL_PAYMENT_PROVIDER_URL=http://127.0.0.1:$PAYMENT_PORT"
    fi
}

# The secret the local stand-in payment provider signs webhooks with.
payment_webhook_secret() {
    local f=$RUN_DIR/payment-webhook.secret
    [ -f "$f" ] || (umask 077; secret >"$f")
    cat "$f"
}

start_service() {
    local s=$1 pidf=$PID_DIR/$1.pid log=$LOG_DIR/$1.log
    alive "$pidf" && return
    service_env "$s" >"$RUN_DIR/$s.env"
    chmod 600 "$RUN_DIR/$s.env"
    (set -a; . "$RUN_DIR/$s.env"; exec "$BIN_DIR/lintel-$s" migrate) >>"$log" 2>&1 ||
        { tail_log "$log"; die "$s: migrate failed"; }
    (set -a; . "$RUN_DIR/$s.env"; exec setsid "$BIN_DIR/lintel-$s" serve) >>"$log" 2>&1 </dev/null &
    echo $! >"$pidf"
}

wait_ready() {
    local s=$1 url i
    url=http://127.0.0.1:$(cur_ops_port "$s")/readyz
    for i in $(seq 1 $((READY_TIMEOUT * 10))); do
        if ! alive "$PID_DIR/$s.pid"; then
            tail_log "$LOG_DIR/$s.log"
            die "$s exited during start-up"
        fi
        curl -fsS -m 2 "$url" >/dev/null 2>&1 && return
        sleep 0.1
    done
    tail_log "$LOG_DIR/$s.log"
    die "$s is not ready after ${READY_TIMEOUT}s ($url)"
}

# --- nginx edge ----------------------------------------------------------
# Started once the gateway module is built: Debian's own nginx with our
# module, configured from gateway-module/nginx.conf.example.
edge_enabled() { [ -f "$NGINX_MODULE" ] && [ -f "$ROOT/gateway-module/nginx.conf.example" ]; }

# The edge's limits (README "Edge limits"): production values by default;
# the test suite raises them (its clients all come from 127.0.0.1) and
# starts an edge of its own with tight ones to test them.
EDGE_IP_RATE=${LINTEL_EDGE_IP_RATE:-10r/s}
EDGE_IP_BURST=${LINTEL_EDGE_IP_BURST:-20}
EDGE_USER_RATE=${LINTEL_EDGE_USER_RATE:-20r/s}
EDGE_USER_BURST=${LINTEL_EDGE_USER_BURST:-40}
EDGE_TENANT_RATE=${LINTEL_EDGE_TENANT_RATE:-200r/s}
EDGE_TENANT_BURST=${LINTEL_EDGE_TENANT_BURST:-400}
EDGE_CONN_PER_IP=${LINTEL_EDGE_CONN_PER_IP:-100}
EDGE_CLIENT_TIMEOUT=${LINTEL_EDGE_CLIENT_TIMEOUT:-10s}

# gateway-module/nginx.conf.example with its placeholders filled in, as
# $1/nginx.conf (nginx's prefix, pid, logs and temporary files in $1).
render_nginx_conf() {
    local dir=$1
    mkdir -p "$dir/nginx.d"
    sed -e "s|@BASE_DOMAIN@|$BASE_DOMAIN|g" \
        -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
        -e "s|@USERS_ADDR@|127.0.0.1:$(cur_rpc_port users)|g" \
        -e "s|@PROJECTS_ADDR@|127.0.0.1:$(cur_rpc_port projects)|g" \
        -e "s|@REPORTING_ADDR@|127.0.0.1:$(cur_rpc_port reporting)|g" \
        -e "s|@BILLING_ADDR@|127.0.0.1:$(cur_rpc_port billing)|g" \
        -e "s|@RUN_DIR@|$dir|g" \
        -e "s|@MODULE_PATH@|$NGINX_MODULE|g" \
        -e "s|@EDGE_IP_RATE@|$EDGE_IP_RATE|g" \
        -e "s|@EDGE_IP_BURST@|$EDGE_IP_BURST|g" \
        -e "s|@EDGE_USER_RATE@|$EDGE_USER_RATE|g" \
        -e "s|@EDGE_USER_BURST@|$EDGE_USER_BURST|g" \
        -e "s|@EDGE_TENANT_RATE@|$EDGE_TENANT_RATE|g" \
        -e "s|@EDGE_TENANT_BURST@|$EDGE_TENANT_BURST|g" \
        -e "s|@EDGE_CONN_PER_IP@|$EDGE_CONN_PER_IP|g" \
        -e "s|@EDGE_CLIENT_TIMEOUT@|$EDGE_CLIENT_TIMEOUT|g" \
        -e "s|@RPC_SSL@|$([ "$RPC_TLS" = true ] && echo on || echo off)|g" \
        -e "s|@TLS_DIR@|$TLS_DIR|g" \
        -e "s|@WEB_ROOT@|$WEB_ROOT|g" \
        "$ROOT/gateway-module/nginx.conf.example" >"$dir/nginx.conf"
}

start_nginx() {
    local dir=$RUN_DIR/nginx
    alive "$dir/nginx.pid" && return
    render_nginx_conf "$dir"
    /usr/sbin/nginx -t -q -p "$dir" -c "$dir/nginx.conf" >"$LOG_DIR/nginx-test.log" 2>&1 ||
        { tail_log "$LOG_DIR/nginx-test.log"; die "nginx: invalid configuration"; }
    /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" >>"$LOG_DIR/nginx-start.log" 2>&1 ||
        { tail_log "$LOG_DIR/nginx-start.log"; die "nginx did not start"; }
    ln -sfn "$dir/nginx-error.log" "$LOG_DIR/nginx-error.log"
    ln -sfn "$dir/nginx-access.log" "$LOG_DIR/nginx-access.log"
}

wait_nginx() {
    local i code
    for i in $(seq 1 $((READY_TIMEOUT * 10))); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$HTTP_PORT/" || true)
        [ "$code" != "000" ] && return
        sleep 0.1
    done
    tail_log "$RUN_DIR/nginx/nginx-error.log"
    die "nginx is not answering on port $HTTP_PORT"
}

stop_nginx() {
    local pidf=$RUN_DIR/nginx/nginx.pid pid i
    [ -f "$pidf" ] || return 0
    pid=$(cat "$pidf")
    if kill -0 "$pid" 2>/dev/null; then
        kill -QUIT "$pid" 2>/dev/null || true # graceful: finish in-flight requests
        for i in $(seq 1 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    fi
    rm -f "$pidf"
}

# --- users service: signing key, SMTP sink, demo seed ---------------------
SMTP_PORT=${LINTEL_SMTP_PORT:-2525}
DEMO_PASSWORD=${LINTEL_DEMO_PASSWORD:-lintel-demo-pass}
ADMIN_PASSWORD=${LINTEL_ADMIN_PASSWORD:-lintel-admin-pass}

# The users service signs access tokens with the newest <kid>.pem of this
# folder; the first start generates one. Rotation: add a newer key file and
# restart the service; keep the old file until its tokens have expired.
ensure_signing_key() {
    local dir=$RUN_DIR/keys kid
    mkdir -p "$dir"
    chmod 700 "$dir"
    compgen -G "$dir/*.pem" >/dev/null && return
    kid=k-$(date -u +%Y%m%dT%H%M%S)
    (umask 077; openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$dir/$kid.pem") >"$LOG_DIR/keygen.log" 2>&1 ||
        { tail_log "$LOG_DIR/keygen.log"; die "cannot generate a signing key"; }
    say "stack: generated signing key $kid"
}

# What the users service needs beyond service_env.
users_env() {
    echo "LINTEL_JWT_KEYS_DIR=$RUN_DIR/keys"
    echo "LINTEL_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT"
    echo "LINTEL_PUBLIC_URL=http://{tenant}.$BASE_DOMAIN:$HTTP_PORT"
    # The edge checks iss against lintel_jwt_issuer (nginx.conf.example).
    echo "LINTEL_JWT_ISSUER=https://$BASE_DOMAIN"
}

# The stand-in payment provider (tools/payment_provider.py serve): billing's
# dunning asks it to charge; it answers and sends the signed webhook to the
# edge's apex, as a real provider would.
PAYMENT_PORT=${LINTEL_PAYMENT_PROVIDER_PORT:-4242}
start_payment_provider() {
    local i
    alive "$PID_DIR/payment-provider.pid" && return
    payment_webhook_secret >/dev/null
    setsid /usr/bin/python3 "$ROOT/tools/payment_provider.py" serve \
        --port "$PAYMENT_PORT" --secret-file "$RUN_DIR/payment-webhook.secret" \
        --url "http://127.0.0.1:$HTTP_PORT/api/billing/webhooks/local" \
        --webhook-host "$BASE_DOMAIN" \
        >>"$LOG_DIR/payment-provider.log" 2>&1 </dev/null &
    echo $! >"$PID_DIR/payment-provider.pid"
    for i in $(seq 1 50); do
        (echo >"/dev/tcp/127.0.0.1/$PAYMENT_PORT") 2>/dev/null && return
        alive "$PID_DIR/payment-provider.pid" || break
        sleep 0.1
    done
    tail_log "$LOG_DIR/payment-provider.log"
    die "the payment provider is not listening on port $PAYMENT_PORT"
}

# Mail goes to a local sink that stores each message in $RUN_DIR/mail.
start_smtp_sink() {
    local i
    alive "$PID_DIR/smtp-sink.pid" && return
    mkdir -p "$RUN_DIR/mail"
    setsid /usr/bin/python3 "$ROOT/compose/local/smtp_sink.py" --port "$SMTP_PORT" \
        --dir "$RUN_DIR/mail" >>"$LOG_DIR/smtp-sink.log" 2>&1 </dev/null &
    echo $! >"$PID_DIR/smtp-sink.pid"
    for i in $(seq 1 50); do
        (echo >"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null && return
        alive "$PID_DIR/smtp-sink.pid" || break
        sleep 0.1
    done
    tail_log "$LOG_DIR/smtp-sink.log"
    die "the SMTP sink is not listening on port $SMTP_PORT"
}

json_string() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

# Tenants acme and globex with their owners, and a platform admin; safe to
# run again (a taken slug and an existing admin are left as they are).
seed_demo() {
    local url t slug name out
    [ -x "$BIN_DIR/lintel-users" ] || return 0
    url=$(operator_url users)
    for t in acme:Acme globex:Globex; do
        slug=${t%%:*} name=${t#*:}
        out=$(operator_call "$url" POST /api/signup --json \
            "{\"tenant_slug\":\"$slug\",\"tenant_name\":\"$name\",\"name\":\"$name owner\",\"email\":\"owner@$slug.test\",\"password\":$(json_string "$DEMO_PASSWORD")}" 2>&1) ||
            { say "$out"; die "seed: sign-up of $slug failed"; }
        grep -Eq '"status": *(201|409)' <<<"$out" || { say "$out"; die "seed: sign-up of $slug failed"; }
    done
    (set -a; . "$RUN_DIR/users.env"; LINTEL_ADMIN_EMAIL=admin@lintel.localhost \
        LINTEL_ADMIN_PASSWORD=$ADMIN_PASSWORD exec "$BIN_DIR/lintel-users" create-platform-admin) \
        >>"$LOG_DIR/seed.log" 2>&1 || { tail_log "$LOG_DIR/seed.log"; die "seed: platform admin failed"; }
    say "stack: demo owners owner@acme.test, owner@globex.test (password $DEMO_PASSWORD)"
    say "stack: platform admin admin@lintel.localhost (password $ADMIN_PASSWORD)"
}

# --- rollout: the new build of one service, the others untouched ---------
# Two port sets per service, the configured one (slot 0) and the same ports
# + ROLLOUT_SHIFT (slot 1); each rollout starts the new build on the set the
# running instance does not use, so ports never collide and never depend on
# what happens to be free.
ROLLOUT_SHIFT=10
# Every URL a service listens on (lc_service: RPC and ops; projects: events).
LISTEN_VARS=(LINTEL_RPC_URL LINTEL_OPS_URL LINTEL_EVENTS_URL)

nginx_cmd() { /usr/sbin/nginx -p "$RUN_DIR/nginx" -c "$RUN_DIR/nginx/nginx.conf" "$@"; }

# nginx -s reload, returning once every worker of the previous
# configuration has exited: they finish their in-flight requests first
# (worker_shutdown_timeout), and their keepalive connections close with them.
nginx_reload() {
    local master old p i left
    master=$(cat "$RUN_DIR/nginx/nginx.pid")
    nginx_cmd -t -q >"$LOG_DIR/nginx-test.log" 2>&1 ||
        { tail_log "$LOG_DIR/nginx-test.log"; return 1; }
    old=$(pgrep -P "$master" || true)
    nginx_cmd -s reload >>"$LOG_DIR/nginx-start.log" 2>&1 ||
        { tail_log "$LOG_DIR/nginx-start.log"; return 1; }
    for i in $(seq 1 400); do
        left=0
        for p in $old; do
            if [ "$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)" = "$master" ]; then left=1; fi
        done
        # done: no old worker left, and the new ones are up
        [ "$left" = 0 ] && [ -n "$(pgrep -P "$master" || true)" ] && return 0
        sleep 0.1
    done
    tail_log "$RUN_DIR/nginx/nginx-error.log"
    say "stack: nginx workers of the previous configuration still running after 40 s"
    return 1
}

# The upstream block of service $1 in the edge's nginx.conf: add a server
# line for $3 (a copy of the one for $2, same parameters), or drop $2's.
upstream_edit() {
    local s=$1 op=$2 from=$3 to=${4:-} conf=$RUN_DIR/nginx/nginx.conf
    awk -v ups="$s" -v op="$op" -v from="$from" -v to="$to" '
        $1 == "upstream" && $2 == ups && $3 == "{" { inb = 1 }
        inb && $1 == "}" { inb = 0 }
        inb && $1 == "server" && ($2 == from || $2 == from ";") {
            if (op == "add") { print; line = $0; sub(from, to, line); print line; next }
            if (op == "drop") next
        }
        { print }' "$conf" >"$conf.tmp"
    mv -f "$conf.tmp" "$conf"
}

upstream_has() {
    awk -v ups="$1" -v addr="$2" '
        $1 == "upstream" && $2 == ups && $3 == "{" { inb = 1 }
        inb && $1 == "}" { inb = 0 }
        inb && $1 == "server" && ($2 == addr || $2 == addr ";") { found = 1 }
        END { exit !found }' "$RUN_DIR/nginx/nginx.conf"
}

port_free() { [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }

# One rollout step: the new build of $1 on port slot $2, then the edge
# switched over to it, then the old instance drained and stopped.
rollout_to_slot() {
    local s=$1 slot=$2 shift_by var base port url cur_env=$RUN_DIR/$1.env
    local next_env=$RUN_DIR/$1.env.next next_pid=$PID_DIR/$1.next.pid
    local log=$LOG_DIR/$1.log old_rpc new_rpc old_pid new_pid i conf=$RUN_DIR/nginx/nginx.conf
    shift_by=$((slot * ROLLOUT_SHIFT))
    old_pid=$(cat "$PID_DIR/$s.pid")
    old_rpc=127.0.0.1:$(cur_rpc_port "$s")

    # 1. The running instance's environment, its listening URLs moved.
    cp "$cur_env" "$next_env"
    chmod 600 "$next_env"
    service_env "$s" >"$RUN_DIR/$s.env.base"
    for var in "${LISTEN_VARS[@]}"; do
        base=$(env_get "$RUN_DIR/$s.env.base" "$var")
        [ -n "$base" ] || continue
        port=$(( $(url_port "$base") + shift_by ))
        url=${base%:*}:$port
        port_free "$port" || { rm -f "$next_env" "$RUN_DIR/$s.env.base"; die "rollout: port $port ($var) is in use"; }
        sed -i "s|^$var=.*|$var=$url|" "$next_env"
    done
    rm -f "$RUN_DIR/$s.env.base"
    new_rpc=127.0.0.1:$(url_port "$(env_get "$next_env" LINTEL_RPC_URL)")
    upstream_has "$s" "$old_rpc" || die "rollout: upstream $s in $conf has no server $old_rpc"

    # Until the switch-over is complete, a failure puts everything back.
    cp "$conf" "$conf.before-rollout"
    ROLLOUT_STATE=starting
    trap 'rollout_abort "$s"' EXIT

    # 2. The new build: its migrations, then the service, until ready.
    say "stack: rollout $s: starting the new build on $new_rpc (ops $(env_get "$next_env" LINTEL_OPS_URL))"
    # (9>&-: the rollout lock stays with this script, not with the service)
    (set -a; . "$next_env"; exec "$BIN_DIR/lintel-$s" migrate) >>"$log" 2>&1 9>&- ||
        { tail_log "$log"; die "rollout $s: migrate failed"; }
    (set -a; . "$next_env"; exec setsid "$BIN_DIR/lintel-$s" serve) >>"$log" 2>&1 </dev/null 9>&- &
    new_pid=$!
    echo "$new_pid" >"$next_pid"
    url=$(env_get "$next_env" LINTEL_OPS_URL)/readyz
    i=0
    until curl -fsS -m 2 "$url" >/dev/null 2>&1; do
        alive "$next_pid" || { tail_log "$log"; die "rollout $s: the new instance exited during start-up"; }
        i=$((i + 1))
        [ "$i" -le $((READY_TIMEOUT * 10)) ] || { tail_log "$log"; die "rollout $s: not ready after ${READY_TIMEOUT}s ($url)"; }
        sleep 0.1
    done

    # 3. The edge sends to both, then to the new one only.
    say "stack: rollout $s: pid $new_pid ready; adding $new_rpc to upstream $s"
    upstream_edit "$s" add "$old_rpc" "$new_rpc"
    nginx_reload || die "rollout $s: nginx reload failed"
    say "stack: rollout $s: removing $old_rpc from upstream $s"
    upstream_edit "$s" drop "$old_rpc"
    nginx_reload || die "rollout $s: nginx reload failed"

    # 4. The switch-over is done: the new instance is the service.
    ROLLOUT_STATE=done
    trap - EXIT
    rm -f "$conf.before-rollout"
    mv -f "$PID_DIR/$s.pid" "$PID_DIR/$s.old.pid"
    mv -f "$next_pid" "$PID_DIR/$s.pid"
    mv -f "$next_env" "$cur_env"

    # 5. No nginx worker that knew the old instance is left, so nginx sends
    # it nothing more; SIGTERM makes it finish what it still runs (its
    # drain, LINTEL_SHUTDOWN_GRACE_MS) and exit.
    say "stack: rollout $s: draining and stopping the old instance, pid $old_pid"
    stop_pid "$s (old instance)" "$PID_DIR/$s.old.pid"
    say "stack: rollout $s: done, pid $new_pid on $new_rpc"
}

# A rollout that failed before its switch-over: the edge's configuration as
# it was, the new instance stopped; the old one never stopped serving.
rollout_abort() {
    local s=$1 conf=$RUN_DIR/nginx/nginx.conf
    [ "${ROLLOUT_STATE:-}" = starting ] || return 0
    say "stack: rollout $s failed: putting the previous instance back"
    if [ -f "$conf.before-rollout" ]; then
        if ! cmp -s "$conf" "$conf.before-rollout"; then
            mv -f "$conf.before-rollout" "$conf"
            nginx_reload || say "stack: nginx reload failed; check $conf"
        fi
        rm -f "$conf.before-rollout"
    fi
    stop_pid "$s (new instance)" "$PID_DIR/$s.next.pid"
    rm -f "$RUN_DIR/$s.env.next"
}

cmd_rollout() {
    local s=${1:-} cur base slot peers="" p
    [ -n "$s" ] || die "rollout: which service? ($0 rollout <service>; one of: $(services | tr '\n' ' '))"
    services | grep -x -- "$s" >/dev/null || die "rollout: '$s' is not a built service (one of: $(services | tr '\n' ' '))"
    alive "$PID_DIR/$s.pid" || die "rollout: $s is not running (make up)"
    edge_enabled && alive "$RUN_DIR/nginx/nginx.pid" || die "rollout: the edge (nginx) is not running (make up)"
    mkdir -p "$LOG_DIR"
    # One rollout at a time per stack.
    exec 9>"$RUN_DIR/rollout.lock"
    flock -n 9 || die "rollout: another rollout is running on this stack"
    ensure_secrets
    cur=$(cur_rpc_port "$s")
    base=$(rpc_port "$s")
    case "$cur" in
    "$base") slot=1 ;;
    "$((base + ROLLOUT_SHIFT))") slot=0 ;;
    *) die "rollout: $s listens on port $cur, neither its configured port $base nor $((base + ROLLOUT_SHIFT)) (same LINTEL_*_PORT settings as make up?)" ;;
    esac
    # Services that call this one directly dial its configured port (their
    # LINTEL_<SVC>_RPC_URL); they must find it there again, so such a
    # service moves to the other ports and straight back.
    for p in $(services); do
        [ "$p" = "$s" ] && continue
        alive "$PID_DIR/$p.pid" || continue
        grep -q "=tcp://127.0.0.1:$base\$" "$RUN_DIR/$p.env" 2>/dev/null && peers="$peers $p"
    done
    rollout_to_slot "$s" "$slot"
    if [ -n "$peers" ] && [ "$slot" = 1 ]; then
        say "stack: rollout $s:$peers call it on port $base: moving the new build back there"
        rollout_to_slot "$s" 0
    fi
}

# --- stop ----------------------------------------------------------------
stop_pid() {
    local name=$1 pidf=$2 i pid
    [ -f "$pidf" ] || return 0
    pid=$(cat "$pidf")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "stack: $name did not stop in 15 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidf"
}

cmd_down() {
    local s
    stop_nginx
    for s in $(printf '%s\n' "${SERVICE_ORDER[@]}" | tac); do
        stop_pid "$s" "$PID_DIR/$s.pid"
        # what an interrupted rollout may have left
        stop_pid "$s" "$PID_DIR/$s.next.pid"
        stop_pid "$s" "$PID_DIR/$s.old.pid"
    done
    stop_pid smtp-sink "$PID_DIR/smtp-sink.pid"
    stop_pid payment-provider "$PID_DIR/payment-provider.pid"
    stop_pid redis "$PID_DIR/redis.pid"
    stop_replica
    if [ -f "$PID_DIR/postgres.datadir" ]; then
        local data
        data=$(cat "$PID_DIR/postgres.datadir")
        if as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
            as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null
        fi
        rm -f "$PID_DIR/postgres.datadir"
    fi
}

write_stack_env() {
    {
        echo "LINTEL_RUN_DIR=$RUN_DIR"
        echo "LINTEL_PG_PORT=$PG_PORT"
        echo "LINTEL_REDIS_PORT=$REDIS_PORT"
        echo "LINTEL_RPC_TLS=$RPC_TLS"
        echo "LINTEL_TLS_DIR=$TLS_DIR"
        echo "LINTEL_RPC_CALLER_PORT_STEP=$CALLER_PORT_STEP"
        edge_enabled && echo "LINTEL_HTTP_PORT=$HTTP_PORT"
        for s in $(services); do
            echo "LINTEL_$(upper "$s")_RPC_PORT=$(rpc_port "$s")"
            echo "LINTEL_$(upper "$s")_OPS_PORT=$(ops_port "$s")"
        done
    } >"$RUN_DIR/stack.env"
}

cmd_up() {
    mkdir -p "$LOG_DIR" "$PID_DIR"
    [ -n "$PG_BIN" ] && [ -x "$PG_BIN/postgres" ] || die "PostgreSQL server binaries not found (make deps)"
    # On any failure, stop what is up so that a retry starts clean.
    UP_OK=0
    trap '[ "$UP_OK" = 1 ] || { say "stack: start-up failed, stopping everything"; cmd_down; }' EXIT
    start_postgres
    bootstrap_db
    if [ "${LINTEL_PG_REPLICA:-0}" = 1 ]; then start_replica; fi
    start_redis
    ensure_tls
    ensure_signing_key
    start_smtp_sink
    start_payment_provider
    local s
    for s in $(services); do start_service "$s"; done
    for s in $(services); do wait_ready "$s"; done
    seed_demo
    if edge_enabled; then
        start_nginx
        wait_nginx
    fi
    UP_OK=1
    write_stack_env
    say "stack: up (run folder $RUN_DIR)"
    say "  postgres  127.0.0.1:$PG_PORT   (database lintel)"
    say "  redis     127.0.0.1:$REDIS_PORT"
    for s in $(services); do
        say "  $s$(printf '%*s' $((10 - ${#s})) '')tcp://127.0.0.1:$(cur_rpc_port "$s")   ops http://127.0.0.1:$(cur_ops_port "$s")/readyz   operator $(operator_url "$s")"
    done
    if edge_enabled; then
        say "  edge      http://$BASE_DOMAIN:$HTTP_PORT (platform)   http://acme.$BASE_DOMAIN:$HTTP_PORT (tenant acme)"
    fi
}

cmd_status() {
    local s code data
    data=$(cat "$PID_DIR/postgres.datadir" 2>/dev/null || true)
    if [ -n "$data" ] && as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        echo "postgres   up      127.0.0.1:$PG_PORT"
    else
        echo "postgres   down"
    fi
    if alive "$PID_DIR/redis.pid"; then
        echo "redis      up      127.0.0.1:$REDIS_PORT pid $(cat "$PID_DIR/redis.pid")"
    else
        echo "redis      down"
    fi
    if edge_enabled; then
        if alive "$RUN_DIR/nginx/nginx.pid"; then
            echo "nginx      up      pid $(cat "$RUN_DIR/nginx/nginx.pid"), http://127.0.0.1:$HTTP_PORT"
        else
            echo "nginx      down"
        fi
    fi
    for s in $(services); do
        if alive "$PID_DIR/$s.pid"; then
            code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$(cur_ops_port "$s")/readyz" || true)
            echo "$s$(printf '%*s' $((11 - ${#s})) '')up      pid $(cat "$PID_DIR/$s.pid"), rpc :$(cur_rpc_port "$s"), readyz $code"
        else
            echo "$s$(printf '%*s' $((11 - ${#s})) '')down"
        fi
    done
}

cmd_logs() {
    mkdir -p "$LOG_DIR"
    exec tail -n 20 -F "$LOG_DIR"/*.log
}

cmd_run() {
    cmd_up
    say ""
    say "stack: following logs; Ctrl-C stops everything"
    tail -n 0 -F "$LOG_DIR"/*.log &
    TAIL_PID=$!
    # A background job of a script ignores SIGINT: stop the tail ourselves.
    trap 'say ""; say "stack: stopping"; kill "$TAIL_PID" 2>/dev/null; cmd_down; exit 0' INT TERM
    wait "$TAIL_PID" || true
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
logs) cmd_logs ;;
run) cmd_run ;;
rollout) cmd_rollout "${2:-}" ;;
edge-config) render_nginx_conf "${2:?usage: $0 edge-config <dir>}" ;;
replica) cmd_replica "${2:-}" ;;
*) say "usage: $0 up | down | status | logs | run | rollout <service> | edge-config <dir> | replica up|down"; exit 2 ;;
esac
