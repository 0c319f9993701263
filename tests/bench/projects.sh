#!/usr/bin/env bash
# make bench, projects part: the full stack (nginx edge + module, users and
# projects services, PostgreSQL, Redis) on a throw-away run folder, and in
# the same run, against the same PostgreSQL server:
#   (p) pgbench -S -M prepared (select-only, prepared): the baseline;
#   (q) pgbench running the service's own read for (g) as the service's
#       role, under row-level security: PostgreSQL's share of (g) alone;
#   (g) authenticated GET /api/projects/:id through the edge;
#   (l) authenticated GET /api/projects?limit=25 through the edge;
#   and then, the same stack restarted with LINTEL_RPC_TLS=false (its data
#   kept), (g) again without mutual TLS between the edge and the services
#   (README, "Internal calls"): (g)/(g off) is what TLS costs this route;
# and prints requests/s, p50, p99, CPU time and context switches per
# request (tests/bench/cpustat.py), and the ratios g/p, l/p. Goals: g/p >=
# 17% (the edge upstream issue), the projects issue's g/p >= 35% with
# p99 <= 5 ms at 64 connections, and the service kit issue's g/p >= 22%,
# PostgreSQL's share of (g) <= (q)'s total, and the projects process
# outside NNG <= 30 us per request.
#
#   tests/bench/projects.sh <build-dir>
#
# Knobs (environment): BENCH_SECONDS (10), BENCH_ROUNDS (3: every case
# runs once a round, in turn, and reports its median round), BENCH_CONNECTIONS (64),
# BENCH_THREADS (2: wrk threads and pgbench jobs), BENCH_PGBENCH_SCALE (10).
set -euo pipefail

build=${1:?usage: projects.sh <build-dir>}
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
scale=${BENCH_PGBENCH_SCALE:-10}

. "$root/tests/bench/bench_stack.sh"
bench_stack_up pbench

edge=http://127.0.0.1:$LINTEL_HTTP_PORT
host="Host: acme.lintel.localhost"
token=$(bench_login)
auth="Authorization: Bearer $token"

echo "bench: creating 40 projects (within the trial plan's 50)" >&2
id=
for i in $(seq 1 40); do
    out=$(curl -fsS -H "$host" -H "$auth" -H 'Content-Type: application/json' \
        "$edge/api/projects" -d "{\"name\":\"Bench site $i\",\"code\":\"B-$i\",\"status\":\"active\",\"start_date\":\"2027-01-01\",\"budget_cents\":100000,\"currency\":\"EUR\",\"address\":\"$i Bench Road\"}")
    [ -n "$id" ] || id=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$out")
done
curl -fsS -o /dev/null -H "$host" -H "$auth" "$edge/api/projects/$id"

# pgbench as the postgres superuser over the server's own socket.
pgb() { as_pg "$pgbin/pgbench" -h "$pgdir/sock" -p "$LINTEL_PG_PORT" -U postgres "$@"; }
as_pg "$pgbin/createdb" -h "$pgdir/sock" -p "$LINTEL_PG_PORT" -U postgres pgbench
echo "bench: pgbench -i -s $scale" >&2
pgb -i -q -s "$scale" pgbench >"$run/pgbench-init.log" 2>&1

