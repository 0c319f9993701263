#!/usr/bin/env bash
# Writes the private PKI of internal calls (README, "Internal calls"), once:
# one issuing CA per identity and one certificate per identity, signed by
# its own CA. Existing files are kept.
#
#   compose/tls.sh DIR [NAME...]   NAME: extra DNS names of every
#                                  certificate (a cluster's service FQDNs)
#
#   DIR/<id>.pem          the identity's certificate, then its key (0600)
#   DIR/ca/<id>.crt       the CA that issues <id>'s certificates: a listener
#                         for caller <id> trusts this one only
#   DIR/ca/services.crt   the four services' CAs: what every caller trusts
#   DIR/ca-keys/<id>.key  the CAs' keys (0600): keep offline, mount nowhere
#
# Identities: edge (nginx), operator (lintel-call), users, projects,
# reporting, billing. A certificate names its identity (DNS:<id>), localhost
# and 127.0.0.1, and serves both as client and as server certificate.
# Keys are ECDSA P-256: mbedtls 2.28 (NNG's TLS) and nginx both speak it.
set -euo pipefail
dir=${1:?usage: $0 DIR [NAME...]}
shift
IDS=(edge operator users projects reporting billing)
mkdir -p "$dir/ca" "$dir/ca-keys"
chmod 700 "$dir/ca-keys"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
umask 077
for id in "${IDS[@]}"; do
    [ -s "$dir/$id.pem" ] && [ -s "$dir/ca/$id.crt" ] && continue
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/ca-keys/$id.key" -out "$dir/ca/$id.crt" -days 3650 \
        -subj "/CN=lintel $id CA" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$tmp/err" ||
        { cat "$tmp/err" >&2; exit 1; }
    san="DNS:$id,DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1"
    for name in "$@"; do san="$san,DNS:${name//\{id\}/$id}"; done
    printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' \
        "$san" >"$tmp/ext"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$tmp/$id.key" -out "$tmp/$id.csr" -subj "/CN=$id" 2>"$tmp/err" ||
        { cat "$tmp/err" >&2; exit 1; }
    openssl x509 -req -in "$tmp/$id.csr" -CA "$dir/ca/$id.crt" \
        -CAkey "$dir/ca-keys/$id.key" -set_serial "0x$(openssl rand -hex 16)" \
        -days 825 -extfile "$tmp/ext" -out "$tmp/$id.crt" 2>"$tmp/err" ||
        { cat "$tmp/err" >&2; exit 1; }
    cat "$tmp/$id.crt" "$tmp/$id.key" >"$dir/$id.pem"
    chmod 600 "$dir/$id.pem"
    chmod 644 "$dir/ca/$id.crt"
done
cat "$dir/ca/users.crt" "$dir/ca/projects.crt" "$dir/ca/reporting.crt" \
    "$dir/ca/billing.crt" >"$dir/ca/services.crt"
chmod 644 "$dir/ca/services.crt"
chmod 755 "$dir/ca"
