#!/usr/bin/env bash
# Benchmark: reservations through one and two gateway nodes over HTTP (wrk with a Lua body
# script) at concurrency 1 and 64, side by side in the same run with redis-benchmark running
# the reserve script itself at the same concurrency; then reserve+commit pairs through the
# Swift load generator (tollgate-bench gateway-load).
# Usage: Scripts/bench-gateway.sh [seconds-per-run]   (default 8)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

seconds="${1:-8}"
ensure_packages wrk
bin="$(build_release tollgate tollgate-bench)"

work="$(mktemp -d)"
redis_port="$(free_port)"
start_redis "$redis_port" "$work/redis"
url="redis://127.0.0.1:$redis_port"
"$bin/tollgate-bench" gateway-load --setup-redis "$url" --prefix bench
"$bin/tollgate-bench" engine-cost --url "$url" --prefix bench --args-only --redis-benchmark-args "$work/args.txt" >/dev/null

ports=()
for node in a b; do
    port="$(free_port)"
    "$bin/tollgate" serve --redis "$url" --prefix bench --port "$port" --node "$node" --spool "$work/spool-$node.jsonl" --log-level error &
    track_pid $!
    ports+=("$port")
done
for port in "${ports[@]}"; do
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done
one="http://127.0.0.1:${ports[0]}"
two="$one,http://127.0.0.1:${ports[1]}"

raw() {  # redis-benchmark on the reserve script: "rps p50 p99"
    local clients="$1" requests="$2"
    eval "redis-benchmark -p $redis_port -c $clients -P 1 -n $requests -r 100000000 --csv $(cat "$work/args.txt")" |
        tail -1 | awk -F'","' '{print $2, $5, $7}'
}


printf '%-46s %10s %9s %9s\n' "what" "calls/s" "p50 ms" "p99 ms"
for concurrency in 1 64; do
    read -r rps p50 p99 < <(raw "$concurrency" $((concurrency == 1 ? 3000 : 30000)))
    printf '%-46s %10s %9s %9s\n' "redis-benchmark reserve script, c=$concurrency" "$rps" "$p50" "$p99"
    read -r rps p50 p99 bad < <(wrk_reserve "$seconds" "$concurrency" "$one")
    printf '%-46s %10s %9s %9s  non-2xx=%s\n' "gateway reserve (wrk), 1 node, c=$concurrency" "$rps" "$p50" "$p99" "$bad"
    if [ "$concurrency" -gt 1 ]; then
        read -r rps p50 p99 bad < <(wrk_reserve "$seconds" "$concurrency" "$one" "http://127.0.0.1:${ports[1]}")
        printf '%-46s %10s %9s %9s  non-2xx=%s\n' "gateway reserve (wrk), 2 nodes, c=$concurrency" "$rps" "$p50" "$p99" "$bad"
    fi
    for nodes in one two; do
        target="${!nodes}"
        line=$("$bin/tollgate-bench" gateway-load --urls "$target" --concurrency "$concurrency" --mode pair --seconds "$seconds" | tail -1)
        rps=$(echo "$line" | sed -E 's/.* rps=([0-9]+).*/\1/')
        p50=$(echo "$line" | sed -E 's/.* p50_ms=([0-9.]+).*/\1/')
        p99=$(echo "$line" | sed -E 's/.* p99_ms=([0-9.]+).*/\1/')
        errors=$(echo "$line" | sed -E 's/.* errors=([0-9]+).*/\1/')
        printf '%-46s %10s %9s %9s  errors=%s\n' "reserve+commit pairs (Swift), $nodes node(s), c=$concurrency" "$rps" "$p50" "$p99" "$errors"
    done
done

# Batched (the default) and unbatched (--no-batch-calls) gateways side by side: reserve+commit
# pairs at c=1 and c=64 through one node each, alternating, with Redis' CPU (INFO cpu user +
# system) per pair.
redis_cpu_seconds() { redis-cli -p "$redis_port" info cpu | awk -F: '/^used_cpu_(sys|user):/ { total += $2 } END { printf "%.6f", total }'; }
port="$(free_port)"
"$bin/tollgate" serve --redis "$url" --prefix bench --port "$port" --node c --spool "$work/spool-c.jsonl" --log-level error --no-batch-calls &
track_pid $!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
printf '%-46s %10s %9s %9s %16s\n' "what" "pairs/s" "p50 ms" "p99 ms" "Redis CPU µs/pair"
for concurrency in 1 64; do
    for round in 1 2; do
        for mode in "batched:$one" "unbatched:http://127.0.0.1:$port"; do
            before=$(redis_cpu_seconds)
            line=$("$bin/tollgate-bench" gateway-load --urls "${mode#*:}" --concurrency "$concurrency" --mode pair --seconds "$seconds" | tail -1)
            after=$(redis_cpu_seconds)
            ops=$(echo "$line" | sed -E 's/.* ops=([0-9]+).*/\1/')
            rps=$(echo "$line" | sed -E 's/.* rps=([0-9]+).*/\1/')
            p50=$(echo "$line" | sed -E 's/.* p50_ms=([0-9.]+).*/\1/')
            p99=$(echo "$line" | sed -E 's/.* p99_ms=([0-9.]+).*/\1/')
            errors=$(echo "$line" | sed -E 's/.* errors=([0-9]+).*/\1/')
            cpu=$(awk -v a="$before" -v b="$after" -v n="$ops" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
            printf '%-46s %10s %9s %9s %16s  errors=%s\n' "pairs, ${mode%%:*} gateway, c=$concurrency, round $round" "$rps" "$p50" "$p99" "$cpu" "$errors"
        done
    done
done
redis-cli -p "$redis_port" info commandstats | grep -E '^cmdstat_(evalsha|fcall)' || true
redis-cli -p "$redis_port" info errorstats | grep '^errorstat' || true
