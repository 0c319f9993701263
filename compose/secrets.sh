#!/usr/bin/env bash
# Writes the secrets compose/compose.yaml mounts, once: a random password
# per database role (the superuser, lintel_migrator, one per service), an
# RS256 signing key for the users service and a payment webhook signing
# secret for billing (replace it with the provider's). Existing files are
# kept.
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
for name in superuser migrator users projects reporting billing; do
    f=$dir/pg_${name}_password
    [ -s "$f" ] && continue
    head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$f"
    chmod 644 "$f"
done
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
echo "secrets: $dir" >&2
