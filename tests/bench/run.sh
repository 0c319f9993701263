#!/usr/bin/env bash
# make bench: wrk against one nginx (Debian's /usr/sbin/nginx) that serves,
# in the same run,
#   (a) a stock `return 200` location,
#   (b) stock proxy_pass to a keepalive nginx upstream returning 200,
#   (c) the Lintel module with a valid token, forwarding through its
#       upstream (SP over TCP, keepalive) to a minimal NNG REP service
#       (tests/gateway's lintel-test-service),
#   (d) as (c) with a fresh token per request (no token-cache hits),
#   (e) NNG alone: tests/bench/nng_floor.c keeps as many requests in flight
#       on nng_ctx/nng_aio against the same service, no HTTP, no nginx,
#   (k) as (c), to a second instance of the service pinned to one CPU
#       (--cpu, as LINTEL_CPU does for the real services),
#   (s) as (c), each reply 1 MiB, with each worker's RSS before and after,
#   (t) as (c), over mutual TLS (README, "Internal calls"): a second nginx
#       from the same configuration with lintel_ssl on, to a third instance
#       of the service on a tls+tcp:// listener that requires the edge's
#       certificate: (c) is the same path with TLS off,
# and prints requests/s, p50, p99, CPU time and context switches per request
# (tests/bench/cpustat.py), the ratios c/a, c/b, d/a, and the issue's goals:
# c/b >= 0.8, (c) <= 6 switches per request, (c)'s p99 <= 2 x (b)'s, and
# (s) worker RSS growth <= 16 MiB.
#
# The module's nginx.conf is gateway-module/nginx.conf.example with its
# placeholders filled in (log format and all; the rate limits raised far
# above what one machine drives through one user); the stock baselines
# come in through its `include @RUN_DIR@/nginx.d/*.conf`.
#
#   tests/bench/run.sh <build-dir>
#
# Knobs (environment): BENCH_SECONDS (10), BENCH_ROUNDS (3: every case
# runs once a round, in turn, and reports its median round), BENCH_CONNECTIONS (64),
# BENCH_THREADS (2, wrk), BENCH_TOKENS (12000, case d),
# BENCH_SERVICE_WORKERS (64, NNG contexts of the test service),
# BENCH_SERVICE_CPU (1: the CPU the service of case (k) is pinned to).
set -euo pipefail

build=${1:?usage: run.sh <build-dir>}
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
fresh=${BENCH_TOKENS:-12000}
base=bench.test
module=$build/gateway/ngx_http_lintel_module.so
service=$build/gateway/lintel-test-service
floor=$build/gateway/nng-floor

run=$(mktemp -d /tmp/lintel-bench.XXXXXX)
pids=()
cleanup() {
    if [ -f "$run/nginx.pid" ]; then
        /usr/sbin/nginx -p "$run" -c "$run/nginx.conf" -s quit 2>/dev/null || true
        sleep 0.5
    fi
    if [ -f "$run/tls-edge/nginx.pid" ]; then
        /usr/sbin/nginx -p "$run/tls-edge" -c "$run/tls-edge/nginx.conf" -s quit 2>/dev/null || true
        sleep 0.5
    fi
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    # a service that does not stop within 5 s is stopped hard
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    rm -rf "$run"
}
trap cleanup EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

http_port=$(free_port); stock_port=$(free_port); up_port=$(free_port)
nng_port=$(free_port); pinned_port=$(free_port); pinned_http=$(free_port)
tls_port=$(free_port); tls_http=$(free_port)
nng_url=tcp://127.0.0.1:$nng_port

echo "bench: signing $fresh tokens..." >&2
/usr/bin/python3 "$root/tests/bench/tokens.py" "$run" "$base" "$fresh"

"$service" --listen "$nng_url" --config "$run/service.json" \
    --workers "${BENCH_SERVICE_WORKERS:-64}" 2> "$run/service.log" &
pids+=($!)
"$service" --listen "tcp://127.0.0.1:$pinned_port" --config "$run/service.json" \
    --workers "${BENCH_SERVICE_WORKERS:-64}" --cpu "${BENCH_SERVICE_CPU:-1}" \
    2> "$run/service-pinned.log" &
pids+=($!)

# (t): the certificates (each names every upstream of the example), the
# service on tls+tcp:// trusting the edge's CA only
bash "$root/compose/tls.sh" "$run/tls" users projects reporting billing
"$service" --listen "tls+tcp://127.0.0.1:$tls_port" --config "$run/service.json" \
    --workers "${BENCH_SERVICE_WORKERS:-64}" --tls-cert "$run/tls/users.pem" \
    --tls-ca "$run/tls/ca/edge.crt" 2> "$run/service-tls.log" &
