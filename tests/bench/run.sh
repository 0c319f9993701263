#!/usr/bin/env bash
# make bench: wrk against one nginx (Debian's /usr/sbin/nginx) that serves,
# in the same run,
#   (a) a stock `return 200` location,
#   (b) stock proxy_pass to a keepalive nginx upstream returning 200,
#   (c) the Lintel module with a valid token, forwarding over NNG to a
#       minimal NNG service (tests/gateway's lintel-test-service),
#   (d) as (c) with a fresh token per request (no token-cache hits),
# and prints requests/s, p50, p99 and the ratios c/a, c/b, d/a.
#
# The module's nginx.conf is gateway-module/nginx.conf.example with its
# placeholders filled in (limits, log format and all); the stock baselines
# come in through its `include @RUN_DIR@/nginx.d/*.conf`.
#
#   tests/bench/run.sh <build-dir>
#
# Knobs (environment): BENCH_SECONDS (10), BENCH_CONNECTIONS (64),
# BENCH_THREADS (2, wrk), BENCH_TOKENS (12000, case d),
# BENCH_SERVICE_WORKERS (64, NNG contexts of the test service).
set -euo pipefail

build=${1:?usage: run.sh <build-dir>}
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
fresh=${BENCH_TOKENS:-12000}
base=bench.test
module=$build/gateway/ngx_http_lintel_module.so
service=$build/gateway/lintel-test-service

run=$(mktemp -d /tmp/lintel-bench.XXXXXX)
pids=()
cleanup() {
    if [ -f "$run/nginx.pid" ]; then
        /usr/sbin/nginx -p "$run" -c "$run/nginx.conf" -s quit 2>/dev/null || true
        sleep 0.5
    fi
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$run"
}
trap cleanup EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

http_port=$(free_port); stock_port=$(free_port); up_port=$(free_port)
nng_port=$(free_port)
nng_url=tcp://127.0.0.1:$nng_port

echo "bench: signing $fresh tokens..." >&2
/usr/bin/python3 "$root/tests/bench/tokens.py" "$run" "$base" "$fresh"

"$service" --listen "$nng_url" --config "$run/service.json" \
    --workers "${BENCH_SERVICE_WORKERS:-64}" \
    2> "$run/service.log" &
pids+=($!)

mkdir -p "$run/nginx.d"
sed -e "s|@BASE_DOMAIN@|$base|g" -e "s|@HTTP_PORT@|$http_port|g" \
    -e "s|@USERS_URL@|$nng_url|g" -e "s|@PROJECTS_URL@|$nng_url|g" \
    -e "s|@RUN_DIR@|$run|g" -e "s|@MODULE_PATH@|$module|g" \
    "$root/gateway-module/nginx.conf.example" > "$run/nginx.conf"
# workers run as root only because this is a throw-away run directory
sed -i "1i user root;" "$run/nginx.conf"
cat > "$run/nginx.d/bench.conf" <<CONF
upstream bench_backend {
    server 127.0.0.1:$up_port;
    keepalive 64;
}
server {
    listen 127.0.0.1:$stock_port;
    location = /return {
        return 200 '{"ok":true}';
    }
    location = /proxy {
        proxy_pass http://bench_backend/return;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
}
server {
    listen 127.0.0.1:$up_port;
    access_log off;
    keepalive_requests 100000;
    location = /return {
        return 200 '{"ok":true}';
    }
}
CONF

/usr/sbin/nginx -p "$run" -c "$run/nginx.conf" -t -q
/usr/sbin/nginx -p "$run" -c "$run/nginx.conf"
sleep 0.5

token=$(cat "$run/token")
host=acme.$base
api=http://127.0.0.1:$http_port/api/projects/bench

check() {
    code=$(curl -s -o /dev/null -w '%{http_code}' "$@")
    [ "$code" = 200 ] || { echo "bench: $* answered $code" >&2; exit 1; }
}
check "http://127.0.0.1:$stock_port/return"
check "http://127.0.0.1:$stock_port/proxy"
check -H "Host: $host" -H "Authorization: Bearer $token" "$api"

# wrk output → "rps p50_ms p99_ms non2xx"
measure() {
    local out rps p50 p99 bad
    wrk -t"$threads" -c"$conns" -d2s "$@" > /dev/null          # warm-up
    out=$(wrk -t"$threads" -c"$conns" -d"${seconds}s" --latency "$@")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<< "$out")
    p50=$(awk '$1 == "50%" {print $2}' <<< "$out")
    p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
    bad=$(awk '/Non-2xx/ {print $5}' <<< "$out")
    echo "$rps $(ms "$p50") $(ms "$p99") ${bad:-0}"
}

ms() {   # wrk prints 512.00us, 1.20ms or 1.01s
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else { sub(/s$/, "", v); printf "%.3f", v * 1000 } }'
}

echo "bench: ${seconds}s per case, $conns connections, $threads wrk threads," \
     "$(nproc) cores, nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||')" >&2
a=$(measure "http://127.0.0.1:$stock_port/return")
b=$(measure "http://127.0.0.1:$stock_port/proxy")
c=$(measure -H "Host: $host" -H "Authorization: Bearer $token" "$api")
d=$(measure -s "$root/tests/bench/fresh_tokens.lua" "$api" -- "$run/tokens" "$host")

if grep -q '\[alert\]\|\[crit\]\|\[emerg\]' "$run/nginx-error.log"; then
    echo "bench: nginx logged alerts:" >&2
    grep '\[alert\]\|\[crit\]\|\[emerg\]' "$run/nginx-error.log" >&2
    exit 1
fi

printf '%-44s %12s %9s %9s %8s\n' case "requests/s" "p50 ms" "p99 ms" non-2xx
line() { printf '%-44s %12s %9s %9s %8s\n' "$1" $2; }
line "(a) stock return 200" "$a"
line "(b) stock proxy_pass, keepalive upstream" "$b"
line "(c) lintel, valid token, NNG service" "$c"
line "(d) lintel, fresh token per request" "$d"
ratio() { awk -v x="${1%% *}" -v y="${2%% *}" 'BEGIN { printf "%.2f", x / y }'; }
echo "ratios: c/a $(ratio "$c" "$a")  c/b $(ratio "$c" "$b")  d/a $(ratio "$d" "$a")"
for r in "$a" "$b" "$c" "$d"; do
    [ "$(awk '{print $4}' <<< "$r")" = 0 ] || { echo "bench: non-2xx answers" >&2; exit 1; }
done
