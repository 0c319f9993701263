#!/usr/bin/env bash
# The contracts' breaking-change check (DESIGN §5): proto/lintel against
# proto/baseline, the contracts as deployed, with buf's WIRE_JSON rules (no
# field renumbered, retyped or deleted without reserving its number and
# name, no enum value removed, no JSON name changed) plus no service or RPC
# removed and no RPC's request or response type changed: what a peer built
# from the baseline, or a JSON client (lc_pbjson), would no longer
# understand.
#
#   proto-breaking.sh [PROTO_DIR]      default: the repository's proto/
#
# An intentional break is a new package (proto/lintel/v2, `package
# lintel.v2…`) served beside v1 until no deployed peer speaks v1; a
# compatible change that every deployment has is folded into the baseline
# with `make proto-baseline`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
proto=$(cd "${1:-$here/../../proto}" && pwd)
buf=$here/node_modules/.bin/buf
[ -x "$buf" ] || { echo "proto-breaking: $buf missing (npm ci in tests/deploy)" >&2; exit 2; }
[ -d "$proto/baseline/lintel" ] || { echo "proto-breaking: no baseline in $proto/baseline" >&2; exit 2; }

# buf takes a module as a folder of its own: the baseline lives inside
# proto/, so both are copied side by side.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/current" "$tmp/baseline"
cp -r "$proto/lintel" "$tmp/current/"
cp -r "$proto/baseline/lintel" "$tmp/baseline/"
cd "$tmp"
config='{"version":"v1","breaking":{"use":["WIRE_JSON","SERVICE_NO_DELETE",
  "RPC_NO_DELETE","RPC_SAME_REQUEST_TYPE","RPC_SAME_RESPONSE_TYPE"]}}'
if ! "$buf" breaking current --against baseline \
    --config "$config" \
    --against-config '{"version":"v1"}'; then
    echo "proto-breaking: the change above breaks peers built from proto/baseline;" \
         "an intentional break is a new package (proto/lintel/v2)" >&2
    exit 1
fi
echo "proto-breaking: proto/lintel is compatible with proto/baseline"