pids+=($!)

# Both edges: limits far above what the bench sends (they are tested in
# the e2e suite, not measured here).
limits=(-e "s|@EDGE_IP_RATE@|1000000r/s|g" -e "s|@EDGE_IP_BURST@|1000000|g"
        -e "s|@EDGE_USER_RATE@|1000000r/s|g" -e "s|@EDGE_USER_BURST@|1000000|g"
        -e "s|@EDGE_TENANT_RATE@|1000000r/s|g" -e "s|@EDGE_TENANT_BURST@|1000000|g"
        -e "s|@EDGE_CONN_PER_IP@|60000|g" -e "s|@EDGE_CLIENT_TIMEOUT@|10s|g"
        -e "s|@WEB_ROOT@|$run/web|g")
mkdir -p "$run/nginx.d" "$run/tls-edge/nginx.d" "$run/web"
sed "${limits[@]}" -e "s|@BASE_DOMAIN@|$base|g" -e "s|@HTTP_PORT@|$tls_http|g" \
    -e "s|@USERS_ADDR@|127.0.0.1:$tls_port|g" \
    -e "s|@PROJECTS_ADDR@|127.0.0.1:$tls_port|g" \
    -e "s|@REPORTING_ADDR@|127.0.0.1:$tls_port|g" \
    -e "s|@BILLING_ADDR@|127.0.0.1:$tls_port|g" \
    -e "s|@RPC_SSL@|on|g" -e "s|@TLS_DIR@|$run/tls|g" \
    -e "s|@RUN_DIR@|$run/tls-edge|g" -e "s|@MODULE_PATH@|$module|g" \
    "$root/gateway-module/nginx.conf.example" > "$run/tls-edge/nginx.conf"
sed -i "1i user root;" "$run/tls-edge/nginx.conf"

