#!/bin/sh
# lintel-ops: the one-shot tasks of a container deployment (the ops image).
#
#   lintel-ops bootstrap   create database $LINTEL_DB_NAME if missing, then
#                          run bootstrap.sql (roles, schemas, grants) as the
#                          superuser of PGHOST/PGPORT/PGUSER/PGPASSWORD; the
#                          role passwords come from LINTEL_PG_<ROLE>_PASSWORD
#                          (or _FILE). Safe to run again: the passwords given
#                          now are the ones that count.
#   lintel-ops seed        the demo of `make run`: tenants acme and globex,
#                          owners owner@<slug>.test, password
#                          $LINTEL_DEMO_PASSWORD, through $LINTEL_USERS_RPC_URL
#   lintel-ops smtp-sink   keep each mail as a file in $LINTEL_MAIL_DIR
set -eu

die() { echo "lintel-ops: $*" >&2; exit 1; }
need() { eval "[ -n \"\${$1:-}\" ]" || die "$1 must be set"; }

bootstrap() {
    need PGHOST; need PGUSER; need PGPASSWORD
    for r in MIGRATOR USERS PROJECTS REPORTING BILLING; do need "LINTEL_PG_${r}_PASSWORD"; done
    db=${LINTEL_DB_NAME:-lintel}
    case $db in '' | *[!a-z0-9_]*) die "LINTEL_DB_NAME: lower-case letters, digits and _ only" ;; esac
    i=0
    until pg_isready -q -d postgres; do
        i=$((i + 1))
        [ "$i" -lt 60 ] || die "PostgreSQL at $PGHOST is not accepting connections"
        sleep 1
    done
    if [ -z "$(psql -X -q -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" -d postgres)" ]; then
        psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE \"$db\""
    fi
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
        -v migrator_password="$LINTEL_PG_MIGRATOR_PASSWORD" \
        -v users_password="$LINTEL_PG_USERS_PASSWORD" \
        -v projects_password="$LINTEL_PG_PROJECTS_PASSWORD" \
        -v reporting_password="$LINTEL_PG_REPORTING_PASSWORD" \
        -v billing_password="$LINTEL_PG_BILLING_PASSWORD" \
        -f /usr/share/lintel/bootstrap.sql
    echo "lintel-ops: database $db bootstrapped"
}

seed() {
    need LINTEL_USERS_RPC_URL; need LINTEL_DEMO_PASSWORD
    pw=$(printf '%s' "$LINTEL_DEMO_PASSWORD" | sed 's/\\/\\\\/g; s/"/\\"/g')
    for t in acme:Acme globex:Globex; do
        slug=${t%%:*} name=${t#*:}
        out=$(lintel-call "$LINTEL_USERS_RPC_URL" POST /api/signup --json \
            "{\"tenant_slug\":\"$slug\",\"tenant_name\":\"$name\",\"name\":\"$name owner\",\"email\":\"owner@$slug.test\",\"password\":\"$pw\"}" 2>&1) ||
            die "sign-up of $slug failed: $out"
        # 409: seeded by an earlier run.
        echo "$out" | grep -Eq '"status": *(201|409)' || die "sign-up of $slug failed: $out"
    done
    echo "lintel-ops: demo owners owner@acme.test, owner@globex.test"
}

case "${1:-help}" in
bootstrap) bootstrap ;;
seed) seed ;;
smtp-sink)
    exec python3 /usr/local/lib/lintel/smtp_sink.py --host 0.0.0.0 \
        --port "${LINTEL_SMTP_PORT:-2525}" --dir "${LINTEL_MAIL_DIR:-/var/lib/lintel/mail}" ;;
*) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
