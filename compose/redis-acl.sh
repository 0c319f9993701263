#!/usr/bin/env bash
# Prints Lintel's Redis ACL file (redis-server --aclfile) from the passwords
# in the environment: LINTEL_REDIS_ADMIN_PASSWORD and one
# LINTEL_REDIS_<SERVICE>_PASSWORD per service. Used by the local stack
# (compose/local/stack.sh) and compose (compose/secrets.sh); Kubernetes
# mounts the same file from the lintel-redis Secret (k8s/overlays/dev).
#
# The file holds SHA-256 hashes of the passwords, never the passwords.
# - default: off, so nothing answers without a password;
# - lintel_admin: anything, for operators and the tests;
# - one user per service, allowed only the commands it sends. lc_cache
#   sends GET, SET, DEL, MGET, PING and EVAL; its Lua scripts call GET,
#   SET, INCR and EXPIRE (a script runs with its caller's rights, so EVAL
#   adds nothing); users' throttles keep sorted sets; reporting's versions
#   of cached answers (lc_vcache) strings and a sorted set, and its
#   answers kept in memory are told of changes (lc_cache_tracker: CLIENT
#   ID and TRACKING, SUBSCRIBE to __redis__:invalidate only). Never
#   CONFIG, FLUSHALL, KEYS, SCAN, SHUTDOWN, MONITOR, ACL, other CLIENT
#   subcommands, SCRIPT...
set -euo pipefail

common="+ping +get +set +mget +eval"
declare -A commands=(
    [users]="$common +del +incr +expire +pexpire +time +zadd +zcard +zrange +zremrangebyscore +zscore"
    [projects]="$common"
    [reporting]="$common +del +incr +time +pexpire +zadd +zrem +zrange +zremrangebyscore +client|id +client|tracking +subscribe"
    [billing]="$common"
)

hash() {
    [ -n "$1" ] || { echo "redis-acl.sh: an empty password" >&2; exit 2; }
    printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

echo "user default off resetpass -@all"
echo "user lintel_admin on #$(hash "${LINTEL_REDIS_ADMIN_PASSWORD:-}") ~* &* +@all"
for s in users projects reporting billing; do
    var="LINTEL_REDIS_$(tr '[:lower:]' '[:upper:]' <<<"$s")_PASSWORD"
    channels=""
    [ "$s" = reporting ] && channels="&__redis__:invalidate"
    echo "user $s on #$(hash "${!var:-}") ~* resetchannels $channels -@all ${commands[$s]}"
done