sed "${limits[@]}" -e "s|@BASE_DOMAIN@|$base|g" -e "s|@HTTP_PORT@|$http_port|g" \
    -e "s|@USERS_ADDR@|127.0.0.1:$nng_port|g" \
    -e "s|@PROJECTS_ADDR@|127.0.0.1:$nng_port|g" \
    -e "s|@REPORTING_ADDR@|127.0.0.1:$nng_port|g" \
    -e "s|@BILLING_ADDR@|127.0.0.1:$nng_port|g" \
    -e "s|@RPC_SSL@|off|g" -e "s|@TLS_DIR@|$run/tls|g" \
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
upstream pinned {
    server 127.0.0.1:$pinned_port;
    keepalive 256;
    keepalive_requests 100000;
}
server {
    listen 127.0.0.1:$pinned_http;
    error_page 502 503 504 @lintel_error;
    location @lintel_error {
        lintel_error;
    }
    location /api/projects {
        lintel_pass pinned;
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
/usr/sbin/nginx -p "$run/tls-edge" -c "$run/tls-edge/nginx.conf"
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
pinned_api=http://127.0.0.1:$pinned_http/api/projects/bench
check -H "Host: $host" -H "Authorization: Bearer $token" "$pinned_api"
tls_api=http://127.0.0.1:$tls_http/api/projects/bench
check -H "Host: $host" -H "Authorization: Bearer $token" "$tls_api"

# The processes whose CPU time cpustat.py splits out: the nginx workers
# (one thread each) and the NNG service.
groups() {
    local w workers=
    for w in $(pgrep -P "$(cat "$run/nginx.pid")") \
             $(pgrep -P "$(cat "$run/tls-edge/nginx.pid")"); do
        workers+="$w,"
    done
    echo "nginx=$workers" "service=${pids[0]}" "pinned-service=${pids[1]}" \
        "tls-service=${pids[2]}"
}

# kB of resident memory of each nginx worker, summed, and the largest
rss() {
    local w sum=0 max=0 v
    for w in $(pgrep -P "$(cat "$run/nginx.pid")"); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$w/status")
        sum=$((sum + v)); [ "$v" -gt "$max" ] && max=$v
    done
    echo "$max"
}

# wrk output → "rps p50_ms p99_ms non2xx"; the CPU time per request
# (cpustat.py) goes to $run/cpu.<name>
measure() {
    local name=$1 out rps p50 p99 bad requests
    shift
    wrk -t"$threads" -c"$conns" -d2s "$@" > /dev/null          # warm-up
    /usr/bin/python3 "$root/tests/bench/cpustat.py" snap "$run/snap0" $(groups)
    out=$(wrk -t"$threads" -c"$conns" -d"${seconds}s" --latency "$@")
    /usr/bin/python3 "$root/tests/bench/cpustat.py" snap "$run/snap1" $(groups)
    rps=$(awk '/^Requests\/sec/ {print $2}' <<< "$out")
    p50=$(awk '$1 == "50%" {print $2}' <<< "$out")
    p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
    bad=$(awk '/Non-2xx/ {print $5}' <<< "$out")
    requests=$(awk '/requests in/ {print $1}' <<< "$out")
    /usr/bin/python3 "$root/tests/bench/cpustat.py" diff "$run/snap0" \
        "$run/snap1" "$requests" > "$run/cpu.$name"
    echo "$rps $(ms "$p50") $(ms "$p99") ${bad:-0}"
}

ms() {   # wrk prints 512.00us, 1.20ms or 1.01s
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else { sub(/s$/, "", v); printf "%.3f", v * 1000 } }'
}

# (e): nng_floor.c with the same warm-up and CPU split; "rps - - 0"
measure_floor() {
    local name=$1 trips took
    "$floor" "$nng_url" "$conns" 2 > /dev/null
    /usr/bin/python3 "$root/tests/bench/cpustat.py" snap "$run/snap0" $(groups)
    read -r trips took < <("$floor" "$nng_url" "$conns" "$seconds")
    /usr/bin/python3 "$root/tests/bench/cpustat.py" snap "$run/snap1" $(groups)
    /usr/bin/python3 "$root/tests/bench/cpustat.py" diff "$run/snap0" \
        "$run/snap1" "$trips" > "$run/cpu.$name"
    echo "$(awk -v n="$trips" -v t="$took" 'BEGIN { printf "%.2f", n / t }') - - 0"
}

echo "bench: $rounds rounds of ${seconds}s per case, $conns connections," \
     "$threads wrk threads, $(nproc) cores," \
     "nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||')" >&2
# The cases take turns, round after round, so that a noisy minute of the
# machine spreads over all of them; each case reports its median round.
for r in $(seq 1 "$rounds"); do
    measure "a.$r" "http://127.0.0.1:$stock_port/return" > "$run/res.a.$r"
    measure "b.$r" "http://127.0.0.1:$stock_port/proxy" > "$run/res.b.$r"
    measure "c.$r" -H "Host: $host" -H "Authorization: Bearer $token" "$api" \
        > "$run/res.c.$r"
    measure "d.$r" -s "$root/tests/bench/fresh_tokens.lua" "$api" -- \
        "$run/tokens" "$host" > "$run/res.d.$r"
    measure_floor "e.$r" > "$run/res.e.$r"
    measure "k.$r" -H "Host: $host" -H "Authorization: Bearer $token" \
        "$pinned_api" > "$run/res.k.$r"
    measure "t.$r" -H "Host: $host" -H "Authorization: Bearer $token" \
        "$tls_api" > "$run/res.t.$r"
    rss > "$run/rss.s.$r.before"
    measure "s.$r" -H "Host: $host" -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$http_port/api/projects/big/1048576" > "$run/res.s.$r"
    rss > "$run/rss.s.$r.after"
done
median() {   # case: its median round's results to res.<case>, cpu.<case>
    local m
    m=$(for r in $(seq 1 "$rounds"); do echo "$(awk '{print $1}' "$run/res.$1.$r") $r"; done |
        sort -g | awk '{ r[NR] = $2 } END { print r[int((NR + 1) / 2)] }')
    cp "$run/res.$1.$m" "$run/res.$1"
    cp "$run/cpu.$1.$m" "$run/cpu.$1"
}
for x in a b c d e k s t; do median "$x"; done
a=$(cat "$run/res.a") b=$(cat "$run/res.b") c=$(cat "$run/res.c")
d=$(cat "$run/res.d") e=$(cat "$run/res.e") s=$(cat "$run/res.s")
k=$(cat "$run/res.k") t=$(cat "$run/res.t")
# (c) and (t), for the goals of tests/bench/reporting.sh's dashboard cases
mkdir -p "$build/bench" && echo "${c%% *}" > "$build/bench/c.rps"
echo "${t%% *}" > "$build/bench/t.rps"

for log in "$run/nginx-error.log" "$run/tls-edge/nginx-error.log"; do
    if grep -q '\[alert\]\|\[crit\]\|\[emerg\]' "$log"; then
        echo "bench: nginx logged alerts:" >&2
        grep '\[alert\]\|\[crit\]\|\[emerg\]' "$log" >&2
        exit 1
    fi
done

# cpu µs/req and switches/req: the whole machine (wrk included) per request
printf '%-44s %12s %9s %9s %8s %11s %12s\n' case "requests/s" "p50 ms" \
    "p99 ms" non-2xx "cpu us/req" "switch/req"
line() {
    printf '%-44s %12s %9s %9s %8s %11s %12s\n' "$1" $2 \
        $(awk '{print $2, $3}' "$run/cpu.$3")
}
line "(a) stock return 200" "$a" a
line "(b) stock proxy_pass, keepalive upstream" "$b" b
line "(c) lintel, valid token, NNG service" "$c" c
line "(d) lintel, fresh token per request" "$d" d
line "(e) NNG alone: C client, same service" "$e" e
line "(k) as (c), the service pinned to one CPU" "$k" k
line "(s) as (c), 1 MiB replies" "$s" s
line "(t) as (c), mutual TLS to the service" "$t" t
ratio() { awk -v x="${1%% *}" -v y="${2%% *}" 'BEGIN { printf "%.2f", x / y }'; }
echo "ratios of the medians: c/a $(ratio "$c" "$a")  c/b $(ratio "$c" "$b")  d/a $(ratio "$d" "$a")  k/b $(ratio "$k" "$b")  t/c $(ratio "$t" "$c") (TLS on / off)"
echo "c/b round by round: $(for r in $(seq 1 "$rounds"); do
    ratio "$(cat "$run/res.c.$r")" "$(cat "$run/res.b.$r")"; echo -n " "; done)"
