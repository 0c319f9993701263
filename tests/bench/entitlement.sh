#!/usr/bin/env bash
# make bench, billing part: billing.CheckEntitlement over NNG from a C
# client (tests/bench/entitlement_bench.c, lc_rpc_client as projects and
# users call it), against the billing service of a throw-away local stack
# (compose/local/stack.sh), for the demo tenant:
#   (x) the check, BENCH_ENTITLEMENT_IN_FLIGHT checks in flight on one NNG socket,
#   (e) the floor, in the same rounds: the same client loop (nng_floor.c,
#       make bench's case (e)) against tests/gateway's lintel-test-service,
#       which answers from NNG's callbacks and does nothing else,
#   (i) the invoicing run (`lintel-billing invoice --as-of today`) over
#       BENCH_INVOICE_TENANTS (10,000) tenants whose period has ended (made
#       in SQL: no members, one seat each),
# and prints checks/s, the billing process's CPU time and context switches
# per check (tests/bench/cpustat.py), x/e, the run's seconds, and the
# billing issue's goals: >= 20,000 checks/s, 10,000 tenants in <= 60 s. The check answers from billing's cache of plan limits
# (LINTEL_ENTITLEMENT_CACHE_MS) inline, on NNG's thread; run with
# LINTEL_ENTITLEMENT_CACHE_MS=0 to measure a database read per check.
#
#   tests/bench/entitlement.sh <build-dir>
#
# Knobs (environment): BENCH_SECONDS (10), BENCH_ROUNDS (3: reports the
# median round), BENCH_ENTITLEMENT_IN_FLIGHT (64), BENCH_INVOICE_TENANTS
# (10000).
set -euo pipefail

build=${1:?usage: entitlement.sh <build-dir>}
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
inflight=${BENCH_ENTITLEMENT_IN_FLIGHT:-64}
ntenants=${BENCH_INVOICE_TENANTS:-10000}
bench=$build/bench/entitlement_bench
floor=$build/gateway/nng-floor
service=$build/gateway/lintel-test-service

. "$root/tests/bench/bench_stack.sh"
service_pid=
bench_cleanup_more() {
    if [ -n "$service_pid" ]; then kill "$service_pid" 2>/dev/null || true; fi
}
bench_stack_up ebench


# The demo tenant, once billing has made its trial from tenant.created.
tenant=
for _ in $(seq 1 150); do
    tenant=$(psql_super -c "SELECT tenant_id FROM billing.subscriptions LIMIT 1")
    [ -n "$tenant" ] && break
    sleep 0.2
done
[ -n "$tenant" ] || { echo "bench: billing made no subscription" >&2; exit 1; }
# users' listener at billing (slot 2, README "Internal calls"), with the
# users service's certificate: the check as users and projects make it
if [ "${LINTEL_RPC_TLS:-true}" = false ]; then
    url=tcp://127.0.0.1:$((LINTEL_BILLING_RPC_PORT + 2 * 300))
else
    url=tls+tcp://127.0.0.1:$((LINTEL_BILLING_RPC_PORT + 2 * 300))
    export LINTEL_CALL_CERT=$run/tls/users.pem LINTEL_CALL_CA=$run/tls/ca/services.crt
fi
floor_url=tcp://127.0.0.1:$(free_port)
/usr/bin/python3 "$root/tests/bench/tokens.py" "$run" bench.test 1 >/dev/null
"$service" --listen "$floor_url" --config "$run/service.json" --workers "$inflight" \
    2>"$run/service.log" &
service_pid=$!
billing_pid=$(cat "$run/pids/billing.pid")
cpustat() { /usr/bin/python3 "$root/tests/bench/cpustat.py" "$@"; }

"$bench" "$url" "$tenant" "$inflight" 2 >/dev/null                # warm-up
"$floor" "$floor_url" "$inflight" 2 >/dev/null
for r in $(seq 1 "$rounds"); do
    "$floor" "$floor_url" "$inflight" "$seconds" |
        awk '{ printf "%.0f\n", $1 / $2 }' >"$run/floor.$r"
    cpustat snap "$run/snap0" "billing=$billing_pid"
    "$bench" "$url" "$tenant" "$inflight" "$seconds" >"$run/res.$r"
    cpustat snap "$run/snap1" "billing=$billing_pid"
    cpustat diff "$run/snap0" "$run/snap1" "$(awk '{print $1}' "$run/res.$r")" \
        >"$run/cpu.$r"
done
m=$(for r in $(seq 1 "$rounds"); do echo "$(awk '{print $3}' "$run/res.$r") $r"; done |
    sort -g | awk '{ r[NR] = $2 } END { print r[int((NR + 1) / 2)] }')
rate=$(awk '{print $3}' "$run/res.$m")
e=$(sort -g "$run"/floor.* | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
printf '\n%-46s %10s %11s %11s\n' case "checks/s" "cpu us/req" "switch/req"
printf '%-46s %10s %11s %11s\n' \
    "(x) billing.CheckEntitlement, $inflight in flight" "$rate" \
    $(awk '{print $2, $3}' "$run/cpu.$m")
awk -F' [|] ' '{
    printf "(x) per check:"
    for (i = 2; i <= NF; i++) { split($i, g, " "); printf "  %s %s us, %s switches", g[1], g[2], g[3] }
    print "" }' "$run/cpu.$m"
printf '%-46s %10s\n' "(e) floor: NNG alone, C client, echo service" "$e"
echo "(x) round by round: $(for r in $(seq 1 "$rounds"); do awk '{printf "%s ", $3}' "$run/res.$r"; done)"
echo "(e) round by round: $(cat "$run"/floor.* | tr '\n' ' ')"
awk -v x="$rate" -v e="$e" 'BEGIN { printf "ratio of the medians: x/e %.2f\n", x / e }'
awk -v x="$rate" 'BEGIN { printf "goal (x): %.0f checks/s (>= 20,000: %s)\n",
    x, ((x >= 20000) ? "met" : "NOT met") }'

# (i): tenants whose month ended at the first of this month, invoiced once.
month=$(date -u +%Y-%m-01)
psql_super -c "
    INSERT INTO billing.subscriptions (tenant_id, plan_code, plan_version,
        state, period_start, period_end)
    SELECT gen_random_uuid(), 'team', 1, 'active',
        date '$month' - interval '1 month', date '$month'
    FROM generate_series(1, $ntenants)" >/dev/null
start=$(date +%s.%N)
(set -a; . "$run/billing.env"; exec "$build/bin/lintel-billing" invoice \
    --as-of "$(date -u +%F)") >"$run/invoice.out" 2>"$run/invoice.err" ||
    { cat "$run/invoice.err" >&2; exit 1; }
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
made=$(psql_super -c "SELECT count(*) FROM billing.invoices WHERE period_end = date '$month'")
printf '%-46s %10s\n' "(i) invoicing run, $ntenants tenants (s)" "$took"
[ "$made" -ge "$ntenants" ] || { echo "bench: only $made invoices made" >&2; exit 1; }
awk -v t="$took" -v n="$ntenants" 'BEGIN { s = t * 10000 / n
    printf "goal (i): %.1f s for 10,000 tenants (<= 60: %s)\n", s,
    ((s <= 60) ? "met" : "NOT met") }'