# wrk's "Latency Distribution" as milliseconds.
ms() { awk -v p="$1" '$1 == p {v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
       if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.2f", v}' "$2"; }
rps() { awk '/^Requests\/sec/ {printf "%.0f", $2}' "$1"; }

# The processes whose CPU time cpustat.py splits out.
groups() {
    local w workers= pg=
    for w in $(pgrep -P "$(cat "$run/nginx/nginx.pid")"); do
        workers+="$w,"
    done
    for w in $(pgrep -P "$(head -n 1 "$pgdir/data/postmaster.pid")"); do
        pg+="$w,"
    done
    echo "postgres=$pg" "projects=$(cat "$run/pids/projects.pid"):rest" \
        "projects-nng=$(cat "$run/pids/projects.pid"):nng" \
        "nginx=$workers"
}
cpustat() { /usr/bin/python3 "$root/tests/bench/cpustat.py" "$@"; }

bench_wrk() { # name path
    wrk -t "$threads" -c "$conns" -d 2s -H "$host" -H "$auth" "$edge$2" \
        >/dev/null                                             # warm-up
    cpustat snap "$run/snap0" $(groups)
    wrk -t "$threads" -c "$conns" -d "${seconds}s" --latency -H "$host" \
        -H "$auth" "$edge$2" >"$run/$1.txt"
    cpustat snap "$run/snap1" $(groups)
    cpustat diff "$run/snap0" "$run/snap1" \
        "$(awk '/requests in/ {print $1}' "$run/$1.txt")" >"$run/cpu.$1"
    if grep -q "Non-2xx" "$run/$1.txt"; then
        cat "$run/$1.txt" >&2
        echo "bench: $1 answered errors" >&2
        exit 1
    fi
}

# (q): the read the projects service makes for GET /api/projects/:id, as
# its own role (so under row-level security) over the same TCP path, with
# its pipeline (tenant settings, then the statement, one Sync) and as many
# connections as the service has workers: what PostgreSQL alone gives this
# route on this machine.  The statement is the service's own, read back
# from pg_stat_activity; pgbench would take the colons of its time format
# for variables, so they become dashes (the same work for to_char).
stmt=$(psql_super -c "SELECT query FROM pg_stat_activity
    WHERE usename = 'lintel_projects' AND query LIKE 'SELECT version, %projects.projects%'
    LIMIT 1")
tenant=$(psql_super -c "SELECT tenant_id FROM projects.projects WHERE id = '$id'")
[ -n "$stmt" ] && [ -n "$tenant" ] || { echo "bench: no projects statement seen" >&2; exit 1; }
{
    echo '\set id 0'
    echo '\startpipeline'
    echo "SELECT set_config('app.tenant_id', '$tenant', true), set_config('statement_timeout', '5000', true);"
    printf '%s;\n' "$stmt" | sed -e "s/\\\$1/'$id'/" -e 's/HH24:MI:SS/HH24-MI-SS/g'
    echo '\endpipeline'
} >"$run/read.sql"
workers=${LINTEL_WORKERS:-8}
pw=$(awk -F= '$1 == "LINTEL_PG_PROJECTS_PASSWORD" {print $2}' "$run/secrets.env")

bench_pgbench() { # name pgbench-command...
    local name=$1
    shift
    cpustat snap "$run/snap0" $(groups)
    "$@" >"$run/$name.txt" 2>&1 || { cat "$run/$name.txt" >&2; exit 1; }
    cpustat snap "$run/snap1" $(groups)
    cpustat diff "$run/snap0" "$run/snap1" \
        "$(awk '/^number of transactions actually processed/ {print $NF}' "$run/$name.txt")" \
        >"$run/cpu.$name"
}
rate() { awk '/^tps = / {print $3} /^Requests\/sec/ {print $2}' "$1"; }

echo "bench: $rounds rounds of ${seconds}s per case, $conns connections" >&2
# The cases take turns, round after round; each reports its median round.
for r in $(seq 1 "$rounds"); do
    bench_pgbench "pgbench.$r" pgb -S -M prepared -c "$conns" -j "$threads" \
        -T "$seconds" -r pgbench
    bench_pgbench "read.$r" as_pg env PGPASSWORD="$pw" "$pgbin/pgbench" -n \
        -h 127.0.0.1 -p "$LINTEL_PG_PORT" -U lintel_projects -M prepared \
        -c "$workers" -j "$threads" -T "$seconds" -f - lintel <"$run/read.sql"
    bench_wrk "get.$r" "/api/projects/$id"
    bench_wrk "list.$r" "/api/projects?limit=25"
done
for x in pgbench read get list; do
    m=$(for r in $(seq 1 "$rounds"); do echo "$(rate "$run/$x.$r.txt") $r"; done |
        sort -g | awk '{ r[NR] = $2 } END { print r[int((NR + 1) / 2)] }')
    cp "$run/$x.$m.txt" "$run/$x.txt"
    cp "$run/cpu.$x.$m" "$run/cpu.$x"
done

pg_tps=$(awk '/^tps = / {printf "%.0f", $3; exit}' "$run/pgbench.txt")
pg_lat=$(awk '/^latency average/ {print $4; exit}' "$run/pgbench.txt")
rd_tps=$(awk '/^tps = / {printf "%.0f", $3; exit}' "$run/read.txt")
rd_lat=$(awk '/^latency average/ {print $4; exit}' "$run/read.txt")
get_rps=$(rps "$run/get.txt") list_rps=$(rps "$run/list.txt")
cpu() { awk '{print $2, $3}' "$run/cpu.$1"; }
row() { printf '%-46s %10s %9s %9s %11s %11s\n' "$@"; }
printf '\n'
row "case" "req/s" "p50 ms" "p99 ms" "cpu us/req" "switch/req"
row "(p) pgbench -S -M prepared" "$pg_tps" "avg $pg_lat" "-" $(cpu pgbench)
row "(q) the :id read, straight to PostgreSQL" "$rd_tps" "avg $rd_lat" "-" $(cpu read)
row "(g) GET /api/projects/:id (edge, token)" "$get_rps" \
    "$(ms 50% "$run/get.txt")" "$(ms 99% "$run/get.txt")" $(cpu get)
row "(l) GET /api/projects?limit=25 (edge, token)" "$list_rps" \
    "$(ms 50% "$run/list.txt")" "$(ms 99% "$run/list.txt")" $(cpu list)
# Where (g)'s time goes; the rest of the total is wrk and the kernel.
awk -F' [|] ' '{
    printf "(g) per request:"
    for (i = 2; i <= NF; i++) { split($i, g, " "); printf "  %s %s us", g[1], g[2] }
    print "" }' "$run/cpu.get"
/usr/bin/python3 - "$pg_tps" "$rd_tps" "$get_rps" "$list_rps" "$(ms 99% "$run/get.txt")" \
    "$run/cpu.get" "$run/cpu.read" <<'PY'
import sys
pg, rd, get, lst, p99 = (float(x) for x in sys.argv[1:6])


def split(path):
    # "total <us> <switches> | postgres <us> <switches> | …" (cpustat.py)
    parts = open(path).read().split(" | ")
    return float(parts[0].split()[1]), {
        g.split()[0]: float(g.split()[1]) for g in parts[1:]}


_, g_split = split(sys.argv[6])
q_total, _ = split(sys.argv[7])
met = lambda ok: "met" if ok else "NOT met"
print(f"\nratios of the medians: g/p {get / pg:.1%}   l/p {lst / pg:.1%}   q/p {rd / pg:.1%}   g/q {get / rd:.1%}")
print(f"goals: g/p >= 17%: {met(get / pg >= 0.17)};  "
      f"g/p >= 35% and p99 <= 5 ms: {met(get / pg >= 0.35 and p99 <= 5)}")
# The service kit issue's goals for the projects read path.
print(f"kit goals: g/p >= 22%: {met(get / pg >= 0.22)};  "
      f"PostgreSQL per (g) {g_split['postgres']:.0f} us <= (q) {q_total:.0f} us: "
      f"{met(g_split['postgres'] <= q_total)};  "
      f"projects outside NNG {g_split['projects']:.0f} us <= 30 us: "
      f"{met(g_split['projects'] <= 30)}")
PY

# (g) without TLS: the stack again with plain tcp:// listeners and
# lintel_ssl off, the same data and token; rounds as above.
echo "bench: restarting the stack with LINTEL_RPC_TLS=false for (g) without TLS" >&2
bash "$stack" down >/dev/null 2>&1
LINTEL_RPC_TLS=false bash "$stack" up 2>"$run/up-plain.log" ||
    { tail -30 "$run/up-plain.log" >&2; exit 1; }
curl -fsS -o /dev/null -H "$host" -H "$auth" "$edge/api/projects/$id"
for r in $(seq 1 "$rounds"); do
    bench_wrk "plain.$r" "/api/projects/$id"
done
m=$(for r in $(seq 1 "$rounds"); do echo "$(rate "$run/plain.$r.txt") $r"; done |
    sort -g | awk '{ r[NR] = $2 } END { print r[int((NR + 1) / 2)] }')
cp "$run/plain.$m.txt" "$run/plain.txt"
cp "$run/cpu.plain.$m" "$run/cpu.plain"
plain_rps=$(rps "$run/plain.txt")
printf '\n'
row "case" "req/s" "p50 ms" "p99 ms" "cpu us/req" "switch/req"
row "(g) GET /api/projects/:id, TLS on" "$get_rps" \
    "$(ms 50% "$run/get.txt")" "$(ms 99% "$run/get.txt")" $(cpu get)
row "(g) GET /api/projects/:id, TLS off" "$plain_rps" \
    "$(ms 50% "$run/plain.txt")" "$(ms 99% "$run/plain.txt")" $(cpu plain)
awk -v on="$get_rps" -v off="$plain_rps" \
    'BEGIN { printf "(g) TLS on / off: %.2f\n", on / off }'