echo "k/b round by round: $(for r in $(seq 1 "$rounds"); do
    ratio "$(cat "$run/res.k.$r")" "$(cat "$run/res.b.$r")"; echo -n " "; done)"
echo "(s) largest worker RSS, kB, before -> after, round by round: $(for r in $(seq 1 "$rounds"); do
    echo -n "$(cat "$run/rss.s.$r.before") -> $(cat "$run/rss.s.$r.after")  "; done)"
# The issue's goals, from the medians (p99: against (b)'s), for (c) and (k)
grow=$(for r in $(seq 1 "$rounds"); do
    echo $(( $(cat "$run/rss.s.$r.after") - $(cat "$run/rss.s.$r.before") )); done |
    sort -n | tail -1)
goals() {   # name result cpu-file
    awk -v n="$1" -v c="${2%% *}" -v b="${b%% *}" \
        -v cp99="$(awk '{print $3}' <<< "$2")" -v bp99="$(awk '{print $3}' <<< "$b")" \
        -v csw="$(awk '{print $3}' "$run/cpu.$3")" 'BEGIN {
        ok = "met"; no = "NOT met"
        printf "goals (%s): %s/b %.2f (>= 0.8: %s)", n, n, c / b, ((c / b >= 0.8) ? ok : no)
        printf "  switches/req %.1f (<= 6: %s)", csw, ((csw <= 6) ? ok : no)
        printf "  p99 %s/b %.1f (<= 2: %s)\n", n, cp99 / bp99, ((cp99 / bp99 <= 2) ? ok : no) }'
}
goals c "$c" c
goals k "$k" k
awk -v grow="$grow" 'BEGIN { printf "goal (s): worker RSS growth %.1f MiB (<= 16: %s)\n",
    grow / 1024, ((grow / 1024 <= 16) ? "met" : "NOT met") }'
# Where (c)'s time goes: the nginx workers, the NNG service; the rest is
# wrk and the kernel.
split() {
    awk -F' [|] ' -v c="$1" '{
        printf "(%s) per request:", c
        for (i = 2; i <= NF; i++) { split($i, g, " "); if (g[2] > 0) printf "  %s %s us, %s switches", g[1], g[2], g[3] }
        print "" }' "$run/cpu.$1"
}
split c
split k
split t
split e
# A floor for (c) on this machine: wrk and nginx's HTTP work (all of (a))
# plus NNG's round trip at its best (all of (e), client and service); the
# module's client side is cheaper than NNG's, so this floor is pessimistic.
awk -v a="$(awk '{print $2}' "$run/cpu.a")" -v b="$(awk '{print $2}' "$run/cpu.b")" \
    -v e="$(awk '{print $2}' "$run/cpu.e")" 'BEGIN {
    printf "floor for (c): a + e = %.1f us of CPU per request against b %.1f us: c/b <= %.2f on this machine\n",
        a + e, b, b / (a + e) }'
for r in "$run"/res.?.*; do
    [ "$(awk '{print $4}' "$r")" = 0 ] || { echo "bench: non-2xx answers" >&2; exit 1; }
done
