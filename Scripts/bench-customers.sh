#!/usr/bin/env bash
# Benchmark: the customer store at scale (issue 14), release build, one Redis.
# Loads N organizations ⊃ workspace ⊃ key (default 1,000,000) into one Redis and 1,000 into
# another, then, side by side in one run:
#   - Redis memory for the N customers (they share one slot, {cfg}),
#   - sustained provisioning writes (organization+workspace+key in one all-or-nothing call; key alone),
#   - a suspension visible on two gateways (time until both refuse the key),
#   - gateway RSS with N customers vs 1,000 (the same 1,000 keys driven through each),
#   - reserve p50/p99 through a gateway idle vs while 1,000 customer changes a second land: on
#     its own customers, on another prefix's (same Redis work, nothing for the gateway to
#     follow), and through a gateway reading the change feed once per notice
#     (--customer-feed-gap-ms 0), with each process's CPU and the feed's XRANGE calls a second.
# Usage: Scripts/bench-customers.sh [organizations] [seconds-per-run]   (default 1000000 10)
#        TOLLGATE_BIN_DIR=.build/release   binaries already built
#        TOLLGATE_BENCH_RDB_DIR=DIR        keep/reuse the loaded store (see start_customers_redis)
#        TOLLGATE_BENCH_COMPARE="DIR..."   only reserve under churn, per gateway build (see below)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

organizations="${1:-1000000}"
seconds="${2:-10}"
bin="${TOLLGATE_BIN_DIR:-$(build_release tollgate tollgate-bench)}"
work="$(mktemp -d)"

big_port="$(free_port)"; small_port="$(free_port)"
big="redis://127.0.0.1:$big_port"; small="redis://127.0.0.1:$small_port"

