#!/usr/bin/env bash
# Writes the secrets compose/compose.yaml mounts, once: a random password
# per database role (the superuser, lintel_migrator, one per service) and
# per Redis user (lintel_admin, one per service), Redis's ACL file made
# from them, an RS256 signing key for the users service, a payment webhook
# signing secret for billing (replace it with the provider's) and the
# private PKI of internal calls (tls/, compose/tls.sh). Existing files are
# kept (the ACL file is made again from them).
#
#   compose/secrets.sh [DIR]     DIR: $LINTEL_SECRETS_DIR, else compose/secrets
#
# The folder is 0700 and its files 0644: the containers run as uid 10001
# and must read the files bind-mounted into them, while nobody else on this
# host can reach them through the folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${LINTEL_SECRETS_DIR:-$here/secrets}}
mkdir -p "$dir/jwt-keys"
chmod 700 "$dir"
chmod 755 "$dir/jwt-keys"
for f in "$dir"/pg_{superuser,migrator,users,projects,reporting,billing}_password \
         "$dir"/redis_{admin,users,projects,reporting,billing}_password; do
    [ -s "$f" ] && continue
    head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$f"
    chmod 644 "$f"
done
# Redis's ACL (compose/redis-acl.sh), from the passwords above: hashes only.
env LINTEL_REDIS_ADMIN_PASSWORD="$(cat "$dir/redis_admin_password")" \
    LINTEL_REDIS_USERS_PASSWORD="$(cat "$dir/redis_users_password")" \
    LINTEL_REDIS_PROJECTS_PASSWORD="$(cat "$dir/redis_projects_password")" \
    LINTEL_REDIS_REPORTING_PASSWORD="$(cat "$dir/redis_reporting_password")" \
    LINTEL_REDIS_BILLING_PASSWORD="$(cat "$dir/redis_billing_password")" \
    bash "$here/redis-acl.sh" >"$dir/redis_acl"
chmod 644 "$dir/redis_acl"
f=$dir/payment_webhook_secret
if [ ! -s "$f" ]; then
    head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' >"$f"
    chmod 644 "$f"
fi
if ! compgen -G "$dir/jwt-keys/*.pem" >/dev/null; then
    kid=k-$(date -u +%Y%m%dT%H%M%S)
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$dir/jwt-keys/$kid.pem" 2>/dev/null
    chmod 644 "$dir/jwt-keys/$kid.pem"
    echo "secrets: signing key $kid" >&2
fi
# Each container mounts its own tls/<id>.pem and tls/ca/; the CAs' keys
# (tls/ca-keys/, 0700) are mounted nowhere.
bash "$here/tls.sh" "$dir/tls"
chmod 755 "$dir/tls"
chmod 644 "$dir"/tls/*.pem
echo "secrets: $dir" >&2