start_redis "$small_port" "$work/small"
"$bin/tollgate-bench" gateway-load --setup-redis "$small" --prefix bench
before=$(redis-cli -p "$small_port" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
log "loading $organizations organizations+workspaces+keys"
start_customers_redis "$big_port" "$work/big" "$organizations" "$bin"
"$bin/tollgate-bench" customers --action load --url "$small" --count 1000 --concurrency 2
after=$(redis-cli -p "$big_port" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
printf 'redis used_memory for %s customers: %s MB (%s bytes per organization+workspace+key, over an empty set-up)\n' \
    "$organizations" "$(( (after - before) / 1048576 ))" "$(( (after - before) / organizations ))"

serve() {  # serve NAME URL [FLAG...]: starts a gateway, prints "pid port"
    local port; port="$(free_port)"
    "${gateway_bin:-$bin}/tollgate" serve --redis "$2" --prefix bench --port "$port" --node "$1" --spool "$work/spool-$1.jsonl" --log-level error "${@:3}" &
    local pid=$!; track_pid "$pid"
    for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    echo "$pid $port"
}
"$bin/tollgate-bench" gateway-load --setup-redis "$big" --prefix other >/dev/null
"$bin/tollgate-bench" customers --action load --url "$big" --prefix other --count 1000 --concurrency 2 >/dev/null
ticks="$(getconf CLK_TCK)"
redis_pid="$(redis-cli -p "$big_port" info server | awk -F: '/^process_id:/ {print $2}' | tr -d '\r')"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches:/ {n += $2} END {print n + 0}'; }  # all threads' context switches
xrange_calls() { redis-cli -p "$big_port" info commandstats | awk -F'[:=,]' '/^cmdstat_xrange:/ {print $3}'; }
reserve_run() {  # reserve_run LABEL GATEWAY-URL GATEWAY-PID [CHURN-PREFIX CHURN-COUNT]
    local label="$1" url="$2" pid="$3" churn="" started gateway0 redis0 xrange0 switches0 wall churn_cpu=0
    shift 2
    started="$(date +%s.%N)"; gateway0="$(cpu_ticks "$pid")"; redis0="$(cpu_ticks "$redis_pid")"; xrange0="$(xrange_calls)"; switches0="$(switches "$pid")"
    if [ $# -eq 3 ]; then
        /usr/bin/time -f '%U %S' -o "$work/churn-time" "$bin/tollgate-bench" customers --action churn --url "$big" --prefix "$2" --count "$3" \
            --rate 1000 --concurrency 32 --seconds "$((seconds + 2))" >"$work/churn-out" &
        churn=$!; track_pid "$churn"
        sleep 1
    fi
    "$bin/tollgate-bench" gateway-load --urls "$url" --mode reserve --concurrency 16 --keys 1000 --seconds "$seconds" --label "$label" | tail -1
    if [ -n "$churn" ]; then
        wait "$churn"; cat "$work/churn-out"
        churn_cpu="$(awk '{print $1 + $2}' "$work/churn-time")"
    fi
    wall="$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN {print e - s}')"
    awk -v l="$label" -v w="$wall" -v t="$ticks" -v g="$(( $(cpu_ticks "$pid") - gateway0 ))" -v r="$(( $(cpu_ticks "$redis_pid") - redis0 ))" \
        -v c="$churn_cpu" -v x="$(( ${xrange0:-0} > 0 ? $(xrange_calls) - xrange0 : 0 ))" -v z="$(( $(switches "$pid") - switches0 ))" \
        'BEGIN {printf "cpu %s wall_s=%.1f gateway_cores=%.2f redis_cores=%.2f churn_cores=%.2f feed_xrange_per_s=%.0f gateway_switches_per_s=%.0f\n", l, w, g / t / w, r / t / w, c / w, x / w, z / w}'
}
# TOLLGATE_BENCH_COMPARE="DIR..." (directories holding a `tollgate` build each): only the
# reserve-under-churn runs, for each build in turn (two gateways of it on the big Redis, A
# measured, B following the same changes), twice over, then stop.
if [ -n "${TOLLGATE_BENCH_COMPARE:-}" ]; then
    for round in 1 2; do
        for gateway_bin in $TOLLGATE_BENCH_COMPARE; do
            name="$(basename "$gateway_bin")-$round"
            read -r big_a_pid big_a_port < <(serve "$name-a" "$big")
            read -r big_b_pid big_b_port < <(serve "$name-b" "$big")
            track_pid "$big_a_pid"; track_pid "$big_b_pid"
            a="http://127.0.0.1:$big_a_port"
            log "build $gateway_bin, round $round"
            "$bin/tollgate-bench" gateway-load --urls "$a" --mode reserve --concurrency 16 --keys 1000 --seconds 3 >/dev/null
            reserve_run "$name-idle" "$a" "$big_a_pid"
            reserve_run "$name-churn-followed" "$a" "$big_a_pid" bench "$organizations"
            reserve_run "$name-churn-elsewhere" "$a" "$big_a_pid" other 1000
            reserve_run "$name-idle-again" "$a" "$big_a_pid"
            kill "$big_a_pid" "$big_b_pid"
            while kill -0 "$big_a_pid" 2>/dev/null || kill -0 "$big_b_pid" 2>/dev/null; do sleep 0.1; done
        done
    done
    exit 0
fi
read -r big_a_pid big_a_port < <(serve big-a "$big")
read -r big_b_pid big_b_port < <(serve big-b "$big")
read -r small_pid small_port_http < <(serve small "$small")
# serve ran in a subshell: its track_pid did not reach this one.
track_pid "$big_a_pid"; track_pid "$big_b_pid"; track_pid "$small_pid"
a="http://127.0.0.1:$big_a_port"; b="http://127.0.0.1:$big_b_port"; s="http://127.0.0.1:$small_port_http"
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

log "gateway memory: the same 1,000 keys through a gateway on $organizations customers and one on 1,000"
for target in "$a" "$s"; do
    "$bin/tollgate-bench" gateway-load --urls "$target" --mode reserve --concurrency 16 --keys 1000 --seconds "$seconds" >/dev/null
done
big_rss=$(rss "$big_a_pid"); small_rss=$(rss "$small_pid")
printf 'gateway RSS: %s customers %s KB, 1,000 customers %s KB, ratio %s\n' "$organizations" "$big_rss" "$small_rss" \
    "$(awk -v x="$big_rss" -v y="$small_rss" 'BEGIN {printf "%.3f", x / y}')"

log "provisioning writes on one Redis ($organizations customers loaded)"
"$bin/tollgate-bench" customers --action write --url "$big" --concurrency 16 --seconds "$seconds"

log "a suspension visible on two gateways"
"$bin/tollgate-bench" customers --action visibility --url "$big" --count "$organizations" --gateways "$a,$b" --rounds 20

log "reserve through a gateway: idle, then while 1,000 customer changes a second land"
# Where the CPU goes in each run (two cores shared by everything): the gateway's, Redis' and
# the churn generator's CPU seconds per wall second, and the gateway's change-feed reads
# (XRANGE calls). The churn runs twice: on the gateway's own customers (it follows every
# change), and on 1,000 organisations under another prefix in the same Redis (the same Redis and
# generator work; the gateway follows none of it), to tell CPU contention from gateway work.
reserve_run reserve-idle "$a" "$big_a_pid"
reserve_run reserve-churn-followed "$a" "$big_a_pid" bench "$organizations"
reserve_run reserve-churn-elsewhere "$a" "$big_a_pid" other 1000
reserve_run reserve-idle-again "$a" "$big_a_pid"
printf 'gateway RSS after the churn: %s KB\n' "$(rss "$big_a_pid")"
# The same gateway reading the change stream once per change (--customer-feed-gap-ms 0), on
# the keys gateway A warmed: the feed's reads are what differs.
kill "$big_b_pid"; wait "$big_b_pid" 2>/dev/null || true
read -r big_c_pid big_c_port < <(serve big-c "$big" --customer-feed-gap-ms 0)
track_pid "$big_c_pid"
c="http://127.0.0.1:$big_c_port"
"$bin/tollgate-bench" gateway-load --urls "$c" --mode reserve --concurrency 16 --keys 1000 --seconds 3 >/dev/null
reserve_run reserve-idle-gap0 "$c" "$big_c_pid"
reserve_run reserve-churn-followed-gap0 "$c" "$big_c_pid" bench "$organizations"
